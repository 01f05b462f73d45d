"""The notes' open questions, answered by running them: ports, privileged ports, the client port range,
getaddrinfo(NULL) with and without AI_PASSIVE, open() on a socket file, and a socket on fd 0.

What it shows
    "i swear the port number went from 0-10000": a port is 16 bits, 0 to
    65535 (sin_port is a uint16_t: htons(65536) is 0). Below 1024 (the
    sysctl ip_unprivileged_port_start) bind() needs privilege: EACCES. The
    kernel picks a client's port from ip_local_port_range. getaddrinfo(NULL)
    means loopback, unless AI_PASSIVE: then any address. A socket file is no
    file to open(): ENXIO. And a socket is an fd like any: after close(0),
    socket() returns 0, the lowest free one.

Run it
    python demos/open_questions.py      (or: make open-questions)
"""

import os
import socket
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

log = Log("answers")
NOBODY = 65534  # the uid and gid a root run drops to, to ask as an unprivileged user


def port_is_16_bits() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        log.say(f"a port is 16 bits: 0 to 65535; sin_port of 65535 is {struct.pack('!H', 65535).hex(' ')}")
        try:
            sock.connect(("127.0.0.1", 65536))
        except OverflowError as error:  # Python checks before any system call
            log.say(f"port 65536: Python refuses it: OverflowError: {error}")
    log.say(f"port 65536 in C: htons(65536) keeps 16 bits: {65536 & 0xFFFF}, so bind() would take any free port")


def privileged_port() -> None:
    start = read_sysctl("net/ipv4/ip_unprivileged_port_start")
    log.say(f"ip_unprivileged_port_start = {start}: binding a port below it needs root (CAP_NET_BIND_SERVICE)")
    pid = os.fork()
    if pid == 0:  # the child asks as an unprivileged user (root drops its privileges first)
        os._exit(program.child("answers", bind_80_unprivileged))
    os.waitpid(pid, 0)
    if os.geteuid() == 0:
        log.say(f"bind(127.0.0.1:80) as root -> {try_bind(80)}")
    else:
        log.say("bind(127.0.0.1:80) as root: not tried (not root); root may: CAP_NET_BIND_SERVICE")


def bind_80_unprivileged() -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)  # for good: this child cannot get root back
    log.say(f"bind(127.0.0.1:80) as uid {os.geteuid()} -> {try_bind(80)}")


def try_bind(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))  # no listen(): nobody is served, the port is only asked for
        except OSError as error:  # EACCES: the error taught here (EADDRINUSE: someone has it)
            return f"{type(error).__name__}: errno {error.errno} ({os.strerror(error.errno)})"
        return "bound"


def client_ports() -> None:
    low, high = map(int, read_sysctl("net/ipv4/ip_local_port_range").split())
    log.say(f"ip_local_port_range = {low} {high}: the kernel picks each client's port from it")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(3)
        clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
        ports = [sock.getsockname()[1] for sock in clients]
        for sock in clients:
            sock.close()
    log.say(f"3 clients got ports {', '.join(map(str, ports))}")


def passive() -> None:
    for flags, name in ((0, "no flags"), (socket.AI_PASSIVE, "AI_PASSIVE")):
        found = socket.getaddrinfo(None, 8080, type=socket.SOCK_STREAM, flags=flags)
        hosts = ", ".join(where[0] for family, *_, where in sorted(found))  # IPv4 first
        log.say(f"getaddrinfo(NULL, 8080, {name}) -> {hosts}")


def open_a_socket_file() -> None:
    with tempfile.TemporaryDirectory(prefix="ipc-questions-") as directory:  # 0700
        path = os.path.join(directory, "a.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(path)  # the socket file
            sock.listen(1)
            try:
                os.close(os.open(path, os.O_RDONLY))
                said = "opened"
            except OSError as error:  # ENXIO: the error taught here
                said = f"{type(error).__name__}: errno {error.errno} (ENXIO): {error.strerror}"
            log.say(f"open() on a socket file -> {said}; connect() is the way in")
            os.unlink(path)


def socket_on_fd_0() -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(program.child("answers", lowest_fd))
    os.waitpid(pid, 0)


def lowest_fd() -> None:
    os.close(0)  # stdin: fd 0 is free now
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        log.say(f"after close(0), socket() returned fd {sock.fileno()}: the lowest free fd, as open() and pipe() do")


def read_sysctl(name: str) -> str:
    with open(f"/proc/sys/{name}") as file:
        return file.read().strip()


def main() -> None:
    program.argument_parser(__doc__, DETAILS).parse_args()
    port_is_16_bits()
    privileged_port()
    client_ports()
    passive()
    open_a_socket_file()
    socket_on_fd_0()


DETAILS = """
What else it shows
    As root the unprivileged question is asked in a child that dropped to
    uid and gid 65534 (nobody) first: setgroups(), setgid(), setuid(). Root
    itself may bind port 80 (or finds it taken: EADDRINUSE); the bind is
    only asked for, nothing listens. A machine may lower the privileged
    range (ip_unprivileged_port_start = 0 in some containers): the answer
    then says so. The check holds each answer against the sysctl read
    again, Python's getaddrinfo(), and the port range.

System calls, in order
    socket() -> bind(127.0.0.1, 0) -> open(/proc/sys/...), read() -> fork()
    -> the child: setgroups(), setgid(), setuid() -> socket() -> bind(80):
    EACCES -> the parent: waitpid() -> bind(80) as root -> listen() ->
    connect() x 3 -> getsockname() -> getaddrinfo(NULL, 8080), with and
    without AI_PASSIVE -> bind(a path) -> open(path): ENXIO -> unlink() ->
    fork() -> the child: close(0) -> socket() = 0.

Its peer
    The kernel: its sysctls, its port choices, its errors.

Expected output
    answers[100]: a port is 16 bits: 0 to 65535; sin_port of 65535 is ff ff
    answers[100]: port 65536: Python refuses it: OverflowError: connect(): port must be 0-65535.
    answers[100]: port 65536 in C: htons(65536) keeps 16 bits: 0, so bind() would take any free port
    answers[100]: ip_unprivileged_port_start = 1024: binding a port below it needs root (CAP_NET_BIND_SERVICE)
    answers[101]: bind(127.0.0.1:80) as uid 65534 -> PermissionError: errno 13 (Permission denied)
    answers[100]: bind(127.0.0.1:80) as root -> bound
    answers[100]: ip_local_port_range = 32768 60999: the kernel picks each client's port from it
    answers[100]: 3 clients got ports 41234, 41236, 41238
    answers[100]: getaddrinfo(NULL, 8080, no flags) -> 127.0.0.1, ::1
    answers[100]: getaddrinfo(NULL, 8080, AI_PASSIVE) -> 0.0.0.0, ::
    answers[100]: open() on a socket file -> OSError: errno 6 (ENXIO): No such device or address; connect() is the way in
    answers[102]: after close(0), socket() returned fd 0: the lowest free fd, as open() and pipe() do
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "answers"))
