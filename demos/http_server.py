r"""HTTP server: HTTP/1.1 over the very calls of tcp_server.py, for curl, a browser, or nc.

What it shows
    HTTP is bytes on a TCP stream: a request line and header lines up to a
    blank line, answered by a status line, headers and a body whose length
    Content-Length gives. With keep-alive one connection carries request
    after request; "Connection: close" ends it. A browser opens several
    connections at once, so each is served in a thread of its own.

Run it
    python demos/http_server.py [--host 127.0.0.1] [--port 0] [--connections N] [--timeout 10]
    (or: make http, which also runs demos/http_client.py)
    curl -v http://127.0.0.1:PORT/hello.txt      or open http://127.0.0.1:PORT/ in a browser
    printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | nc -N 127.0.0.1 PORT
"""

import os
import socket
import sys
import threading
import time
from email.utils import formatdate
from http import HTTPStatus

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.http_messages import CONTINUE, HTTPError, RequestDecoder
from ipc.log import Log, address, quote
from ipc.serving import explaining_bind, hang_up
from ipc.timeouts import TimedReader, timeval

log = Log("server")


def serve(host: str, port: int, connections: int, timeout: float) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as listener, Shedding(listener) as shedding:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        with explaining_bind(where):  # port 80 needs privileges, a port in use: the error says which, and why
            listener.bind(where)
        listener.listen(socket.SOMAXCONN)  # a browser connects several times at once
        log.say(f"listening on {address(listener.getsockname())}: http://{address(listener.getsockname())}/")
        log.ready(host=listener.getsockname()[0], port=listener.getsockname()[1])
        workers: list[threading.Thread] = []
        while connections == 0 or len(workers) < connections:
            try:
                connection, peer = listener.accept()  # blocks until a client connects
            except OSError as error:
                if error.errno not in program.OUT_OF_FDS:
                    raise
                shedding.out_of_fds()  # EMFILE: a spare fd takes the newest connection, to answer it 503 (below)
                continue
            log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")  # this connection's 4-tuple
            worker = threading.Thread(target=serve_connection, args=(connection, address(peer), timeout))
            worker.daemon = True  # a thread per connection; daemon: Ctrl-C ends them all
            try:
                worker.start()
            except RuntimeError:  # "can't start new thread": a thread limit, or no memory for its stack
                shedding.out_of_threads(connection)  # 503 (below)
                continue
            shedding.recovered()
            workers.append(worker)
            workers = workers if connections else [worker for worker in workers if worker.is_alive()]
        for worker in workers:
            worker.join()  # each ends by itself: at the client's close, or at its deadline


def serve_connection(connection: socket.socket, peer: str, timeout: float) -> None:
    """In its own thread: requests in, responses out; then hang up cleanly."""
    with connection:
        try:
            try:
                if converse(connection, peer, timeout):
                    log.say(f"{peer}: closed the connection")
                    return
            except HTTPError as error:  # the request cannot be framed or served: say why, then hang up
                log.say(f"{peer}: bad request: {error}")
                respond(connection, peer, error.status, f"{error}\n", keep_alive=False)
            hang_up(connection, seconds=2.0)  # shutdown(SHUT_WR), recv() until b"": no reset overtakes the answer
            log.say(f"{peer}: hung up")
        except OSError as error:  # a reset, a client that lingers or does not read: one connection lost, not the server
            log.say(f"{peer}: {program.describe(error)}: dropped the connection")


def converse(connection: socket.socket, peer: str, timeout: float) -> bool:
    """Requests in, responses out. True: the client closed; False: we should hang up."""
    decoder = RequestDecoder()

    def recv(size: int) -> bytes:
        if decoder.continue_wanted:  # its head is in, and it waits for our word before it sends its body
            connection.sendall(CONTINUE)
            decoder.continue_said()
            log.say(f"{peer}: sent {quote(CONTINUE.decode().strip())}: it may send its body")
        return connection.recv(size)

    # recv() until the blank line, then Content-Length bytes of body: one deadline for each whole request
    # (setsockopt(SO_RCVTIMEO), and SO_SNDTIMEO: a client that does not read its answer is dropped too)
    requests = TimedReader(connection, timeout, f"no whole request within {timeout:g} s", True, recv, decoder=decoder)
    while True:
        try:
            request = requests.receive()  # None: end of file between requests
        except TimeoutError as error:
            if decoder.started:
                raise HTTPError(408, str(error)) from None
            log.say(f"{peer}: no request for {timeout:g} s: hanging up")
            return False
        if request is None:
            return True
        log.say(f"{peer}: received {quote(request.start)}")
        respond(connection, peer, *route(request), request.keep_alive, head_only=request.method == "HEAD")
        if not request.keep_alive:
            return False


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--host", type=program.host_name, default="127.0.0.1", help="address to listen on (default: loopback; '': any)"
    )
    parser.add_argument("--port", type=program.port_number, default=0, help="port to listen on (default 0: any free)")
    parser.add_argument(
        "--connections", type=program.whole_number(0, 2**31), default=0, help="serve this many, then exit (0: no end)"
    )
    parser.add_argument(
        "--timeout", type=program.seconds(zero="no limit"), default=10.0, help="seconds per request (0: no limit)"
    )
    args = parser.parse_args()
    serve(args.host, args.port, args.connections, args.timeout)


# -- below the lesson: what to answer, how a response is written, and running out ---------------------------------

OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")  # HTTP's own: 405, not 501


