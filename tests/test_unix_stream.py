"""Unix-domain stream sockets: a path for an address, and a file to clean up."""

import os
import signal
import socket
import stat
import tempfile

from support import Program, run_program

from ipc import catalog
from ipc.harness import run_demo


def test_unix_demo_through_the_harness():
    result = run_demo(catalog.find(["unix"])[0])
    assert result.ok, result.problems  # ok includes: nothing left in the harness's temporary directory
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    path = next(line.ready["path"] for line in result.said("server") if line.ready)
    assert not os.path.exists(path)  # (that bind() made a socket file there: the test below)
    connected = [line.text for line in result.said("client") if line.text.startswith("connected")]
    assert connected == [f"connected (unnamed) -> {path}"] * 2  # a client that never bound has no name
    assert result.said("server")[-1].text == f"removed {path}"


def test_unix_server_binds_the_path_it_is_given_and_unlinks_it():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "chosen.sock")
    try:
        with Program("unix_stream_server.py", "--path", path, "--clients", "1") as server:
            assert server.ready() == {"path": path}
            assert stat.S_ISSOCK(os.stat(path).st_mode)  # bind() made the file
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
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
        server.popen.send_signal(signal.SIGTERM)  # as `kill PID` would
        code, _, err = server.finish()
        assert code == 143  # 128 + SIGTERM, as a shell reports it
        assert err.splitlines()[-2:] == [
            f"server[{server.popen.pid}]: removed {path}",
            f"server[{server.popen.pid}]: interrupted",
        ]
    assert not os.path.exists(path) and not os.path.exists(directory)


def test_a_stale_socket_file_makes_bind_fail_and_is_left_alone():
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "stale.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
            old.bind(path)  # a server that died without unlinking: the file stays after close()
        server = run_program("unix_stream_server.py", "--path", path)
        assert server.returncode == 1
        assert server.stderr.decode().endswith(
            f"]: error: OSError: {path} is in use: a stale socket file, left by a "
            f"server that did not unlink it (remove it: rm {path})\n"
        )
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
    assert len(lines) == 1 and lines[0].endswith(
        "error: FileNotFoundError: No such file or directory: " + os.path.join(tempfile.gettempdir(), "nobody.sock")
    )


def test_a_path_where_a_server_listens_says_so_and_leaves_it_alone():
    with Program("unix_stream_server.py") as first:
        path = first.ready()["path"]
        done = run_program("unix_stream_server.py", "--path", path)
        assert done.returncode == 1
        assert done.stderr.decode().endswith(f"]: error: OSError: {path} is in use: a server is listening there\n")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # the first one's file is still its own
            sock.settimeout(5)
            sock.connect(path)
