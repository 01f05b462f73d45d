"""Lessons on addresses: byte order, getaddrinfo, INADDR_ANY vs loopback, the two axes."""

import os
import re
import socket
import struct
import sys

import pytest

from ipc import catalog
from ipc.harness import run_demo
from support import run_program

LINUX = sys.platform.startswith("linux")


def lines_of(result, role):
    return [line.text for line in result.said(role)]


# -- byte order ---------------------------------------------------------------

def test_network_order_is_big_endian_whatever_the_machine():
    assert struct.pack("!H", 8080) == b"\x1f\x90"
    assert struct.pack("=H", socket.htons(8080)) == b"\x1f\x90"  # htons makes the host's bytes come out big-endian
    assert socket.ntohs(socket.htons(8080)) == 8080
    assert struct.pack("=I", socket.htonl(socket.INADDR_LOOPBACK)) == socket.inet_pton(socket.AF_INET, "127.0.0.1")
    assert socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "2001:0db8:0:0::1")) == "2001:db8::1"


def test_byte_order_demo_through_the_harness():
    result = run_demo(catalog.find(["byte-order"])[0])
    assert result.ok, result.problems
    texts = lines_of(result, "byteorder")
    assert f"this machine is {sys.byteorder}-endian (sys.byteorder)" in texts
    memory = "90 1f" if sys.byteorder == "little" else "1f 90"
    assert any(re.search(rf"in this machine's memory, struct '=H'\s+{memory}$", t) for t in texts)
    assert sum(t.startswith("sockaddr of ") for t in texts) == 2


@pytest.mark.skipif(not LINUX or os.geteuid() != 0, reason="a raw socket needs root (CAP_NET_RAW) on Linux")
def test_byte_order_demo_shows_the_port_on_the_wire_as_root():
    done = run_program("byte_order.py")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    port = int(re.search(r"UDP header to 127\.0\.0\.1 port (\d+)", err)[1])
    header = re.search(r"(\w\w \w\w) \| (\w\w \w\w) \| \w\w \w\w \| \w\w \w\w\s+\(source port", err)
    assert bytes.fromhex(header[2]) == struct.pack("!H", port)


@pytest.mark.skipif(not LINUX, reason="the sockaddr layout checked here is Linux's (BSD starts with a length byte)")
def test_byte_order_demo_by_hand_takes_its_own_port_and_addresses():
    done = run_program("byte_order.py", "--port", "772", "10.1.2.3", "fe80::1")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert re.search(r"in network order, struct '!H'\s+03 04", err)  # the notes' example: 772 = 0x0304
    assert "inet_pton(AF_INET) = 0a 01 02 03" in err
    assert "inet_ntop gives back fe80::1" in err
    sockaddr = re.search(r"sockaddr of 127\.0\.0\.1 port (\d+) \(16 bytes\): 02 00 \| (\w\w \w\w) \| 7f 00 00 01", err)
    assert sockaddr and bytes.fromhex(sockaddr[2]) == struct.pack("!H", int(sockaddr[1]))


@pytest.mark.parametrize("args,code,says", [
    (["1.2.3.999"], 1, "error: OSError: illegal IP address string passed to inet_pton"),
    (["--port", "70000"], 2, "'70000' is not a port"),
])
def test_byte_order_demo_refuses_bad_input_in_one_line(args, code, says):
    done = run_program("byte_order.py", *args)
    assert done.returncode == code
    assert says in done.stderr.decode()
    assert b"Traceback" not in done.stderr
