"""Unix-domain stream client: sends the exchange's requests to a Unix socket server and checks each answer.

What it shows
    The same client as demos/tcp_client.py, with a path for an address: no
    getaddrinfo(), just the socket file's name. The client does not bind, so
    it has no name of its own (its address is empty, "unnamed"): a stream
    needs none, the connection carries the replies back.

Run it
    python demos/unix_stream_client.py --path PATH [MESSAGE...]
    (start demos/unix_stream_server.py first; it prints the path)
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.timeouts import TimedReader

PATIENCE = program.CLIENT_PATIENCE  # seconds to wait for an answer: longer than a server's default --idle
log = Log("client")


def converse(path: str, requests: list) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # no getaddrinfo(): a path is the one address
        try:
            sock.connect(path)  # no such file: FileNotFoundError; a file nobody listens on: ConnectionRefusedError
        except (FileNotFoundError, ConnectionRefusedError) as error:  # a socket's error names no file: add it
            raise type(error)(error.errno, error.strerror, path) from None
        log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        # setsockopt(SO_RCVTIMEO), the kernel's deadline: a recv() that waits PATIENCE seconds fails with EAGAIN
        silent = f"no answer within {PATIENCE:g} s: the server accepted us but says nothing"
        replies = TimedReader(sock, PATIENCE, silent)
        conversation = ClientConversation()
        for request in requests:
            data = encode(request)  # a request that cannot be sent is refused before it is said
            log.sent(data)
            sock.sendall(data)  # send() until every byte is out
            reply = replies.receive()  # recv() until a whole line is in
            if reply is None:
                raise ConnectionError("the server closed the connection before answering")
            log.received(reply)
            conversation.check(request, reply)
    log.say("closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--path", type=program.non_empty, required=True, help="the server's socket file")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.path, args.messages)


DETAILS = """
System calls, in order
    socket(AF_UNIX, SOCK_STREAM) -> connect(path) -> getsockname()/getpeername()
    -> setsockopt(SO_RCVTIMEO), the kernel's deadline: a recv() that waits
    10 s returns EAGAIN -> send() a request, recv() its answer, ... -> close(),
    which the server reads as end of file.

Its peer
    demos/unix_stream_server.py.

Expected output
    client[300]: connected (unnamed) -> /tmp/ipc-unix-stream-k2j4/server.sock
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed the connection
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
