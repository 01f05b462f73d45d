"""HTTP/1.1 messages, framed as a server and a client must frame them. Pure: bytes in, messages out, no I/O.

On the TCP stream (RFC 9112) a message is a head, a blank line, then a body::

    GET /hello.txt HTTP/1.1\\r\\n        the start line: a request line, or a status line
    Host: 127.0.0.1:8080\\r\\n           header fields, one a line: "Name: value"
    \\r\\n                               a blank line ends the head
    ...exactly Content-Length bytes...  the body (none when there is no Content-Length in a request)

Nothing else marks where a message ends. The reader finds the blank line,
then counts the body's bytes: with keep-alive the connection stays open after
each message, so end of file cannot mark it. A request body may also come
chunked (``Transfer-Encoding: chunked``, RFC 9112 7.1), when its sender does
not know its length in advance: chunks, each its size in hex on a line of its
own, then that many bytes and CRLF, until a chunk of size 0 (and optional
trailer fields, then a blank line)::

    5\\r\\nhello\\r\\n  6\\r\\n world\\r\\n  0\\r\\n\\r\\n        "hello world", in two chunks

A client that sends ``Expect: 100-continue`` waits for a ``100 Continue``
before it sends its body: ``continue_wanted`` tells the server when to say it.

The decoders have the shape of ipc.protocol.Decoder, so the project's one
read loop (ipc.stream.MessageReader) reads HTTP too: ``feed(data)`` adds bytes
(``b""`` at end of file), ``next_message()`` returns a whole message,
NEED_DATA or END. A request that breaks the rules raises HTTPError carrying
the status a server answers:

    400  malformed: a bad request line or target, a bad header line, no Host
         in HTTP/1.1 or one that is no host[:port], an unusable
         Content-Length, a Content-Length beside a Transfer-Encoding (a
         smuggling attempt, RFC 9112 6.1), a Transfer-Encoding whose last
         coding is not chunked (RFC 9112 6.3) or in HTTP/1.0, bad chunk
         framing, a stream that ends inside a request
    413  a body longer than the server takes (Content-Length says so at once)
    417  an Expect other than 100-continue
    431  a head longer than MAX_HEAD_BYTES, or no blank line within it
    501  a transfer coding before chunked (gzip, chunked): not decoded here
    505  an HTTP version whose major number is not 1 (HTTP/1.2 is answered as
         HTTP/1.1: the same major version, RFC 9110 2.5)

408 (no whole request before a deadline) is the server's to decide: this
module has no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Optional
from urllib.parse import urlsplit

from .protocol import END, NEED_DATA, ProtocolError

MAX_HEAD_BYTES = 8192  # request line and header fields, with their line ends and the blank line
MAX_BODY_BYTES = 65536  # what a server takes in a request body by default
MAX_CHUNK_LINE = 1024  # a chunk's size line, its extensions included
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # the interim answer to Expect: 100-continue

TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # a method or a field name (RFC 9110 5.6.2)
REQUEST_LINE = re.compile(r"^(\S+) (\S+) (HTTP/\d\.\d)$")
HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::[0-9]*)?$")  # uri-host [":" port]
ORIGIN_FORM = re.compile(r"^/[!-~]*$")  # "/" and printable ASCII: what follows a method in most requests
ABSOLUTE_FORM = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[!-~]*$")  # "http://host:port/path": to a proxy, or to us
CHUNK_SIZE_LINE = re.compile(rb"^([0-9A-Fa-f]+)[ \t]*(;[^\x00-\x08\x0a-\x1f\x7f]*)?$")  # size [; extensions]
STATUS_LINE = re.compile(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$")
BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # the end of a head (a bare LF is accepted, RFC 9112 2.2)
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # no control characters but TAB in a field


class HTTPError(ProtocolError):
    """A request the server must refuse, with the status it answers."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status} {HTTPStatus(status).phrase}: {detail}")
        self.status = status
        self.detail = detail


