"""One conformance suite, run over every server program (as trio runs check_one_way_stream over every stream).

Each test talks to a server through a raw client of its kind (tests/peers.py): TCP, Unix stream, FIFOs,
stdin/stdout over pipes, the fork server, files. Every server must answer in order, however the bytes are cut;
refuse a message that is cut short, too long or not UTF-8 with one error line; survive a client that resets,
vanishes, idles or dawdles; and then serve the next client. Each server runs until the test ends and must then
exit 143 on SIGTERM, without a traceback. What one mechanism alone teaches stays in its own test file.
"""

from __future__ import annotations

import contextlib
import errno
import re
import select
import socket
import subprocess
import time

import pytest
from peers import DATAGRAM_SERVERS, STREAM_SERVERS, DatagramPeer, Mechanism, Peer
from support import DEADLINE, Program, needs

from ipc.catalog import no_ipv6_loopback

TOO_LONG = "error: message too long: no newline in its first 4096 bytes, the limit is 4096 bytes"


@pytest.fixture(params=STREAM_SERVERS, ids=lambda mechanism: mechanism.name)
def mechanism(request) -> Mechanism:
    return request.param


class Session:
    """A running server and a way to reach it."""

    def __init__(self, mechanism: Mechanism, program):
        self.mechanism, self.program = mechanism, program
        self.fields = program.ready() if program else {}

    def connect(self) -> Peer:
        return self.mechanism.connect(self.fields)

    def serves_the_next_client(self) -> None:
        with contextlib.closing(self.connect()) as peer:
            datagrams = isinstance(peer, DatagramPeer)
            peer.send(b"next" if datagrams else b"next\n")
            assert peer.receive() == "1 NEXT"  # a new conversation counts from 1
            peer.end()
            assert datagrams or peer.receive() is None  # no end of file to read on a datagram socket

    def said(self, pattern: str, deadline: float = DEADLINE) -> re.Match:
        return self.program.wait_for_line(pattern, deadline)


@contextlib.contextmanager
def session(mechanism: Mechanism, *server_args: str):
    """The server for one test; at the end, whatever happened, it must still serve a new client."""
    with mechanism.server(*server_args) as program:
        running = Session(mechanism, program)
        yield running
        running.serves_the_next_client()


def test_request_and_answer(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"hello\n")
        assert peer.receive() == "1 HELLO"
        peer.send("Grüße\n".encode())
        assert peer.receive() == "2 GRÜSSE"
        peer.end()
        assert peer.receive() is None  # the server's end of the conversation follows ours


def test_many_messages_in_one_write(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"a\nb\nc\n")
        peer.end()
        assert peer.replies() == ["1 A", "2 B", "3 C"]


