"""One conformance suite, run over every server program (as trio runs check_one_way_stream over every stream).

The suite is ipc.check.suite, the very checks ``ipc check MECHANISM --server COMMAND`` runs over a student's
server: answer in order, however the bytes are cut; refuse a message that is cut short, too long or not UTF-8
with one error line; survive a client that resets, vanishes or idles; and then serve the next client. Here the
project's servers run it word for word (``strict``: each error line exactly), and must then exit 143 on
SIGTERM, without a traceback. Below it, what only the project's servers promise: they say what they did (a
reset, a dropped client), drop an idle or slow client after --idle, let a burst of clients in, and talk to nc.
What one mechanism alone teaches stays in its own test file.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import subprocess
import time

import pytest
from support import DEADLINE, needs

from ipc.catalog import no_ipv6_loopback
from ipc.check.failure import CheckFailed, CheckSkipped
from ipc.check.launch import Sandbox
from ipc.check.mechanisms import PROJECT_DATAGRAM_SERVERS, PROJECT_SERVERS, Target
from ipc.check.session import Session
from ipc.check.suite import TOO_LONG, checks_for


@contextlib.contextmanager
def session(target: Target, *server_args: str, next_client: bool = True):
    """The server for one test; at the end, whatever happened, it must still serve a new client, then end
    143 on SIGTERM, having said no traceback."""
    with Sandbox() as sandbox:
        running = Session(target, sandbox, deadline=DEADLINE, extra=server_args).start()
        yield running
        if next_client:
            running.serves_the_next_client()
        if running.server is not None:
            assert running.stop() == 143, running.server.lines
            assert not any("Traceback" in line for line in running.server.lines), running.server.lines


def _datagram(target: Target):
    ipv6 = target.name == "udp6" and bool(no_ipv6_loopback())
    return pytest.mark.skipif(ipv6, reason=str(no_ipv6_loopback()))


CASES = [
    pytest.param(target, check, id=f"{target.label}-{check.name}")
    for target in PROJECT_SERVERS
    for check in checks_for("stream")
] + [
    pytest.param(target, check, id=f"{target.label}-{check.name}", marks=_datagram(target))
    for target in PROJECT_DATAGRAM_SERVERS
    for check in checks_for("datagram")
]


@pytest.mark.parametrize("target,check", CASES)
def test_the_suite(target, check):
    """Each check of the suite, over each of the project's servers: as ipc check runs it, but word for word."""
    with session(target, next_client=False) as server:
        try:
            check.run(server, strict=True)  # then the next client, inside run()
        except CheckSkipped as skipped:
            pytest.skip(str(skipped))


# -- what the project's servers say, and their --idle ----------------------------------------------------------

STREAM = {target.label: target for target in PROJECT_SERVERS}
ITERATIVE_AND_CONCURRENT = [STREAM[name] for name in ("tcp", "unix", "fifo", "fork-server", "select-server", "files")]


@pytest.mark.parametrize("target", [STREAM[n] for n in ("tcp", "unix", "fifo", "fork-server", "select-server")],
                         ids=lambda target: target.label)  # fmt: skip
def test_a_peer_that_resets_is_named_in_the_servers_log(target):
    with session(target) as server:
        peer = server.connect()
        peer.send(b"hello\n")
        peer.reset()
        server.said(r"reset the connection|ConnectionResetError|before reading its answer")


def test_a_filter_whose_reader_left_ends_in_one_line():
    with Sandbox() as sandbox:
        server = Session(STREAM["stdio"], sandbox).start()
        peer = server.connect()
        peer.send(b"hello\n")
        peer.reset()  # that was its only conversation: it ends, in one line
        assert peer.code == 1 and peer.program.lines[-1].endswith("error: BrokenPipeError: Broken pipe")


DROPPED = r"no whole request|wrote nothing|kept us waiting"  # each server's words for an idle client it dropped


@pytest.mark.parametrize("target", ITERATIVE_AND_CONCURRENT, ids=lambda target: target.label)
def test_an_idle_client_is_dropped_after_idle_seconds(target):
    with session(target, "--idle", "0.5") as server, contextlib.closing(server.connect()) as idle:
        if target.mechanism.files:  # a file client exists only once its first request is there
            idle.send(b"hi\n")
            assert idle.receive() == "1 HI"
        server.said(DROPPED)  # then says nothing: dropped after half a second


@pytest.mark.parametrize("target", ITERATIVE_AND_CONCURRENT, ids=lambda target: target.label)
def test_a_slow_client_is_dropped_and_the_next_one_served(target):
    with session(target, "--idle", "0.5") as server, contextlib.closing(server.connect()) as slow:
        if target.mechanism.files:
            slow.send(b"hi\n")
            assert slow.receive() == "1 HI"
        for sent, byte in enumerate(b"hello, at one byte every tenth of a second, or slower\n"):
            try:
                slow.send(bytes([byte]))
            except CheckFailed:  # EPIPE, ECONNRESET: the server has hung up on it already
                break
            if target.concurrent and sent == 2:
                server.serves_the_next_client()  # in between: the slow one holds up no one
            with contextlib.suppress(AssertionError, CheckFailed):
                server.said(DROPPED, deadline=0.1)  # the pace of the slow client: a byte, then a look
                break
        else:
            pytest.fail("a whole request took 5 s at least, and the server never dropped its client")
        server.server.wait_for_line(DROPPED, DEADLINE, anywhere=True)


