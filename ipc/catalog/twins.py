"""The C twins: the core demos in the notes' own language, and each mixed with its Python twin.

A C client against the Python server and a Python client against the C server pass the same checks as
the Python pair: the exchange is the protocol (ipc/protocol.py), not a Python artefact. Each is skipped,
saying how to get a compiler, where there is no cc (ipc.cprograms builds them into build/).
"""

import re
import socket
import sys

from ..transcript import Transcript
from . import Demo, Program, c_demo

FAMILIES = {"AF_INET": socket.AF_INET, "AF_INET6": socket.AF_INET6}
TYPES = {"SOCK_STREAM": socket.SOCK_STREAM, "SOCK_DGRAM": socket.SOCK_DGRAM, "SOCK_RAW": socket.SOCK_RAW}


def check_showip_c(transcript: Transcript) -> list[str]:
    """Each name's list is the one Python's getaddrinfo() gives here (the same resolver, asked independently),
    and the name nobody knows failed with gai_strerror's words."""
    said: dict[str, set] = {}
    name = None
    for text in transcript.texts("showip"):
        if match := re.match(r"^(\S+): (\d+) results?$", text):
            name = match[1]
            said[name] = set()
        elif (match := re.match(r"^  (AF_INET6?)\s+(SOCK_\w+)\s+\S+\s+(\S+)$", text)) and name:
            said[name].add((FAMILIES[match[1]], TYPES.get(match[2]), match[3]))
    problems = []
    for name in ("localhost", socket.gethostname(), "127.0.0.1", "::1"):
        expected = {(family, kind, where[0]) for family, kind, _, _, where in socket.getaddrinfo(name, None)}
        if said.get(name) != expected:
            problems.append(
                f"getaddrinfo({name!r}) in C listed {sorted(said.get(name, ()))}, expected {sorted(expected)}"
            )
    if not any(text.startswith("nowhere.invalid: no address: getaddrinfo: ") for text in transcript.texts("showip")):
        problems.append("nowhere.invalid did not fail with gai_strerror's words")
    return problems


TCP_SERVER_ARGS = ("--host", "127.0.0.1", "--clients", "2")
TCP_CLIENT_ARGS = ("--host", "{host}", "--port", "{port}")  # UDP's clients too
UDP_SERVER_ARGS = ("--host", "127.0.0.1", "--clients", "2")

DEMOS = [
    c_demo(demo)
    for demo in [
        Demo(
            name="tcp-c",
            mechanism="TCP over IPv4 loopback, in C",
            teaches="tcp4 in C: getaddrinfo's linked list and freeaddrinfo, the sockaddr casts, addrlen in and out",
            server=Program("c/tcp_server.c", TCP_SERVER_ARGS),
            client=Program("c/tcp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="tcp-c-client",
            mechanism="TCP: a C client, the Python server",
            teaches="the C client against tcp_server.py: the exchange is the protocol, not Python's",
            server=Program("tcp_server.py", TCP_SERVER_ARGS),
            client=Program("c/tcp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="tcp-c-server",
            mechanism="TCP: the Python client, a C server",
            teaches="tcp_client.py against the C server: the same checks pass either way round",
            server=Program("c/tcp_server.c", TCP_SERVER_ARGS),
            client=Program("tcp_client.py", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="pipe-c",
            mechanism="fork + two pipes, in C",
            teaches="pipe in C: int fds[2], [0] reads, [1] writes; the child ends with _exit()",
            client=Program("c/pipe_fork.c"),
        ),
        Demo(
            name="unix-c",
            mechanism="Unix-domain stream socket, in C",
            teaches="unix in C: a struct sockaddr_un, memset, the path in sun_path, unlink() on every way out",
            server=Program("c/unix_stream_server.c", ("--clients", "2")),
            client=Program("c/unix_stream_client.c", ("--path", "{path}")),
            clients=2,
        ),
        Demo(
            name="unix-c-client",
            mechanism="Unix stream: a C client, the Python server",
            teaches="the C client against unix_stream_server.py",
            server=Program("unix_stream_server.py", ("--clients", "2")),
            client=Program("c/unix_stream_client.c", ("--path", "{path}")),
            clients=2,
        ),
        Demo(
            name="unix-c-server",
            mechanism="Unix stream: the Python client, a C server",
            teaches="unix_stream_client.py against the C server",
            server=Program("c/unix_stream_server.c", ("--clients", "2")),
            client=Program("unix_stream_client.py", ("--path", "{path}")),
            clients=2,
        ),
        Demo(
            name="udp-c",
            mechanism="UDP over IPv4 loopback, in C",
            teaches="udp4 in C: recvfrom() fills a sockaddr_storage and its length, sendto() answers that address",
            server=Program("c/udp_server.c", UDP_SERVER_ARGS),
            client=Program("c/udp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="udp-c-client",
            mechanism="UDP: a C client, the Python server",
            teaches="the C client against udp_server.py: one datagram per message either way",
            server=Program("udp_server.py", UDP_SERVER_ARGS),
            client=Program("c/udp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="udp-c-server",
            mechanism="UDP: the Python client, a C server",
            teaches="udp_client.py against the C server",
            server=Program("c/udp_server.c", UDP_SERVER_ARGS),
            client=Program("udp_client.py", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="dup2-c",
            mechanism="fork + pipes + dup2 + exec, in C",
            teaches="dup2 in C: every fd survives exec unless close-on-exec, so the originals must be closed",
            client=Program("c/dup2_parent.c", ("--server", sys.executable, "demos/stdio_server.py", "--")),
            also_runs=("stdio_server.py",),
        ),
        Demo(
            name="fifo-c-client",
            mechanism="named pipes: a C client, the Python server",
            teaches="mkfifo(), open() that waits for the other side, an alarm() for a deadline, in C",
            server=Program("fifo_server.py", ("--clients", "2")),
            client=Program("c/fifo_client.c", ("--dir", "{dir}")),
            clients=2,
        ),
        Demo(
            name="showip-c",
            mechanism="getaddrinfo, in C",
            teaches="the notes' showip: follow ai_next to NULL, cast ai_addr to its family's struct, inet_ntop, "
            "freeaddrinfo; gai_strerror for a name nobody knows",
            client=Program("c/showip.c"),
            kind="runs",
            check=check_showip_c,
        ),
        Demo(
            name="select-server-c",
            mechanism="TCP, one process, poll() in C",
            teaches="select-server in C: an array of struct pollfd, O_NONBLOCK with fcntl, a table of clients",
            server=Program("c/poll_server.c", TCP_SERVER_ARGS),
            client=Program("tcp_client.py", TCP_CLIENT_ARGS),
            clients=2,
        ),
    ]
]