def test_one_byte_at_a_time(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        for byte in "hello\nGrüße\n".encode():  # the ü and the ß are split across two writes too
            peer.send(bytes([byte]))
        peer.end()
        assert peer.replies() == ["1 HELLO", "2 GRÜSSE"]


def test_a_message_cut_before_its_newline_then_end_of_file(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"hello\n")
        assert peer.receive() == "1 HELLO"
        peer.send(b"hal")
        peer.end()
        assert peer.replies() == ["error: stream ended in the middle of a message (3 bytes without a newline)"]


def test_an_oversized_message(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"x" * 5000 + b"\n")
        peer.end()
        assert peer.replies() == [TOO_LONG]


def test_a_request_whose_answer_would_not_fit(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(("ß" * 2047 + "\n").encode())  # 4,095 bytes: it fits; "1 " and 2,047 "SS" do not
        peer.end()
        assert peer.replies() == ["error: message too long: its answer would be 4097 bytes, the limit is 4096 bytes"]


def test_invalid_utf8(mechanism):
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"ok\n")
        assert peer.receive() == "1 OK"
        peer.send(b"\xff\xfe\n")
        peer.end()
        assert peer.replies() == ["error: message is not valid UTF-8: b'\\xff\\xfe'"]


def test_a_peer_that_resets(mechanism):
    if not mechanism.resets:
        pytest.skip(f"{mechanism.name}: no connection to reset")
    with session(mechanism) as server:
        peer = server.connect()
        peer.send(b"hello\n")
        peer.reset()  # leaves with the answer unread: the server's next recv() or write() fails
        if mechanism.one_process_per_client:  # that was its only conversation: it ends, in one line
            assert peer.code == 1 and peer.program.lines[-1].endswith("error: BrokenPipeError: Broken pipe")
        else:
            server.said(r"reset the connection|ConnectionResetError|before reading its answer")


def test_a_peer_that_vanishes_in_the_middle_of_a_message(mechanism):
    with session(mechanism, *(() if mechanism.one_process_per_client else ("--idle", "1"))) as server:
        peer = server.connect()
        peer.send(b"hello\n")
        assert peer.receive() == "1 HELLO"
        peer.send(b"hal")
        peer.close()  # gone: no end of file said, no answer read


DROPPED = r"no whole request|wrote nothing|kept us waiting"  # each server's words for an idle client it dropped


def test_an_idle_client_is_dropped_and_the_next_one_served(mechanism):
    if mechanism.one_process_per_client:
        pytest.skip("stdio_server serves the one conversation it was started for")
    with session(mechanism, "--idle", "0.5") as server, contextlib.closing(server.connect()) as idle:
        if mechanism.files:  # a file client exists only once its first request is there
            idle.send(b"hi\n")
            assert idle.receive() == "1 HI"
        if mechanism.concurrent:
            server.serves_the_next_client()  # at once: the idle one holds up no one
        server.said(DROPPED)  # then says nothing: dropped after half a second


def test_a_slow_client_is_dropped_and_the_next_one_served(mechanism):
    if mechanism.one_process_per_client:
        pytest.skip("stdio_server serves the one conversation it was started for")
    with session(mechanism, "--idle", "0.5") as server, contextlib.closing(server.connect()) as slow:
        if mechanism.files:
            slow.send(b"hi\n")
            assert slow.receive() == "1 HI"
        for sent, byte in enumerate(b"hello, at one byte every tenth of a second, or slower\n"):
            try:
                slow.send(bytes([byte]))
            except OSError:  # EPIPE, ECONNRESET: the server has hung up on it already
                break
            if mechanism.concurrent and sent == 2:
                server.serves_the_next_client()  # in between: the slow one holds up no one
            with contextlib.suppress(AssertionError):
                server.said(DROPPED, deadline=0.1)  # the pace of the slow client: a byte, then a look
                break
        else:
            pytest.fail("a whole request took 5 s at least, and the server never dropped its client")
        server.program.wait_for_line(DROPPED, anywhere=True)


# -- stream sockets: what only a connection has -----------------------------------------------------------------

SOCKET_SERVERS = [mechanism for mechanism in STREAM_SERVERS if isinstance(mechanism.family, int)]


@pytest.mark.parametrize("mechanism", SOCKET_SERVERS, ids=lambda mechanism: mechanism.name)
def test_the_error_line_arrives_however_much_the_client_sent_after_it(mechanism):
    """The server reads 4,096 bytes and refuses the line; if it then closed with the rest unread, the kernel would
    send a reset, and a reset can overtake the error line: the client would see ECONNRESET and never the reason."""
    with session(mechanism) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"a" * 200_000 + b"\n")  # all of it, even what comes after the refusal
        peer.end()
        assert peer.replies() == [TOO_LONG]


@needs("nc")
@pytest.mark.parametrize("mechanism", SOCKET_SERVERS, ids=lambda mechanism: mechanism.name)
def test_nc_sees_the_error_line(mechanism):
    """The README's own way to talk to a server by hand."""
    if subprocess.run(["nc", "-h"], capture_output=True, timeout=DEADLINE).stderr.find(b"OpenBSD") < 0:
        pytest.skip("this nc is not OpenBSD's: no -N")
    with session(mechanism) as server:
        where = (
            ["-U", server.fields["path"]]
            if mechanism.family == socket.AF_UNIX
            else [server.fields["host"], server.fields["port"]]
        )
        done = subprocess.run(["nc", "-N", *where], input=b"a" * 5000 + b"\n", capture_output=True, timeout=DEADLINE)
    assert done.stdout.decode() == TOO_LONG + "\n"


