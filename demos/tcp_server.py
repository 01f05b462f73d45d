"""TCP server: answers the exchange over TCP, IPv4 or IPv6, one client after another.

What it shows
    The server's side of a stream socket: one listening socket that only
    waits for clients, and one new socket per client, returned by accept().
    Each side prints its own address and its peer's, so the client's
    ephemeral port (chosen by the kernel at connect time) is visible.

Run it
    python demos/tcp_server.py [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make tcp4 / make tcp6, which also run the client)
    With port 0 the kernel picks a free port; the ready line says which.
    By hand:  nc -N 127.0.0.1 PORT   then type lines; Ctrl-D ends (-N: at end
    of input nc shuts down its sending side, so the server sees end of file)
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode
from ipc.serving import explaining_bind, one_bad_peer, refuse
from ipc.timeouts import TimedReader

log = Log("server")


def serve(host: str, port: int, clients: int, idle: float) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        with explaining_bind(where):  # a port below 1024, a port in use: the error says which, and why
            listener.bind(where)
        listener.listen(socket.SOMAXCONN)  # room for a burst of clients (demos/backlog.py shows a small queue)
        log.say(f"listening on {address(listener.getsockname())}")  # port 0 became a real port: ask which
        log.ready(host=listener.getsockname()[0], port=listener.getsockname()[1])
        for _ in program.up_to(clients):
            connection, peer = listener.accept()  # blocks until a client connects
            with connection, one_bad_peer(log, address(peer)):  # a client that resets must not end the server
                log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")
                serve_client(connection, address(peer), idle)


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
        refuse(connection, log, peer, error)  # the error line, then a graceful hang-up (see below)
    else:
        log.say(f"{peer} closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    program.listen_options(parser)
    program.clients_options(parser, idle="drop a client that sends no whole request")
    args = parser.parse_args()
    serve(args.host, args.port, args.clients, args.idle)


DETAILS = """
Its policy
    An iterative server: it serves one client at a time, while the others
    wait in the listen queue, so a client that sends no whole request within
    --idle seconds is dropped (demos/select_server.py serves all at once).
    The deadline is the kernel's: setsockopt(SO_RCVTIMEO), and a recv()
    blocked that long returns EAGAIN (SO_SNDTIMEO does the same for a
    client that reads no answer). A refused request gets its error line,
    then a graceful hang-up: shutdown(SHUT_WR), then read what the client
    still sends. A close() with bytes unread would send a reset (RST),
    which can overtake the error line (ipc/serving.py, hang_up).

System calls, in order
    getaddrinfo(host, port, AI_PASSIVE, which matters only with no host
    (--host ''): then it means any address) -> socket() -> setsockopt(SO_REUSEADDR)
    -> bind() -> listen(SOMAXCONN) -> getsockname() -> then per client: accept() ->
    setsockopt(SO_RCVTIMEO), setsockopt(SO_SNDTIMEO) -> recv()/send() until
    recv() returns b"" -> close(); after an error line: shutdown(SHUT_WR),
    recv() until b"", close().

Its peer
    demos/tcp_client.py, nc, or anything that writes lines to a TCP socket.

Expected output
    server[200]: listening on 127.0.0.1:41234
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: 127.0.0.1:53012 closed the connection
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
