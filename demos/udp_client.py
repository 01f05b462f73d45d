"""UDP client: sends the exchange's requests, one datagram each, and checks each answer.

What it shows
    The client's side of a datagram socket. connect() on a UDP socket sends
    no packet: it only records the default peer, so send() and recv() need
    no address, datagrams from anyone else are dropped, and an ICMP "port
    unreachable" comes back as ConnectionRefusedError. One send() is one
    datagram, one recv() takes one whole datagram.

Run it
    python demos/udp_client.py --host 127.0.0.1 --port PORT [--timeout S] [MESSAGE...]
    (start demos/udp_server.py first; it prints the port)
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import MAX_MESSAGE_BYTES, SAMPLE_REQUESTS, ClientConversation, decode_datagram, encode_datagram
from ipc.timeouts import on_expiry, timeval

TIMEOUT = 10.0  # seconds to wait for each answer before giving up
log = Log("client")


def converse(host: str, port: int, timeout: float, requests: list) -> None:
    # No loop over the addresses as for TCP: a UDP connect() cannot tell whether anyone is there.
    family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.connect(where)  # no packet sent: it fixes the default peer (and the kernel picks our port)
        link = f"{address(sock.getsockname())} -> {address(sock.getpeername())}"
        log.say(f"{link} (connect() sent nothing: it only chose the peer)")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(timeout))  # a recv() waiting this long: EAGAIN
        lost = (
            f"no answer within {timeout:g} s: a datagram may have been lost "
            "(UDP resends nothing and tells nobody), or no server is there"
        )
        conversation = ClientConversation()
        for request in requests:
            datagram = encode_datagram(request)  # a request that cannot be sent is refused before it is said
            log.sent(datagram)
            sock.send(datagram)  # one send(), one datagram, one message
            with on_expiry(lost):  # nobody resends a lost datagram: all a client can do is give up in time
                data = sock.recv(MAX_MESSAGE_BYTES)  # one whole datagram, from our peer only
            reply = decode_datagram(data)
            log.received(reply)
            conversation.check(request, reply)
        log.say("sending an empty datagram: the end of the conversation")  # said first, like log.sent()
        sock.send(b"")  # datagrams have no end of file: an empty one ends the conversation


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument(
        "--timeout",
        type=program.seconds(),
        default=TIMEOUT,
        help=f"seconds to wait for each answer (default {TIMEOUT:g})",
    )
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.host, args.port, args.timeout, args.messages)


DETAILS = """
What else it shows
    A lost datagram is never resent and nobody is told: when no answer comes
    in time, the client can only give up and say that something may have
    been lost. The time is the kernel's: setsockopt(SO_RCVTIMEO), and a
    recv() blocked that long returns EAGAIN.

System calls, in order
    getaddrinfo(host, port, SOCK_DGRAM) -> socket() -> connect(), which sends
    nothing -> getsockname()/getpeername() -> setsockopt(SO_RCVTIMEO) ->
    send() a request, recv() its answer (EAGAIN after --timeout s), ... ->
    send() an empty datagram -> close().

Its peer
    demos/udp_server.py.

Expected output
    client[300]: 127.0.0.1:53012 -> 127.0.0.1:41234 (connect() sent nothing: it only chose the peer)
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: sending an empty datagram: the end of the conversation
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
