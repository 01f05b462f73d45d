"""Lessons on streams and datagrams: each demo through the harness, its
programs by hand, and the demos' checks shown to fail when the behaviour is
missing. (Facts of the kernel alone are not tested here: only what the
project's programs do with them.)"""

from __future__ import annotations

import dataclasses
import re
import socket
import sys

import pytest
from support import Program, run_demo_once, run_program

from ipc import catalog
from ipc.protocol import encode
from ipc.stream import MessageReader
from ipc.transcript import Transcript

LINUX = sys.platform.startswith("linux")


def demo(name: str):
    return catalog.find([name])[0]


def run(name: str):
    result = run_demo_once(name)
    assert result.ok, result.problems
    return result


def texts(result, role: str) -> list[str]:
    return [line.text for line in result.said(role)]


def without(result, pattern: str):
    """The same result with the lines matching pattern removed: what a check sees if that never happened."""
    return Transcript([line for line in result.lines if not re.search(pattern, line.text)])


def edited(result, old: str, new: str):
    return Transcript([dataclasses.replace(line, text=line.text.replace(old, new)) for line in result.lines])


# -- 1. no message boundaries on a stream -------------------------------------------------------


def test_boundaries_demo_provokes_all_four_reads_and_frames_them():
    result = run("boundaries")
    reader = texts(result, "reader")
    first = [re.search(r"^round (\d): recv\((\d+)\) -> (\d+) bytes .*?: (.+?) \(", t) for t in reader]
    first = [(int(m[1]), int(m[2]), int(m[3]), m[4]) for m in first if m]
    assert first == [
        (1, 3, 3, "part of the first chunk"),
        (2, 4096, 6, "exactly the first chunk"),  # asked for 4096, got what had been written: chunk 1
        (3, 10, 10, "the first chunk and part of the second"),
        (4, 4096, 19, "both chunks"),  # two send()s, one recv()
    ]
    assert [t for t in reader if t.startswith("received")] == ['received "hello"', 'received "how are you?"'] * 4
    assert len({line.pid for line in result.lines}) == 2  # the writer is another process


def test_boundaries_check_fails_when_a_case_was_not_seen():
    result = run("boundaries")
    check = demo("boundaries").check
    assert check(result.transcript) == []
    assert any("both chunks" in p for p in check(without(result, r"both chunks")))
    assert check(edited(result, "-> 19 bytes", "-> 18 bytes"))  # a label that does not fit the count
    assert check(without(result, r'received "how are you\?"'))


def test_boundaries_by_hand():
    done = run_program("stream_boundaries.py")
    assert done.returncode == 0, done.stderr
    assert b"the lines came out the same every round" in done.stderr
    assert re.search(rb"writer \d+ exited with status 0", done.stderr)


# -- 2. datagrams keep boundaries; truncation, loss, order --------------------------------------


def burst_counts(result) -> tuple[int, int, int, int | None]:
    line = next(t for t in texts(result, "receiver") if t.startswith("burst:"))
    m = re.search(r"sent (\d+), received (\d+), lost (\d+)(?: \(the kernel counted (\d+) drops\))?", line)
    return int(m[1]), int(m[2]), int(m[3]), None if m[4] is None else int(m[4])


def test_datagrams_demo_shows_boundaries_truncation_loss_and_reordering():
    result = run("datagrams")
    receiver = texts(result, "receiver")
    assert [t for t in receiver if t.startswith("received")] == [
        'received "hello"',
        'received "how are you?"',
        'received "Grüße aus der Pipe"',
    ]
    assert any(t.startswith("truncated: kept 16 of 64 bytes (MSG_TRUNC), lost 48") for t in receiver)
    sent, received, lost, dropped = burst_counts(result)
    assert sent == 200 and received > 0 and lost > 0 and received + lost == sent
    if LINUX:  # the kernel's own count (SO_RXQ_OVFL) of what it threw away
        assert dropped is not None and 0 < dropped <= lost
    assert "through the relay: arrival order 2, 1, 4, 3: out of order" in receiver


def test_datagrams_check_fails_without_loss_or_truncation():
    result = run("datagrams")
    check = demo("datagrams").check
    assert check(result.transcript) == []
    sent, received, lost, dropped = burst_counts(result)
    no_loss = edited(result, f"received {received}, lost {lost}", f"received {sent}, lost 0")
    assert any("did not show loss" in p for p in check(no_loss))
    assert check(edited(result, "(MSG_TRUNC)", "(no MSG_TRUNC flag)"))
    assert check(edited(result, "relay: arrival order 2, 1, 4, 3", "relay: arrival order 1, 2, 3, 4"))


def test_datagrams_by_hand_refuses_a_bad_burst():
    done = run_program("datagram_boundaries.py", "--burst", "0")
    assert done.returncode == 2
    assert b"argument --burst: 0 is out of range: 1 to 100000" in done.stderr
    assert b"Traceback" not in done.stderr


# -- 3. broken pipe: SIGPIPE or EPIPE -----------------------------------------------------------


