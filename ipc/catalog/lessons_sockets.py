"""Lessons of the notes on sockets, each an experiment whose output is checked:
the listen backlog, the 4-tuple that ephemeral ports make unique, and two
hosts joined by a (virtual) cable instead of loopback.

Each check reads what the programs printed and returns the problems: so
``ipc run NAME`` fails when the behaviour was not observed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import Optional

from ..protocol import SAMPLE_REQUESTS
from ..transcript import Transcript, check_exchange
from . import Demo, Program

BACKLOG_RESULT = re.compile(r"^result: backlog=(\d+) completed=(\d+) accepted=(\d+) dropped=(yes|no)$")


def backlog_results(transcript: Transcript) -> dict[int, tuple[int, int, str]]:
    """backlog -> (connections the kernel completed without accept(), how many accept() found, dropped yes/no)."""
    return {
        int(m[1]): (int(m[2]), int(m[3]), m[4]) for line in transcript.lines if (m := BACKLOG_RESULT.match(line.text))
    }


def check_backlog(transcript: Transcript) -> list[str]:
    """Completed connections grow with the backlog, accept() finds exactly those, and a SYN went unanswered."""
    found = {}
    problems = []
    for backlog, (completed, accepted, dropped) in backlog_results(transcript).items():
        found[backlog] = completed
        if dropped != "yes":
            problems.append(f"backlog {backlog}: every connect completed, no limit was seen")
        if accepted != completed:
            problems.append(f"backlog {backlog}: {completed} connects completed but accept() found {accepted}")
    if len(found) < 2:
        return problems + [f"expected results for several backlogs, saw {len(found)}"]
    counts = [found[backlog] for backlog in sorted(found)]
    if any(later <= earlier for earlier, later in zip(counts, counts[1:])):
        problems.append(f"completed connections do not grow with the backlog: {found}")
    if not any(line.text.startswith("result: retry=yes") for line in transcript.lines):
        problems.append("the client left waiting never got in once accept() had made room")
    return problems


CONNECTED = re.compile(r"^connected (\S+) -> (\S+)$")
ACCEPTED = re.compile(r"^accepted (\S+) <- (\S+)$")
KERNEL = re.compile(r"^kernel: pid (\d+) ESTABLISHED (\S+) (<-|->) (\S+)$")
LISTENING = re.compile(r"^listening on (\S+) for (\d+) clients at once$")


def port_of(where: str) -> str:
    return where.rsplit(":", 1)[1]


def check_ports(transcript: Transcript) -> list[str]:
    """One server address, a distinct client port per connection, and the three views of them agree."""
    clients, server, kernel_servers, kernel_clients = {}, set(), set(), {}
    expected = 0
    for line in transcript.lines:
        if line.role == "client" and (match := CONNECTED.match(line.text)):
            clients[(match[1], match[2])] = line.pid  # (client address, server address) -> pid
        elif line.role == "server" and (match := ACCEPTED.match(line.text)):
            server.add((match[2], match[1]))
        elif line.role == "server" and (match := KERNEL.match(line.text)):
            if match[3] == "<-":  # the server's end: local is the server
                kernel_servers.add((match[4], match[2]))
            else:  # a client's end: local is the client
                kernel_clients[(match[2], match[4])] = int(match[1])
        elif line.role == "server" and (match := LISTENING.match(line.text)):
            expected = int(match[2])
    problems = []
    if expected < 2 or len(clients) != expected:
        problems.append(f"expected several clients connected at once, {expected} announced, {len(clients)} said so")
    if len({server_address for _, server_address in clients}) != 1:
        problems.append(f"the clients reached different server addresses: {sorted(clients)}")
    if len({port_of(client) for client, _ in clients}) != len(clients):
        problems.append(f"two connections share a client port: {sorted(clients)}")
    if server != set(clients):
        problems.append(f"accept() saw {sorted(server)}, the clients saw {sorted(clients)}")
    if kernel_servers != set(clients) or set(kernel_clients) != set(clients):
        problems.append(
            f"the kernel's table shows server ends {sorted(kernel_servers)} and client ends "
            f"{sorted(kernel_clients)}, the clients saw {sorted(clients)}"
        )
    elif kernel_clients != clients:
        problems.append(f"the kernel names other processes for the clients' ends: {kernel_clients}, not {clients}")
    return problems


def two_hosts_unavailable() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return "network namespaces exist on Linux only"
    if shutil.which("ip") is None:
        return "needs iproute2's ip command"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (run as root: sudo make two-hosts)"
    return None


HOST = re.compile(r"^host ([AB]) is namespace (\S+): .* (\d+\.\d+\.\d+\.\d+)/\d+$")
CLIENT_END = re.compile(r"^(?:connected )?(\d+\.\d+\.\d+\.\d+:\d+) -> (\d+\.\d+\.\d+\.\d+:\d+)")  # TCP, UDP
SEEN_FROM = re.compile(r"(?:accepted \S+ <- |datagram of \d+ bytes from )(\d+\.\d+\.\d+\.\d+:\d+)$")


def _clients(transcript: Transcript) -> int:
    return len({line.pid for line in transcript.said("client")})


def count_exchanges(transcript: Transcript) -> int:
    """The messages of the exchanges carried, each counted once, as for the exchange demos."""
    return check_exchange(transcript, SAMPLE_REQUESTS, _clients(transcript))[1]


def check_two_hosts(transcript: Transcript) -> list[str]:
    """Each exchange went across the two hosts, between their non-loopback addresses; no namespace is left."""
    hosts = {m[1]: (m[2], m[3]) for line in transcript.lines if line.role == "hosts" and (m := HOST.match(line.text))}
    if set(hosts) != {"A", "B"}:
        return [f"expected hosts A and B with their addresses, saw {hosts}"]
    (_, address_a), (_, address_b) = hosts["A"], hosts["B"]
    client_ends = [m.groups() for line in transcript.said("client") if (m := CLIENT_END.match(line.text))]
    seen = [m[1] for line in transcript.said("server") if (m := SEEN_FROM.search(line.text))]
    problems = []
    if len(client_ends) != 2:
        problems.append(f"expected a TCP and a UDP client to say their addresses, saw {client_ends}")
    for mine, theirs in client_ends:
        if mine.split(":")[0] != address_b or theirs.split(":")[0] != address_a:
            problems.append(f"a client went {mine} -> {theirs}, not from host B {address_b} to host A {address_a}")
        if mine not in seen:
            problems.append(f"the server never saw the client {mine}; it saw {sorted(set(seen))}")
    if any(address.startswith("127.") for address in [*seen, *(a for pair in client_ends for a in pair)]):
        problems.append("a loopback address was used")
    exchange_problems, _ = check_exchange(transcript, SAMPLE_REQUESTS, _clients(transcript))
    problems += exchange_problems
    names = {name for name, _ in hosts.values()}
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    left = names & {line.split()[0] for line in listed.splitlines() if line.strip()}
    if left:
        problems.append(f"namespaces left behind: {sorted(left)}")
    return problems


DEMOS = [
    Demo(
        name="backlog",
        mechanism="TCP listen backlog, loopback",
        teaches="the kernel completes backlog+1 connections nobody accept()s, then drops SYNs in silence; "
        "the client just waits, and gets in on a resent SYN once accept() makes room",
        client=Program("backlog.py"),
        kind="runs",
        check=check_backlog,
        slow="it waits a second for the kernel to resend a SYN",
    ),
    Demo(
        name="ports",
        mechanism="TCP, several clients at once",
        teaches="each connection is a 4-tuple: one server address and port, a distinct ephemeral port per "
        "client; seen by the clients, by accept() and in the kernel's table (psutil)",
        client=Program("ports.py", ("--clients", "3")),
        kind="runs",
        check=check_ports,
    ),
    Demo(
        name="two-hosts",
        mechanism="TCP and UDP across two network namespaces",
        teaches="the same demos between two hosts joined by a veth pair, with real non-loopback addresses; needs root",
        client=Program("two_hosts.py"),
        kind="runs",
        check=check_two_hosts,
        count=count_exchanges,
        also_runs=("tcp_server.py", "tcp_client.py", "udp_server.py", "udp_client.py"),
        unavailable=two_hosts_unavailable,
        traced_from_start=True,  # it runs ip a dozen times, and its servers and clients through ip netns exec
        slow="it makes two network namespaces and a link between them",
    ),
]
