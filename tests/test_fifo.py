"""FIFOs: a server and a client that share no parent meet at two named pipes."""

import errno
import os
import re
import select
import stat
import tempfile
import time

import pytest

from ipc import catalog
from ipc.harness import run_demo
from support import Program, run_program


def open_for_writing(path: str, deadline: float = 5.0) -> int:
    """open(O_WRONLY) with a deadline: with O_NONBLOCK it fails with ENXIO while no reader has it open."""
    end = time.monotonic() + deadline
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO or time.monotonic() > end:
                raise
            time.sleep(0.005)  # the server logs "opening" just before its open(): poll until it is in it
            continue
        os.set_blocking(fd, True)
        return fd


def read_all(fd: int, deadline: float = 5.0) -> bytes:
    """Read until end of file, each read with a deadline."""
    end = time.monotonic() + deadline
    data = b""
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        assert ready, f"nothing more within {deadline} s after {data!r}"
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk


def converse_by_hand(server: Program, directory: str, *chunks: bytes) -> bytes:
    """Be a client with raw os calls: open both FIFOs, write the chunks, close, return all the replies."""
    requests = open_for_writing(os.path.join(directory, "requests"))
    try:
        # A non-blocking open for reading succeeds even with no writer, so wait until the server says it
        # opened its end: before that, a read would return b"" at once.
        replies = os.open(os.path.join(directory, "replies"), os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        os.close(requests)
        raise
    try:
        try:
            server.wait_for_line(r"opened replies FIFO")
            os.set_blocking(replies, True)
            for chunk in chunks:
                os.write(requests, chunk)
        finally:
            os.close(requests)  # end of file for the server
        return read_all(replies)  # until the server closes its end
    finally:
        os.close(replies)


def test_fifo_demo_through_the_harness():
    result = run_demo(catalog.find(["fifo"])[0])
    assert result.ok, result.problems
    assert result.messages == 8
    texts = [f"{line.role}: {line.text}" for line in result.lines]
    opening = texts.index("server: opening requests FIFO for reading: blocks until a writer opens it")
    client_opening = texts.index("client: opening requests FIFO for writing: blocks until the server opens it for reading")
    opened = next(i for i, text in enumerate(texts) if text.startswith("server: opened requests FIFO after"))
    # The server's open() returned only once the client had come to open its end. (Which of the two said
    # "opening" first is a race between their start-ups; the by-hand test below holds the client back.)
    assert opening < opened and client_opening < opened
    client_replies = texts.index("client: opening replies FIFO for reading: blocks until the server opens it for writing")
    opened_replies = next(i for i, text in enumerate(texts) if text.startswith("server: opened replies FIFO after"))
    assert client_replies < opened_replies
    last = [line.text for line in result.said("server")[-3:]]
    assert last[0] == "end of file: the client closed the requests FIFO"
    assert [text.rsplit("/", 1)[-1] for text in last[1:]] == ["requests", "replies"]
    assert all(text.startswith("removed /") for text in last[1:])  # logged, like the socket servers' unlink


def test_fifo_server_blocks_in_open_until_a_client_opens_the_other_end():
    with Program("fifo_server.py") as server:
        server.wait_for_line(r"opening requests FIFO for reading")
        directory = server.ready()["dir"]
        with pytest.raises(AssertionError, match="no line matching"):
            server.wait_for_line(r"opened requests FIFO", deadline=0.5)  # no writer yet: still inside open()
        assert converse_by_hand(server, directory, b"now\n") == b"1 NOW\n"
        assert server.finish()[0] == 0


def test_fifo_server_answers_an_independent_client_twice():
    with Program("fifo_server.py", "--clients", "2") as server:
        directory = server.ready()["dir"]
        assert stat.S_ISFIFO(os.stat(os.path.join(directory, "requests")).st_mode)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700  # a private directory
        assert converse_by_hand(server, directory, b"abc\nd", b"ef\n") == b"1 ABC\n2 DEF\n"
        # The first "opening" line was read before "opened replies"; forget it and wait for the second, which the
        # server prints once it has closed the first client's FIFOs (opening before that would join the old ones).
        server.lines.clear()
        server.wait_for_line(r"opening requests FIFO for reading")
        assert converse_by_hand(server, directory, b"again\n") == b"1 AGAIN\n"  # a new conversation counts from 1
        code, _, _ = server.finish()
        assert code == 0
        assert not os.path.exists(directory)  # FIFOs and directory removed


def test_fifo_server_answers_bad_bytes_with_an_error_and_hangs_up():
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        replies = converse_by_hand(server, directory, b"ok\n\xff\xfe\n")
        assert replies.startswith(b"1 OK\nerror: message is not valid UTF-8") and replies.count(b"\n") == 2
        code, _, _ = server.finish()
        assert code == 0
        assert any(re.search(r"error from the client: message is not valid UTF-8", line) for line in server.lines)


def test_fifo_server_removes_its_fifos_when_stopped_while_waiting_for_a_client():
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        assert os.path.exists(directory)
        assert server.stop() == 143  # SIGTERM (128 + 15) interrupts the blocked open(); the finally block runs
        assert not os.path.exists(directory)


def test_fifo_client_with_a_wrong_dir_says_so_in_one_line():
    missing = os.path.join(tempfile.gettempdir(), "no-such-dir")
    done = run_program("fifo_client.py", "--dir", missing)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: FileNotFoundError: No such file or directory: .*/no-such-dir/requests", last)
    assert b"Traceback" not in done.stderr


def test_fifo_client_gives_up_on_fifos_nobody_serves():
    directory = tempfile.mkdtemp()
    try:
        for name in ("requests", "replies"):
            os.mkfifo(os.path.join(directory, name))  # as a server killed with SIGKILL would leave them
        started = time.monotonic()
        done = run_program("fifo_client.py", "--dir", directory, "--timeout", "0.5")
        assert time.monotonic() - started < 5
    finally:
        for name in ("requests", "replies"):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: TimeoutError: nothing from the server within 0.5 s: .*", last)
    assert b"Traceback" not in done.stderr
