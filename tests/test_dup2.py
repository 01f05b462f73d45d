"""dup2 + exec: a parent puts pipes on a server's stdin and stdout; the server knows only fds 0 and 1."""

import os
import re
import select
import subprocess
import time

import pytest

from ipc import catalog
from ipc.harness import run_demo
from support import Program, run_program


def read_line(fd: int, deadline: float = 5.0) -> bytes:
    """Read up to a newline, one byte at a time, with a deadline: raw os calls, as an independent client would."""
    end = time.monotonic() + deadline
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        assert ready, f"no whole line within {deadline} s; got {line!r}"
        byte = os.read(fd, 1)
        assert byte, f"end of file after {line!r}"
        line += byte
    return line


def test_dup2_demo_through_the_harness():
    result = run_demo(catalog.find(["dup2"])[0])
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
    assert texts[-1].startswith("end of file on fd 0")  # the parent closed its write end, and no copy was left open


def test_stdio_server_in_a_shell_pipeline():
    done = run_program("stdio_server.py", input=b"hello\nworld\n")  # like printf 'hello\nworld\n' | python ...
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"1 HELLO\n2 WORLD\n"  # stdout carries the answers and nothing else
    err = done.stderr.decode()
    assert "fd 0 is a pipe, fd 1 is a pipe" in err
    assert 'received "world"' in err and "end of file on fd 0" in err


def test_stdio_server_answers_each_line_as_it_arrives():
    with Program("stdio_server.py", stdin=subprocess.PIPE) as server:
        stdin, stdout = server.popen.stdin.fileno(), server.popen.stdout.fileno()
        os.write(stdin, b"abc\nd")  # one message and a half
        assert read_line(stdout) == b"1 ABC\n"  # answered while its stdin is still open
        os.write(stdin, b"ef\n")
        assert read_line(stdout) == b"2 DEF\n"
        code, rest, _ = server.finish()  # communicate() closes its stdin: end of file on the server's fd 0
        assert code == 0 and rest == ""
        assert any("end of file on fd 0" in line for line in server.lines)


@pytest.mark.parametrize("bad,why", [
    (b"hello\n\xff\xfe\n", "error: message is not valid UTF-8"),
    (b"hello\n" + b"x" * 5000 + b"\n", "error: message too long"),
    (b"hello\nhalf a mess", "error: stream ended in the middle of a message"),
])
def test_stdio_server_refuses_bad_input_with_one_error_line(bad, why):
    done = run_program("stdio_server.py", input=bad)
    assert done.returncode == 1
    answers = done.stdout.decode().splitlines()
    assert answers[0] == "1 HELLO" and answers[1].startswith(why) and len(answers) == 2
    err = done.stderr.decode().splitlines()
    assert re.fullmatch(r"server\[\d+\]: error: \w+: " + re.escape(why[len("error: "):]) + ".*", err[-1])
    assert b"Traceback" not in done.stderr


def test_dup2_parent_by_hand_with_its_own_messages():
    done = run_program("dup2_parent.py", "one", "two")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert 'received "1 ONE"' in err and 'received "2 TWO"' in err
    assert re.search(r"child \d+ exited with status 0", err)
