"""UDP server: answers the exchange one datagram at a time, IPv4 or IPv6, a conversation per client address.

What it shows
    A datagram socket has no connections: no listen(), no accept(), one
    socket hears every client. Each recvfrom() returns one whole datagram
    and the address that sent it; the answer goes back with sendto() to that
    address. Nothing else tells the clients apart, so the server keeps one
    conversation per address. A datagram's edges are the message's edges:
    no newline, no read loop. Nor is there an end of file: a client ends
    its conversation with an empty datagram. UDP may lose a datagram, and
    tells nobody.

Run it
    python demos/udp_server.py [--host 127.0.0.1] [--port 0] [--clients N]
    (or: make udp4 / make udp6, which also run the client)
    With port 0 the kernel picks a free port; the ready line says which.
    Talk to it by hand:  nc -u 127.0.0.1 PORT   then type lines. nc sends
    each line as one datagram, newline included, and gets its answer the
    same way; at Ctrl-D it sends nothing, so that conversation stays open.

System calls, in order
    getaddrinfo(host, port, SOCK_DGRAM, AI_PASSIVE, which matters only with
    no host (--host ''): then it means any address) -> socket() -> bind() ->
    getsockname() -> then per datagram: recvfrom() -> sendto() the address
    recvfrom() gave.

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

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import (MAX_MESSAGE_BYTES, ProtocolError, ServerConversation, decode_datagram,
                          encode_datagram, error_reply)

log = Log("server")


def answer(sock: socket.socket, data: bytes, peer: tuple, conversation: ServerConversation) -> bool:
    """Answer one datagram; False if it broke the rules, which ends its conversation."""
    newline = b"\n" if data.endswith(b"\n") else b""  # nc -u sends a line per datagram, newline and all
    try:
        request = decode_datagram(data.removesuffix(newline))
        log.received(request)
        reply = encode_datagram(conversation.reply_to(request)) + newline
        log.sent(reply)
        sock.sendto(reply, peer)  # one sendto(), one datagram, to whoever sent
        return True
    except ProtocolError as error:  # tell the peer what was wrong; its next datagram starts afresh
        log.say(f"error from {address(peer)}: {error}")
        sock.sendto(encode_datagram(error_reply(error)) + newline, peer)
        return False


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only; '': any address)")
    parser.add_argument("--port", type=program.port_number, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument("--clients", type=int, default=0, help="end after this many conversations (default: never)")
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(
        args.host or None, args.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]  # AI_PASSIVE: no host means any address
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(where)  # and no listen(): a datagram socket can receive as soon as it has an address
        host, port = sock.getsockname()[:2]  # port 0 became a real port: ask which
        log.say(f"bound to {address(sock.getsockname())} (no listen(), no accept())")
        log.ready(host=host, port=port)
        conversations: dict[tuple, ServerConversation] = {}  # client address -> its conversation
        ended = 0
        while args.clients == 0 or ended < args.clients:
            data, peer = sock.recvfrom(MAX_MESSAGE_BYTES)  # one whole datagram; what a longer one has past this is lost
            if not data:  # datagrams have no end of file: an empty one is the client's goodbye
                log.say(f"empty datagram from {address(peer)}: the end of its conversation")
                conversations.pop(peer, None)
                ended += 1
                continue
            log.say(f"datagram of {len(data)} bytes from {address(peer)}")
            if not answer(sock, data, peer, conversations.setdefault(peer, ServerConversation())):
                del conversations[peer]
                ended += 1
    finally:
        sock.close()


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
