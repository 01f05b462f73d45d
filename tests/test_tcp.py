"""TCP over IPv4 and IPv6 loopback. The exchange itself, bad input and bad peers: test_conformance.py."""

import ctypes
import os
import re
import socket
import subprocess
import sys

import pytest
from support import ROOT, run_demo_once, run_program


@pytest.mark.parametrize("name", ["tcp4", "tcp6"])
def test_tcp_demo_through_the_harness(name):
    result = run_demo_once(name)
    assert result.ok, result.problems
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    connected = [line.text for line in result.said("client") if line.text.startswith("connected")]
    assert len(connected) == 2
    assert connected[0] != connected[1]  # each connection got its own ephemeral port


def test_tcp_client_says_clearly_when_nobody_listens():
    with socket.socket() as placeholder:  # a port that surely has no listener
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        done = run_program("tcp_client.py", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.decode().strip().endswith("ConnectionRefusedError: Connection refused")
    assert b"Traceback" not in done.stderr


def test_tcp_server_refuses_a_port_beyond_16_bits():
    done = run_program("tcp_server.py", "--port", "70000")
    assert done.returncode == 2
    assert b"70000 is not a port" in done.stderr


def without_the_right_to_bind_low_ports():
    """For a child about to exec: give up CAP_NET_BIND_SERVICE, as a student's shell never had it (root keeps the
    rest). PR_CAPBSET_DROP takes it out of the bounding set, so the exec'd program cannot have it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 10, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_NET_BIND_SERVICE
        os._exit(99)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="capabilities and the unprivileged port floor are Linux's"
)
def test_a_port_below_1024_says_it_needs_privileges():
    floor = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    if floor <= 80:
        pytest.skip(f"net.ipv4.ip_unprivileged_port_start is {floor}: anyone may bind port 80 here")
    done = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "tcp_server.py"), "--port", "80"],
        capture_output=True,
        timeout=10,
        preexec_fn=without_the_right_to_bind_low_ports if os.geteuid() == 0 else None,
    )
    if done.returncode == 99:
        pytest.skip("cannot give up CAP_NET_BIND_SERVICE here")
    assert done.returncode == 1
    assert re.fullmatch(
        rb"server\[\d+\]: error: PermissionError: cannot bind 127\.0\.0\.1:80: ports below 1024 need "
        rb"privileges \(root, or CAP_NET_BIND_SERVICE\); try --port 0 or a port from 1024 up\n",
        done.stderr,
    )


def test_a_port_in_use_says_so():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_program("tcp_server.py", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.decode().endswith(
        f"error: OSError: cannot bind 127.0.0.1:{port}: another socket has that port (ss -tulpn shows which)\n"
    )
