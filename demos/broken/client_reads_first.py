"""Broken on purpose: a TCP client waits for the answer before it sends its request (the notes' HTTP case).

What it shows
    The lecture's warning, as it happens. HTTP is request/response: the
    server says nothing until it has read a request. This client connects,
    then waits for the server to speak first (as if it expected a greeting),
    and only then would send its request. The server, demos/tcp_server.py,
    does the right thing: it waits for the request. Both block in recv().

Run it
    ipc run client-reads-first     (the deadlock, explained; then the fix runs)
    python demos/tcp_server.py --clients 1 --idle 0        (prints its port), then
    python demos/broken/client_reads_first.py --port PORT [--fixed] [MESSAGE...]
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader

log = Log("client")


def converse(host: str, port: int, requests: list, fixed: bool) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.connect(where)
        log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        reader = MessageReader(sock.recv)  # no deadline, on purpose: the hang lasts forever, as in the notes
        conversation = ClientConversation()
        for request in requests:
            if fixed:
                data = encode(request)
                log.sent(data)
                sock.sendall(data)  # the fix: the request first...
                reply = reader.receive()  # ...then its answer
            else:
                log.say("waiting for the server to speak first (the bug)")
                reply = reader.receive()  # the bug: the server speaks only once it has a request
                data = encode(request)
                log.sent(data)
                sock.sendall(data)
            if reply is None:
                raise ConnectionError("the server closed the connection before answering")
            log.received(reply)
            conversation.check(request, reply)
    log.say("closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument("--fixed", action="store_true", help="send the request before reading the answer")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.host, args.port, args.messages, args.fixed)


DETAILS = """
What else it shows
    Both block in recv() on the two ends of one connection, each waiting for
    bytes only the other would send. A TCP connection is full
    duplex, so nothing stops either one from sending; each simply waits for
    the other to go first. (This client has no deadline, on purpose, and the
    server runs with --idle 0, none either, so the hang lasts forever as in
    the notes. With its default deadline the server would drop this client
    after 5 s, with "error: no whole request within 5 s"; demos/tcp_client.py
    sets one too.) By hand it hangs: Ctrl-C ends it. Or:
    ipc watch -- python demos/broken/client_reads_first.py --port PORT
    The fix (--fixed) is the order: send the request, then read its answer.

System calls, in order
    getaddrinfo() -> socket() -> connect() -> recv() (blocks: the server
    has nothing to say yet; it is blocked in recv() too).
    With --fixed: send() a request -> recv() its answer -> ... -> close().

Its peer
    demos/tcp_server.py. The fixed twin: this program with --fixed
    (ipc run client-reads-first-fixed); demos/tcp_client.py does the same.

Expected output
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    client[300]: waiting for the server to speak first (the bug)
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    ...then nothing. The harness reports, within a second:
    The cycle: client waits for server, server waits for client.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
