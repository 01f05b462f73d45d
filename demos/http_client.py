r"""HTTP client with raw sockets: GET requests on one connection, each response read until Content-Length is met.

What it shows
    What curl does, with the calls of tcp_client.py: connect, send a request
    (a request line, header lines, a blank line), then read the response. A
    response's end is not end of file: with keep-alive the server keeps the
    connection open for the next request, so reading until recv() returns b""
    would wait for ever. The reader finds the blank line that ends the head,
    then reads exactly Content-Length bytes of body, however many recv() calls
    that takes.

Run it
    python demos/http_client.py --port PORT [--host 127.0.0.1] [-o FILE] [PATH...]   (default: / /hello.txt)
    (start demos/http_server.py first; or: make http)   e.g. PATH /count.txt: 48 kB, a dozen recv() calls
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.http_messages import ResponseDecoder
from ipc.log import Log, address
from ipc.timeouts import TimedReader, timeval

log = Log("client")


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """Try each address getaddrinfo() gives until one accepts the connection."""
    failure = None
    for family, kind, proto, _, where in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(timeout))  # a connect() that waits longer fails
        try:
            sock.connect(where)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure or ConnectionError(f"no address found for {host}")


def fetch(sock: socket.socket, host: str, port: int, paths: list, output, timeout: float) -> None:
    """GET each path on one connection; each response read to its end (Content-Length), not to end of file."""
    log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
    sizes = []

    def recv(size: int) -> bytes:
        data = sock.recv(size)  # whatever has arrived: part of a response, or more than one
        sizes.append(len(data))
        return data

    # the one read loop: head, then Content-Length; setsockopt(SO_RCVTIMEO): each whole response within timeout
    reader = TimedReader(sock, timeout, f"no whole response within {timeout:g} s", recv=recv, decoder=ResponseDecoder())
    host = f"[{host}]" if ":" in host else host
    for number, path in enumerate(paths, start=1):
        last = number == len(paths)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: demos/http_client.py\r\nAccept: */*\r\n" + ("Connection: close\r\n" if last else "") + "\r\n"
        ).encode("ascii")
        for line in request.decode("ascii").split("\r\n")[:-1]:  # shown from the very bytes sent
            log.say(f"> {line}".rstrip())
        sock.sendall(request)
        sizes.clear()
        response = reader.receive()
        if response is None:
            raise ConnectionError("the server closed the connection before answering")
        for line in [*response.lines, ""]:
            log.say(f"< {line}".rstrip())
        how = "as Content-Length said" if response.header("Content-Length") else "up to end of file"
        log.say(
            f"body: {len(response.body)} bytes, {how} (head {response.head_bytes} bytes; "
            f"{len(sizes)} recv() call{'s' * (len(sizes) != 1)}, {sum(sizes)} bytes)"
        )
        output.write(response.body)  # to stdout (or -o FILE), as curl does
        output.flush()
        if not response.keep_alive and not last:
            raise ConnectionError(f"the server closed the connection after {number} of {len(paths)} requests")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument(
        "--timeout",
        type=program.seconds(),
        default=10.0,
        help="seconds to wait for each connect() and recv() (default 10)",
    )
    parser.add_argument("--output", "-o", default="-", help="write the bodies to this file (default -: stdout)")
    parser.add_argument("paths", nargs="*", default=["/", "/hello.txt"], metavar="PATH")
    args = parser.parse_args()
    if not all(path[:1] == "/" and path.isascii() and path.isprintable() and " " not in path for path in args.paths):
        parser.error("a PATH starts with / and is ASCII, without spaces (others go %-encoded: /gr%C3%BC%C3%9Fe)")
    if not args.host.isascii():
        parser.error("--host: a name in ASCII (an international name goes as xn--..., its IDNA form)")

    with (
        open(args.output, "wb") if args.output != "-" else open(sys.stdout.fileno(), "wb", closefd=False) as output,
        connect(args.host, args.port, args.timeout) as sock,
    ):
        fetch(sock, args.host, args.port, args.paths, output, args.timeout)
    log.say("closed the connection")


DETAILS = r"""
What else it shows
    Several paths go over one connection; the last request says "Connection:
    close". The lines look like curl -v's: "> " what was sent, "< " what came
    back; the bodies go to stdout, as curl's do.

    Compare:  curl -v http://127.0.0.1:PORT/ http://127.0.0.1:PORT/hello.txt

System calls, in order
    getaddrinfo(host, port) -> socket() -> setsockopt(SO_SNDTIMEO: connect()
    waits --timeout s at most) -> connect() -> setsockopt(SO_RCVTIMEO) -> per
    path: sendall() the request -> recv() until the head's blank line and
    Content-Length bytes of body -> ... -> close() after the response to
    "Connection: close".

Its peer
    demos/http_server.py, or any HTTP/1.1 server that sends Content-Length.

Expected output
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    client[300]: > GET / HTTP/1.1
    client[300]: > Host: 127.0.0.1:41234
    client[300]: > User-Agent: demos/http_client.py
    client[300]: > Accept: */*
    client[300]: >
    client[300]: < HTTP/1.1 200 OK
    ...
    client[300]: < Content-Length: 399
    client[300]: < Connection: keep-alive
    client[300]: <
    client[300]: body: 399 bytes, as Content-Length said (head 156 bytes; 1 recv() call, 555 bytes)
    ...
    client[300]: closed the connection
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
