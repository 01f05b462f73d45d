"""Two hosts: the TCP and UDP demos between two network namespaces joined by a veth pair.

What it shows
    Loopback hides the network: both ends are 127.0.0.1, in one kernel. Here
    the machine is split into two hosts for real: two network namespaces, each
    with its own interfaces, addresses, routes and ports, joined by a veth
    pair, a virtual cable (what goes in one end comes out of the other). Host
    A is 10.200.0.1, host B 10.200.0.2.

Run it
    sudo python3 demos/two_hosts.py [MESSAGE...]   (or, as root: make two-hosts)
    Needs root and iproute2's ip. While it runs, `ip netns list` shows the hosts.
"""

import os
import queue
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS

DEMOS = os.path.dirname(os.path.abspath(__file__))
ADDRESSES = ("10.200.0.1", "10.200.0.2")  # a private range; each namespace has its own routes, so no clash
PAIRS = (("TCP", "tcp_server.py", "tcp_client.py"), ("UDP", "udp_server.py", "udp_client.py"))
TIMEOUT = 10.0  # seconds any one wait may take
log = Log("hosts")


def ip(*args: str) -> str:
    """ip(8), which makes the unshare() and setns() calls for us (Python 3.11 has neither)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def split_the_machine(messages: list) -> None:
    """Two hosts (network namespaces) and a cable between them; the TCP pair, then the UDP pair, across it."""
    hosts = [f"ipc-a-{os.getpid()}", f"ipc-b-{os.getpid()}"]  # unique names: our pid
    created: list[str] = []
    children: list[subprocess.Popen] = []
    try:
        for host in hosts:
            ip("netns", "add", host)  # a new network stack: only lo, and it is down
            created.append(host)
        ip("link", "add", "eth0", "netns", hosts[0], "type", "veth", "peer", "name", "eth0", "netns", hosts[1])
        for host, address in zip(hosts, ADDRESSES):
            ip("-n", host, "address", "add", f"{address}/24", "dev", "eth0")  # a real, non-loopback address
            ip("-n", host, "link", "set", "eth0", "up")
        for host, letter in zip(hosts, "AB"):
            shown = " ".join(ip("-n", host, "-brief", "-4", "address", "show", "dev", "eth0").split())
            log.say(f"host {letter} is namespace {host}: {shown}")
        for name, server_script, client_script in PAIRS:
            exchange(name, server_script, client_script, hosts, messages, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()  # before deleting its namespace: a process inside keeps it alive
            child.wait()
        for host in created:
            subprocess.run(["ip", "netns", "delete", host], timeout=TIMEOUT)  # and with it, its end of the cable
        if created:
            log.say(f"deleted namespaces {' and '.join(created)}")


def start(namespace: str, script: str, *args: str) -> tuple[subprocess.Popen, queue.Queue, threading.Thread]:
    """Run a demo program on one host; its lines pass through to our stderr, ready lines also to the queue."""
    child = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, os.path.join(DEMOS, script), *args],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # ip: setns() to that host, then exec
    ready: queue.Queue = queue.Queue()

    def relay() -> None:
        for line in child.stderr:
            os.write(2, line)  # one write per line, so lines of the two hosts never mix
            if b": ready: " in line:
                ready.put(line.decode())
        child.stderr.close()
        ready.put(None)  # it ended

    relaying = threading.Thread(target=relay, daemon=True)
    relaying.start()
    return child, ready, relaying


def exchange(
    name: str,
    server_script: str,
    client_script: str,
    hosts: list[str],
    messages: list[str],
    children: list[subprocess.Popen],
) -> None:
    log.say(f"{name}: {server_script} on host A, {client_script} on host B")
    server, ready, server_relay = start(hosts[0], server_script, "--host", ADDRESSES[0], "--clients", "1")
    children.append(server)
    try:
        line = ready.get(timeout=TIMEOUT)
    except queue.Empty:
        line = None
    if line is None:
        raise ConnectionError(f"{server_script} on host A did not get ready")
    port = re.search(r"port=(\d+)", line)[1]
    client, _, client_relay = start(hosts[1], client_script, "--host", ADDRESSES[0], "--port", port, *messages)
    children.append(client)
    for child, relaying, script in ((client, client_relay, client_script), (server, server_relay, server_script)):
        try:
            code = child.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{script} still running after {TIMEOUT:g} s") from None
        relaying.join(TIMEOUT)  # every line it printed has been passed on
        if code != 0:
            raise ConnectionError(f"{script} exited with status {code}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    if not sys.platform.startswith("linux") or shutil.which("ip") is None:
        raise FileNotFoundError("needs Linux and iproute2's ip command (network namespaces are Linux's)")
    if os.geteuid() != 0:
        raise PermissionError("needs root to make network namespaces: sudo python3 demos/two_hosts.py")
    split_the_machine(args.messages)


DETAILS = """
What else it shows
    The unchanged TCP server runs on A and its client on B, then the UDP pair:
    the server sees its client come from B's address. Nothing leaves the
    machine: the cable joins only the two namespaces, and both are deleted on
    every way out (an error, Ctrl-C, kill), which removes the cable too.

System calls, in order
    through ip: unshare(CLONE_NEWNET) per host, kept as /run/netns/NAME ->
    a veth pair, one end in each -> an address on each end, link up -> per
    protocol: setns() into A and exec() the server, setns() into B and exec() the
    client -> at the end, ip netns delete each host. ip makes the unshare()
    and setns() calls for us: Python has os.unshare() and os.setns() only
    from 3.12, and this project targets 3.11.

Its peer
    demos/tcp_server.py and demos/tcp_client.py, then demos/udp_server.py and
    demos/udp_client.py, each program on its own host.

Expected output (pids and ports vary)
    hosts[100]: host A is namespace ipc-a-100: eth0@if2 UP 10.200.0.1/24
    hosts[100]: host B is namespace ipc-b-100: eth0@if2 UP 10.200.0.2/24
    hosts[100]: TCP: tcp_server.py on host A, tcp_client.py on host B
    server[101]: listening on 10.200.0.1:41234
    ...
    client[102]: connected 10.200.0.2:53012 -> 10.200.0.1:41234
    server[101]: accepted 10.200.0.1:41234 <- 10.200.0.2:53012
    ...
    hosts[100]: deleted namespaces ipc-a-100 and ipc-b-100
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "hosts"))
