"""SIGPIPE over TCP, and a reset: what send() and recv() say once the other side has gone.

What it shows
    A pipe's writer learns at once that no reader is left. TCP's sender
    cannot: after the peer closed, the first send() succeeds (the bytes go
    out) and brings back a reset (RST) from the peer's kernel, which has no
    socket to give them to. Only the second send() fails: EPIPE, and the
    signal SIGPIPE, which kills a process that has not ignored it (C's
    default; Python ignores it at start). And a close() with bytes still
    unread sends a reset instead of an end of file: the peer's recv() fails
    with ECONNRESET (Connection reset by peer) instead of returning 0.

Run it
    python demos/tcp_reset.py      (or: make tcp-reset)
"""

import os
import select
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

server, client = Log("server"), Log("client")  # two sides, one process (a forked writer for SIGPIPE)
DEADLINE_MS = 2000  # for the reset to come back: on loopback it takes microseconds


def connected_pair() -> tuple[socket.socket, socket.socket]:
    """A listener, a client connected to it, the accepted socket: (client's, server's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect(listener.getsockname())
        return sock, listener.accept()[0]


def send_after_the_peer_closed(sigpipe: str) -> None:
    """The client closes; the server sends twice (in a forked writer whose SIGPIPE action is `sigpipe`)."""
    sock, connection = connected_pair()
    sock.close()  # the client is gone: a FIN reaches the server, which may still send
    pid = os.fork()
    if pid == 0:  # the writer: SIGPIPE as asked, then two sends
        os._exit(program.child("server", two_sends, connection, sigpipe))
    connection.close()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        server.say(f"SIGPIPE {sigpipe}: writer {pid} was killed by signal {os.WTERMSIG(status)} ({name})")
    else:
        server.say(f"SIGPIPE {sigpipe}: writer {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def two_sends(connection: socket.socket, sigpipe: str) -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL if sigpipe == "SIG_DFL" else signal.SIG_IGN)
    sent = connection.send(b"hello\n")  # the peer closed, but this succeeds: the bytes go out
    server.say(f"SIGPIPE {sigpipe}: first send() after the peer closed -> {sent} bytes, no error")
    poller = select.poll()
    poller.register(connection, select.POLLIN)
    events = poller.poll(DEADLINE_MS)  # until the peer's kernel answers with a reset
    server.say(f"SIGPIPE {sigpipe}: the reset came back: {describe(events)}")
    try:
        connection.send(b"world\n")  # now it fails: EPIPE, with SIGPIPE first (which kills, if not ignored)
    except OSError as error:  # the error taught here
        server.say(f"SIGPIPE {sigpipe}: second send() -> {type(error).__name__}: errno {error.errno} (EPIPE)")


def describe(events: list) -> str:
    flags = [name for name in ("POLLIN", "POLLERR", "POLLHUP") if any(e & getattr(select, name) for _, e in events)]
    return "poll() says " + "|".join(flags) if flags else "nothing within the deadline"


def close_with_unread_data(read_first: bool) -> None:
    """The client sends a line; the server closes, having read it or not; what the client's recv() gets."""
    sock, connection = connected_pair()
    with sock:
        sock.sendall(b"hello\n")  # in the server's receive queue at once, on loopback
        if read_first:
            connection.recv(4096)
        connection.close()  # unread bytes: a reset (RST), not a FIN
        sock.settimeout(DEADLINE_MS / 1000)
        try:
            got = sock.recv(4096)
            said = f"recv() -> {got!r}: end of file"
        except ConnectionResetError as error:  # the error taught here
            said = f"recv() -> ConnectionResetError: errno {error.errno} (ECONNRESET): {error.strerror}"
    unread = "read everything" if read_first else "left 6 bytes unread"
    client.say(f"the server {unread}, then close(): {said}")


def main() -> None:
    program.argument_parser(__doc__, DETAILS).parse_args()
    for sigpipe in ("SIG_IGN", "SIG_DFL"):
        send_after_the_peer_closed(sigpipe)
    for read_first in (True, False):
        close_with_unread_data(read_first)


DETAILS = """
System calls, in order
    per case: socket() -> bind() -> listen() -> connect() -> accept() ->
    close() the client -> fork() -> the writer: rt_sigaction(SIGPIPE) ->
    send() (succeeds) -> poll() until the reset -> send(): EPIPE (and SIGPIPE)
    -> the parent: waitpid(). Then socket(), connect(), accept() -> send() a
    line -> [recv() it] -> close() the server's end -> recv(): 0, or ECONNRESET.

Its peer
    Itself: each side in turn, in one process and a forked writer.

Expected output
    server[101]: SIGPIPE SIG_IGN: first send() after the peer closed -> 6 bytes, no error
    server[101]: SIGPIPE SIG_IGN: the reset came back: poll() says POLLIN|POLLERR|POLLHUP
    server[101]: SIGPIPE SIG_IGN: second send() -> BrokenPipeError: errno 32 (EPIPE)
    server[100]: SIGPIPE SIG_IGN: writer 101 exited with status 0
    server[102]: SIGPIPE SIG_DFL: first send() after the peer closed -> 6 bytes, no error
    server[102]: SIGPIPE SIG_DFL: the reset came back: poll() says POLLIN|POLLERR|POLLHUP
    server[100]: SIGPIPE SIG_DFL: writer 102 was killed by signal 13 (SIGPIPE)
    client[100]: the server read everything, then close(): recv() -> b'': end of file
    client[100]: the server left 6 bytes unread, then close(): recv() -> ConnectionResetError: errno 104 (ECONNRESET): Connection reset by peer
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