@dataclass
class Message:
    start: str  # the request line or the status line
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    head_bytes: int = 0  # the head's size on the wire, blank line included

    @property
    def version(self) -> str:
        return self.start.split(" ")[0 if self.start.startswith("HTTP/") else 2]

    def header(self, name: str) -> Optional[str]:
        """A field's value (names are case-insensitive); a repeated field's values joined by ", "."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after this message: HTTP/1.1 by default, 1.0 only if asked."""
        tokens = {token.strip().lower() for token in (self.header("Connection") or "").split(",")}
        return "close" not in tokens and (self.version != "HTTP/1.0" or "keep-alive" in tokens)

    @property
    def lines(self) -> list[str]:
        """The head as lines, the way curl -v shows them."""
        return [self.start, *(f"{name}: {value}" for name, value in self.headers)]


@dataclass
class Request(Message):
    @property
    def method(self) -> str:
        return self.start.split(" ")[0]

    @property
    def target(self) -> str:
        return self.start.split(" ")[1]

    @property
    def path(self) -> str:
        """The target's path: itself in origin-form ("/a?b"), its path part in absolute-form ("http://h/a?b")."""
        if ABSOLUTE_FORM.match(self.target):  # a server MUST accept it (RFC 9112 3.2.2), and ignore Host for it
            parts = urlsplit(self.target)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.target


@dataclass
class Response(Message):
    @property
    def status(self) -> int:
        return int(self.start.split(" ")[1])


class _Decoder:
    """Cuts a byte stream into HTTP messages: the head up to the blank line, then the body's bytes."""

    def __init__(self, max_head: int, max_body: int):
        self._max_head, self._max_body = max_head, max_body
        self._buffer = bytearray()
        self._ended = False
        self._pending: Optional[tuple[Message, Optional[int]]] = None  # a parsed head, and its body's length
        self._chunks: Optional[_Chunks] = None  # a chunked body being read

    @property
    def started(self) -> bool:
        """Part of a message is in hand (not just blank lines): a deadline now cuts a message short."""
        return self._pending is not None or bool(self._buffer.strip(b"\r\n"))

    def feed(self, data: bytes) -> None:
        if self._ended:
            raise ProtocolError("bytes fed after the end of the stream")
        if data:
            self._buffer += data
        else:
            self._ended = True

    def next_message(self):
        if self._pending is None:
            del self._buffer[: len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))]  # blank lines between messages
            end = BLANK_LINE.search(self._buffer, 0, self._max_head)
            if end is None:
                if len(self._buffer) >= self._max_head:
                    raise HTTPError(431, f"no blank line in the first {self._max_head} bytes: the head is too long")
                if self._ended:
                    if self._buffer:
                        raise self._truncated(
                            f"the stream ended inside a head ({len(self._buffer)} bytes, no blank line)"
                        )
                    return END
                return NEED_DATA
            head = self._buffer[: end.start()].decode("latin-1")  # a head is bytes; latin-1 maps each to one character
            del self._buffer[: end.end()]
            self._pending = self._parse(head, end.end())
        message, length = self._pending
        if length == CHUNKED:
            if self._chunks is None:
                self._chunks = _Chunks(self._max_body, self._max_head, self._fail)
            if not self._chunks.read(self._buffer):
                if self._ended:
                    raise self._truncated(f"the stream ended inside a chunked body ({len(self._chunks.body)} bytes)")
                return NEED_DATA
            message.body, self._chunks, self._pending = bytes(self._chunks.body), None, None
            return message
        if length is None:  # a response without Content-Length: its body runs to end of file
            if len(self._buffer) > self._max_body:
                raise ProtocolError(f"a body of over {self._max_body} bytes")
            if not self._ended:
                return NEED_DATA
            length = len(self._buffer)
        if len(self._buffer) < length:
            if self._ended:
                raise self._truncated(f"the stream ended inside a body ({len(self._buffer)} of {length} bytes)")
            return NEED_DATA
        message.body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._pending = None
        return message

    def _parse(self, head: str, size: int) -> tuple[Message, Optional[int]]:
        raise NotImplementedError

    def _truncated(self, detail: str) -> ProtocolError:
        return ProtocolError(detail)

    def _fail(self, status: int, detail: str) -> ProtocolError:
        return ProtocolError(detail)

    @staticmethod
    def _fields(lines: list[str], fail) -> list[tuple[str, str]]:
        headers = []
        for line in lines:
            if line[:1] in (" ", "\t"):
                raise fail(f"a header line starts with white space (obsolete line folding): {line[:40]!r}")
            name, colon, value = line.partition(":")
            if not colon or not TOKEN.match(name):  # no colon, or white space before it (RFC 9112 5.1)
                raise fail(f"not a header line: {line[:40]!r}")
            value = value.strip(" \t")
            if CONTROL.search(value):
                raise fail(f"a control character in the {name} field")
            headers.append((name, value))
        return headers

    @staticmethod
    def _lines(head: str) -> list[str]:
        return [line[:-1] if line.endswith("\r") else line for line in head.split("\n")]  # CRLF, or a bare LF

    def _content_length(self, message: Message, fail) -> Optional[int]:
        value = message.header("Content-Length")
        if value is None:
            return None
        values = {item.strip() for item in value.split(",")}  # "5, 5" is one length said twice
        if len(values) != 1 or not all(v.isascii() and v.isdigit() for v in values):
            raise fail(f"Content-Length is not one number: {value[:40]!r}")
        return int(values.pop())


