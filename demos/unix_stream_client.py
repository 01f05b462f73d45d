"""Unix-domain stream client: sends the exchange's requests to a Unix socket server and checks each answer.

What it shows
    The same client as demos/tcp_client.py, with a path for an address: no
    getaddrinfo(), just the socket file's name. The client does not bind, so
    it has no name of its own (its address is empty, "unnamed"): a stream
    needs none, the connection carries the replies back.

Run it
    python demos/unix_stream_client.py --path PATH [MESSAGE...]
    (start demos/unix_stream_server.py first; it prints the path)

System calls, in order
    socket(AF_UNIX, SOCK_STREAM) -> connect(path) -> getsockname()/getpeername()
    -> send() a request, recv() its answer, ... -> close(), which the server
    reads as end of file.

Its peer
    demos/unix_stream_server.py.

Expected output
    client[300]: connected (unnamed) -> /tmp/ipc-unix-stream-k2j4/server.sock
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed the connection
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader

TIMEOUT = program.CLIENT_PATIENCE  # seconds to wait for the server: longer than a server's default --idle
log = Log("client")


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--path", type=program.non_empty, required=True, help="the server's socket file")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # no getaddrinfo(): a path is the one address
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(args.path)  # no such file: FileNotFoundError; a file nobody listens on: ConnectionRefusedError
        except (FileNotFoundError, ConnectionRefusedError) as error:  # a socket's error names no file: add it
            raise type(error)(error.errno, error.strerror, args.path) from None
        log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        reader = MessageReader(sock.recv)
        conversation = ClientConversation()
        for request in args.messages:
            data = encode(request)  # a request that cannot be sent is refused before it is said
            log.sent(data)
            sock.sendall(data)
            try:
                reply = reader.receive()
            except TimeoutError:  # settimeout() above: without it, a silent server would hold us forever
                raise TimeoutError(f"no answer within {TIMEOUT:g} s: the server accepted us but says nothing") from None
            if reply is None:
                raise ConnectionError("the server closed the connection before answering")
            log.received(reply)
            conversation.check(request, reply)
    log.say("closed the connection")


if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
