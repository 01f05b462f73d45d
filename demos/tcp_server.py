"""TCP server: answers the exchange over TCP, IPv4 or IPv6, one client after another.

What it shows
    The server's side of a stream socket: one listening socket that only
    waits for clients, and one new socket per client, returned by accept().
    Each side prints its own address and its peer's, so the client's
    ephemeral port (chosen by the kernel at connect time) is visible.

Run it
    python demos/tcp_server.py [--host 127.0.0.1] [--port 0] [--clients N]
    (or: make tcp4 / make tcp6, which also run the client)
    With port 0 the kernel picks a free port; the ready line says which.
    Talk to it by hand:  nc -N 127.0.0.1 PORT   then type lines; Ctrl-D ends
    (-N: at end of input nc shuts down its sending side, so the server sees EOF).

System calls, in order
    getaddrinfo(host, port, AI_PASSIVE, which matters only with no host
    (--host ''): then it means any address) -> socket() -> setsockopt(SO_REUSEADDR)
    -> bind() -> listen() -> getsockname() -> then per client: accept() ->
    recv()/send() until recv() returns b"" -> close().

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader

log = Log("server")


def serve_client(connection: socket.socket, peer: str) -> None:
    conversation = ServerConversation()
    try:
        for request in MessageReader(connection.recv):
            log.received(request)
            reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit: nothing said yet
            log.sent(reply)
            connection.sendall(reply)  # sendall loops over short sends
    except ProtocolError as error:  # tell the peer what was wrong, then hang up on it
        log.say(f"error from {peer}: {error}")
        connection.sendall(encode(error_reply(error)))
        return
    log.say(f"{peer} closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only; '': any address)")
    parser.add_argument("--port", type=program.port_number, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--clients", type=int, default=0, help="serve this many clients, then exit (default: forever)")
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(
        args.host or None, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]  # AI_PASSIVE: no host means any address
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        listener.bind(where)
        listener.listen(5)  # about 5 complete connections wait for accept() (Linux: backlog + 1; see demos/backlog.py)
        host, port = listener.getsockname()[:2]  # port 0 became a real port: ask which
        log.say(f"listening on {address(listener.getsockname())}")
        log.ready(host=host, port=port)
        served = 0
        while args.clients == 0 or served < args.clients:
            connection, peer = listener.accept()  # blocks until a client connects
            with connection:
                log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")
                try:
                    serve_client(connection, address(peer))
                except (ConnectionResetError, BrokenPipeError) as error:  # one bad peer must not end the server
                    log.say(f"{address(peer)} reset the connection ({type(error).__name__}): back to accept()")
            served += 1
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
