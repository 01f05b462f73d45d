"""Half-close server: answers while the client is still sending, and after its end of file.

What it shows
    A TCP connection is full duplex: two independent byte streams, one each
    way. This server answers every request as it arrives, while the client is
    still sending more. When the client shuts down its sending side
    (shutdown(SHUT_WR)), the server's recv() returns b"": end of file, though
    the connection is still open the other way. So after the end of file the
    server still sends one last line, and only then closes its side.

Run it
    python demos/half_close_server.py [--port 0] [--clients N] [--buffer BYTES]
    (or: make half-close, which also runs demos/half_close_client.py)
    By hand: nc -N 127.0.0.1 PORT, type lines, then Ctrl-D: nc shuts down its
    sending side (-N), and the server's last line still arrives.

System calls, in order
    getaddrinfo() -> socket() -> setsockopt(SO_REUSEADDR, SO_SNDBUF,
    SO_RCVBUF) -> bind() -> listen(SOMAXCONN) -> per client: accept() -> recv() and
    sendall() in turn until recv() returns b"" -> sendall() one more line -> close().

Its peer
    demos/half_close_client.py, or nc -N.

Expected output
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: end of file from 127.0.0.1:53012 after 2000 requests, all answered; it can still hear us
    server[200]: sent "after your end of file: 2000 answered"
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, drain

log = Log("server")


def serve_client(connection: socket.socket, peer: str) -> None:
    conversation = ServerConversation()
    try:
        for request in MessageReader(connection.recv):  # ends at the client's shutdown(SHUT_WR)
            connection.sendall(encode(conversation.reply_to(request)))  # the client may still be sending
    except ProtocolError as error:  # tell the peer what was wrong, then hang up on it
        log.say(f"error from {peer}: {error}")
        reply = encode(error_reply(error))
        log.sent(reply)
        connection.sendall(reply)
        connection.shutdown(socket.SHUT_WR)  # then read what it still sends, for a second at most: a close()
        connection.settimeout(1.0)  # with bytes unread would send a reset, which can overtake the error line
        drain(connection.recv)  # (see demos/tcp_server.py)
        return
    log.say(f"end of file from {peer} after {conversation.answered} requests, all answered; it can still hear us")
    last = encode(f"after your end of file: {conversation.answered} answered")
    log.sent(last)  # said before the write: once it arrives, the client has its own say
    connection.sendall(last)  # our direction is still open: this arrives; close() then sends our EOF


def main() -> None:
    parser = program.argument_parser(__doc__)
    program.listen_options(parser)
    program.clients_options(parser)
    parser.add_argument(
        "--buffer",
        type=program.whole_number(0, 1 << 26),
        default=4096,
        metavar="BYTES",
        help="shrink each connection's send and receive buffers to this (default 4096; 0: the kernel's)",
    )
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(
        args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        if args.buffer:  # set before listen(): accepted connections inherit them
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.buffer)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.buffer)
        try:
            listener.bind(where)
        except OSError as error:  # say which address, and why: a port below 1024, a port in use
            raise program.explain_bind(error, where) from None
        listener.listen(socket.SOMAXCONN)
        host, port = listener.getsockname()[:2]
        log.ready(host=host, port=port)
        served = 0
        while args.clients == 0 or served < args.clients:
            connection, peer = listener.accept()
            with connection:  # quiet until end of file, so the output reads in the order things happened
                try:
                    serve_client(connection, address(peer))
                except (BrokenPipeError, ConnectionResetError) as error:  # it closed both ways, not just one
                    log.say(f"{address(peer)} is gone ({type(error).__name__}): it had closed, not half-closed")
            served += 1
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
