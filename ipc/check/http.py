"""The HTTP/1.1 checks: a student's server against the requests curl and a browser make.

The server must serve ``GET /hello.txt`` (any body, with its Content-Length),
keep the connection open between requests (keep-alive) unless asked to close
it, answer 404 for a page it does not have, 405 for a method it does not
serve (DELETE), 400 for a request line that is not one, and answer two
pipelined requests in order. Each response is read as a client must read it
(ipc.http_messages: the head up to the blank line, then Content-Length bytes),
through the project's one read loop.
"""

from __future__ import annotations

import socket
from typing import Optional

from ..http_messages import ResponseDecoder
from ..protocol import ProtocolError
from ..stream import MessageReader
from .failure import CheckFailed, NoAnswer
from .suite import Check, same

PAGE = "/hello.txt"  # what every server checked must serve


def request(method: str, target: str, *extra: str) -> bytes:
    return "\r\n".join([f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]).encode()


class HttpPeer:
    """One connection, read as an HTTP client reads it."""

    def __init__(self, fields: dict, deadline: float):
        self.deadline = deadline
        family = socket.AF_INET6 if ":" in fields["host"] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(deadline)
        try:
            self.sock.connect((fields["host"], int(fields["port"])))
        except OSError as error:
            self.sock.close()
            raise CheckFailed(f"cannot connect: {error.strerror or error}") from None
        self.decoder = ResponseDecoder()
        self.reader = MessageReader(self.sock.recv, decoder=self.decoder)

    def __enter__(self) -> "HttpPeer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise CheckFailed(f"the server hung up while we were sending ({error.strerror or error})") from None

    def response(self, method: str = "GET"):
        """The next response (None: the server closed the connection first)."""
        self.decoder.request_method = method
        try:
            return self.reader.receive()
        except (socket.timeout, TimeoutError):
            raise NoAnswer(f"no whole response within {self.deadline:g} s") from None
        except ConnectionResetError:
            raise CheckFailed("the connection was reset (ECONNRESET) before a whole response came") from None
        except ProtocolError as error:
            raise CheckFailed(f"the response breaks HTTP's framing: {error}") from None

    def closed(self) -> bool:
        """Whether the server closed the connection (end of file, nothing more), within the deadline."""
        return self.response() is None


def _status(response, expected: int, what: str) -> None:
    if response is None:
        raise CheckFailed(f"{what}: the server closed the connection without a response", f"{expected}", None)
    same(response.status, expected, f"{what}: the status")


def _has_length(response, what: str) -> None:
    if response.header("Content-Length") is None:
        raise CheckFailed(
            f"{what}: no Content-Length", "a Content-Length field", response.lines,
            why="without it, a keep-alive client cannot tell where the body ends",
        )  # fmt: skip


def get(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(request("GET", PAGE, "Connection: close"))
        response = peer.response()
        _status(response, 200, f"GET {PAGE}")
        _has_length(response, f"GET {PAGE}")
        same(int(response.header("Content-Length")), len(response.body), "Content-Length and the body's length")
        if not peer.closed():
            raise CheckFailed("after 'Connection: close' and its response, the server should close the connection")


def keep_alive(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        for number in (1, 2):
            peer.send(request("GET", PAGE))
            response = peer.response()
            _status(response, 200, f"request {number} of 2 on one connection")
            _has_length(response, f"request {number}")
            if not response.keep_alive:
                raise CheckFailed(
                    f"response {number} says 'Connection: close' to an HTTP/1.1 request that kept it open"
                )


def not_found(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(request("GET", "/no-such-page-7f3a", "Connection: close"))
        _status(peer.response(), 404, "a page the server does not have")


def not_allowed(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(request("DELETE", PAGE, "Connection: close"))
        _status(peer.response(), 405, "DELETE, a method a file server does not serve")


def bad_request(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(b"hello\r\n\r\n")
        _status(peer.response(), 400, "a request line that is not one")
        if not peer.closed():
            raise CheckFailed(
                "after a 400 the server should close the connection: it cannot tell where the next begins"
            )


def pipelined(session, strict: bool) -> None:
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(request("GET", PAGE) + request("GET", "/no-such-page-7f3a", "Connection: close"))  # one write
        statuses = []
        for _ in range(2):
            response: Optional[object] = peer.response()
            statuses.append(None if response is None else response.status)
        same(statuses, [200, 404], "two requests in one write: both answered, in order")


HTTP_SUITE = [
    Check("http-get", f"GET {PAGE} -> 200 with its Content-Length; Connection: close closes", get, kinds=("http",),
          lesson="the body's length goes in Content-Length: nothing else tells the client where it ends"),
    Check("http-keep-alive", "two requests on one connection, one after the other", keep_alive, kinds=("http",),
          lesson="HTTP/1.1 keeps the connection open: read the next request after answering one"),
    Check("http-404", "a page it does not have -> 404", not_found, kinds=("http",)),
    Check("http-405", f"DELETE {PAGE} -> 405", not_allowed, kinds=("http",)),
    Check("http-400", "a request line that is not one -> 400, then the connection closes", bad_request,
          kinds=("http",)),
    Check("http-pipelined", "two requests in one write -> 200 then 404, in order", pipelined, kinds=("http",),
          lesson="a stream keeps no boundaries: one recv() may hold two requests; answer each, in order"),
]  # fmt: skip


def next_client(session) -> None:
    """A new connection is served: GET /hello.txt -> 200."""
    with HttpPeer(session.fields, session.deadline) as peer:
        peer.send(request("GET", PAGE, "Connection: close"))
        try:
            response = peer.response()
        except CheckFailed as failed:
            raise session.explained(failed) from None
        _status(response, 200, "a new connection, afterwards")
