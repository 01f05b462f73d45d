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
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ProtocolError, ServerConversation, encode
from ipc.serving import explaining_bind, refuse
from ipc.stream import MessageReader

log = Log("server")


def serve_client(connection: socket.socket, peer: str) -> None:
    conversation = ServerConversation()
    try:
        for request in MessageReader(connection.recv):  # ends at the client's shutdown(SHUT_WR)
            connection.sendall(encode(conversation.reply_to(request)))  # the client may still be sending
    except ProtocolError as error:  # tell the peer what was wrong, then hang up on it (see demos/tcp_server.py)
        return refuse(connection, log, peer, error)
    log.say(f"end of file from {peer} after {conversation.answered} requests, all answered; it can still hear us")
    last = encode(f"after your end of file: {conversation.answered} answered")
    log.sent(last)  # said before the write: once it arrives, the client has its own say
    connection.sendall(last)  # our direction is still open: this arrives; close() then sends our EOF


def serve(host: str, port: int, clients: int, buffer: int) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        if buffer:  # set before listen(): accepted connections inherit them
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        with explaining_bind(where):  # a port below 1024, a port in use: the error says which, and why
            listener.bind(where)
        listener.listen(socket.SOMAXCONN)
        log.ready(host=listener.getsockname()[0], port=listener.getsockname()[1])
        for _ in program.up_to(clients):
            connection, peer = listener.accept()
            with connection:  # quiet until end of file, so the output reads in the order things happened
                try:
                    serve_client(connection, address(peer))
                except (BrokenPipeError, ConnectionResetError) as error:  # it closed both ways, not just one
                    log.say(f"{address(peer)} is gone ({type(error).__name__}): it had closed, not half-closed")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
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
    serve(args.host, args.port, args.clients, args.buffer)


DETAILS = """
What else it shows
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

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
