"""The one message exchange every demo carries. Pure: bytes in, messages out, no I/O.

The conversation
----------------
A client sends requests; the server answers each one, in order. On a stream
(pipe, FIFO, socket) every message is one line of UTF-8 text ending in "\\n";
in a datagram, one message is the whole datagram, with no newline.

The answer to the n-th request of a conversation is ``"<n> <REQUEST IN UPPER
CASE>"``, so it depends on both the text and its position: an echo, a replayed
answer or a lost message are all told apart from a real exchange::

    client -> server   hello
    server -> client   1 HELLO
    client -> server   how are you?
    server -> client   2 HOW ARE YOU?

The client ends the conversation by closing its side (end of file). On a
datagram socket, where there is no end of file, it sends an empty datagram.

When a request breaks the rules the server answers ``error: <why>`` and
closes the conversation.

Limits: a message is at most MAX_MESSAGE_BYTES bytes including its newline.
A longer one, bytes that are not UTF-8, and a stream that ends in the middle
of a message are each a ProtocolError subclass: never a crash and never a
wait for bytes that cannot come.
"""

from __future__ import annotations

from typing import Optional

MAX_MESSAGE_BYTES = 4096
ENCODING = "utf-8"
ERROR_PREFIX = "error: "

# What a client sends when it is not told what to say.
SAMPLE_REQUESTS = ("hello", "how are you?", "Grüße aus der Pipe", "bye")


class ProtocolError(Exception):
    """The bytes on the wire break the exchange's rules."""


class MessageTooLong(ProtocolError):
    def __init__(self, limit: int, detail: str):
        super().__init__(f"message too long: {detail}, the limit is {limit} bytes")
        self.limit = limit


class InvalidText(ProtocolError):
    def __init__(self, data: bytes):
        super().__init__(f"message is not valid UTF-8: {data[:40]!r}")
        self.data = data


class TruncatedMessage(ProtocolError):
    def __init__(self, data: bytes):
        super().__init__(f"stream ended in the middle of a message ({len(data)} bytes without a newline)")
        self.data = data


class UnexpectedReply(ProtocolError):
    """The answer is not the one the exchange requires for that request."""


class _Sentinel:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")  # feed more bytes, then ask again
END = _Sentinel("END")  # the peer closed cleanly, between two messages


def encode(text: str) -> bytes:
    """One message as it goes on a stream: UTF-8 text and a newline."""
    if "\n" in text:
        raise ProtocolError("a message cannot contain a newline")
    try:
        data = text.encode(ENCODING) + b"\n"
    except UnicodeEncodeError:  # e.g. undecodable bytes from the command line (surrogates)
        raise InvalidText(text.encode(ENCODING, "surrogateescape")) from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLong(MAX_MESSAGE_BYTES, f"{len(data)} bytes with its newline")
    return data


def encode_datagram(text: str) -> bytes:
    """One message as one datagram: the datagram's edges are the message's edges."""
    if not text:  # it would read as the goodbye, and its answer would never come
        raise ProtocolError("an empty message cannot go in a datagram: an empty datagram ends the conversation")
    return encode(text)[:-1]


def decode_datagram(data: bytes, size: Optional[int] = None) -> str:
    """The message in one datagram. size: its real length, when a buffer held only part of it (recv's MSG_TRUNC)."""
    size = len(data) if size is None else size
    if size >= MAX_MESSAGE_BYTES:  # the same limit as on a stream, where a newline follows
        raise MessageTooLong(MAX_MESSAGE_BYTES - 1, f"a datagram of {size} bytes")
    return _decode(data)


def _decode(line) -> str:
    try:
        text = line.decode(ENCODING)
    except UnicodeDecodeError:
        raise InvalidText(bytes(line)) from None
    return text[:-1] if text.endswith("\r") else text  # forgive nc/telnet's CRLF


class Decoder:
    """Cuts a byte stream into messages, however the bytes arrive.

    ``feed(data)`` adds bytes (``feed(b"")`` says the stream ended);
    ``next_message()`` returns the next whole message, NEED_DATA, or END.
    """

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES):
        self._max = max_bytes
        self._buffer = bytearray()
        self._ended = False

    def feed(self, data: bytes) -> None:
        if self._ended:
            raise ProtocolError("bytes fed after the end of the stream")
        if data:
            self._buffer += data
        else:
            self._ended = True

    def next_message(self) -> str | _Sentinel:
        if not self._buffer and not self._ended:
            return NEED_DATA  # the usual state between two messages: nothing to look through
        newline = self._buffer.find(b"\n", 0, self._max)
        if newline >= 0:
            line = self._buffer[:newline]
            del self._buffer[: newline + 1]  # cheap: a bytearray drops its first bytes without moving the rest
            return _decode(line)
        if len(self._buffer) >= self._max:
            raise MessageTooLong(self._max, f"no newline in its first {self._max} bytes")
        if self._ended:
            if self._buffer:
                raise TruncatedMessage(bytes(self._buffer))
            return END
        return NEED_DATA


def answer(seq: int, request: str) -> str:
    """The server's answer to the seq-th request (counting from 1)."""
    return f"{seq} {request.upper()}"


def error_reply(error: Exception) -> str:
    """The line that tells a client why it is refused: a ProtocolError, or the server's own deadline."""
    return ERROR_PREFIX + str(error)


class ServerConversation:
    """The server's side of one conversation: numbers the requests it answers."""

    def __init__(self) -> None:
        self.answered = 0

    def reply_to(self, request: str) -> str:
        """The answer to this request; MessageTooLong if the answer would not fit."""
        reply = answer(self.answered + 1, request)
        if 4 * len(reply) + 1 > MAX_MESSAGE_BYTES:  # could it be too long? (a character is at most 4 bytes in UTF-8)
            size = len(reply.encode(ENCODING)) + 1
            if size > MAX_MESSAGE_BYTES:  # upper() and the number can make an answer longer than its request
                raise MessageTooLong(MAX_MESSAGE_BYTES, f"its answer would be {size} bytes")
        self.answered += 1
        return reply


class ClientConversation:
    """The client's side: checks every reply against the request it sent."""

    def __init__(self) -> None:
        self.checked = 0

    def check(self, request: str, reply: str) -> None:
        expected = answer(self.checked + 1, request)
        if reply != expected:
            if reply.startswith(ERROR_PREFIX):
                raise UnexpectedReply(f"server refused {request!r}: {reply[len(ERROR_PREFIX) :]}")
            raise UnexpectedReply(f"expected {expected!r} in answer to {request!r}, got {reply!r}")
        self.checked += 1
