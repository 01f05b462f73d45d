"""Unix-domain stream server: answers the exchange over a socket file, one client after another.

What it shows
    The same server as demos/tcp_server.py, with a path for an address: no
    host, no port, no getaddrinfo(). bind() creates the socket file and
    close() does not remove it, so the server unlinks it itself, on every way
    out (a normal end, an error, Ctrl-C, SIGTERM). A file left behind makes
    the next bind() fail with EADDRINUSE: the error then says whether a server
    still answers there or the file is stale. The file lives in a private
    0700 directory: its permissions decide who may connect. Iterative, like
    tcp_server.py: a client that sends no whole request within --idle seconds
    is dropped; a refused one gets its error line, then a graceful hang-up.

Run it
    python demos/unix_stream_server.py [--path PATH] [--clients N] [--idle SECONDS]
    (or: make unix, which also runs the client)
    Without --path the socket file goes in a new directory from mkdtemp();
    the ready line says where.
    Talk to it by hand:  nc -NU PATH   then type lines; Ctrl-D ends
    (-N: shut the socket down at end of input, or the server never sees EOF).

System calls, in order
    mkdtemp() -> socket(AF_UNIX, SOCK_STREAM) -> bind(path), which creates
    the file -> listen(SOMAXCONN) -> then per client: accept() -> recv()/send()
    until recv() returns b"" -> close() -> at the end: close() -> unlink(path) -> rmdir().

Its peer
    demos/unix_stream_client.py, nc -NU, or anything that writes lines to a Unix socket.

Expected output
    server[200]: listening on /tmp/ipc-unix-stream-k2j4/server.sock
    server[200]: ready: path=/tmp/ipc-unix-stream-k2j4/server.sock
    server[200]: accepted /tmp/ipc-unix-stream-k2j4/server.sock <- (unnamed)
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: (unnamed) closed the connection
    server[200]: removed /tmp/ipc-unix-stream-k2j4/server.sock
"""

import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, drain

log = Log("server")


def serve_client(connection: socket.socket, peer: str, idle: float) -> None:
    conversation = ServerConversation()
    deadline = time.monotonic() + idle  # for the next whole request: one byte at a time cannot stretch it

    def recv(size: int) -> bytes:
        connection.settimeout(max(deadline - time.monotonic(), 0.001) if idle else None)  # what is left of its time
        return connection.recv(size)

    try:
        for request in MessageReader(recv):
            log.received(request)
            reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit
            log.sent(reply)
            connection.sendall(reply)  # sendall loops over short sends
            deadline = time.monotonic() + idle
    except (ProtocolError, socket.timeout) as error:  # tell the peer what was wrong, then hang up on it
        why = error if isinstance(error, ProtocolError) else f"no whole request within {idle:g} s"
        log.say(f"error from {peer}: {why}")
        reply = encode(error_reply(why))
        log.sent(reply)
        connection.sendall(reply)
        connection.shutdown(socket.SHUT_WR)  # our end of file, after the reply; then read what it still sends
        connection.settimeout(1.0)  # (for a second at most)
        drain(connection.recv)  # closed with bytes unread, the socket would make the peer's recv() fail (ECONNRESET)
        return
    log.say(f"{peer} closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument(
        "--path",
        type=program.non_empty,
        help="the socket file to create (default: server.sock in a new private directory)",
    )
    program.clients_options(parser, idle="drop a client that sends no whole request")
    args = parser.parse_args()

    directory = None if args.path else tempfile.mkdtemp(prefix="ipc-unix-stream-")  # 0700: only our user connects
    path = args.path or os.path.join(directory, "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        try:
            listener.bind(
                path
            )  # creates the file; one already there, even stale, is EADDRINUSE (no SO_REUSEADDR helps)
        except OSError as error:  # name the path, and say whether a server answers there or the file is stale
            raise program.explain_bind(error, path) from None
        bound = True
        listener.listen(socket.SOMAXCONN)  # room for a burst of clients (demos/backlog.py shows a small queue)
        log.say(f"listening on {address(listener.getsockname())}")
        log.ready(path=path)
        served = 0
        while args.clients == 0 or served < args.clients:
            connection, peer = listener.accept()  # blocks until a client connects
            with connection:
                log.say(
                    f"accepted {address(connection.getsockname())} <- {address(peer)}"
                )  # the client never bound: unnamed
                try:
                    serve_client(connection, address(peer), args.idle)
                except (ConnectionResetError, BrokenPipeError) as error:  # one bad peer must not end the server
                    log.say(f"{address(peer)} reset the connection ({type(error).__name__}): back to accept()")
                except OSError as error:  # gone some other way (ENOTCONN after its reset, a send timed out)
                    log.say(f"lost {address(peer)} ({program.describe(error)}): back to accept()")
            served += 1
    finally:
        listener.close()
        if bound:  # only the file our bind() made: a failed bind leaves someone else's file alone
            os.unlink(path)  # close() leaves the file behind, and the next bind() would fail
            log.say(f"removed {path}")
        if directory:
            os.rmdir(directory)


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
