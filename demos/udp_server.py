"""UDP server: answers the exchange one datagram at a time, IPv4 or IPv6, a conversation per client address.

What it shows
    A datagram socket has no connections: no listen(), no accept(), one
    socket hears every client. Each recvfrom() returns one whole datagram
    and the address that sent it; the answer goes back with sendto() to that
    address. Nothing else tells the clients apart, so the server keeps one
    conversation per address. Nor is there an end of file: a client ends
    its conversation with an empty datagram.

Run it
    python demos/udp_server.py [--host 127.0.0.1] [--port 0] [--clients N]
    (or: make udp4 / make udp6, which also run the client)
    Talk to it by hand:  nc -u 127.0.0.1 PORT   then type lines.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address, plural
from ipc.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    ServerConversation,
    decode_datagram,
    encode_datagram,
    error_reply,
)
from ipc.serving import explaining_bind

log = Log("server")


def serve(host: str, port: int, clients: int) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        host or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        with explaining_bind(where):  # a port below 1024, a port in use: the error says which, and why
            sock.bind(where)  # and no listen(): a datagram socket can receive as soon as it has an address
        log.say(f"bound to {address(sock.getsockname())} (no listen(), no accept())")  # port 0: ask which it became
        log.ready(host=sock.getsockname()[0], port=sock.getsockname()[1])
        conversations: dict[tuple, ServerConversation] = {}  # client address -> its conversation
        buffer = bytearray(MAX_MESSAGE_BYTES)
        ended = 0
        while clients == 0 or ended < clients:
            # One whole datagram; past the buffer's size, the rest is lost. With MSG_TRUNC, Linux returns the
            # datagram's real size all the same, so the error can say how long it was.
            size, peer = sock.recvfrom_into(buffer, 0, socket.MSG_TRUNC)
            data = bytes(buffer[: min(size, len(buffer))])
            if not data and peer not in conversations:  # a conversation is an address: a stranger's goodbye ends none
                log.say(f"empty datagram from {address(peer)}, which has no conversation: ignored")
                continue
            if not data:  # datagrams have no end of file: an empty one is the client's goodbye
                log.say(f"empty datagram from {address(peer)}: the end of its conversation")
            else:
                log.say(f"datagram of {plural(size, 'byte')} from {address(peer)}")
                if answer(sock, data, size, peer, conversations.setdefault(peer, ServerConversation())):
                    continue
            del conversations[peer]
            ended += 1


def answer(sock: socket.socket, data: bytes, size: int, peer: tuple, conversation: ServerConversation) -> bool:
    """Answer one datagram (size: its real length); False if it broke the rules, which ends its conversation."""
    newline = b"\n" if data.endswith(b"\n") else b""  # nc -u sends a line per datagram, newline and all
    try:
        request = decode_datagram(data.removesuffix(newline), size - len(newline))
        log.received(request)
        reply = encode_datagram(conversation.reply_to(request)) + newline
        ok = True
    except ProtocolError as error:  # tell the peer what was wrong; its next datagram starts afresh
        log.say(f"error from {address(peer)}: {error}")
        reply, ok = encode_datagram(error_reply(error)) + newline, False
    log.sent(reply)
    sock.sendto(reply, peer)  # one sendto(), one datagram, to whoever sent; UDP never waits: it drops
    return ok


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--host",
        type=program.host_name,
        default="127.0.0.1",
        help="address to listen on (default: loopback only; '': any)",
    )
    parser.add_argument("--port", type=program.port_number, default=0, help="port to listen on (default 0: any free)")
    parser.add_argument(
        "--clients",
        type=program.whole_number(0, 2**31),
        default=0,
        help="end after this many conversations (default 0: never)",
    )
    args = parser.parse_args()
    serve(args.host, args.port, args.clients)


DETAILS = """
What else it shows
    A datagram's edges are the message's edges: no newline, no read loop.
    An empty datagram from an address with no conversation ends nothing.
    UDP may lose a datagram, and tells nobody. A datagram longer than the
    buffer is cut (the rest is lost); recv's MSG_TRUNC flag makes Linux say
    how long it really was. With port 0 the kernel picks a free port; the
    ready line says which. nc -u sends each line as one datagram, newline
    included, and gets its answer the same way; at Ctrl-D it sends nothing,
    so that conversation stays open.

System calls, in order
    getaddrinfo(host, port, SOCK_DGRAM, AI_PASSIVE, which matters only with
    no host (--host ''): then it means any address) -> socket() -> bind() ->
    getsockname() -> then per datagram: recvfrom(MSG_TRUNC) (into a buffer)
    -> sendto() the address recvfrom() gave -> ... -> close().

Its peer
    demos/udp_client.py, nc -u, or anything that sends datagrams.

Expected output
    server[200]: bound to 127.0.0.1:41234 (no listen(), no accept())
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: datagram of 5 bytes from 127.0.0.1:53012
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: empty datagram from 127.0.0.1:53012: the end of its conversation
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
