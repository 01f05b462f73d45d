"""Regular files: one file per message, written under a temporary name and renamed into place."""

import os
import re
import shutil
import tempfile
import time

import pytest

from ipc import catalog
from ipc.harness import run_demo
from support import Program, run_program


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
    result = run_demo(catalog.find(["files"])[0])
    assert result.ok, result.problems  # the harness also checked that the directory was left empty
    assert result.messages == 16  # two clients, one after the other
    server = [line.text for line in result.said("server")]
    assert server.count("request.5 is empty: the client's end marker") == 2  # after 4 requests, each client's end
    # Each conversation counts from 1 again: the second client's first answer is "1 HELLO" too.
    firsts = [line.text for line in result.said("client") if line.text.startswith("received")][::4]
    assert firsts == ['received "1 HELLO"', 'received "1 HELLO"']


def test_file_server_answers_an_independent_client():
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        assert stat_mode(directory) == 0o700  # a private directory
        put(directory, "request.1", b"abc\n")
        assert take(directory, "reply.1") == b"1 ABC\n"
        put(directory, "request.2", b"Gr\xc3\xbc\xc3\x9fe\n")
        assert take(directory, "reply.2") == "2 GRÜSSE\n".encode()
        put(directory, "request.3")  # empty: the end marker
        code, _, _ = server.finish()
        assert code == 0
        assert not os.path.exists(directory)


def test_file_server_never_reads_a_half_written_message():
    def nothing_happens_meanwhile():
        with pytest.raises(AssertionError, match="no line matching"):
            server.wait_for_line(r"\]: (received|error)", deadline=0.3)  # 30 polls go by: the .tmp file is not read

    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, "request.1", b"hel", b"lo wor", b"ld\n", between=nothing_happens_meanwhile)
        assert take(directory, "reply.1") == b"1 HELLO WORLD\n"
        put(directory, "request.2")  # empty: the end marker
        assert server.finish()[0] == 0


@pytest.mark.parametrize("bad,why", [
    (b"\xff\xfe\n", b"error: message is not valid UTF-8"),
    (b"x" * 5000, b"error: message too long"),
    (b"no newline", b"error: stream ended in the middle of a message"),
])
def test_file_server_answers_a_bad_request_with_an_error(bad, why):
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, "request.1", bad)
        reply = take(directory, "reply.1")
        assert reply.startswith(why) and reply.endswith(b"\n") and reply.count(b"\n") == 1
        code, _, _ = server.finish()  # it stopped answering that client: with --clients 1 it is done
        assert code == 0
        assert any("error from the client: " + why[len(b"error: "):].decode() in line for line in server.lines)
        assert not os.path.exists(directory)


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
    assert re.fullmatch(r"client\[\d+\]: error: FileNotFoundError: No such file or directory: .*/no-such-dir/request\.1\.tmp", last)
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