class RequestDecoder(_Decoder):
    """A server's side: requests out of the bytes a client sent."""

    def __init__(self, max_head: int = MAX_HEAD_BYTES, max_body: int = MAX_BODY_BYTES):
        super().__init__(max_head, max_body)
        self._continued = False  # a 100 Continue said for the pending request

    @property
    def continue_wanted(self) -> bool:
        """The pending request's head is in, it asked for a 100 Continue before its body, and none was said yet."""
        if self._pending is None or self._continued:
            return False
        request, length = self._pending
        expects = (request.header("Expect") or "").lower() == "100-continue" and request.version != "HTTP/1.0"
        return expects and (length == CHUNKED or len(self._buffer) < (length or 0))

    def continue_said(self) -> None:
        self._continued = True

    def next_message(self):
        message = super().next_message()
        if isinstance(message, Request):
            self._continued = False
        return message

    def _truncated(self, detail: str) -> ProtocolError:
        return HTTPError(400, detail)

    def _fail(self, status: int, detail: str) -> ProtocolError:
        return HTTPError(status, detail)

    def _parse(self, head: str, size: int) -> tuple[Request, object]:
        def bad(detail: str) -> HTTPError:
            return HTTPError(400, detail)

        start, *lines = self._lines(head)
        match = REQUEST_LINE.match(start)
        if not match or not TOKEN.match(match[1]) or CONTROL.search(start):
            raise bad(f"not a request line: {start[:60]!r} (expected: METHOD TARGET HTTP/1.1)")
        if not match[3].startswith("HTTP/1."):  # 1.2 is still HTTP/1: answered as 1.1 (RFC 9110 2.5)
            raise HTTPError(505, f"{match[3]}: this server speaks HTTP/1.0 and HTTP/1.1")
        target = match[2]
        if not (
            ORIGIN_FORM.match(target)
            or ABSOLUTE_FORM.match(target)
            or (target == "*" and match[1] == "OPTIONS")
            or (match[1] == "CONNECT" and HOST.match(target))
        ):
            raise bad(f"not a request target: {target[:60]!r} (a path /..., or a whole URL http://...)")
        request = Request(start, self._fields(lines, bad), head_bytes=size)
        hosts = [value for name, value in request.headers if name.lower() == "host"]
        if len(hosts) > 1 or (request.version != "HTTP/1.0" and not hosts):
            raise bad("an HTTP/1.1 request needs exactly one Host field")
        if hosts and not HOST.match(hosts[0]):
            raise bad(f"Host {hosts[0][:40]!r} is not a host[:port]")
        expect = request.header("Expect")
        if expect is not None and expect.lower() != "100-continue":
            raise HTTPError(417, f"Expect {expect[:40]!r}: only 100-continue is known here")
        coding = request.header("Transfer-Encoding")
        if coding is not None:
            codings = [item.strip().lower() for item in coding.split(",")]
            if request.header("Content-Length") is not None:  # two framings: which one a proxy used is unknowable
                raise bad("both Transfer-Encoding and Content-Length: one framing, not two")
            if request.version == "HTTP/1.0":
                raise bad("Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted")
            if codings[-1] != "chunked" or codings.count("chunked") > 1:  # then nothing says where the body ends
                raise bad(f"Transfer-Encoding {coding!r}: chunked must come once, and last (RFC 9112 6.3)")
            if len(codings) > 1:  # framed by chunks, but coded in a way we cannot undo (gzip, chunked)
                raise HTTPError(501, f"Transfer-Encoding {coding!r}: this server decodes chunked only")
            return request, CHUNKED
        length = self._content_length(request, bad) or 0
        if length > self._max_body:
            raise HTTPError(413, f"a body of {length} bytes; this server takes at most {self._max_body}")
        return request, length


