r"""Names resolved by a real DNS server, three ways: dig, a query packed by hand, and getaddrinfo().

What it shows
    getaddrinfo() asks the DNS server /etc/resolv.conf names, on port 53
    (/etc/nsswitch.conf says "hosts: files dns"). To point it at a server of
    our own without touching this machine, the demo becomes a host of its
    own: new user, network and mount namespaces (unshare), with a loopback of
    their own, where demos/dns_server.py listens on 127.0.0.1 port 53, and
    files of their own bind-mounted over /etc/resolv.conf and nsswitch.conf.
    The zone's addresses are put on that loopback, so they can be connected
    to. Then the names of the zone, asked three ways: dig; demos/dns_client.py
    (the bytes); getaddrinfo(), which asks A and AAAA and sorts the answers
    (IPv6 first, RFC 6724): DNS gives the addresses, the resolver the order.
    One name, several addresses: connect_each.py --host many.ipc.test tries
    each in turn. Several names, one address. With --dnsmasq, Debian's
    dnsmasq serves the same zone: an independent server, the same answers.
    The namespaces vanish with the demo's last process: nothing to delete.

Run it
    python demos/dns_names.py [--dnsmasq]        (or: make dns-names)
    Needs Linux's unshare, mount and ip (util-linux, iproute2), and root or
    unprivileged user namespaces; dig (Debian: dnsutils) if present.

System calls, in order
    unshare(CLONE_NEWUSER|CLONE_NEWNET|CLONE_NEWNS) and exec of this program
    again (by unshare(1): os.unshare() is Python 3.12's) -> ip: lo up, the
    zone's addresses -> mount(MS_BIND) over /etc/resolv.conf (by mount(8)) ->
    fork/exec dns_server.py: socket(), bind(127.0.0.1:53) -> fork/exec dig
    and dns_client.py -> getaddrinfo() (inside it: socket, sendto, recvfrom
    to port 53) -> fork/exec connect_each.py -> kill(server, SIGTERM).

Its peer
    demos/dns_server.py (or dnsmasq), asked by dig, demos/dns_client.py,
    glibc's resolver, and demos/connect_each.py.

Expected output (pids, ports and ids vary)
    names[100]: a host of its own: lo UNKNOWN 127.0.0.1/8 10.53.0.10/32 10.53.0.11/32 10.53.0.12/32 ...
    names[100]: /etc/resolv.conf here says: nameserver 127.0.0.1; options timeout:1 attempts:2
    dns[101]: ready: host=127.0.0.1 port=53
    names[100]: 1. dig @127.0.0.1 many.ipc.test A and AAAA
    dig[102]: many.ipc.test.		60	IN	A	10.53.0.11
    ...
    names[100]: 2. demos/dns_client.py --server 127.0.0.1 --port 53 many.ipc.test
    ...
    names[100]: 3. getaddrinfo('many.ipc.test', 80): [fd53::11]:80, 10.53.0.11:80, 10.53.0.12:80, 10.53.0.13:80
    ...
    names[100]: several names, one address: www.ipc.test, web.ipc.test, ipc.test -> 10.53.0.10
    names[100]: getaddrinfo('nothing.ipc.test'): gaierror EAI_NONAME: Name or service not known
    names[100]: one name, several addresses: demos/connect_each.py --host many.ipc.test
    client[103]: try 1 of 4: connect([fd53::11]:41234): ConnectionRefusedError: Connection refused after 0.1 ms
    ...
    client[103]: try 4 of 4: connect(10.53.0.13:41234): connected from 10.53.0.13:53012 after 0.1 ms
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import children, program
from ipc.dns_messages import SAMPLE_ZONE, ZONE_ORIGIN
from ipc.log import Log, address

DEMOS = os.path.dirname(os.path.abspath(__file__))
UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--mount"]  # mounts made private: the host never sees them
TIMEOUT = 20.0  # seconds any one program may take
log = Log("names")


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {done.stderr.strip()}")


def lookup(name: str) -> list[tuple]:
    """getaddrinfo() through /etc/resolv.conf; its deadline is resolv.conf's (timeout:1 attempts:2)."""
    return [info[4] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)]


def in_namespaces_of_its_own() -> bool:
    """Whether this process's network and mount namespaces are not its parent's (unshare left the parent outside).

    Asked of the kernel, never taken from the command line: what follows bind-mounts over /etc/resolv.conf."""
    for kind in ("net", "mnt"):
        try:
            if os.readlink(f"/proc/{os.getppid()}/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}"):
                return False
        except PermissionError:  # the parent is in another user namespace: certainly not ours
            continue
    return True


