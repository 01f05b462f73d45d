"""TCP server: answers the exchange over TCP, IPv4 or IPv6, one client after another.

What it shows
    The server's side of a stream socket: one listening socket that only
    waits for clients, and one new socket per client, returned by accept().
    Each side prints its own address and its peer's, so the client's
    ephemeral port (chosen by the kernel at connect time) is visible. An
    iterative server: it serves one client at a time, while the others wait
    in the listen queue, so a client that sends no whole request within
    --idle seconds is dropped (demos/select_server.py serves all at once).
    A refused request gets its error line, then a graceful hang-up:
    shutdown(SHUT_WR), then read what the client still sends. A close() with
    bytes unread would send a reset (RST), which can overtake the error line.

Run it
    python demos/tcp_server.py [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make tcp4 / make tcp6, which also run the client)
    With port 0 the kernel picks a free port; the ready line says which.
    Talk to it by hand:  nc -N 127.0.0.1 PORT   then type lines; Ctrl-D ends
    (-N: at end of input nc shuts down its sending side, so the server sees EOF).

System calls, in order
    getaddrinfo(host, port, AI_PASSIVE, which matters only with no host
    (--host ''): then it means any address) -> socket() -> setsockopt(SO_REUSEADDR)
    -> bind() -> listen(SOMAXCONN) -> getsockname() -> then per client: accept() ->
    recv()/send() until recv() returns b"" -> close(); after an error line:
    shutdown(SHUT_WR), recv() until b"", close().

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

import os
import socket
import sys
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
        drain(connection.recv)  # closed with bytes unread, the socket would send a reset that can overtake the reply
        return
    log.say(f"{peer} closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__)
    program.listen_options(parser)
    program.clients_options(parser, idle="drop a client that sends no whole request")
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        args.host or None, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        try:
            listener.bind(where)
        except OSError as error:  # say which address, and why: a port below 1024, a port in use
            raise program.explain_bind(error, where) from None
        listener.listen(socket.SOMAXCONN)  # room for a burst of clients (demos/backlog.py shows a small queue)
        host, port = listener.getsockname()[:2]  # port 0 became a real port: ask which
        log.say(f"listening on {address(listener.getsockname())}")
        log.ready(host=host, port=port)
        served = 0
        while args.clients == 0 or served < args.clients:
            connection, peer = listener.accept()  # blocks until a client connects
            with connection:
                log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")
                try:
                    serve_client(connection, address(peer), args.idle)
                except (ConnectionResetError, BrokenPipeError) as error:  # one bad peer must not end the server
                    log.say(f"{address(peer)} reset the connection ({type(error).__name__}): back to accept()")
                except OSError as error:  # gone some other way (ENOTCONN after its reset, a send timed out)
                    log.say(f"lost {address(peer)} ({program.describe(error)}): back to accept()")
            served += 1
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
