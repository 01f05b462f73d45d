"""The conformance suite: what every server of the exchange must do, whoever wrote it.

One list of checks, run by ``ipc check MECHANISM --server COMMAND`` over a
student's server and by tests/test_conformance.py over every server of the
project. Each check talks to the server through a raw client of its kind
(ipc.check.peers) and raises CheckFailed, with what was expected and what came
back, when the server goes wrong. After a check, the server must still serve a
new client from the start. ``strict`` (the project's own servers) also wants
each error line word for word; anyone else's only has to start with "error: ".
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..protocol import ERROR_PREFIX, MAX_MESSAGE_BYTES
from .failure import CheckFailed, CheckSkipped
from .peers import Peer
from .session import Session

TOO_LONG = "error: message too long: no newline in its first 4096 bytes, the limit is 4096 bytes"
CUT = "error: stream ended in the middle of a message (3 bytes without a newline)"
NOT_UTF8 = "error: message is not valid UTF-8: b'\\xff\\xfe'"
PAUSE = 0.1  # between two parts of one request: long enough for a server to read the first alone


@dataclass(frozen=True)
class Check:
    name: str
    title: str  # what it sends and what it wants, in a line
    body: Callable[[Session, bool], None]  # (the session, strict)
    kinds: tuple = ("stream",)
    applies: Callable[[Session], Optional[str]] = field(default=lambda session: None)  # why not, or None
    next_client: bool = True  # afterwards a new client must be served from the start
    lesson: str = ""  # what it teaches, said when it fails

    def run(self, session: Session, strict: bool = False) -> None:
        """The check, then (if asked) the next client. CheckSkipped if it does not apply to this server."""
        why_not = self.applies(session)
        if why_not:
            raise CheckSkipped(why_not)
        self.body(session, strict)
        if self.next_client:
            session.serves_the_next_client()


def same(got: object, expected: object, what: str) -> None:
    if got != expected:
        raise CheckFailed(what, expected, got)


def refused(got: Optional[str], exact: str, strict: bool, what: str) -> None:
    """An error line: word for word when strict, else any line that starts with "error: "."""
    if strict:
        same(got, exact, what)
    elif got is None or not got.startswith(ERROR_PREFIX):
        raise CheckFailed(what, f"a line starting with {ERROR_PREFIX!r} (such as {exact!r})", got)


def replies_then_error(peer: Peer, answered: list, exact: str, strict: bool, what: str) -> None:
    replies = peer.replies()
    same(replies[: len(answered)], answered, what)
    rest = replies[len(answered) :]
    refused(rest[0] if rest else None, exact, strict, what)
    if len(rest) > 1:
        raise CheckFailed(what + ": the error line should be the last", [exact], rest)


# -- the checks, on a stream -----------------------------------------------------------------------------------


def exchange(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"hello\n")
        same(peer.receive(), "1 HELLO", "the answer to the first request")
        peer.send("Grüße\n".encode())
        same(peer.receive(), "2 GRÜSSE", "the answer to the second request (numbered 2, upper case, UTF-8)")
        peer.end()
        same(peer.receive(), None, "after our end of file, the server's end of file")


def clients_in_a_row(session: Session, strict: bool) -> None:
    for number in range(1, 4):
        with session.connect() as peer:
            peer.send(b"hi\n")
            same(peer.receive(), "1 HI", f"client {number} of 3, one after another: its first answer")
            peer.end()
            same(peer.receive(), None, f"client {number} of 3: after its end of file, the server's")


def two_at_once(session: Session, strict: bool) -> None:
    with session.connect() as first:
        first.send(b"first, in two parts")  # no newline yet: the server is in the middle of its request
        with session.connect() as second:
            second.send(b"second\n")
            same(second.receive(), "1 SECOND", "a second client, while the first is half-way through a request")
            second.end()
            same(second.receive(), None, "the second client: after its end of file, the server's")
        first.send(b"\n")
        same(first.receive(), "1 FIRST, IN TWO PARTS", "the first client, then")
        first.end()
        same(first.receive(), None, "the first client: after its end of file, the server's")


def many_in_one_write(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"a\nb\nc\n")
        peer.end()
        same(peer.replies(), ["1 A", "2 B", "3 C"], "three requests in one write (one segment)")


def one_byte_at_a_time(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        for byte in "hello\nGrüße\n".encode():  # the ü and the ß are split across two writes too
            peer.send(bytes([byte]))
        peer.end()
        same(peer.replies(), ["1 HELLO", "2 GRÜSSE"], "two requests sent one byte per write")


def one_in_two_writes(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"hel")
        time.sleep(PAUSE)  # time for the server to read the first part on its own
        peer.send(b"lo\n")
        same(peer.receive(), "1 HELLO", "one request in two writes, a moment apart")
        peer.end()
        same(peer.receive(), None, "after our end of file, the server's end of file")


def half_close(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"one\n")
        peer.send(b"two\n")
        peer.end()  # shutdown(SHUT_WR): nothing more from us, but we still read
        same(peer.replies(), ["1 ONE", "2 TWO"], "two requests, then our end of file, and only then we read")


def longest_line(session: Session, strict: bool) -> None:
    request = "x" * (MAX_MESSAGE_BYTES - 3)  # 4094 bytes with its newline; its answer is 4096, the limit
    with session.connect() as peer:
        peer.send(request.encode() + b"\n")
        peer.end()
        replies = peer.replies()
        same(replies, ["1 " + request.upper()], f"a request of {len(request) + 1} bytes, whose answer just fits")


def line_of_4096_bytes(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"x" * (MAX_MESSAGE_BYTES - 1) + b"\n")  # a message as long as allowed; its answer is not
        peer.end()
        replies_then_error(
            peer,
            [],
            "error: message too long: its answer would be 4098 bytes, the limit is 4096 bytes",
            strict,
            "a 4096-byte line: a message, but its answer would be 4098 bytes",
        )


def answer_too_long(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(("ß" * 2047 + "\n").encode())  # 4,095 bytes: it fits; "1 " and 2,047 "SS" do not
        peer.end()
        replies_then_error(
            peer,
            [],
            "error: message too long: its answer would be 4097 bytes, the limit is 4096 bytes",
            strict,
            "4095 bytes of ß: upper case makes it SS, and the answer too long",
        )


def too_long(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"x" * 5000 + b"\n")
        peer.end()
        replies_then_error(peer, [], TOO_LONG, strict, "a line of 5000 bytes")


def much_too_long(session: Session, strict: bool) -> None:
    """The server reads 4096 bytes and refuses the line; if it then closed with the rest unread, the kernel
    would send a reset, and a reset can overtake the error line: the client would never see the reason."""
    with session.connect() as peer:
        peer.send(b"a" * 200_000 + b"\n")  # all of it, even what comes after the refusal
        peer.end()
        replies_then_error(peer, [], TOO_LONG, strict, "200,000 bytes without a newline: the error line must arrive")


def cut_message(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"hello\n")
        same(peer.receive(), "1 HELLO", "the answer to the first request")
        peer.send(b"hal")
        peer.end()
        replies_then_error(peer, [], CUT, strict, "3 bytes without a newline, then our end of file")


def not_utf8(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"ok\n")
        same(peer.receive(), "1 OK", "the answer to the first request")
        peer.send(b"\xff\xfe\n")
        peer.end()
        replies_then_error(peer, [], NOT_UTF8, strict, "a line that is not UTF-8")


def idle_client(session: Session, strict: bool) -> None:
    with session.connect() as idle:
        if session.mechanism.files:  # a file client exists only once its first request is there
            idle.send(b"hi\n")
            same(idle.receive(), "1 HI", "the idle client's first request")
        if session.concurrent:
            session.serves_the_next_client()  # at once: the idle one holds up no one


def closes_early(session: Session, strict: bool) -> None:
    peer = session.connect()
    peer.send(b"hello\n")
    peer.reset()  # leaves with the answer unread: the server's next recv() or write() fails


def leaves_mid_message(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"hello\n")
        same(peer.receive(), "1 HELLO", "the answer to the first request")
        peer.send(b"hal")
    # gone: no newline, no answer read


# -- the checks, over datagrams ----------------------------------------------------------------------------------


def datagram_conversations(session: Session, strict: bool) -> None:
    with session.connect() as a, session.connect() as b:
        a.send(b"abc")
        same(a.receive(), "1 ABC", "client A's first datagram")
        b.send(b"xyz")
        same(b.receive(), "1 XYZ", "client B's first datagram: another address, another conversation")
        a.send("Grüße".encode())
        same(a.receive(), "2 GRÜSSE", "client A's second datagram")
        a.end()
        b.end()


def datagram_too_long(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"x" * 5000)  # recv(MSG_TRUNC) still tells the real size
        exact = "error: message too long: a datagram of 5000 bytes, the limit is 4095 bytes"
        refused(peer.receive(), exact, strict, "a datagram of 5000 bytes")
        peer.send(b"x")
        same(peer.receive(), "1 X", "after the error, the next datagram starts a new conversation")
        peer.end()


def datagram_not_utf8(session: Session, strict: bool) -> None:
    with session.connect() as peer:
        peer.send(b"\xff\xfe")
        refused(peer.receive(), NOT_UTF8, strict, "a datagram that is not UTF-8")


def _needs(what: str) -> Callable[[Session], Optional[str]]:
    def applies(session: Session) -> Optional[str]:
        mechanism = session.mechanism
        if what == "concurrent" and not session.concurrent:
            return "the server does not claim to serve clients at once (--concurrent)"
        if what == "connection" and not mechanism.resets:
            return f"{mechanism.name}: no connection to leave with an answer unread"
        if what == "socket" and mechanism.family is None:
            return f"{mechanism.name}: not a socket"
        if what == "server" and mechanism.one_process_per_client:
            return "a filter serves the one conversation it was started for"
        return None

    return applies


SUITE = [
    Check("exchange", "hello -> 1 HELLO, Grüße -> 2 GRÜSSE, then end of file both ways", exchange),
    Check("clients-in-a-row", "three clients one after another, each numbered from 1", clients_in_a_row,
          applies=_needs("server"), lesson="a server serves one client, then goes back to accept() for the next"),
    Check("two-at-once", "a second client is served while the first is half-way through a request", two_at_once,
          applies=_needs("concurrent"), lesson="a concurrent server must not wait on one client's recv()"),
    Check("many-in-one-write", "a\\nb\\nc\\n in one write -> 1 A, 2 B, 3 C", many_in_one_write,
          lesson="a stream keeps no boundaries: one recv() may hold several messages"),
    Check("one-byte-at-a-time", "hello\\nGrüße\\n written a byte at a time", one_byte_at_a_time,
          lesson="a stream keeps no boundaries: one message may take several recv()s"),
    Check("one-in-two-writes", "hel, a moment later lo\\n -> 1 HELLO", one_in_two_writes,
          lesson="a stream keeps no boundaries: read until the newline, however many recv()s it takes"),
    Check("half-close", "two requests, shutdown(SHUT_WR), then read both answers", half_close,
          lesson="end of file in one direction only: the answers still come back"),
    Check("longest-line", "a 4094-byte line, whose 4096-byte answer just fits", longest_line,
          lesson="a message may be as long as the limit: read until the newline, not one buffer's worth"),
    Check("line-of-4096-bytes", "a 4096-byte line: refused, its answer would be too long", line_of_4096_bytes),
    Check("answer-too-long", "4095 bytes of ß, whose upper case (SS) would not fit", answer_too_long),
    Check("too-long", "a line of 5000 bytes -> one error line", too_long,
          lesson="never wait for a newline that cannot come within the limit"),
    Check("much-too-long", "200,000 bytes without a newline: the error line still arrives", much_too_long,
          applies=_needs("socket"),
          lesson="closed with bytes unread, a socket sends a reset, which can overtake the error line: "
          "shutdown(SHUT_WR), then read to end of file, then close()"),
    Check("cut-message", "hal then end of file -> one error line", cut_message,
          lesson="end of file in the middle of a message is an error, not a message"),
    Check("not-utf8", "bytes that are not UTF-8 -> one error line", not_utf8),
    Check("idle-client", "a client that sends nothing, then leaves: the next one is served", idle_client,
          applies=lambda session: _needs("server")(session) or ("files: a client that stops writing files cannot "
          "be told from a slow one; only the server's own deadline ends it" if session.mechanism.files else None)),
    Check("closes-early", "a client that leaves with its answer unread: the server goes on", closes_early,
          applies=_needs("connection"), lesson="a write to a peer that left fails (EPIPE, ECONNRESET): "
          "that client's error, not the server's end"),
    Check("leaves-mid-message", "a client that leaves in the middle of a message", leaves_mid_message,
          applies=lambda session: "files: a client that stops writing files never leaves"
          if session.mechanism.files else None),
    Check("datagram-conversations", "two addresses, two conversations, each numbered from 1",
          datagram_conversations, kinds=("datagram",)),
    Check("datagram-too-long", "a datagram of 5000 bytes -> one error datagram; then 1 X", datagram_too_long,
          kinds=("datagram",), lesson="recv() into a small buffer cuts a datagram: MSG_TRUNC tells its real size"),
    Check("datagram-not-utf8", "a datagram that is not UTF-8 -> one error datagram", datagram_not_utf8,
          kinds=("datagram",)),
]  # fmt: skip


def checks_for(kind: str, names: Optional[list] = None) -> list[Check]:
    """The suite's checks for a kind of mechanism (stream, datagram), or only those named."""
    from .http import HTTP_SUITE  # (it builds on this module's Check)

    chosen = [check for check in SUITE + HTTP_SUITE if kind in check.kinds]
    if names:
        unknown = set(names) - {check.name for check in chosen}
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        chosen = [check for check in chosen if check.name in names]
    return chosen


def close_quietly(peer: Peer) -> None:
    with contextlib.suppress(Exception):
        peer.close()