def test_sigpipe_demo_shows_the_signal_the_shells_141_and_epipe():
    result = run("sigpipe")
    parent = texts(result, "parent")
    killed = [t for t in parent if "was killed by signal 13 (SIGPIPE): a shell reports 141" in t]
    assert [t.split(",")[0] for t in killed] == ["pipe write()", "socket send()"]
    lived = [t.split(":")[0] for t in texts(result, "writer") if "BrokenPipeError: errno 32 (EPIPE)" in t]
    expected = ["pipe write(), SIGPIPE SIG_IGN", "socket send(), SIGPIPE SIG_IGN"]
    if hasattr(socket, "MSG_NOSIGNAL"):
        expected.append("socket send(MSG_NOSIGNAL), SIGPIPE SIG_DFL")
    assert lived == expected
    assert any(t.endswith("restore_signals=True: the shell printed 141") for t in parent)


def test_sigpipe_check_fails_when_the_writer_was_not_killed():
    result = run("sigpipe")
    check = demo("sigpipe").check
    assert check(result.transcript) == []
    assert check(edited(result, "was killed by signal 13 (SIGPIPE)", "exited with status 0"))
    assert check(edited(result, "the shell printed 141", "the shell printed 0"))


# -- 8. full duplex and half-close --------------------------------------------------------------


def test_half_close_demo_moves_both_ways_at_once_and_answers_after_eof():
    result = run("half-close")
    client = texts(result, "client")
    overlap = next(
        re.search(r"^sent all (\d+) requests; meanwhile (\d+) answers had come back", t)
        for t in client
        if t.startswith("sent all")
    )
    assert int(overlap[1]) == 2000 and int(overlap[2]) > 0
    assert 'received "after your end of file: 2000 answered"' in client
    server = texts(result, "server")
    eof = next(i for i, t in enumerate(server) if t.startswith("end of file from"))
    assert server[eof + 1] == 'sent "after your end of file: 2000 answered"'  # sent after the EOF


def test_half_close_check_fails_without_overlap_or_after_eof_line():
    result = run("half-close")
    check = demo("half-close").check
    assert check(result.transcript) == []
    assert check(without(result, r"^shutdown\(SHUT_WR\)"))
    assert check(without(result, r'^sent "after your end of file'))
    zero = [
        dataclasses.replace(line, text=re.sub(r"meanwhile \d+ answers", "meanwhile 0 answers", line.text))
        for line in result.lines
    ]
    assert any("full duplex not shown" in p for p in check(Transcript(zero)))


def test_half_close_server_still_answers_after_an_independent_clients_shutdown():
    with Program("half_close_server.py", "--clients", "1") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"one\ntw")
            sock.sendall(b"o\n")
            sock.shutdown(socket.SHUT_WR)  # our end of file; our reading side stays open
            with pytest.raises(BrokenPipeError):
                sock.send(b"too late\n")  # this direction is closed for good
            answers = b""
            while chunk := sock.recv(4096):
                answers += chunk
        assert answers == b"1 ONE\n2 TWO\nafter your end of file: 2 answered\n"
        code, _, _ = server.finish()
        assert code == 0
    assert any("end of file from" in line for line in server.lines)


def test_half_close_server_survives_a_client_that_closes_both_ways():
    with Program("half_close_server.py", "--clients", "2") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as rude:
            rude.sendall(b"hi\n")  # then close(): it will never read the answers
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"still there?\n")
            sock.shutdown(socket.SHUT_WR)
            answers = b""
            while chunk := sock.recv(4096):  # a stream: the two lines may come in one read or two
                answers += chunk
        assert answers == b"1 STILL THERE?\nafter your end of file: 1 answered\n"
        code, _, _ = server.finish()
        assert code == 0


def test_half_close_server_answers_bad_bytes_with_an_error():
    with Program("half_close_server.py", "--clients", "1") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\xff\xfe\n")
            reader = MessageReader(sock.recv)  # a stream: the line may come in pieces
            assert reader.receive().startswith("error: message is not valid UTF-8")
            assert reader.receive() is None
        code, _, _ = server.finish()
        assert code == 0


def test_with_small_buffers_a_client_that_never_reads_gets_stuck():
    """Why the demo's client reads while it writes: alone, the writing stops once the buffers are full."""
    with Program("half_close_server.py", "--clients", "1", "--buffer", "4096") as server:
        port = int(server.ready()["port"])
        sock = socket.socket()
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.settimeout(0.5)  # a deadline to notice the stall, not a wait for an event
            data = b"".join(encode(f"request {n} of 50000") for n in range(50000))  # about 1.2 MB
            sent = 0
            with pytest.raises(socket.timeout):  # TimeoutError from Python 3.10 on
                while sent < len(data):
                    sent += sock.send(data[sent : sent + 65536])
        assert 0 < sent < len(data) // 4  # both ways filled up: the server blocked sending its answers
        server.stop()


def test_half_close_client_says_clearly_when_nobody_listens():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        done = run_program("half_close_client.py", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.decode().strip().endswith("ConnectionRefusedError: Connection refused")
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    "script,args",
    [("half_close_client.py", ("--port", "1", "--count", "-5")), ("half_close_server.py", ("--buffer", "-5"))],
)
def test_half_close_programs_refuse_negative_sizes(script, args):
    done = run_program(script, *args)
    assert done.returncode == 2
    assert b"-5 is out of range: 0 to " in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize("script", ["half_close_client.py", "half_close_server.py"])
def test_half_close_programs_refuse_a_port_that_does_not_fit_16_bits(script):
    done = run_program(script, "--port", "70000")  # as a C unsigned short it would wrap to 4464
    assert done.returncode == 2
    assert b"70000 is not a port: a port is 16 bits, 0 to 65535" in done.stderr and b"Traceback" not in done.stderr
