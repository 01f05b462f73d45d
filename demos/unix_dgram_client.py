"""Unix-domain datagram client: binds a path of its own, sends the requests one datagram each, checks each answer.

What it shows
    The client of demos/udp_client.py with paths for addresses. It must
    bind() a path of its own before it sends: a UDP socket gets a port from
    the kernel, an unbound Unix datagram socket gets no name at all, and the
    server's recvfrom() would have no address to answer to.

Run it
    python demos/unix_dgram_client.py --path PATH [--timeout S] [MESSAGE...]
    (start demos/unix_dgram_server.py first; it prints the path)
"""

import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import MAX_MESSAGE_BYTES, SAMPLE_REQUESTS, ClientConversation, decode_datagram, encode_datagram
from ipc.timeouts import on_expiry, timeval

TIMEOUT = 10.0  # seconds to wait for each answer before giving up
log = Log("client")


def converse(path: str, own: str, timeout: float, requests: list) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound = False
    try:
        sock.bind(own)  # without a name of our own, the server's recvfrom() gets None: no address to answer
        bound = True
        try:
            sock.connect(path)  # sends nothing; no such file: FileNotFoundError, nobody bound: ConnectionRefusedError
        except (FileNotFoundError, ConnectionRefusedError) as error:  # a socket's error names no file: add it
            raise type(error)(error.errno, error.strerror, path) from None
        link = f"{address(sock.getsockname())} -> {address(sock.getpeername())}"
        log.say(f"{link} (bound first: the answers need an address)")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(timeout))  # a recv() waiting this long: EAGAIN
        unanswered = (
            f"no answer within {timeout:g} s: nothing is lost on a Unix socket, "
            "the request is with the server, which has not answered"
        )
        conversation = ClientConversation()
        for request in requests:
            datagram = encode_datagram(request)  # a request that cannot be sent is refused before it is said
            log.sent(datagram)
            sock.send(datagram)  # one send(), one datagram, one message
            with on_expiry(unanswered):
                data = sock.recv(MAX_MESSAGE_BYTES)  # one whole datagram, from our peer only
            reply = decode_datagram(data)
            log.received(reply)
            conversation.check(request, reply)
        log.say("sending an empty datagram: the end of the conversation")  # said first, like log.sent()
        sock.send(b"")  # datagrams have no end of file: an empty one ends the conversation
    finally:
        sock.close()
        if bound:
            os.unlink(own)  # like the server's, our file outlives the socket


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--path", type=program.non_empty, required=True, help="the server's socket file")
    parser.add_argument(
        "--timeout",
        type=program.seconds(),
        default=TIMEOUT,
        help=f"seconds to wait for each answer (default {TIMEOUT:g})",
    )
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="ipc-unix-dgram-client-")  # mode 0700: a private place for our own address
    try:
        converse(args.path, os.path.join(directory, "client.sock"), args.timeout, args.messages)
    finally:
        os.rmdir(directory)


DETAILS = """
What else it shows
    connect() sends nothing here either: it fixes the default peer, and
    fails at once if no socket is bound at that path. Its own file, like the
    server's, outlives the socket, so the client unlinks it on every way
    out. Each answer has --timeout seconds: setsockopt(SO_RCVTIMEO), and a
    recv() blocked that long returns EAGAIN.

System calls, in order
    mkdtemp() -> socket(AF_UNIX, SOCK_DGRAM) -> bind(own path) -> connect(path)
    -> getsockname()/getpeername() -> setsockopt(SO_RCVTIMEO) -> send() a
    request, recv() its answer, ... -> send() an empty datagram -> close()
    -> unlink(own path) -> rmdir().

Its peer
    demos/unix_dgram_server.py.

Expected output
    client[300]: /tmp/ipc-unix-dgram-client-x7q1/client.sock -> /tmp/ipc-unix-dgram-k2j4/server.sock (bound first: the answers need an address)
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: sending an empty datagram: the end of the conversation
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
