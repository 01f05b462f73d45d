"""Ports: several clients of one server at once, told apart by their ephemeral ports.

What it shows
    A TCP connection is named by four numbers, its 4-tuple: (client address,
    client port, server address, server port). Here several clients are
    connected to one server at once. Every connection has the same server
    address and port; only the client's port differs, an ephemeral port the
    kernel chose at connect(). That is how the kernel tells the connections
    apart.

Run it
    python demos/ports.py [--clients 3] [--host 127.0.0.1]   (or: make ports)
    The kernel's view needs psutil (make installs it in .venv).
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.timeouts import timeval

TIMEOUT = 10.0  # seconds any one wait may take
log = Log("server")


def serve(host: str, clients: int) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    connections: list[socket.socket] = []
    children: list[int] = []
    try:
        listener.bind(where)  # port 0: the kernel picks the server's port too
        listener.listen(clients)  # room for every client to wait at once
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))  # nor any accept()
        log.say(f"listening on {address(listener.getsockname())} for {clients} clients at once")
        for _ in range(clients):  # one at a time: each stays connected while the next comes
            pid = os.fork()
            if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
                os._exit(program.child("client", be_a_client, listener, connections))
            children.append(pid)
            connection, peer = listener.accept()  # a new socket per client, same local port for all
            connections.append(connection)
            log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")
        log.say(f"all {clients} connected at once; the kernel's table of port {listener.getsockname()[1]}:")
        kernel_view(listener.getsockname())
    finally:
        listener.close()
        for i, pid in enumerate(children):
            if i < len(connections):
                connections[i].close()  # that client's recv() now returns b""
            _, status = os.waitpid(pid, 0)  # reap each child in turn, or it stays a zombie
            if os.waitstatus_to_exitcode(status) != 0:
                log.say(f"client {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def be_a_client(listener: socket.socket, inherited: list[socket.socket]) -> None:
    """A forked child: connect, say its half of the 4-tuple, stay connected until the server hangs up."""
    client = Log("client")
    server_address = listener.getsockname()
    listener.close()  # the child does not listen: only the parent accepts
    for connection in inherited:
        connection.close()  # copies, made by fork(), of the server's ends: else its close() would not end them
    with socket.socket(listener.family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))  # no recv() waits longer: EAGAIN
        sock.connect(server_address)  # the kernel picks this connection's client port here
        client.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        if sock.recv(1) == b"":  # waits, connection open, while the others connect too
            client.say("the server hung up")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--clients",
        type=program.whole_number(1, 50),
        default=3,
        help="how many clients connect at once, 1 to 50 (default 3)",
    )
    parser.add_argument(
        "--host", type=program.host_name, default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    args = parser.parse_args()
    serve(args.host, args.clients)


# -- below the lesson: the kernel's own table ------------------------------------------------------------------


def kernel_view(server: tuple) -> None:
    """This server's connections, from the kernel's table of sockets (what ss -tnp shows)."""
    try:
        import psutil
    except ImportError:
        log.say("psutil is not installed: no kernel view (make ports runs this with .venv's python)")
        return

    def shown(addr: tuple) -> str:
        return address((*addr, 0, 0) if ":" in addr[0] else tuple(addr))  # IPv6 in brackets

    rows = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.raddr and tuple(conn.laddr) == server[:2]:  # the server's end of a connection
            rows.append((conn.raddr, 0, f"pid {conn.pid} {conn.status} {shown(conn.laddr)} <- {shown(conn.raddr)}"))
        elif conn.raddr and tuple(conn.raddr) == server[:2]:  # a client's end: on one machine, both are here
            rows.append((conn.laddr, 1, f"pid {conn.pid} {conn.status} {shown(conn.laddr)} -> {shown(conn.raddr)}"))
    for *_, row in sorted(rows):  # by client port: each connection's two ends together
        log.say(f"kernel: {row}")


DETAILS = """
What else it shows
    Each 4-tuple is seen three ways: by its client (getsockname), by the
    server (accept), and in the kernel's own table of sockets
    (psutil.net_connections, as ss -tnp), which on one machine holds both ends
    of every connection.

System calls, in order
    getaddrinfo() -> socket() -> bind(port 0) -> listen() -> setsockopt(SO_RCVTIMEO)
    -> per client: fork() -> child: close() the inherited sockets -> socket()
    -> setsockopt(SO_RCVTIMEO) -> connect() -> getsockname() -> recv() until
    the server hangs up -> _exit(); parent:
    accept() -> ... then read the kernel's table -> per client: close() -> waitpid().

Its peer
    Its own children, one per client, forked from this program.

Expected output (pids and ports vary; a client's "connected" and the "accepted" may swap)
    server[100]: listening on 127.0.0.1:41234 for 3 clients at once
    client[101]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    server[100]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    ...
    server[100]: all 3 connected at once; the kernel's table of port 41234:
    server[100]: kernel: pid 100 ESTABLISHED 127.0.0.1:41234 <- 127.0.0.1:53012
    server[100]: kernel: pid 101 ESTABLISHED 127.0.0.1:53012 -> 127.0.0.1:41234
    ...
    client[101]: the server hung up
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
