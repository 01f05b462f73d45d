"""dup2 + exec: a parent puts pipes on a server's stdin and stdout; the server knows only fds 0 and 1."""

import os
import re
import socket
import subprocess
import sys
import tempfile

import pytest
from support import ROOT, run_demo_once, run_program


def test_dup2_demo_through_the_harness():
    result = run_demo_once("dup2")
    assert result.ok, result.problems
    assert result.messages == 8
    parent = {line.pid for line in result.said("client")}
    server = {line.pid for line in result.said("server")}
    assert len(parent) == 1 and len(server) == 1 and parent != server
    forked = re.search(r"forked child (\d+)", result.said("client")[0].text)
    assert forked and int(forked.group(1)) in server  # exec kept the pid: the child became the server
    texts = [line.text for line in result.said("server")]
    assert texts[0].startswith("fds 0 and 1 are the pipes now; exec'ing")  # said by the child, before exec
    assert texts[1] == "fd 0 is a pipe, fd 1 is a pipe"  # said by stdio_server.py, after exec
    assert (
        texts[-1] == "end of file on fd 0 (a pipe): every write end of the pipe is closed"
    )  # the parent's, and no copy


def test_stdio_server_in_a_shell_pipeline():
    done = run_program("stdio_server.py", input=b"hello\nworld\n")  # like printf 'hello\nworld\n' | python ...
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"1 HELLO\n2 WORLD\n"  # stdout carries the answers and nothing else
    err = done.stderr.decode()
    assert "fd 0 is a pipe, fd 1 is a pipe" in err
    assert 'received "world"' in err and "end of file on fd 0 (a pipe): every write end of the pipe is closed" in err


def test_dup2_parent_by_hand_with_its_own_messages():
    done = run_program("dup2_parent.py", "one", "two")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert 'received "1 ONE"' in err and 'received "2 TWO"' in err
    assert re.search(r"child \d+ exited with status 0", err)


@pytest.mark.parametrize(
    "stdin,says",
    [
        ("file", "end of file on fd 0 (a regular file): the whole file has been read"),
        ("devnull", "end of file on fd 0 (/dev/null): /dev/null reads as empty, always"),
        ("socket", "end of file on fd 0 (a socket): the peer shut down its sending side"),
    ],
)
def test_stdio_server_says_what_end_of_file_meant_for_what_fd_0_is(stdin, says):
    """Issue 9: `stdio_server.py < requests.txt` said "whoever wrote to it closed it", true only of a pipe."""
    if stdin == "file":
        source = tempfile.TemporaryFile()
        source.write(b"hello\n")
        source.seek(0)
    elif stdin == "devnull":
        source = open(os.devnull, "rb")
    else:
        source, ours = socket.socketpair()
        ours.sendall(b"hello\n")
        ours.shutdown(socket.SHUT_WR)
        ours.close()
    with source:
        done = subprocess.run(
            [sys.executable, str(ROOT / "demos" / "stdio_server.py")], stdin=source, capture_output=True, timeout=10
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().splitlines()[-1].endswith("]: " + says)


@pytest.mark.parametrize("closed", ["<&-", ">&-", "<&- >&-"])
def test_dup2_parent_works_with_fd_0_or_1_closed(closed):
    """Issue 9: with fd 0 closed, pipe() returns fd 0 itself; dup2(0, 0) then close(0) lost the pipe."""
    done = subprocess.run(
        ["sh", "-c", f'exec "$0" "$1" one two {closed}', sys.executable, str(ROOT / "demos" / "dup2_parent.py")],
        capture_output=True,
        timeout=10,
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert 'received "2 TWO"' in err and "Bad file descriptor" not in err