def inside(dnsmasq: bool) -> None:
    if not in_namespaces_of_its_own():  # else the mounts and addresses below would change this machine
        raise PermissionError("--inside is for dns_names.py itself, once unshare has made it namespaces of its own")
    addresses = sorted({a for found in SAMPLE_ZONE.values() for a in found}, key=lambda a: (":" in a, a))
    with tempfile.TemporaryDirectory(prefix="dns-names-") as here:
        run("ip", "link", "set", "lo", "up")  # a new network namespace starts with lo down
        for where in addresses:
            run("ip", "address", "add", where + ("/128" if ":" in where else "/32"), "dev", "lo")
        shown = subprocess.run(
            ["ip", "-brief", "address", "show", "lo"], capture_output=True, text=True, timeout=TIMEOUT
        )
        log.say("a host of its own: " + " ".join(shown.stdout.split()))
        for name, text in (
            ("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n"),
            ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"),
        ):
            with open(os.path.join(here, name), "w") as file:
                file.write(text)
            run("mount", "--bind", os.path.join(here, name), f"/etc/{name}")  # seen in this mount namespace only
        with open("/etc/resolv.conf") as resolv_conf:  # what any program started here now reads
            log.say("/etc/resolv.conf here says: " + "; ".join(resolv_conf.read().splitlines()))
        if dnsmasq:
            with open(os.path.join(here, "hosts"), "w") as file:
                file.writelines(f"{a} {name}\n" for name, found in SAMPLE_ZONE.items() for a in found)
            server = children.start(
                [
                    "dnsmasq",
                    "--no-daemon",  # in the foreground, keeping its user: setgroups() is
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",  # denied in a user namespace
                    f"--addn-hosts={here}/hosts",
                    f"--local=/{ZONE_ORIGIN}/",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--port=53",
                    "--log-facility=-",
                    "--log-queries",
                ],
                "dnsmasq",
            )
            ready = r"read \S+/hosts - \d+ names"  # its zone is loaded (it says "started" before that)
        else:
            server = children.start([sys.executable, os.path.join(DEMOS, "dns_server.py"), "--port", "53"], "dns")
            ready = r"ready: host="
        try:
            server.wait_for(ready, TIMEOUT)
            log.say("1. dig @127.0.0.1 many.ipc.test A and AAAA")
            if shutil.which("dig"):
                for kind in ("A", "AAAA"):
                    children.run(["dig", "@127.0.0.1", "many.ipc.test", kind, "+noall", "+answer"], "dig", TIMEOUT)
            else:
                log.say("dig: not installed (Debian: apt-get install dnsutils): skipped")
            log.say("2. demos/dns_client.py --server 127.0.0.1 --port 53 many.ipc.test")
            client = [sys.executable, os.path.join(DEMOS, "dns_client.py"), "--port", "53", "many.ipc.test"]
            if children.run(client, "client", TIMEOUT)[0] != 0:
                raise ChildProcessError("demos/dns_client.py failed")
            for name in ("many.ipc.test", "www.ipc.test"):
                log.say(f"3. getaddrinfo({name!r}, 80): {', '.join(map(address, lookup(name)))}")
            shared = {
                name: {where[0] for where in lookup(name)} for name in ("www.ipc.test", "web.ipc.test", "ipc.test")
            }
            common = set.intersection(*shared.values())
            log.say(f"several names, one address: {', '.join(shared)} -> {', '.join(sorted(common)) or 'none'}")
            try:
                lookup("nothing.ipc.test")
            except socket.gaierror as error:  # the error taught here: the server said NXDOMAIN
                names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
                log.say(f"getaddrinfo('nothing.ipc.test'): gaierror {names.get(error.errno)}: {error.strerror}")
            log.say("one name, several addresses: demos/connect_each.py --host many.ipc.test")
            each = [sys.executable, os.path.join(DEMOS, "connect_each.py"), "--host", "many.ipc.test"]
            if children.run(each, "client", TIMEOUT)[0] != 0:
                raise ChildProcessError("demos/connect_each.py failed")
        finally:
            server.stop()


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--dnsmasq", action="store_true", help="serve the zone with dnsmasq instead of dns_server.py")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # set when exec'd by unshare
    args = parser.parse_args()
    if args.dnsmasq and shutil.which("dnsmasq") is None:
        raise FileNotFoundError("no dnsmasq here (Debian: apt-get install dnsmasq-base)")
    if args.inside:
        return inside(args.dnsmasq)
    missing = [tool for tool in ("unshare", "mount", "ip") if shutil.which(tool) is None]
    if not sys.platform.startswith("linux") or missing:
        raise FileNotFoundError(f"needs Linux namespaces and {', '.join(missing) or 'unshare'} (util-linux, iproute2)")
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=TIMEOUT)
    if probe.returncode != 0:
        raise PermissionError(f"cannot make namespaces here ({probe.stderr.strip()}): needs root or user namespaces")
    argv = [*UNSHARE, sys.executable, os.path.abspath(__file__), "--inside", *sys.argv[1:]]
    os.execvp(UNSHARE[0], argv)  # the same process (same pid), now in namespaces of its own


if __name__ == "__main__":
    sys.exit(program.run(main, "names"))
