"""UDP over IPv4 and IPv6 loopback: one message per datagram."""

import json
import re
import socket

import pytest

from ipc import catalog
from ipc.catalog.exchange_sockets import no_ipv6_loopback
from ipc.harness import run_demo
from ipc.protocol import MAX_MESSAGE_BYTES
from support import Program, run_program

DATAGRAM = re.compile(r"^datagram of (\d+) bytes from (.+)$")
FAMILIES = [
    pytest.param("127.0.0.1", socket.AF_INET, id="ipv4"),
    pytest.param("::1", socket.AF_INET6, id="ipv6", marks=pytest.mark.skipif(bool(no_ipv6_loopback()), reason=str(no_ipv6_loopback()))),
]


@pytest.mark.parametrize("name", ["udp4", "udp6"])
def test_udp_demo_through_the_harness(name):
    result = run_demo(catalog.find([name])[0])
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
        f"empty datagram from {client}: the end of its conversation" for client in clients]


@pytest.mark.parametrize("host,family", FAMILIES)
def test_udp_server_keeps_a_conversation_per_address(host, family):
    with Program("udp_server.py", "--host", host, "--clients", "2") as server:
        port = int(server.ready()["port"])
        with socket.socket(family, socket.SOCK_DGRAM) as a, socket.socket(family, socket.SOCK_DGRAM) as b:
            a.settimeout(5)
            b.settimeout(5)

            def ask(sock, data):
                sock.sendto(data, (host, port))  # not connected: every send names the server
                reply, sender = sock.recvfrom(MAX_MESSAGE_BYTES)
                assert sender[:2] == (host, port)  # the answer came from the server's one socket
                return reply

            assert ask(a, b"abc") == b"1 ABC"
            assert ask(b, b"xyz") == b"1 XYZ"  # another address, another conversation
            assert ask(a, b"def") == b"2 DEF"
            assert ask(a, b"Gr\xc3\xbc\xc3\x9fe") == "3 GRÜSSE".encode()
            a.sendto(b"", (host, port))  # the goodbye: an empty datagram
            b.sendto(b"", (host, port))
        code, _, _ = server.finish()
        assert code == 0  # two conversations ended: the server did what --clients 2 said


def test_udp_server_answers_bad_datagrams_with_an_error_and_starts_afresh():
    with Program("udp_server.py", "--clients", "3") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"x" * (3 * MAX_MESSAGE_BYTES), where)  # the server reads only MAX_MESSAGE_BYTES of it
            assert sock.recv(MAX_MESSAGE_BYTES).startswith(b"error: message too long")
            sock.sendto(b"\xff\xfe", where)
            assert sock.recv(MAX_MESSAGE_BYTES).startswith(b"error: message is not valid UTF-8")
            sock.sendto(b"again", where)
            assert sock.recv(MAX_MESSAGE_BYTES) == b"1 AGAIN"  # an error ended the conversation: numbering restarts
            sock.sendto(b"", where)
        code, _, _ = server.finish()
        assert code == 0
    assert "datagram of 4096 bytes from" in "\n".join(server.lines)  # recvfrom() cut the datagram at the size asked


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
    assert lines[-1].endswith("error: TimeoutError: no answer within 0.3 s: a datagram may have been lost "
                              "(UDP resends nothing and tells nobody), or no server is there")
    assert b"Traceback" not in done.stderr
