"""Regular files: one file per message, written under a temporary name and renamed into place."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
from support import DEMOS, Program, run_demo_once, run_program

ME = "42"  # a client's names start with its pid; any number of our own does here


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
    ends = [text for text in server if re.fullmatch(r"\d+\.request\.5 is empty: the client's end marker", text)]
    assert len(ends) == 2  # after 4 requests, each client's end
    pids = sorted(str(line.pid) for line in result.said("client") if line.text.startswith("wrote an empty request"))
    assert sorted(text.split(".")[0] for text in ends) == pids  # each client's names start with its own pid
    # Each conversation counts from 1 again: the second client's first answer is "1 HELLO" too.
    firsts = [line.text for line in result.said("client") if line.text.startswith("received")][::4]
    assert firsts == ['received "1 HELLO"', 'received "1 HELLO"']


def test_file_server_never_reads_a_half_written_message():
    def nothing_happens_meanwhile():
        with pytest.raises(AssertionError, match="no line matching"):
            server.wait_for_line(r"\]: (received|error)", deadline=0.3)  # 30 polls go by: the .tmp file is not read

    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, f"{ME}.request.1", b"hel", b"lo wor", b"ld\n", between=nothing_happens_meanwhile)
        assert take(directory, f"{ME}.reply.1") == b"1 HELLO WORLD\n"
        put(directory, f"{ME}.request.2")  # empty: the end marker
        server.wait_for_line(rf"{ME}\.request\.2 is empty: the client's end marker")


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
        make(os.path.join(directory, f"{ME}.request.1"))
        assert take(directory, f"{ME}.reply.1").startswith(f"error: {ME}.request.1 is not a regular file".encode()), (
            what
        )
        server.wait_for_line(rf"error from client {ME}: {ME}\.request\.1 is not a regular file")
        put(directory, "7.request.1", b"next\n")
        assert take(directory, "7.reply.1") == b"1 NEXT\n"


def test_a_request_file_holding_two_messages_is_refused_not_half_answered():
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        put(directory, f"{ME}.request.1", b"one\ntwo\n")  # one file, one message: the second would be lost unanswered
        said = f"error: {ME}.request.1 holds more than one message: one file, one message\n"
        assert take(directory, f"{ME}.reply.1") == said.encode()


def test_a_server_given_a_directory_uses_it_and_refuses_one_that_is_not_empty():
    parent = tempfile.mkdtemp()
    try:
        made = os.path.join(parent, "files")
        with Program("file_server.py", "--dir", made) as server:
            assert server.ready() == {"dir": made} and stat_mode(made) == 0o700
            put(made, f"{ME}.request.1", b"hello\n")
            assert take(made, f"{ME}.reply.1") == b"1 HELLO\n"
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
        put(directory, f"{ME}.request.1", b"hello\n")
        assert take(directory, f"{ME}.reply.1") == b"1 HELLO\n"
        put(directory, f"{ME}.request.2.tmp", b"a message abandoned half way")  # as a client killed mid-write leaves
        assert server.stop() == 143  # SIGTERM (128 + 15): the finally block removes the directory and all in it
        assert not os.path.exists(directory)


def test_file_client_with_a_wrong_dir_says_so_in_one_line():
    missing = os.path.join(tempfile.gettempdir(), "no-such-dir")
    done = run_program("file_client.py", "--dir", missing)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(
        r"client\[\d+\]: error: FileNotFoundError: No such file or directory: .*/no-such-dir/\d+\.request\.1\.tmp", last
    )
    assert b"Traceback" not in done.stderr


def test_file_client_gives_up_when_no_server_answers():
    directory = tempfile.mkdtemp()
    try:
        started = time.monotonic()
        done = run_program("file_client.py", "--dir", directory, "--timeout", "0.3")
        assert time.monotonic() - started < 5
        assert os.listdir(directory) == []  # its request, never answered: removed as it gave up
    finally:
        shutil.rmtree(directory)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: TimeoutError: no \d+\.reply\.1 within 0\.3 s: is a server .*\?", last)
    assert b"Traceback" not in done.stderr


def test_racing_clients_each_get_their_own_answers():
    """Two clients started at the same moment, ten times: once, 14 of 20 such pairs failed, one client
    reading the other's answers (both used request.1, reply.1, ...). Now each uses names of its own."""
    with Program("file_server.py") as server:
        directory = server.ready()["dir"]
        for pair in range(10):
            clients = [
                subprocess.Popen(
                    [sys.executable, str(DEMOS / "file_client.py"), "--dir", directory, f"pair {pair} client {c}", "x"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for c in (1, 2)
            ]
            done = [client.communicate(timeout=20) for client in clients]
            assert [client.returncode for client in clients] == [0, 0], [err.decode() for _, err in done]
            for c, (_, err) in zip((1, 2), done):
                assert f'received "1 PAIR {pair} CLIENT {c}"'.encode() in err  # its own answer, not the other's
        assert server.stop() == 143


@pytest.mark.parametrize("name", ["{me}.reply.1.tmp", "{me}.reply.2.tmp"])
def test_a_symlink_planted_where_the_server_writes_is_not_written_through(name):
    victim_dir = tempfile.mkdtemp()
    victim = os.path.join(victim_dir, "victim")
    with open(victim, "wb") as file:
        file.write(b"precious\n")
    try:
        with Program("file_server.py") as server:
            directory = server.ready()["dir"]
            os.symlink(victim, os.path.join(directory, name.format(me=ME)))  # planted before the server writes
            put(directory, f"{ME}.request.1", b"hello\n")
            if name.endswith("2.tmp"):
                assert take(directory, f"{ME}.reply.1") == b"1 HELLO\n"
                put(directory, f"{ME}.request.2", b"again\n")
            server.wait_for_line(
                rf"client {ME}: FileExistsError: File exists: .*/{re.escape(name.format(me=ME))}: dropped"
            )
            assert os.listdir(directory) == []  # the planted link removed with the client's files (not its target)
            put(directory, "7.request.1", b"next\n")
            assert take(directory, "7.reply.1") == b"1 NEXT\n"
        with open(victim, "rb") as file:
            assert file.read() == b"precious\n"
    finally:
        shutil.rmtree(victim_dir)


def stat_mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777
