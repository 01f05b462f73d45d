"""TCP over IPv4 and IPv6 loopback."""

import socket
import struct

import pytest

from ipc import catalog
from ipc.harness import run_demo
from support import Program, run_program


@pytest.mark.parametrize("name", ["tcp4", "tcp6"])
def test_tcp_demo_through_the_harness(name):
    result = run_demo(catalog.find([name])[0])
    assert result.ok, result.problems
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    connected = [line.text for line in result.said("client") if line.text.startswith("connected")]
    assert len(connected) == 2
    assert connected[0] != connected[1]  # each connection got its own ephemeral port


@pytest.mark.parametrize("host,family", [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)])
def test_tcp_server_answers_an_independent_client(host, family):
    with Program("tcp_server.py", "--host", host, "--clients", "1") as server:
        port = int(server.ready()["port"])
        assert port > 0  # bound to port 0, the kernel chose
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect((host, port))
            sock.sendall(b"abc\nd")  # one message and a half, in one send
            sock.sendall(b"ef\n")
            sock.shutdown(socket.SHUT_WR)
            replies = b""
            while chunk := sock.recv(4096):
                replies += chunk
        assert replies == b"1 ABC\n2 DEF\n"
        code, _, _ = server.finish()
        assert code == 0


def test_tcp_server_answers_bad_bytes_with_an_error_and_keeps_serving():
    with Program("tcp_server.py", "--clients", "2") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"\xff\xfe\n")
            assert sock.recv(4096).startswith(b"error: message is not valid UTF-8")
            assert sock.recv(4096) == b""  # and it hung up
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"still there?\n")
            assert sock.recv(4096) == b"1 STILL THERE?\n"
        code, _, _ = server.finish()
        assert code == 0


def test_tcp_client_says_clearly_when_nobody_listens():
    with socket.socket() as placeholder:  # a port that surely has no listener
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        done = run_program("tcp_client.py", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.decode().strip().endswith("ConnectionRefusedError: Connection refused")
    assert b"Traceback" not in done.stderr


def test_tcp_server_survives_a_client_that_resets_and_serves_the_next():
    with Program("tcp_server.py", "--clients", "2") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"hello\n")
            assert sock.recv(4096) == b"1 HELLO\n"  # the server is back in recv() now
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST
        server.wait_for_line(r"reset the connection \(ConnectionResetError\)")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"still there?\n")
            assert sock.recv(4096) == b"1 STILL THERE?\n"
        code, _, err = server.finish()
        assert code == 0
        assert "Traceback" not in err


def test_tcp_server_refuses_a_request_whose_answer_would_not_fit_and_keeps_serving():
    with Program("tcp_server.py", "--clients", "2") as server:
        port = int(server.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"a" * 4095 + b"\n")  # fits, with its newline; "1 " and a newline more do not
            assert sock.recv(4096) == b"error: message too long: its answer would be 4098 bytes, the limit is 4096 bytes\n"
            assert sock.recv(4096) == b""
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"next\n")
            assert sock.recv(4096) == b"1 NEXT\n"
        code, _, err = server.finish()
        assert code == 0
        assert 'sent "1 AAA' not in err  # refused before anything was said


def test_tcp_server_refuses_a_port_beyond_16_bits():
    done = run_program("tcp_server.py", "--port", "70000")
    assert done.returncode == 2
    assert b"70000 is not a port" in done.stderr
