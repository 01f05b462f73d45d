"""Unix-domain datagram sockets: both sides need a path, and both files must go."""

import json
import os
import re
import signal
import socket
import stat
import tempfile

from support import Program, run_demo_once, run_program

from ipc.protocol import MAX_MESSAGE_BYTES

DATAGRAM = re.compile(r"^datagram of (\d+) bytes? from (.+)$")


def test_unix_dgram_demo_through_the_harness():
    result = run_demo_once("unix-dgram")
    assert result.ok, result.problems  # ok includes: no socket file left in the harness's temporary directory
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    server_path = result.said("server")[1].text.removeprefix("ready: path=")
    talks = [line.text.split(" (")[0].split(" -> ") for line in result.said("client") if " -> " in line.text]
    clients = [own for own, peer in talks]
    assert [peer for own, peer in talks] == [server_path] * 2
    assert len(set(clients)) == 2 and all(path.endswith("/client.sock") for path in clients)

    server = [line.text for line in result.said("server")]
    senders = []
    for i, text in enumerate(server):
        if text.startswith("received "):  # each message came in one recvfrom() of exactly its own size
            size, sender = DATAGRAM.match(server[i - 1]).groups()
            assert int(size) == len(json.loads(text.removeprefix("received ")).encode())
            senders.append(sender)
    assert senders == [clients[0]] * 4 + [clients[1]] * 4  # the server saw each client's bound path
    assert server[-1] == f"removed {server_path}"


def bound_socket(directory: str, name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.bind(os.path.join(directory, name))
    return sock


def test_unix_dgram_server_answers_only_a_client_with_a_path():
    directory = tempfile.mkdtemp()
    try:
        with Program("unix_dgram_server.py", "--clients", "1") as server:
            path = server.ready()["path"]
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unnamed:
                unnamed.sendto(b"hello", path)  # never bound: the datagram carries no return address
            server.wait_for_line(r"datagram of 5 bytes from an unnamed socket: no address to answer, dropped$")
            with bound_socket(directory, "me.sock") as sock:
                sock.sendto(b"abc", path)
                assert sock.recvfrom(MAX_MESSAGE_BYTES) == (b"1 ABC", path)
                sock.sendto(b"def", path)
                assert sock.recvfrom(MAX_MESSAGE_BYTES) == (b"2 DEF", path)
                sock.sendto(b"", path)  # the goodbye
            code, _, _ = server.finish()
            assert code == 0
            assert any(line.endswith(f": datagram of 3 bytes from {directory}/me.sock") for line in server.lines)
        assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))
    finally:
        os.unlink(os.path.join(directory, "me.sock"))
        os.rmdir(directory)


def test_unix_dgram_server_survives_a_client_that_vanished_before_its_answer():
    directory = tempfile.mkdtemp()
    try:
        with Program("unix_dgram_server.py", "--clients", "1") as server:
            path = server.ready()["path"]
            os.kill(server.popen.pid, signal.SIGSTOP)  # hold the server, so the client is gone before it answers
            try:
                with bound_socket(directory, "gone.sock") as sock:
                    sock.sendto(b"anyone?", path)
                os.unlink(os.path.join(directory, "gone.sock"))
            finally:
                os.kill(server.popen.pid, signal.SIGCONT)
            server.wait_for_line(rf"cannot answer {re.escape(directory)}/gone.sock: No such file or directory")
            code, _, _ = server.finish()
            assert code == 0  # the one conversation ended (its client vanished), and nothing killed the server
    finally:
        os.rmdir(directory)


def test_unix_dgram_server_removes_its_file_on_sigterm():
    with Program("unix_dgram_server.py") as server:  # serves forever
        path = server.ready()["path"]
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        server.popen.send_signal(signal.SIGTERM)
        code, _, err = server.finish()
        assert code == 143  # 128 + SIGTERM, as a shell reports it
        assert f"server[{server.popen.pid}]: removed {path}" in err.splitlines()
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_unix_dgram_client_says_clearly_when_nobody_is_there():
    tmpdir = tempfile.gettempdir()  # this test's own TMPDIR, which the client uses too
    done = run_program("unix_dgram_client.py", "--path", os.path.join(tmpdir, "nobody.sock"))
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        "error: FileNotFoundError: No such file or directory: " + os.path.join(tmpdir, "nobody.sock")
    )
    assert b"Traceback" not in done.stderr

    stale = os.path.join(tmpdir, "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as old:
        old.bind(stale)  # a file, but once closed no socket is bound to it
    done = run_program("unix_dgram_client.py", "--path", stale)
    os.unlink(stale)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].endswith("error: ConnectionRefusedError: Connection refused: " + stale)
    assert os.listdir(tmpdir) == []  # the client removed its own socket file and directory on the way out


def test_unix_dgram_client_gives_up_on_a_silent_server_after_its_timeout():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "silent.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as silent:
            silent.bind(path)  # bound, so connect() works, but it never answers
            done = run_program("unix_dgram_client.py", "--path", path, "--timeout", "0.3")
            assert silent.recv(MAX_MESSAGE_BYTES) == b"hello"  # the request did arrive
    finally:
        os.unlink(path)
        os.rmdir(directory)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: TimeoutError: no answer within 0\.3 s: .*", last), last
    assert b"Traceback" not in done.stderr