@pytest.mark.parametrize("mechanism", SOCKET_SERVERS, ids=lambda mechanism: mechanism.name)
def test_a_burst_of_clients_all_get_in_while_the_server_is_busy(mechanism):
    """listen(SOMAXCONN): the kernel completes every connection of the burst, and each waits its turn.
    With listen(5) it completes 6 (Linux: backlog + 1), then drops SYNs (TCP) or refuses with EAGAIN (Unix)."""
    with session(mechanism) as server, contextlib.closing(server.connect()) as busy:
        busy.send(b"hold on\n")
        assert busy.receive() == "1 HOLD ON"  # an iterative server is busy with this client now
        where = (
            server.fields["path"]
            if mechanism.family == socket.AF_UNIX
            else (server.fields["host"], int(server.fields["port"]))
        )
        burst = [socket.socket(mechanism.family, socket.SOCK_STREAM) for _ in range(50)]
        try:
            for sock in burst:
                sock.setblocking(False)
                assert sock.connect_ex(where) in (0, errno.EINPROGRESS)  # Unix: EAGAIN once the queue is full
            pending, end = list(burst), time.monotonic() + 5
            while pending and time.monotonic() < end:
                _, done, _ = select.select([], pending, [], end - time.monotonic())
                pending = [sock for sock in pending if sock not in done]
            assert not pending, f"{len(pending)} of {len(burst)} connections not completed after 5 s"
            assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for sock in burst)
        finally:
            for sock in burst:
                sock.close()


# -- datagram servers: what applies where a message is a datagram ------------------------------------------------


@pytest.fixture(
    params=[
        pytest.param(
            m,
            id=m.name,
            marks=pytest.mark.skipif(
                m.family == socket.AF_INET6 and bool(no_ipv6_loopback()), reason=str(no_ipv6_loopback())
            ),
        )
        for m in DATAGRAM_SERVERS
    ]
)
def datagrams(request) -> Mechanism:
    return request.param


def test_datagrams_a_conversation_per_address(datagrams):
    with (
        session(datagrams) as server,
        contextlib.closing(server.connect()) as a,
        contextlib.closing(server.connect()) as b,
    ):
        a.send(b"abc")
        assert a.receive() == "1 ABC"
        b.send(b"xyz")
        assert b.receive() == "1 XYZ"  # another address, another conversation
        a.send("Grüße".encode())
        assert a.receive() == "2 GRÜSSE"
        a.end()
        b.end()
        server.said(r"empty datagram from .*: the end of its conversation")


def test_datagrams_too_long_say_their_real_size(datagrams):
    with session(datagrams) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"x" * 5000)  # the server's buffer holds 4,096 bytes: recv(MSG_TRUNC) still tells the size
        assert peer.receive() == "error: message too long: a datagram of 5000 bytes, the limit is 4095 bytes"
        server.said(r"datagram of 5000 bytes from ")
        peer.send(b"x")
        assert peer.receive() == "1 X"  # the error ended that conversation: numbering starts afresh
        server.said(r"datagram of 1 byte from ")
        peer.end()


def test_datagrams_invalid_utf8(datagrams):
    with session(datagrams) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"\xff\xfe")
        assert peer.receive() == "error: message is not valid UTF-8: b'\\xff\\xfe'"


def test_a_strangers_empty_datagram_ends_no_conversation(datagrams):
    with Program(datagrams.script, *datagrams.args, "--clients", "1") as program:  # one conversation, then it exits
        session_ = Session(datagrams, program)
        with contextlib.closing(session_.connect()) as stranger:
            stranger.end()  # a goodbye from an address that never said hello
            program.wait_for_line(r"which has no conversation: ignored")
        with contextlib.closing(session_.connect()) as peer:
            peer.send(b"hello")
            assert peer.receive() == "1 HELLO"  # the server is still there for the one conversation it serves
            peer.end()
        assert program.finish()[0] == 0


def test_a_unix_datagram_client_that_never_reads_does_not_stop_the_server():
    """The kernel never drops a Unix datagram: a full receiver makes the sender wait. The server must not wait."""
    unix_dgram = next(m for m in DATAGRAM_SERVERS if m.family == socket.AF_UNIX)
    with session(unix_dgram) as server, contextlib.closing(server.connect()) as clogged:
        for number in range(40):  # four times what its queue holds (net.unix.max_dgram_qlen is 10 here)
            clogged.send(b"request %d" % number)
        server.said(r"dropped the answer to .*: its queue is full, it reads nothing")
        with contextlib.closing(server.connect()) as other:
            other.send(b"still there?")
            assert other.receive() == "1 STILL THERE?"
