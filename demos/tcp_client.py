"""TCP client: sends the exchange's requests to a TCP server and checks each answer.

What it shows
    The client's side of a stream socket: getaddrinfo() turns a name and a
    port into addresses, connect() reaches the first that answers, and the
    kernel picks the client's own port (an ephemeral port) at connect time.

Run it
    python demos/tcp_client.py --host 127.0.0.1 --port PORT [MESSAGE...]
    (start demos/tcp_server.py first; it prints the port)

System calls, in order
    getaddrinfo(host, port) -> for each result: socket() -> connect() ->
    getsockname()/getpeername() -> send() a request, recv() its answer, ... ->
    close(), which the server reads as end of file.

Its peer
    demos/tcp_server.py.

Expected output
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
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


def connect(host: str, port: int) -> socket.socket:
    """Try each address getaddrinfo() gives until one accepts the connection."""
    failure = None
    for family, kind, proto, _, where in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(where)  # the kernel binds us to an ephemeral port here
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure or ConnectionError(f"no address found for {host}")


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    with connect(args.host, args.port) as sock:
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
