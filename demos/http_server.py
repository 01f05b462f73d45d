r"""HTTP server: HTTP/1.1 over the very calls of tcp_server.py, for curl, a browser, or nc.

What it shows
    HTTP is bytes on a TCP stream: a request line and header lines up to a
    blank line, answered by a status line, headers and a body whose length
    Content-Length gives (or, for a body sent in chunks, the chunks' sizes).
    With keep-alive one connection carries request after request;
    "Connection: close" ends it. A browser opens several
    connections at once for the parts of a page, so each connection is served
    in a thread of its own (an iterative server would stall the browser: it
    keeps idle connections open). Bad requests get their status, then the
    connection is closed cleanly: 400 malformed, 408 no whole request within
    --timeout, 413 body or 431 head too large, 405 a method not served here,
    501 one it does not know. A client that says "Expect: 100-continue"
    is told "100 Continue" before it sends its body. Out of fds (accept()
    fails with EMFILE) or of threads, the server says so once, answers the
    newest client 503 (a spare fd, kept for this, lets it accept that one),
    pauses accepting for half a second, and goes on serving. Each connection's 4-tuple is logged at accept().

Run it
    python demos/http_server.py [--host 127.0.0.1] [--port 0] [--connections N] [--timeout 10]
    (or: make http, which also runs demos/http_client.py)
    curl -v http://127.0.0.1:PORT/hello.txt      or open http://127.0.0.1:PORT/ in a browser
    printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | nc -N 127.0.0.1 PORT
    Port 80, the notes' HTTP port, needs root: ports below 1024 are privileged.

System calls, in order
    getaddrinfo(AI_PASSIVE) -> socket() -> setsockopt(SO_REUSEADDR) -> bind()
    -> listen() -> getsockname() -> per connection: accept(), then in its
    thread: recv() until the blank line (and Content-Length bytes of body),
    sendall() the response, ... -> shutdown(SHUT_WR) -> recv() until b"" -> close().

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
from ipc.stream import MessageReader

log = Log("server")
OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")  # HTTP's own: 405, not 501
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


def converse(connection: socket.socket, peer: str, timeout: float) -> bool:
    """Requests in, responses out. True: the client closed; False: we should hang up."""
    decoder = RequestDecoder()

    def recv(size: int) -> bytes:  # one deadline for a whole request: a byte a second cannot stretch it
        if timeout:
            connection.settimeout(max(deadline - time.monotonic(), 0.001))
        if decoder.continue_wanted:  # its head is in, and it waits for our word before it sends its body
            connection.sendall(CONTINUE)
            decoder.continue_said()
            log.say(f"{peer}: sent {quote(CONTINUE.decode().strip())}: it may send its body")
        return connection.recv(size)

    reader = MessageReader(recv, decoder=decoder)  # the one read loop: up to the blank line, then Content-Length
    while True:
        deadline = time.monotonic() + timeout  # recv() above reads it
        try:
            request = reader.receive()  # None: end of file between requests
        except TimeoutError:
            if decoder.started:
                raise HTTPError(408, f"no whole request within {timeout:g} s") from None
            log.say(f"{peer}: no request for {timeout:g} s: hanging up")
            return False
        if request is None:
            return True
        log.say(f"{peer}: received {quote(request.start)}")
        connection.settimeout(timeout or None)  # a client that does not read its answer is dropped too
        kind, body = SITE.get(request.path.split("?")[0], ("text/plain", None))  # "/x", or "http://host/x"
        if request.method not in ("GET", "HEAD"):
            status, kind, body = 405 if request.method in OTHER_METHODS else 501, "text/plain", "GET and HEAD only\n"
        else:
            status, body = (200, body) if body is not None else (404, f"no {request.target} here; try /\n")
        respond(connection, peer, status, body, kind, request.keep_alive, head_only=request.method == "HEAD")
        if not request.keep_alive:
            return False


def serve_connection(connection: socket.socket, peer: str, timeout: float) -> None:
    with connection:
        try:
            try:
                if converse(connection, peer, timeout):
                    log.say(f"{peer}: closed the connection")
                    return
            except HTTPError as error:  # the request cannot be framed or served: say why, then hang up
                log.say(f"{peer}: bad request: {error}")
                respond(connection, peer, error.status, f"{error}\n", keep_alive=False)
            connection.shutdown(socket.SHUT_WR)  # our FIN after the answer: the client reads it, then end of file
            end = time.monotonic() + 2.0  # then read until its FIN (2 s at most): a close() with unread input
            while (left := end - time.monotonic()) > 0:  # would send a reset (RST), which can overtake the answer
                connection.settimeout(left)
                if not connection.recv(4096):
                    break
            log.say(f"{peer}: hung up")
        except OSError as error:  # a reset, a client that lingers or does not read: one connection lost, not the server
            log.say(f"{peer}: {program.describe(error)}: dropped the connection")


def main() -> None:
    parser = program.argument_parser(__doc__)
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

    family, kind, proto, _, where = socket.getaddrinfo(
        args.host or None, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    spare = program.SpareFd()  # one fd held back, for the moment there is no other (see below)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        try:
            listener.bind(where)
        except OSError as error:  # say which address, and why: a port below 1024, a port in use
            raise program.explain_bind(error, where) from None
        listener.listen(socket.SOMAXCONN)  # a browser connects several times at once
        host, port = listener.getsockname()[:2]
        log.say(f"listening on {address(listener.getsockname())}: http://{address(listener.getsockname())}/")
        log.ready(host=host, port=port)
        workers: list[threading.Thread] = []
        shortage = program.Shortage(log)  # running out is said once, and survived
        while args.connections == 0 or len(workers) < args.connections:
            try:
                connection, peer = listener.accept()  # blocks until a client connects
            except OSError as error:  # EMFILE: no fd left for it; the connection waits in the queue
                if error.errno not in program.OUT_OF_FDS:
                    raise
                shortage.ran_out("file descriptors", f"answering 503 and pausing accept() {program.SHED_PAUSE:g} s")
                spare.refuse_newest(listener, too_busy)  # the spare fd lets us accept it, to say no
                time.sleep(program.SHED_PAUSE)  # a pause, not a loop: the connections we have can finish meanwhile
                continue
            log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}")  # this connection's 4-tuple
            worker = threading.Thread(target=serve_connection, args=(connection, address(peer), args.timeout))
            worker.daemon = True  # a thread per connection; daemon: Ctrl-C ends them all
            try:
                worker.start()
            except RuntimeError:  # "can't start new thread": a thread limit, or no memory for its stack
                shortage.ran_out("threads", f"answering 503 and pausing accept() {program.SHED_PAUSE:g} s")
                with connection:
                    too_busy(connection)
                time.sleep(program.SHED_PAUSE)
                continue
            shortage.recovered()
            workers.append(worker)
            workers = workers if args.connections else [worker for worker in workers if worker.is_alive()]
        for worker in workers:
            worker.join()  # each ends by itself: at the client's close, or at its deadline
    finally:
        spare.close()
        listener.close()


def too_busy(connection: socket.socket) -> None:
    """503, said without reading the request (there is no thread or fd to serve it): come back in a second."""
    body = b"this server is out of resources for now: try again in a second\n"
    connection.settimeout(1.0)  # from the accepting thread: never wait long on one client
    try:
        connection.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        connection.shutdown(socket.SHUT_WR)  # our FIN; its request, unread, would make close() send a reset
        connection.recv(65536)  # so read what it sent (a second at most) before we close
    except OSError:  # gone already, or slow: it will see the connection close
        pass


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
