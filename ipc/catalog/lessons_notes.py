"""The lessons the notes raise that the other demos did not show: TIME_WAIT, a reset over TCP, when a full
queue is an error, the notes' open questions, clients that overlap, and a lossy link.

Each is a demo of kind "runs" (the overlap ones run the fork and poll servers): its programs say what they
measured, and the check below fails the run unless the behaviour the lesson teaches was seen.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import Optional

from ..protocol import SAMPLE_REQUESTS
from ..transcript import Transcript, check_exchange
from . import Demo, Program

TIME_WAIT_RESULT = re.compile(r"^result: first=(reuse|plain) port=(\d+) time_wait=(yes|no) without=(\w+) with=(\w+)$")


def check_time_wait(transcript: Transcript) -> list[str]:
    """Both rounds measured; TIME_WAIT seen in the kernel's table; without SO_REUSEADDR the restart fails; with
    it, it binds only where the first server had set it too."""
    results = {m[1]: m.groups()[1:] for text in transcript.texts("server") if (m := TIME_WAIT_RESULT.match(text))}
    if set(results) != {"reuse", "plain"}:
        return [f"expected a round whose first server set SO_REUSEADDR and one that did not, saw {sorted(results)}"]
    expected = {"reuse": ("yes", "EADDRINUSE", "bound"), "plain": ("yes", "EADDRINUSE", "EADDRINUSE")}
    problems = []
    for first, (port, *seen) in results.items():
        if tuple(seen) != expected[first]:
            problems.append(f"first server {first}: time_wait, without, with = {seen}, expected {expected[first]}")
        if not any(re.search(rf":{port} -> \S+ TIME_WAIT$", t) for t in transcript.texts("kernel")):
            problems.append(f"the kernel's table showed no TIME_WAIT end on port {port}")
    return problems


def _has(texts: list[str], pattern: str) -> bool:
    return any(re.search(pattern, text) for text in texts)


def check_tcp_reset(transcript: Transcript) -> list[str]:
    """For each SIGPIPE action: the first send succeeded, a reset came back, then EPIPE (ignored) or death by
    signal 13 (default); and close() with unread bytes reset the peer, where after reading them it did not."""
    server, client = transcript.texts("server"), transcript.texts("client")
    problems = []
    for action in ("SIG_IGN", "SIG_DFL"):
        if not _has(server, rf"^SIGPIPE {action}: first send\(\) after the peer closed -> \d+ bytes, no error$"):
            problems.append(f"SIGPIPE {action}: the first send() after the peer closed did not succeed")
        if not _has(server, rf"^SIGPIPE {action}: the reset came back: poll\(\) says .*POLLERR"):
            problems.append(f"SIGPIPE {action}: no reset came back (POLLERR) after the first send()")
    if not _has(server, r"^SIGPIPE SIG_IGN: second send\(\) -> BrokenPipeError: errno \d+ \(EPIPE\)$"):
        problems.append("with SIGPIPE ignored, the second send() did not fail with EPIPE")
    if not _has(server, r"^SIGPIPE SIG_IGN: writer \d+ exited with status 0$"):
        problems.append("with SIGPIPE ignored, the writer did not live on")
    if not _has(server, r"^SIGPIPE SIG_DFL: writer \d+ was killed by signal 13 \(SIGPIPE\)$"):
        problems.append("with SIGPIPE at its default, the second send() did not kill the writer (signal 13)")
    if not _has(client, r"^the server read everything, then close\(\): recv\(\) -> b'': end of file$"):
        problems.append("a close() after reading everything did not give the peer a plain end of file")
    if not _has(
        client, r"^the server left \d+ bytes unread, then close\(\): recv\(\) -> ConnectionResetError: .*ECONNRESET"
    ):
        problems.append("a close() with bytes unread did not reset the peer (ECONNRESET)")
    return problems


def check_queue_full(transcript: Transcript) -> list[str]:
    """EAGAIN at once from a full Unix queue, a blocking connect that waited in the kernel, ETIMEDOUT after the
    few SYN retries TCP_SYNCNT allows, and (where a namespace can be made) a drop at 0, a reset at 1."""
    server, client = transcript.texts("server"), transcript.texts("client")
    problems = []
    if not _has(client, r"^non-blocking connect\(\) to the full queue -> errno \d+ \(EAGAIN\), at once$"):
        problems.append("a non-blocking connect() to a full Unix queue did not fail with EAGAIN")
    if not (
        _has(server, r"is blocked in connect\(\) \(wchan unix_wait_for_peer\)")
        and _has(client, r"^blocking connect\(\) returned after [\d.]+ ms, once accept\(\) made room$")
    ):
        problems.append("a blocking connect() was not seen waiting in the kernel, then let in by accept()")
    timed_out = [
        m for t in client if (m := re.search(r"TCP_SYNCNT=1 -> errno \d+ \(ETIMEDOUT\).* after ([\d.]+) s$", t))
    ]
    if not timed_out or not 2.0 <= float(timed_out[0][1]) < 10:
        problems.append("connect() with TCP_SYNCNT=1 to a full queue did not fail with ETIMEDOUT after its ~3 s")
    shown = [
        _has(client, rf"^tcp_abort_on_overflow={v}: .*{what}")
        for v, what in ((0, "nothing within"), (1, r"\(ECONNRESET\)"))
    ]
    if not all(shown) and (os.geteuid() == 0 or not _has(server, r"^tcp_abort_on_overflow: not shown here: ")):
        problems.append("tcp_abort_on_overflow: the drop at 0 and the reset at 1 were not both seen")
    return problems


def _sysctl(name: str) -> str:
    with open(f"/proc/sys/{name}") as file:
        return file.read().strip()


def check_open_questions(transcript: Transcript) -> list[str]:
    """Each answer held against what this machine says when asked again: its sysctls, getaddrinfo()."""
    said = transcript.texts("answers")
    problems = []
    if not _has(said, r"^a port is 16 bits: 0 to 65535; sin_port of 65535 is ff ff$"):
        problems.append("the port's 16 bits were not shown")
    start = int(_sysctl("net/ipv4/ip_unprivileged_port_start"))
    if not _has(said, rf"^ip_unprivileged_port_start = {start}: "):
        problems.append(f"ip_unprivileged_port_start is {start} here, the demo said otherwise")
    refused = _has(said, r"^bind\(127\.0\.0\.1:80\) as uid \d+ -> PermissionError: errno 13 \(Permission denied\)$")
    if refused != (start > 80):
        problems.append(
            f"an unprivileged bind(80) {'was' if refused else 'was not'} refused, with the start at {start}"
        )
    if os.geteuid() == 0 and not _has(said, r"^bind\(127\.0\.0\.1:80\) as root -> (bound|OSError: errno 98 )"):
        problems.append("root's bind(80) was neither bound nor found taken")
    low, high = map(int, _sysctl("net/ipv4/ip_local_port_range").split())
    ports = next(
        (list(map(int, m[1].split(", "))) for t in said if (m := re.match(r"^3 clients got ports (.+)$", t))), []
    )
    if not _has(said, rf"^ip_local_port_range = {low} {high}: "):
        problems.append(f"ip_local_port_range is {low} {high} here, the demo said otherwise")
    if len(set(ports)) != 3 or not all(low <= port <= high for port in ports):
        problems.append(f"the clients' ports {ports} are not 3 distinct ports from {low} to {high}")
    for flags, name, wanted in ((0, "no flags", None), (socket.AI_PASSIVE, "AI_PASSIVE", {"0.0.0.0", "::"})):
        infos = socket.getaddrinfo(None, 8080, type=socket.SOCK_STREAM, flags=flags)
        hosts = {where[0] for *_, where in infos}
        shown = next(
            (
                set(m[1].split(", "))
                for t in said
                if (m := re.match(rf"^getaddrinfo\(NULL, 8080, {name}\) -> (.+)$", t))
            ),
            None,
        )
        if (
            shown != hosts
            or (wanted and hosts - wanted)
            or (not wanted and not all(h in ("127.0.0.1", "::1") for h in hosts))
        ):
            problems.append(f"getaddrinfo(NULL, {name}) showed {shown}, here it gives {hosts}")
    if not _has(said, r"^open\(\) on a socket file -> OSError: errno \d+ \(ENXIO\)"):
        problems.append("open() on a socket file did not fail with ENXIO")
    if not _has(said, r"^after close\(0\), socket\(\) returned fd 0: "):
        problems.append("the socket made after close(0) was not fd 0")
    return problems


OVERLAP_CONNECTED = re.compile(r"^(slow|fast) client connected (\S+) -> (\S+)$")


def check_overlap(transcript: Transcript) -> list[str]:
    """Two whole exchanges; the slow client connected (and was accepted) first, yet the fast one had every
    answer before the slow one sent its first request: the server held both connections at once."""
    problems, _ = check_exchange(transcript, SAMPLE_REQUESTS, clients=2)
    lines = transcript.lines
    speeds = {line.pid: m[1] for line in lines if line.role == "client" and (m := OVERLAP_CONNECTED.match(line.text))}
    ports = {m[1]: m[2].rsplit(":", 1)[1] for line in lines if (m := OVERLAP_CONNECTED.match(line.text))}
    if sorted(speeds.values()) != ["fast", "slow"]:
        return problems + [f"expected a slow and a fast client to connect, saw {speeds}"]
    pid = {speed: p for p, speed in speeds.items()}

    def first(speed: str, what: str) -> int:
        return next(i for i, line in enumerate(lines) if line.pid == pid[speed] and line.text.startswith(what))

    def last(speed: str, what: str) -> int:
        return max(i for i, line in enumerate(lines) if line.pid == pid[speed] and line.text.startswith(what))

    if not first("slow", "slow client connected") < first("fast", "fast client connected"):
        problems.append("the slow client did not connect first")
    accepted = [
        m[1].rsplit(":", 1)[1] for t in transcript.texts("server") if (m := re.search(r"<- (\S+?)[;( ]", t + " "))
    ]
    if accepted[:2] != [ports["slow"], ports["fast"]]:
        problems.append(
            f"the server accepted ports {accepted}, not the slow client's {ports['slow']} then the fast one's"
        )
    try:
        if not last("fast", "received ") < first("slow", "sent "):
            problems.append("the slow client spoke before the fast one had every answer")
    except (StopIteration, ValueError):
        problems.append("a client sent or received nothing")
    return problems


def lossy_link_unavailable() -> Optional[str]:
    if not sys.platform.startswith("linux"):
        return "network namespaces and TUN devices exist on Linux only"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun here (the TUN driver: modprobe tun)"
    if os.geteuid() != 0:
        try:
            with open("/proc/sys/user/max_user_namespaces") as file:
                if int(file.read()) == 0:
                    return "needs root or user namespaces (user.max_user_namespaces is 0): run as root"
        except (OSError, ValueError):
            return "needs root or user namespaces: run as root"
    return None


def check_lossy_link(transcript: Transcript) -> list[str]:
    """UDP lost exactly what the link dropped, and some came out of order; TCP delivered every line in order
    though the link dropped some of its packets, and the kernel counted retransmissions."""
    receiver, sender, link = transcript.texts("receiver"), transcript.texts("sender"), transcript.texts("link")
    counts = {
        m[1]: (int(m[2]), int(m[3]))
        for t in link
        if (m := re.match(r"^result: (udp|tcp) packets=(\d+) dropped=(\d+)$", t))
    }
    udp = next(
        (
            m
            for t in receiver
            if (m := re.match(r"^UDP: received (\d+) of (\d+) datagrams: (\d+) lost, (\d+) arrived after", t))
        ),
        None,
    )
    resent = next((m for t in sender if (m := re.search(r"the kernel sent (\d+) of them again", t))), None)
    problems = []
    if set(counts) != {"udp", "tcp"} or udp is None or resent is None:
        return [f"missing measurements: link {counts}, UDP {bool(udp)}, TCP_INFO {bool(resent)}"]
    if counts["udp"] != (int(udp[2]), int(udp[3])) or int(udp[3]) == 0:
        problems.append(f"the receiver lost {udp[3]} of {udp[2]} datagrams, the link dropped {counts['udp']}")
    if int(udp[4]) == 0:
        problems.append("no datagram arrived out of order")
    if counts["tcp"][1] == 0 or int(resent[1]) == 0:
        problems.append(
            f"the link dropped {counts['tcp'][1]} TCP packets, the kernel resent {resent[1]}: no loss recovered"
        )
    if not _has(receiver, r"^TCP: received (\d+) of \1 lines, all in order$"):
        problems.append("TCP did not deliver every line in order")
    return problems


DEMOS = [
    Demo(
        name="time-wait",
        mechanism="TCP TIME_WAIT, bind() and SO_REUSEADDR",
        teaches="the side that closes first waits in TIME_WAIT: a restarted server's bind() gets EADDRINUSE, "
        "unless SO_REUSEADDR is set (on Linux, by the old server too)",
        client=Program("time_wait.py"),
        kind="runs",
        check=check_time_wait,
    ),
    Demo(
        name="tcp-reset",
        mechanism="TCP after the peer closed: send(), recv(), a reset",
        teaches="the first send() to a closed peer succeeds and brings back a reset; the second gets EPIPE and "
        "SIGPIPE (death, unless ignored); a close() with bytes unread resets the peer: ECONNRESET",
        client=Program("tcp_reset.py"),
        kind="runs",
        check=check_tcp_reset,
    ),
    Demo(
        name="queue-full",
        mechanism="a full listen queue: AF_UNIX, TCP_SYNCNT, tcp_abort_on_overflow",
        teaches="when a full queue IS an error: a Unix non-blocking connect gets EAGAIN, TCP with fewer SYN "
        "retries ETIMEDOUT, and tcp_abort_on_overflow (in a namespace of its own) a reset",
        client=Program("queue_full.py"),
        kind="runs",
        check=check_queue_full,
        slow="TCP gives up on a SYN after 3 s",
    ),
    Demo(
        name="open-questions",
        mechanism="ports, privileges, getaddrinfo(NULL), a socket file, fd 0",
        teaches="the notes' questions run: a port is 16 bits; bind(80) unprivileged is EACCES; client ports come "
        "from ip_local_port_range; AI_PASSIVE means any; open() on a socket is ENXIO; a socket can be fd 0",
        client=Program("open_questions.py"),
        kind="runs",
        check=check_open_questions,
    ),
    Demo(
        name="overlap-fork",
        mechanism="TCP, fork per client, two clients at once",
        teaches="a slow client connects first and stays silent; the fork server answers the fast one first, "
        "each in a process of its own",
        server=Program("fork_server.py", ("--clients", "2")),
        client=Program("overlap_clients.py", ("--host", "{host}", "--port", "{port}")),
        kind="runs",
        check=check_overlap,
        count=lambda transcript: check_exchange(transcript, SAMPLE_REQUESTS, clients=2)[1],
        also_runs=("stdio_server.py",),
    ),
    Demo(
        name="overlap-select",
        mechanism="TCP, one poll() server, two clients at once",
        teaches="the same two clients against the poll server: one process, two connections, the fast one first",
        server=Program("select_server.py", ("--clients", "2")),
        client=Program("overlap_clients.py", ("--host", "{host}", "--port", "{port}")),
        kind="runs",
        check=check_overlap,
        count=lambda transcript: check_exchange(transcript, SAMPLE_REQUESTS, clients=2)[1],
    ),
    Demo(
        name="lossy-link",
        mechanism="UDP and TCP across two namespaces, over a lossy link",
        teaches="a link that drops 10% and delays 2 to 18 ms: UDP loses and reorders, TCP delivers all in order "
        "and the kernel counts its retransmissions (TCP_INFO); needs root or user namespaces",
        client=Program("lossy_link.py"),
        kind="runs",
        check=check_lossy_link,
        unavailable=lossy_link_unavailable,
    ),
]
