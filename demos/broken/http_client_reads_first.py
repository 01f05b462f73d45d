r"""Broken on purpose: an HTTP client waits for the server to speak before it sends its GET (the notes' case).

What it shows
    The lecture's HTTP deadlock, with a real HTTP server. HTTP is
    request/response: demos/http_server.py says nothing until it has read a
    whole request. This client connects, then reads first (as if it expected
    a greeting), and only then would send "GET / HTTP/1.1". Both block in
    recv() on the two ends of one connection. The fix (--fixed) is the
    order: send the request, then read the response.

Run it
    ipc run http-client-reads-first     (the deadlock, explained; then the fix runs)
    python demos/http_server.py --connections 1 --timeout 0     (prints its port), then
    python demos/broken/http_client_reads_first.py --port PORT [--fixed]
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.http_messages import ResponseDecoder
from ipc.log import Log, address, quote
from ipc.timeouts import TimedReader

PATIENCE = 10.0  # seconds for the whole response, once the request is out
log = Log("client")


def fetch(host: str, port: int, fixed: bool) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.connect(where)
        log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        if not fixed:
            log.say("waiting for the server to speak first (the bug)")
            if not sock.recv(4096):  # the bug: an HTTP server speaks only once it has a whole request
                raise ConnectionError("the server hung up without a word: it waited for a request that never came")
        request = f"GET / HTTP/1.1\r\nHost: {address(where)}\r\nConnection: close\r\n\r\n".encode("ascii")
        request_line, body = request.split(b"\r\n", 1)[0], request.partition(b"\r\n\r\n")[2]  # of the bytes sent
        log.say(f"sent {quote(request_line.decode('ascii'))} and {len(body)} bytes of body")  # as the server says it
        sock.sendall(request)  # the fix: the request first...
        # ...then its answer: recv() until Content-Length is met (setsockopt(SO_RCVTIMEO): PATIENCE seconds at most)
        reader = TimedReader(sock, PATIENCE, f"no whole response within {PATIENCE:g} s", decoder=ResponseDecoder())
        response = reader.receive()
        if response is None:
            raise ConnectionError("the server closed the connection before answering")
        log.say(f"received {quote(response.start)} and {len(response.body)} bytes of body")
    log.say("closed the connection")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument("--fixed", action="store_true", help="send the request before reading the response")
    args = parser.parse_args()
    fetch(args.host, args.port, args.fixed)


DETAILS = r"""
What else it shows
    Each waits for bytes only the other would send. The connection is full
    duplex: nothing stops either from sending; each waits for the other to
    go first.

    Real servers carry a deadline: with its default --timeout the server
    hangs up on the silent client after 10 s, and the client reads end of
    file instead of an answer (a deadline turns a deadlock into an error).
    The harness runs the server with --timeout 0, no deadline, as in the
    notes, to show the wait that would last for ever. By hand it hangs until
    the server's deadline (or Ctrl-C).

System calls, in order
    getaddrinfo() -> socket() -> connect() -> recv() (blocks: the server has
    nothing to say yet; it is blocked in recv() too).
    With --fixed: sendall() the GET -> setsockopt(SO_RCVTIMEO) -> recv()
    until Content-Length is met -> close().

Its peer
    demos/http_server.py. The fixed twin: this program with --fixed
    (ipc run http-client-reads-first-fixed); demos/http_client.py does the same.

Expected output
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    client[300]: waiting for the server to speak first (the bug)
    ...then nothing. The harness reports, within a second:
    The cycle: client waits for server, server waits for client.

Expected output with --fixed
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    client[300]: sent "GET / HTTP/1.1" and 0 bytes of body
    client[300]: received "HTTP/1.1 200 OK" and 399 bytes of body
    client[300]: closed the connection
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