def test_a_file_client_that_vanishes_is_dropped_after_idle_seconds():
    with session(STREAM["files"], "--idle", "0.5") as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"hello\n")
        assert peer.receive() == "1 HELLO"
        peer.send(b"hal")  # and never the rest, nor the end marker
        server.said(DROPPED)


# -- stream sockets: what only a connection has -----------------------------------------------------------------

SOCKET_SERVERS = [target for target in PROJECT_SERVERS if target.mechanism.family is not None]


@needs("nc")
@pytest.mark.parametrize("target", SOCKET_SERVERS, ids=lambda target: target.label)
def test_nc_sees_the_error_line(target):
    """The README's own way to talk to a server by hand."""
    if subprocess.run(["nc", "-h"], capture_output=True, timeout=DEADLINE).stderr.find(b"OpenBSD") < 0:
        pytest.skip("this nc is not OpenBSD's: no -N")
    with session(target) as server:
        fields = server.fields
        where = (
            ["-U", fields["path"]] if target.mechanism.family == socket.AF_UNIX else [fields["host"], fields["port"]]
        )
        done = subprocess.run(["nc", "-N", *where], input=b"a" * 5000 + b"\n", capture_output=True, timeout=DEADLINE)
    assert done.stdout.decode() == TOO_LONG + "\n"


@pytest.mark.parametrize("target", SOCKET_SERVERS, ids=lambda target: target.label)
def test_a_burst_of_clients_all_get_in_while_the_server_is_busy(target):
    """listen(SOMAXCONN): the kernel completes every connection of the burst, and each waits its turn.
    With listen(5) it completes 6 (Linux: backlog + 1), then drops SYNs (TCP) or refuses with EAGAIN (Unix)."""
    with session(target) as server, contextlib.closing(server.connect()) as busy:
        busy.send(b"hold on\n")
        assert busy.receive() == "1 HOLD ON"  # an iterative server is busy with this client now
        family = target.mechanism.family
        where = (
            server.fields["path"] if family == socket.AF_UNIX else (server.fields["host"], int(server.fields["port"]))
        )
        burst = [socket.socket(family, socket.SOCK_STREAM) for _ in range(50)]
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


# -- datagram servers: what they say, and what only they promise ------------------------------------------------

DATAGRAM = [pytest.param(target, id=target.label, marks=_datagram(target)) for target in PROJECT_DATAGRAM_SERVERS]


@pytest.mark.parametrize("target", DATAGRAM)
def test_datagram_servers_say_what_they_saw(target):
    with session(target) as server, contextlib.closing(server.connect()) as peer:
        peer.send(b"x" * 5000)  # the server's buffer holds 4,096 bytes: recv(MSG_TRUNC) still tells the size
        assert peer.receive().startswith("error: message too long: a datagram of 5000 bytes")
        server.said(r"datagram of 5000 bytes from ")
        peer.send(b"x")
        assert peer.receive() == "1 X"
        server.said(r"datagram of 1 byte from ")
        peer.end()
        server.said(r"empty datagram from .*: the end of its conversation")


@pytest.mark.parametrize("target", DATAGRAM)
def test_a_strangers_empty_datagram_ends_no_conversation(target):
    with Sandbox() as sandbox:
        server = Session(target, sandbox, extra=("--clients", "1")).start()  # one conversation, then it exits
        with contextlib.closing(server.connect()) as stranger:
            stranger.end()  # a goodbye from an address that never said hello
            server.said(r"which has no conversation: ignored")
        with contextlib.closing(server.connect()) as peer:
            peer.send(b"hello")
            assert peer.receive() == "1 HELLO"  # the server is still there for the one conversation it serves
            peer.end()
        assert server.server.finish(DEADLINE) == 0


def test_a_unix_datagram_client_that_never_reads_does_not_stop_the_server():
    """The kernel never drops a Unix datagram: a full receiver makes the sender wait. The server must not wait."""
    unix_dgram = next(target for target in PROJECT_DATAGRAM_SERVERS if target.name == "unix-dgram")
    with session(unix_dgram) as server, contextlib.closing(server.connect()) as clogged:
        for number in range(40):  # four times what its queue holds (net.unix.max_dgram_qlen is 10 here)
            clogged.send(b"request %d" % number)
        server.said(r"dropped the answer to .*: its queue is full, it reads nothing")
        with contextlib.closing(server.connect()) as other:
            other.send(b"still there?")
            assert other.receive() == "1 STILL THERE?"
