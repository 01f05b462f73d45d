"""Regular files: one file per message, written under a temporary name and renamed into place."""

import os
import re
import shutil
import tempfile
import time

import pytest
from support import Program, run_demo_once, run_program


def put(directory: str, name: str, *parts: bytes, between=None) -> None:
    """Write a file as "name.tmp" (in parts, calling between() after each but the last), then rename it."""
    temporary = os.path.join(directory, name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for i, part in enumerate(parts):
            os.write(fd, part)
            if between and i < len(parts) - 1:
                between()
    finally:
        os.close(fd)
    os.rename(temporary, os.path.join(directory, name))


def take(directory: str, name: str, deadline: float = 5.0) -> bytes:
    """Poll for the file (a regular file cannot wake us), read it whole, delete it."""
    path = os.path.join(directory, name)
    end = time.monotonic() + deadline
    while not os.path.exists(path):
        assert time.monotonic() < end, f"no {name} within {deadline} s; the directory holds {os.listdir(directory)}"
        time.sleep(0.005)
    with open(path, "rb") as file:
        data = file.read()
    os.unlink(path)
    return data


def test_files_demo_through_the_harness():
    result = run_demo_once("files")
    assert result.ok, result.problems  # the harness also checked that the directory was left empty
    assert result.messages == 16  # two clients, one after the other
    server = [line.text for line in result.said("server")]
    assert server.count("request.5 is empty: the client's end marker") == 2  # after 4 requests, each client's end
    # Each conversation counts from 1 again: the second client's first answer is "1 HELLO" too.
    firsts = [line.text for line in result.said("client") if line.text.startswith("received")][::4]
    assert firsts == ['received "1 HELLO"', 'received "1 HELLO"']


def test_file_server_never_reads_a_half_written_message():
    def nothing_happens_meanwhile():
        with pytest.raises(AssertionError, match="no line matching"):
            server.wait_for_line(r"\]: (received|error)", deadline=0.3)  # 30 polls go by: the .tmp file is not read

    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, "request.1", b"hel", b"lo wor", b"ld\n", between=nothing_happens_meanwhile)
        assert take(directory, "reply.1") == b"1 HELLO WORLD\n"
        put(directory, "request.2")  # empty: the end marker
        server.wait_for_line(r"request\.2 is empty: the client's end marker")


@pytest.mark.parametrize(
    "make,what",
    [
        (lambda path: os.mkdir(path), "a directory"),
        (lambda path: os.mkfifo(path), "a FIFO"),  # opened without O_NONBLOCK, it would block the server for good
        (lambda path: os.symlink("/etc/hostname", path), "a symbolic link"),
    ],
)
def test_a_request_that_is_not_a_regular_file_is_refused_and_the_server_goes_on(make, what):
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        make(os.path.join(directory, "request.1"))
        assert take(directory, "reply.1").startswith(b"error: request.1 is not a regular file"), what
        server.wait_for_line(r"error from the client: request\.1 is not a regular file")
        put(directory, "request.1", b"next\n")
        assert take(directory, "reply.1") == b"1 NEXT\n"


def test_a_request_file_holding_two_messages_is_refused_not_half_answered():
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, "request.1", b"one\ntwo\n")  # one file, one message: the second would be lost unanswered
        assert take(directory, "reply.1") == b"error: request.1 holds more than one message: one file, one message\n"


def test_a_server_given_a_directory_uses_it_and_refuses_one_that_is_not_empty():
    parent = tempfile.mkdtemp()
    try:
        made = os.path.join(parent, "files")
        with Program("file_server.py", "--dir", made) as server:
            assert server.ready() == {"dir": made} and stat_mode(made) == 0o700
            put(made, "request.1", b"hello\n")
            assert take(made, "reply.1") == b"1 HELLO\n"
            assert server.stop() == 143
        assert not os.path.exists(made)  # it made it: it removed it
        open(os.path.join(parent, "stray"), "w").close()
        done = run_program("file_server.py", "--dir", parent)
        assert done.returncode == 1
        assert done.stderr.decode().endswith(
            f"error: FileExistsError: {parent} is not empty: its files would pass for a client's messages\n"
        )
        os.unlink(os.path.join(parent, "stray"))
    finally:
        os.rmdir(parent)


def test_file_server_cleans_up_when_stopped():
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, "request.1", b"hello\n")
        assert take(directory, "reply.1") == b"1 HELLO\n"
        put(directory, "request.2.tmp", b"a message abandoned half way")  # as a client killed mid-write leaves
        assert server.stop() == 143  # SIGTERM (128 + 15): the finally block removes the directory and all in it
        assert not os.path.exists(directory)


def test_file_client_with_a_wrong_dir_says_so_in_one_line():
    missing = os.path.join(tempfile.gettempdir(), "no-such-dir")
    done = run_program("file_client.py", "--dir", missing)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(
        r"client\[\d+\]: error: FileNotFoundError: No such file or directory: .*/no-such-dir/request\.1\.tmp", last
    )
    assert b"Traceback" not in done.stderr


def test_file_client_gives_up_when_no_server_answers():
    directory = tempfile.mkdtemp()
    try:
        started = time.monotonic()
        done = run_program("file_client.py", "--dir", directory, "--timeout", "0.3")
        assert time.monotonic() - started < 5
        assert os.listdir(directory) == ["request.1"]  # written whole, never answered
    finally:
        shutil.rmtree(directory)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: TimeoutError: no reply\.1 within 0\.3 s: is a server using .*\?", last)
    assert b"Traceback" not in done.stderr


def stat_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777
