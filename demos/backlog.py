"""Listen backlog: how many connections the kernel completes for a server that never accepts.

What it shows
    After listen(fd, backlog) the kernel answers clients by itself: it
    completes each three-way handshake with no help from the server and keeps
    the connection in the listener's accept queue until accept() takes it. The
    backlog bounds that queue. Here the server never calls accept(); clients
    connect one after another until one gets no answer, for several backlogs.
    Measured on Linux: the queue takes backlog + 1.

Run it
    python demos/backlog.py [--backlog 0 1 2 4 8] [--deadline 0.5]   (or: make backlog)
"""

import os
import select
import socket
import struct
import sys
import time
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address

server, client = Log("server"), Log("client")  # two roles, one process
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT"}  # the first byte of Linux's struct tcp_info


def measure(backlog: int, deadline: float, show_retry: bool) -> int:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    clients: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)  # from here the kernel completes handshakes, accept() or not
        server.say(f"listen({backlog}) on {address(listener.getsockname())}; it never calls accept()")
        completed, stuck = 0, None
        while stuck is None and completed < 2 * backlog + 8:  # a bound, should the queue have none
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            clients.append(sock)
            sock.setblocking(False)  # so connect() cannot wait: we wait in select(), with a deadline
            started = time.monotonic()
            sock.connect_ex(listener.getsockname())  # sends the SYN; EINPROGRESS
            if (why := unanswered(sock, listener, deadline)) is not None:
                stuck = sock
                client.say(f"connect #{completed + 1}: {why}: the kernel dropped its SYN ({tcp_state(sock)})")
            elif (error := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)) != 0:
                raise OSError(error, os.strerror(error))
            else:
                completed += 1
                client.say(
                    f"connect #{completed} completed in {(time.monotonic() - started) * 1000:.1f} ms, "
                    f"before any accept() ({tcp_state(sock)})"
                )
        listener.setblocking(False)  # accept() now says EAGAIN instead of waiting for more
        accepted = 0
        while True:
            try:
                listener.accept()[0].close()  # take one completed connection off the queue
            except BlockingIOError:
                break
            accepted += 1
        server.say(f"accept() now finds {accepted} connection(s) waiting")
        server.say(
            f"result: backlog={backlog} completed={completed} accepted={accepted} dropped={'yes' if stuck else 'no'}"
        )
        if show_retry and stuck is not None:  # the queue is empty again: the next resent SYN gets in
            _, writable, _ = select.select([], [stuck], [], 4.0)
            waited = time.monotonic() - started
            client.say(
                f"connect #{completed + 1} "
                + (
                    f"completed {waited:.2f} s after connect(): the kernel resent the SYN and accept() had made room"
                    if writable
                    else "still waits after 4 s"
                )
            )
            server.say(f"result: retry={'yes' if writable else 'no'} seconds={waited:.2f}")
        return completed
    finally:
        for sock in clients:
            sock.close()
        listener.close()


def show(backlogs: list, deadline: float) -> None:
    if os.path.exists("/proc/sys/net/core/somaxconn"):
        with open("/proc/sys/net/core/somaxconn") as file:
            client.say(f"net.core.somaxconn = {file.read().strip()}: the kernel caps any backlog at that")
    table = [
        (backlog, measure(backlog, deadline, show_retry=i == len(backlogs) - 1)) for i, backlog in enumerate(backlogs)
    ]
    client.say("  backlog   completed (connections the kernel finished without accept())")
    for backlog, completed in table:
        client.say(f"{backlog:>9} {completed:>11}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--backlog",
        type=program.whole_number(0, 64),
        nargs="+",
        default=[0, 1, 2, 4, 8],
        metavar="N",
        help="backlogs to try, 0 to 64 (default: 0 1 2 4 8)",
    )
    parser.add_argument(
        "--deadline",
        type=program.seconds(0, 0.99),
        default=0.5,
        help="where the accept queue cannot be read (not Linux): seconds a connect may take before it "
        "counts as unanswered (default 0.5, well under the 1 s after which the SYN is resent)",
    )
    args = parser.parse_args()
    show(args.backlog, args.deadline)


# -- below the lesson: reading the kernel's view of the queue and of a connection -----------------------------


def unanswered(sock: socket.socket, listener: socket.socket, deadline: float) -> Optional[str]:
    """None once the handshake of sock's connect() is over; else why it is not and will not be."""
    started = time.monotonic()
    while not select.select([], [sock], [], 0.01)[1]:  # writable once the handshake is over
        queue = accept_queue(listener)
        full = queue is not None and queue[0] > queue[1]  # the kernel drops every SYN that finds it full
        if full and tcp_state(sock) == "SYN_SENT":  # (not this very connection, completed since select())
            return f"the accept queue is full ({queue[0]} waiting, backlog {queue[1]})"
        if time.monotonic() - started > deadline:  # where the queue cannot be read: a guess by time
            return f"no answer within {deadline * 1000:.0f} ms"
    return None


def accept_queue(listener: socket.socket) -> Optional[tuple[int, int]]:
    """(connections waiting in the accept queue, the backlog): Linux's tcp_info of a listening socket
    keeps them where a connection keeps its unacked and sacked counts."""
    if not hasattr(socket, "TCP_INFO"):  # Linux only
        return None
    return struct.unpack_from("II", listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 32), 24)


def tcp_state(sock: socket.socket) -> str:
    if not hasattr(socket, "TCP_INFO"):  # Linux only
        return "state unknown here"
    return TCP_STATES.get(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0], "other")


DETAILS = """
What else it shows
    The kernel says so itself: a listening socket's tcp_info holds the queue's
    length and its limit, so the demo sees the queue full instead of guessing
    from a time (it still does that where tcp_info is missing). Then the
    kernel drops new SYNs in silence: the client gets no error (the notes say
    it is "denied"), its connect() just waits in SYN_SENT while the kernel
    resends the SYN after 1 s, 2 s, 4 s... Once accept() makes room, the next
    resent SYN gets in: shown once, at the end.

System calls, in order
    per backlog: socket() -> bind(port 0) -> listen(backlog) -> per client:
    socket() -> setblocking(False) -> connect() (EINPROGRESS) -> select()
    for writable, meanwhile getsockopt(TCP_INFO) of the listener: is its
    queue full? -> getsockopt(SO_ERROR) ... until one does not complete ->
    accept() until EAGAIN, counting -> close() all.

Its peer
    Itself: the listening socket and its clients live in this one process.

Expected output (ports and times vary)
    client[100]: net.core.somaxconn = 4096: the kernel caps any backlog at that
    server[100]: listen(2) on 127.0.0.1:41234; it never calls accept()
    client[100]: connect #1 completed in 0.1 ms, before any accept() (ESTABLISHED)
    ...
    client[100]: connect #4: the accept queue is full (3 waiting, backlog 2): the kernel dropped its SYN (SYN_SENT)
    server[100]: accept() now finds 3 connection(s) waiting
    server[100]: result: backlog=2 completed=3 accepted=3 dropped=yes
    ...
    client[100]: connect #10 completed 1.00 s after connect(): the kernel resent the SYN and accept() had made room
    server[100]: result: retry=yes seconds=1.00
    client[100]:   backlog   completed (connections the kernel finished without accept())
    client[100]:         0           1
    ...
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
