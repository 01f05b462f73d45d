"""TIME_WAIT and SO_REUSEADDR: why a restarted server's bind() fails with EADDRINUSE, and what fixes it.

What it shows
    The side that closes a TCP connection first keeps its end in TIME_WAIT
    for a minute (2 x MSL), so that a late segment of the old connection
    cannot be taken for part of a new one. When that side is the server, its
    port stays taken: a restarted server's bind() fails with EADDRINUSE
    (Address already in use), the most reported beginner error there is,
    though nothing listens any more. SO_REUSEADDR, set before bind(), lets a
    new listener bind the port despite the TIME_WAIT ends; on Linux only if
    the old server had set it too (measured below: both ways round).

Run it
    python demos/time_wait.py      (or: make time-wait)
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address

server, client, kernel = Log("server"), Log("client"), Log("kernel")  # three voices, one process
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "0A": "LISTEN", "08": "CLOSE_WAIT", "04": "FIN_WAIT1"}


def first_server_and_its_client(reuse: bool) -> int:
    """A server that serves one client and closes first (the active close): its end stays in TIME_WAIT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        if reuse:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the accepted socket inherits it
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        server.say(f"first server listening on {address(listener.getsockname())} ({option(reuse)})")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.connect(("127.0.0.1", port))  # completed by the kernel: the listen queue has room
            connection, peer = listener.accept()
            connection.close()  # the server closes first: the active close, its end goes to TIME_WAIT
            server.say(f"served {address(peer)} and closed first; then the server exits (its listener closed)")
            sock.recv(1)  # b"": the server's FIN; the client closes too
    client.say("closed its end too")
    return port


def restart(port: int, reuse: bool) -> str:
    """A new server on the same port: bind() with or without SO_REUSEADDR; what happened."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        if reuse:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # before bind(): it is bind's rule
        try:
            listener.bind(("127.0.0.1", port))
        except OSError as error:  # the one error taught here
            return f"{type(error).__name__}: errno {error.errno} (EADDRINUSE): {error.strerror}"
        listener.listen(1)
        return f"bound and listening on {address(listener.getsockname())}"


def main() -> None:
    program.argument_parser(__doc__, DETAILS).parse_args()
    for first in (True, False):  # the first server with SO_REUSEADDR (as every server here), then without
        port = first_server_and_its_client(reuse=first)
        for state, local, remote in kernel_table(port):
            kernel.say(f"/proc/net/tcp: {local} -> {remote} {state}")
        outcome = {}
        for reuse in (False, True):
            said = restart(port, reuse)
            server.say(f"restarted {option(reuse)}: bind(127.0.0.1:{port}) -> {said}")
            outcome[reuse] = "EADDRINUSE" if "EADDRINUSE" in said else "bound" if said.startswith("bound") else "?"
        waiting = any(state == "TIME_WAIT" and local.endswith(f":{port}") for state, local, _ in kernel_table(port))
        server.say(
            f"result: first={'reuse' if first else 'plain'} port={port} time_wait={'yes' if waiting else 'no'} "
            f"without={outcome[False]} with={outcome[True]}"
        )


def option(reuse: bool) -> str:
    return "with SO_REUSEADDR" if reuse else "without SO_REUSEADDR"


def kernel_table(port: int) -> list[tuple[str, str, str]]:
    """The kernel's TCP table (what ss and netstat read) for this port: (state, local, remote)."""
    rows = []
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == port or int(remote.split(":")[1], 16) == port:
                rows.append((TCP_STATES.get(state, state), _address(local), _address(remote)))
    return rows


def _address(hex_address: str) -> str:
    """127.0.0.1:41234 from /proc/net/tcp's 0100007F:A0D2 (the address in this machine's byte order)."""
    host, port = hex_address.split(":")
    return f"{socket.inet_ntoa(int(host, 16).to_bytes(4, sys.byteorder))}:{int(port, 16)}"


DETAILS = """
What else it shows
    Only the side that closes first waits: the client here closed second,
    so its end is simply gone. A server that closes its clients first (as
    an HTTP server does) collects a TIME_WAIT per client. Every server in
    this project sets SO_REUSEADDR (demos/tcp_server.py), which is why a
    restart never fails here. The wait is in the kernel's table, which ss
    -tan and netstat read: /proc/net/tcp, state 06.

    Linux's rule (inet_csk_bind_conflict): a bind over a TIME_WAIT end is
    allowed only if both the new socket and the old one had SO_REUSEADDR.
    So a server that never set it blocks its own restart for a minute,
    whatever the new one does: set it in every server, before bind().

System calls, in order
    twice (the first server with, then without SO_REUSEADDR): socket() ->
    [setsockopt(SO_REUSEADDR)] -> bind(127.0.0.1, 0) -> listen() -> connect()
    -> accept() -> close() the accepted socket first (TIME_WAIT) -> recv() = 0
    on the client's side -> close() -> open(/proc/net/tcp), read() ->
    socket() -> bind(same port): EADDRINUSE -> socket() ->
    setsockopt(SO_REUSEADDR) -> bind(same port) -> listen() -> close().

Its peer
    Its own client, in the same process; the kernel's table for the witness.

Expected output
    server[100]: first server listening on 127.0.0.1:41234 (with SO_REUSEADDR)
    server[100]: served 127.0.0.1:53012 and closed first; then the server exits (its listener closed)
    client[100]: closed its end too
    kernel[100]: /proc/net/tcp: 127.0.0.1:41234 -> 127.0.0.1:53012 TIME_WAIT
    server[100]: restarted without SO_REUSEADDR: bind(127.0.0.1:41234) -> OSError: errno 98 (EADDRINUSE): Address already in use
    server[100]: restarted with SO_REUSEADDR: bind(127.0.0.1:41234) -> bound and listening on 127.0.0.1:41234
    server[100]: result: first=reuse port=41234 time_wait=yes without=EADDRINUSE with=bound
    server[100]: first server listening on 127.0.0.1:41235 (without SO_REUSEADDR)
    ...
    server[100]: result: first=plain port=41235 time_wait=yes without=EADDRINUSE with=EADDRINUSE
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