CHUNKED = -1  # a body's length, when its chunks say it


class _Chunks:
    """A chunked body, read as it comes: size line, data, CRLF, ..., the last chunk (0), trailer fields, CRLF."""

    def __init__(self, max_body: int, max_trailer: int, fail):
        self.body = bytearray()
        self._max_body, self._max_trailer, self._fail = max_body, max_trailer, fail
        self._left: Optional[int] = None  # bytes of the current chunk still to come; None: a size line is next
        self._trailer = False  # the last chunk was read: trailer lines until a blank one

    def read(self, buffer: bytearray) -> bool:
        """Take what it can from the buffer; True once the whole body is in."""
        while True:
            if self._trailer:
                end = buffer.find(b"\r\n", 0, self._max_trailer)
                if end < 0:
                    if len(buffer) >= self._max_trailer:
                        raise self._fail(431, f"no end to the trailer fields in {self._max_trailer} bytes")
                    return False
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                if not line:
                    return True
                self._max_trailer -= end + 2
                name, colon, _ = line.partition(b":")
                if not colon or not TOKEN.match(name.decode("latin-1")):
                    raise self._fail(400, f"not a trailer field line: {line[:40]!r}")
                continue
            if self._left is None:
                end = buffer.find(b"\r\n", 0, MAX_CHUNK_LINE)
                if end < 0:
                    if len(buffer) >= MAX_CHUNK_LINE or b"\n" in buffer[:MAX_CHUNK_LINE]:
                        raise self._fail(400, f"not a chunk size line: {bytes(buffer[:40])!r}")
                    return False
                match = CHUNK_SIZE_LINE.match(bytes(buffer[:end]))
                if not match:
                    raise self._fail(400, f"not a chunk size line: {bytes(buffer[: min(end, 40)])!r}")
                digits = match[1].lstrip(b"0") or b"0"
                if len(digits) > 8 or len(self.body) + int(digits, 16) > self._max_body:
                    raise self._fail(413, f"a chunked body of over {self._max_body} bytes")
                del buffer[: end + 2]
                self._left = int(digits, 16)
                if self._left == 0:
                    self._trailer = True
                continue
            taken = buffer[: self._left]
            self.body += taken
            del buffer[: len(taken)]
            self._left -= len(taken)
            if self._left or len(buffer) < 2:
                return False
            if buffer[:2] != b"\r\n":
                raise self._fail(400, "a chunk's data is not followed by CRLF: its size line lied")
            del buffer[:2]
            self._left = None


class ResponseDecoder(_Decoder):
    """A client's side: responses out of the bytes a server sent.

    Set ``request_method`` before each response: the answer to a HEAD has a
    Content-Length but no body."""

    def __init__(self, max_head: int = 65536, max_body: int = 16 << 20):
        super().__init__(max_head, max_body)
        self.request_method = "GET"

    def _parse(self, head: str, size: int) -> tuple[Response, Optional[int]]:
        start, *lines = self._lines(head)
        if not STATUS_LINE.match(start):
            raise ProtocolError(f"not a status line: {start[:60]!r} (expected: HTTP/1.1 200 OK)")
        response = Response(start, self._fields(lines, ProtocolError), head_bytes=size)
        if self.request_method == "HEAD" or response.status in (204, 304) or response.status < 200:
            return response, 0
        if response.header("Transfer-Encoding") is not None:
            coding = response.header("Transfer-Encoding")
            raise ProtocolError(f"Transfer-Encoding {coding!r}: this client reads Content-Length only")
        length = self._content_length(response, ProtocolError)
        if length is not None and length > self._max_body:
            raise ProtocolError(f"a body of {length} bytes; this client takes at most {self._max_body}")
        return response, length