def route(request) -> tuple[int, str, str]:
    """The status, body and Content-Type for a request: a page of SITE (below), 404, 405 or 501."""
    kind, body = SITE.get(request.path.split("?")[0], ("text/plain", None))  # "/x", or "http://host/x"
    if request.method not in ("GET", "HEAD"):
        return 405 if request.method in OTHER_METHODS else 501, "GET and HEAD only\n", "text/plain"
    if body is None:
        return 404, f"no {request.target} here; try /\n", "text/plain"
    return 200, body, kind


def respond(connection, peer: str, status: int, body: str, kind="text/plain", keep_alive=True, head_only=False):
    data = body.encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\nServer: demos/http_server.py\r\n"
        + ("Allow: GET, HEAD\r\n" if status == 405 else "")
        + f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n"  # how the client knows where the body ends
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("latin-1")
    data = head if head_only else head + data
    status_line = data[: data.index(b"\r\n")].decode("latin-1")  # logged from the very bytes sent
    log.say(f"{peer}: sent {quote(status_line)} and {len(data) - len(head)} bytes of {kind}")
    connection.sendall(data)  # sendall loops over short sends


class Shedding:
    """Out of fds (accept() fails with EMFILE) or of threads, the server says so once, answers the newest client
    503 (a spare fd, kept for this, lets it accept that one), pauses accepting for half a second, and goes on."""

    def __init__(self, listener: socket.socket):
        self.listener = listener
        self.spare = program.SpareFd()  # one fd held back, for the moment there is no other
        self.shortage = program.Shortage(log)  # running out is said once, and survived

    def __enter__(self) -> "Shedding":
        return self

    def __exit__(self, *exc_info) -> None:
        self.spare.close()

    def out_of_fds(self) -> None:
        self.shortage.ran_out("file descriptors", f"answering 503 and pausing accept() {program.SHED_PAUSE:g} s")
        self.spare.refuse_newest(self.listener, too_busy)  # the spare fd lets us accept it, to say no
        time.sleep(program.SHED_PAUSE)  # a pause, not a loop: the connections we have can finish meanwhile

    def out_of_threads(self, connection: socket.socket) -> None:
        self.shortage.ran_out("threads", f"answering 503 and pausing accept() {program.SHED_PAUSE:g} s")
        with connection:
            too_busy(connection)
        time.sleep(program.SHED_PAUSE)

    def recovered(self) -> None:
        self.shortage.recovered()


def too_busy(connection: socket.socket) -> None:
    """503, said without reading the request (there is no thread or fd to serve it): come back in a second."""
    body = b"this server is out of resources for now: try again in a second\n"
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(1.0))  # never wait long on one client
        connection.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        hang_up(connection)  # our FIN; its request, unread, would make close() send a reset: read it first
    except OSError:  # gone already, or slow: it will see the connection close
        pass


COLOURS = ("crimson", "seagreen", "royalblue")
SITE = {  # path -> (Content-Type, body): a page, and the parts a browser fetches for it
    "/": (
        "text/html",
        "<!doctype html>\n<html><head><title>One page, several parts</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/style.css"></head>\n'
        "<body><h1>One page, several parts</h1>\n"
        + "".join(f'<img src="/{c}.svg" alt="{c}"> ' for c in COLOURS)
        + '\n<p id="script">the script did not run</p><script src="/script.js"></script></body></html>\n',
    ),
    "/style.css": ("text/css", "body { font-family: sans-serif; } img { width: 96px; }\n"),
    "/script.js": ("text/javascript", "document.getElementById('script').textContent = 'the script ran';\n"),
    "/hello.txt": ("text/plain", "Hello from demos/http_server.py\n"),
    "/count.txt": ("text/plain", "".join(f"{n}\n" for n in range(1, 10001))),  # 48894 bytes: many recv() calls
    **{
        f"/{c}.svg": (
            "image/svg+xml",
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2">'
            f'<circle cx="1" cy="1" r="1" fill="{c}"/></svg>\n',
        )
        for c in COLOURS
    },
}

DETAILS = r"""
What else it shows
    A body sent in chunks says its length in the chunks' sizes. An iterative
    server would stall the browser: it keeps idle connections open. Bad
    requests get their status, then the connection is closed cleanly: 400
    malformed, 408 no whole request within --timeout, 413 body or 431 head
    too large, 405 a method not served here, 501 one it does not know. A
    client that says "Expect: 100-continue" is told "100 Continue" before it
    sends its body. Out of fds (accept() fails with EMFILE) or of threads,
    the server says so once, answers the newest client 503 (a spare fd, kept
    for this, lets it accept that one), pauses accepting for half a second,
    and goes on serving. Each connection's 4-tuple is logged at accept().
    --timeout is the kernel's: setsockopt(SO_RCVTIMEO)
    and SO_SNDTIMEO on each connection. Port 80, the notes' HTTP port, needs
    root: ports below 1024 are privileged.

System calls, in order
    getaddrinfo(AI_PASSIVE) -> socket() -> setsockopt(SO_REUSEADDR) -> bind()
    -> listen() -> getsockname() -> per connection: accept(), then in its
    thread: setsockopt(SO_RCVTIMEO, SO_SNDTIMEO) -> recv() until the blank
    line (and Content-Length bytes of body), sendall() the response, ... ->
    shutdown(SHUT_WR) -> recv() until b"" -> close().

Its peer
    curl -v, a browser, demos/http_client.py, demos/broken/http_client_reads_first.py.

Expected output
    server[200]: listening on 127.0.0.1:41234: http://127.0.0.1:41234/
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    server[200]: 127.0.0.1:53012: received "GET / HTTP/1.1"
    server[200]: 127.0.0.1:53012: sent "HTTP/1.1 200 OK" and 399 bytes of text/html
    ...
    server[200]: 127.0.0.1:53012: hung up
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
