"""Unix-domain stream sockets: a path for an address, and a file to clean up."""

import os
import re
import signal
import socket
import stat
import tempfile

from ipc import catalog
from ipc.harness import READY, run_demo
from support import Program, run_program


def watch_for_the_socket_file(seen: dict):
    """A harness watcher: as soon as the server's ready line arrives (no client started yet),
    note what its path is on the file system."""

    def watch(live, result):
        ready = [READY.match(line.text) for line in result.said("server")]
        paths = [match["fields"].removeprefix("path=") for match in ready if match]
        if paths and not seen:
            seen["path"] = paths[0]
            seen["is_socket"] = os.path.exists(paths[0]) and stat.S_ISSOCK(os.stat(paths[0]).st_mode)
        return None

    return watch


def test_unix_demo_through_the_harness():
    seen = {}
    result = run_demo(catalog.find(["unix"])[0], watcher=watch_for_the_socket_file(seen))
    assert result.ok, result.problems  # ok includes: nothing left in the harness's temporary directory
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    path = seen["path"]
    assert seen["is_socket"]  # bind() made a socket file; it was there while the server served
    assert not os.path.exists(path)
    connected = [line.text for line in result.said("client") if line.text.startswith("connected")]
    assert connected == [f"connected (unnamed) -> {path}"] * 2  # a client that never bound has no name
    assert result.said("server")[-1].text == f"removed {path}"


def test_unix_server_answers_an_independent_client():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "chosen.sock")
    try:
        with Program("unix_stream_server.py", "--path", path, "--clients", "1") as server:
            assert server.ready() == {"path": path}
            assert stat.S_ISSOCK(os.stat(path).st_mode)  # bind() made the file
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(b"abc\nd")  # one message and a half, in one send
                sock.sendall(b"ef\n")
                sock.shutdown(socket.SHUT_WR)
                replies = b""
                while chunk := sock.recv(4096):
                    replies += chunk
            assert replies == b"1 ABC\n2 DEF\n"
            code, _, _ = server.finish()
            assert code == 0
        assert not os.path.exists(path)  # the server unlinked it before it exited
    finally:
        os.rmdir(directory)  # fails, and so does the test, if anything is left in it


def test_unix_server_makes_a_private_directory_and_removes_it_on_sigterm():
    with Program("unix_stream_server.py") as server:  # serves forever
        path = server.ready()["path"]
        directory = os.path.dirname(path)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"\xff\xfe\n")  # not UTF-8
            assert sock.recv(4096).startswith(b"error: message is not valid UTF-8")
            assert sock.recv(4096) == b""  # and it hung up
        server.popen.send_signal(signal.SIGTERM)  # as `kill PID` would
        code, _, err = server.finish()
        assert code == 143  # 128 + SIGTERM, as a shell reports it
        assert err.splitlines()[-2:] == [f"server[{server.popen.pid}]: removed {path}",
                                         f"server[{server.popen.pid}]: interrupted"]
    assert not os.path.exists(path) and not os.path.exists(directory)


def test_a_stale_socket_file_makes_bind_fail_and_is_left_alone():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "stale.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
            old.bind(path)  # a server that died without unlinking: the file stays after close()
        server = run_program("unix_stream_server.py", "--path", path)
        assert server.returncode == 1
        assert re.fullmatch(r"server\[\d+\]: error: OSError: Address already in use\n", server.stderr.decode())
        assert stat.S_ISSOCK(os.stat(path).st_mode)  # not its file, so not removed

        client = run_program("unix_stream_client.py", "--path", path)  # a file, but nobody listening
        assert client.returncode == 1
        assert client.stderr.decode().strip().endswith("error: ConnectionRefusedError: Connection refused: " + path)
        assert b"Traceback" not in client.stderr
    finally:
        os.unlink(path)
        os.rmdir(directory)


def test_unix_client_says_clearly_when_there_is_no_socket_file():
    done = run_program("unix_stream_client.py", "--path", os.path.join(tempfile.gettempdir(), "nobody.sock"))
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].endswith("error: FileNotFoundError: No such file or directory: " + os.path.join(tempfile.gettempdir(), "nobody.sock"))

