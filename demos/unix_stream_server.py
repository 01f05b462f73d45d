"""Unix-domain stream server: answers the exchange over a socket file, one client after another.

What it shows
    The same server as demos/tcp_server.py, with a path for an address: no
    host, no port, no getaddrinfo(). bind() creates the socket file and
    close() does not remove it, so the server unlinks it itself, on every way
    out (a normal end, an error, Ctrl-C, SIGTERM). The file lives in a private
    0700 directory: its permissions decide who may connect.

Run it
    python demos/unix_stream_server.py [--path PATH] [--clients N] [--idle SECONDS]
    (or: make unix, which also runs the client)
    Talk to it by hand:  nc -NU PATH   then type lines; Ctrl-D ends
    (-N: shut the socket down at end of input, or the server never sees EOF).
"""

import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode
from ipc.serving import explaining_bind, one_bad_peer, refuse
from ipc.timeouts import TimedReader

log = Log("server")


def serve(path: str, clients: int, idle: float) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        with explaining_bind(path):  # a file already there, even a stale one, is EADDRINUSE: say whose it is
            listener.bind(path)  # creates the socket file
        bound = True
        listener.listen(socket.SOMAXCONN)  # room for a burst of clients (demos/backlog.py shows a small queue)
        log.say(f"listening on {address(listener.getsockname())}")
        log.ready(path=path)
        for _ in program.up_to(clients):
            connection, peer = listener.accept()  # blocks until a client connects
            with connection, one_bad_peer(log, address(peer)):  # a client that resets must not end the server
                log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")  # the client: unnamed
                serve_client(connection, address(peer), idle)
    finally:
        listener.close()
        if bound:  # only the file our bind() made: a failed bind leaves someone else's file alone
            os.unlink(path)  # close() leaves the file behind, and the next bind() would fail
            log.say(f"removed {path}")


def serve_client(connection: socket.socket, peer: str, idle: float) -> None:
    """Answer each request until the client closes: recv() returns b"", its end of file."""
    # setsockopt(SO_RCVTIMEO), setsockopt(SO_SNDTIMEO): a recv() or send() that waits --idle seconds fails (EAGAIN)
    requests = TimedReader(connection, idle, f"no whole request within {idle:g} s", send_too=True)
    conversation = ServerConversation()
    try:
        for request in requests:  # recv() until a whole line is in
            log.received(request)
            reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit
            log.sent(reply)
            connection.sendall(reply)  # sendall loops over short sends
    except (ProtocolError, TimeoutError) as error:  # bad bytes, or too slow: an iterative server cannot wait
        refuse(connection, log, peer, error)  # the error line, then a graceful hang-up (see demos/tcp_server.py)
    else:
        log.say(f"{peer} closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--path",
        type=program.non_empty,
        help="the socket file to create (default: server.sock in a new private directory)",
    )
    program.clients_options(parser, idle="drop a client that sends no whole request")
    args = parser.parse_args()

    directory = None if args.path else tempfile.mkdtemp(prefix="ipc-unix-stream-")  # 0700: only our user connects
    try:
        serve(args.path or os.path.join(directory, "server.sock"), args.clients, args.idle)
    finally:
        if directory:
            os.rmdir(directory)


DETAILS = """
Its policy
    Without --path the socket file goes in a new directory from mkdtemp();
    the ready line says where. A file left behind makes the next bind() fail
    with EADDRINUSE: the error then says whether a server still answers
    there or the file is stale. Iterative, like tcp_server.py: a client that
    sends no whole request within --idle seconds is dropped (the kernel's
    deadline, SO_RCVTIMEO: a recv() blocked that long returns EAGAIN); a
    refused one gets its error line, then a graceful hang-up.

System calls, in order
    mkdtemp() -> socket(AF_UNIX, SOCK_STREAM) -> bind(path), which creates
    the file -> listen(SOMAXCONN) -> then per client: accept() ->
    setsockopt(SO_RCVTIMEO), setsockopt(SO_SNDTIMEO) -> recv()/send() until
    recv() returns b"" -> close() -> at the end: close() -> unlink(path) -> rmdir().

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

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
