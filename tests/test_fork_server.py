"""The concurrent server: fork per client, the connected socket dup2'd onto fds 0 and 1, exec."""

import re
import signal
import socket

from peers import SocketPeer
from support import Program, run_demo_once, run_program


def forked_and_reaped(lines):
    """The children the server said it forked, and {child: exit status} of those it reaped."""
    forked = [int(m[1]) for line in lines if (m := re.search(r"forked child (\d+)$", line))]
    reaped = {
        int(m[1]): int(m[2]) for line in lines if (m := re.search(r"child (\d+) exited with status (-?\d+)$", line))
    }
    return forked, reaped


def test_fork_server_through_the_harness():
    result = run_demo_once("fork-server")
    assert result.ok, result.problems
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    listening = {line.pid for line in result.said("server") if line.text.startswith("ready:")}
    talking = {line.pid for line in result.said("server") if re.match(r"(sent|received) ", line.text)}
    assert len(listening) == 1
    assert len(talking) == 2 and not talking & listening  # each client served by a child of its own
    texts = [line.text for line in result.said("server")]
    assert sum(text == "fd 0 is a socket, fd 1 is a socket" for text in texts) == 2  # stdio_server, exec'd
    forked, reaped = forked_and_reaped(texts)
    assert set(forked) == talking and reaped == {pid: 0 for pid in forked}  # every child reaped: no zombie


def test_a_second_client_is_answered_while_the_first_is_idle_and_each_reads_eof_from_its_child():
    with Program("fork_server.py", "--clients", "2") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        with SocketPeer(socket.AF_INET, where) as first, SocketPeer(socket.AF_INET, where) as second:
            server.wait_for_line(rf"accepted .* <- 127\.0\.0\.1:{first.sock.getsockname()[1]}; forked child")
            second.send(b"second\n")  # the first has said nothing: a one-at-a-time server would wait on it
            assert second.receive() == "1 SECOND"
            first.send(b"first\n")
            assert first.receive() == "1 FIRST"
            second.end()
            assert second.receive() is None  # its child read EOF and exited: the parent had closed its copy
            first.end()
            assert first.receive() is None
        code, _, _ = server.finish()
    assert code == 0
    forked, reaped = forked_and_reaped(server.lines)
    assert len(set(forked)) == 2 and reaped == {pid: 0 for pid in forked}


def test_a_bad_request_ends_one_child_while_another_keeps_working():
    with Program("fork_server.py", "--clients", "2") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        with SocketPeer(socket.AF_INET, where) as good, SocketPeer(socket.AF_INET, where) as bad:
            bad.send(b"\xff\xfe\n")
            assert bad.replies()[0].startswith("error: message is not valid UTF-8")  # then end of file, from the
            good.send(b"still there?\n")  # child alone: the parent, still running, closed its copy long ago
            assert good.receive() == "1 STILL THERE?"
        code, _, _ = server.finish()
    assert code == 0  # a child's failure is the child's: the server goes on
    _, reaped = forked_and_reaped(server.lines)
    assert sorted(reaped.values()) == [0, 1]
    assert any("error: InvalidText: message is not valid UTF-8" in line for line in server.lines)


def test_stopping_the_server_stops_and_reaps_its_busy_children():
    with Program("fork_server.py") as server:  # forever
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            server.wait_for_line("fd 0 is a socket")  # the child runs stdio_server, waiting on its client
            server.popen.send_signal(signal.SIGTERM)  # only the parent, as `kill PID` would
            code, _, _ = server.finish()
            assert sock.recv(4096) == b""  # the child was stopped: the connection closed
    assert code == 143  # 128 + SIGTERM
    forked, reaped = forked_and_reaped(server.lines)
    assert len(forked) == 1 and reaped == {forked[0]: 143}  # the child, stopped by SIGTERM, was reaped


def test_a_port_out_of_range_is_a_usage_error():
    done = run_program("fork_server.py", "--port", "70000")
    assert done.returncode == 2
    assert b"70000 is not a port" in done.stderr
