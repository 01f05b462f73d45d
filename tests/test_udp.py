"""UDP over IPv4 and IPv6 loopback: one message per datagram. Bad datagrams and strangers: test_conformance.py."""

import json
import re
import socket

import pytest
from support import run_demo_once, run_program

from ipc.catalog.exchange_sockets import no_ipv6_loopback
from ipc.protocol import MAX_MESSAGE_BYTES

DATAGRAM = re.compile(r"^datagram of (\d+) bytes? from (.+)$")
FAMILIES = [
    pytest.param("127.0.0.1", socket.AF_INET, id="ipv4"),
    pytest.param(
        "::1",
        socket.AF_INET6,
        id="ipv6",
        marks=pytest.mark.skipif(bool(no_ipv6_loopback()), reason=str(no_ipv6_loopback())),
    ),
]


@pytest.mark.parametrize("name", ["udp4", "udp6"])
def test_udp_demo_through_the_harness(name):
    result = run_demo_once(name)
    if result.skipped:
        pytest.skip(result.skipped)
    assert result.ok, result.problems
    assert result.messages == 16  # two clients, 4 requests and 4 answers each
    clients = [line.text.split(" -> ")[0] for line in result.said("client") if " -> " in line.text]
    assert len(set(clients)) == 2  # each client socket got its own port

    server = [line.text for line in result.said("server")]
    received = [i for i, text in enumerate(server) if text.startswith("received ")]
    assert len(received) == 8
    senders = []
    for i in received:  # each message came in one recvfrom() of exactly its own size
        size, sender = DATAGRAM.match(server[i - 1]).groups()
        message = json.loads(server[i].removeprefix("received "))
        assert int(size) == len(message.encode())
        senders.append(sender)
    assert senders == [clients[0]] * 4 + [clients[1]] * 4  # recvfrom() said who sent each datagram
    assert [text for text in server if text.startswith("empty datagram")] == [
        f"empty datagram from {client}: the end of its conversation" for client in clients
    ]


def test_udp_client_says_clearly_when_nobody_is_there():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as placeholder:  # a port that surely has no server
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    done = run_program("udp_client.py", "--port", str(port))
    assert done.returncode == 1
    # Only because the client connect()ed: the kernel's ICMP "port unreachable" reaches it as an error.
    assert done.stderr.decode().strip().endswith("error: ConnectionRefusedError: Connection refused")
    assert b"Traceback" not in done.stderr


def test_udp_client_says_a_datagram_may_be_lost_when_no_answer_comes():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, so no ICMP error; never answers
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(5)
        done = run_program("udp_client.py", "--port", str(silent.getsockname()[1]), "--timeout", "0.3", "hello")
        assert silent.recv(MAX_MESSAGE_BYTES) == b"hello"  # the first datagram is the request: connect() sent nothing
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert lines[-1].endswith(
        "error: TimeoutError: no answer within 0.3 s: a datagram may have been lost "
        "(UDP resends nothing and tells nobody), or no server is there"
    )
    assert b"Traceback" not in done.stderr
