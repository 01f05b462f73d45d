"""Lessons on addresses: byte order, getaddrinfo, INADDR_ANY vs loopback, the two axes."""

import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import psutil
import pytest
from support import ROOT, TOOL, Program, also, load_demo, run_demo_once, run_program

from ipc.catalog import lessons_addresses
from ipc.stream import MessageReader
from ipc.transcript import Transcript, parse_line

LINUX = sys.platform.startswith("linux")


def lines_of(result, role):
    return [line.text for line in result.said(role)]


def test_byte_order_demo_through_the_harness():
    result = run_demo_once("byte-order")
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


@pytest.mark.parametrize(
    "args,code,says",
    [
        (["1.2.3.999"], 1, "error: OSError: illegal IP address string passed to inet_pton"),
        (["--port", "70000"], 2, "70000 is not a port: a port is 16 bits"),
        (["--port", "http"], 2, "'http' is not a number"),
    ],
)
def test_byte_order_demo_refuses_bad_input_in_one_line(args, code, says):
    done = run_program("byte_order.py", *args)
    assert done.returncode == code
    assert says in done.stderr.decode()
    assert b"Traceback" not in done.stderr


# -- names and addresses: showip ----------------------------------------------


def test_showip_demo_through_the_harness():
    result = run_demo_once("showip")
    assert result.ok, result.problems
    found = lessons_addresses.lookups(lines_of(result, "showip"))
    assert {"localhost", "127.0.0.1", "::1", "nowhere.invalid", socket.gethostname()} <= set(found)
    assert found["nowhere.invalid"] == []  # RFC 6761: .invalid never resolves
    families = {line.split()[0] for line in found["::1"]}
    assert families == {"AF_INET6"}


def test_showip_by_hand_with_a_service_name_and_a_scope_id():
    try:
        http = socket.getservbyname("http", "tcp")
    except OSError:
        pytest.skip("no /etc/services entry for http here")
    done = run_program("showip.py", "--port", "http", "127.0.0.1", f"fe80::1%{socket.if_nameindex()[0][1]}")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert f"IPPROTO_TCP  ('127.0.0.1', {http})" in err  # the service name became its port
    scope = socket.if_nameindex()[0][0]
    assert f"('fe80::1', {http}, 0, {scope})" in err  # %interface became the scope id, the 4th field


def test_showip_reports_an_unknown_service_in_one_line():
    done = run_program("showip.py", "--port", "no-such-service", "localhost")
    assert done.returncode == 0
    assert re.search(rb"localhost: no address: gaierror EAI_SERVICE: .+\n$", done.stderr)
    assert b"Traceback" not in done.stderr


def test_showip_stops_waiting_for_a_lookup_that_hangs(monkeypatch):
    showip = load_demo("showip")
    release = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):  # a resolver whose DNS server never answers
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="no answer within 0.2 s"):
            showip.lookup("example.com", None, 0.2)
        assert time.monotonic() - started < 2
    finally:
        release.set()  # let the abandoned lookup thread end


# -- names and addresses: a client that tries each address --------------------

LOCAL_HOST_ADDRESSES = [info[4] for info in socket.getaddrinfo(None, 0, type=socket.SOCK_STREAM)]
needs_two_addresses = pytest.mark.skipif(
    len(LOCAL_HOST_ADDRESSES) < 2, reason="getaddrinfo(None) gives one address here: nothing to fall back on"
)


def tries_of(text):
    return re.findall(r"try (\d+) of (\d+): connect\((\S+)\): (ConnectionRefusedError|connected from)", text)


@needs_two_addresses
def test_connect_each_demo_through_the_harness():
    result = run_demo_once("connect-each")
    assert result.ok, result.problems
    tries = tries_of("\n".join(lines_of(result, "client")))
    assert [outcome for *_, outcome in tries] == ["ConnectionRefusedError"] * (len(tries) - 1) + ["connected from"]
    assert len(tries) == len(LOCAL_HOST_ADDRESSES) >= 2


@needs_two_addresses
def test_connect_each_finds_an_independent_server_on_the_last_address():
    first, last = LOCAL_HOST_ADDRESSES[0], LOCAL_HOST_ADDRESSES[-1]
    with Program("tcp_server.py", "--host", last[0], "--clients", "1") as server:
        port = int(server.ready()["port"])
        with socket.socket(socket.AF_INET6 if ":" in first[0] else socket.AF_INET) as held:
            held.bind((first[0], port, *first[2:]))  # bound, not listening: nobody can answer on the first address
            done = run_program("connect_each.py", "--port", str(port), "one", "two")
        assert done.returncode == 0, done.stderr
        err = done.stderr.decode()
        assert tries_of(err)[0][3] == "ConnectionRefusedError"
        assert tries_of(err)[-1][3] == "connected from"
        assert 'received "2 TWO"' in err
        code, _, _ = server.finish()
        assert code == 0


@pytest.mark.parametrize(
    "args,says",
    [
        (["--host", "nowhere.invalid"], "error: gaierror: "),
        (
            ["--host", "127.0.0.1", "--port", "{port}"],
            "error: ConnectionError: none of the 1 addresses of '127.0.0.1' took the connection",
        ),
        (["--port", "70000"], "70000 is not a port: a port is 16 bits"),
    ],
)
def test_connect_each_fails_in_one_line(args, says):
    with socket.socket() as placeholder:  # bound, not listening: this port surely refuses
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        done = run_program("connect_each.py", *[arg.format(port=port) for arg in args])
    assert done.returncode == (2 if "70000" in args else 1)  # argparse's usage error, or the demo's own
    assert says in done.stderr.decode()
    assert b"Traceback" not in done.stderr


# -- INADDR_ANY versus INADDR_LOOPBACK -----------------------------------------


def own_non_loopback(family):
    """An address of this machine that is not loopback (found with psutil, independently of the demo)."""
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family == family and "%" not in entry.address:
                address = ipaddress.ip_address(entry.address)
                if not (address.is_loopback or address.is_link_local):
                    return entry.address
    return None


OWN4, OWN6 = own_non_loopback(socket.AF_INET), own_non_loopback(socket.AF_INET6)


def test_bind_any_demo_through_the_harness():
    result = run_demo_once("bind-any")
    assert result.ok, result.problems
    targets, rows = lessons_addresses.bind_table(lines_of(result, "bind"))
    cells = {(bound, label): dict(zip(targets, row)) for bound, label, row in rows}
    assert cells[("127.0.0.1", "INADDR_LOOPBACK")]["127.0.0.1"] == "yes"
    assert cells[("::", "V6ONLY=0")]["127.0.0.1"] == "yes*"  # an IPv4 client, through an IPv6 listener
    assert cells[("::", "V6ONLY=1")]["127.0.0.1"] == "refused"
    if OWN4 is None:
        pytest.skip("this machine has no non-loopback IPv4 address: ANY and LOOPBACK cannot be told apart")
    assert cells[("0.0.0.0", "INADDR_ANY")][OWN4] == "yes"
    assert cells[("127.0.0.1", "INADDR_LOOPBACK")][OWN4] == "refused"


@pytest.mark.skipif(OWN4 is None, reason="this machine has no non-loopback IPv4 address to connect to")
@pytest.mark.parametrize("bound,reached", [("0.0.0.0", True), ("127.0.0.1", False)])
def test_a_server_bound_to_any_is_reached_through_this_machines_own_address(bound, reached):
    with Program("tcp_server.py", "--host", bound, "--clients", "1") as server:
        port = int(server.ready()["port"])
        with socket.socket() as client:  # to this machine's own address, from this machine: nothing leaves it
            client.settimeout(5)
            if reached:
                client.connect((OWN4, port))
                client.sendall(b"through eth\n")
                assert MessageReader(client.recv).receive() == "1 THROUGH ETH"
            else:
                with pytest.raises(ConnectionRefusedError):
                    client.connect((OWN4, port))
        if not reached:  # then it is still waiting: reach it the one way it can be reached
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        code, _, _ = server.finish()
        assert code == 0


# -- in a network namespace of the test's own making (root, iproute2) ----------


def can_make_network_namespaces():
    if not LINUX or os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        return False
    try:
        return (
            subprocess.run(
                ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_namespaces = also(
    TOOL,
    pytest.mark.skipif(
        not can_make_network_namespaces(),
        reason="needs root, unshare and ip to make a network namespace (Debian: apt-get install util-linux iproute2)",
    ),
)
VETH = (
    "ip link set lo up; ip link add v0 type veth peer name v1; ip addr add 10.99.0.1/24 dev v0;"
    " ip -6 addr add fd99::1/64 dev v0 nodad; ip link set v0 up; ip link set v1 up;"
    " ip route add default via 10.99.0.2; ip -6 route add default via fd99::2"
)


def run_in_new_namespace(setup, script, *args):
    """Run a demo in a network namespace of its own, set up by `setup`; it vanishes with the process."""
    return subprocess.run(
        ["unshare", "-n", "sh", "-ec", f'{setup}; exec "$0" "$@"', sys.executable, str(ROOT / "demos" / script), *args],
        capture_output=True,
        timeout=30,
        cwd=ROOT,
    )


def as_result(demo_name, stderr):
    """A demo's stderr as a transcript, so the catalog's own check can judge it."""
    return Transcript([parse_line(text) for text in stderr.decode().splitlines()])


@needs_namespaces
def test_bind_any_with_loopback_only_says_what_it_cannot_show():
    done = run_in_new_namespace("ip link set lo up", "bind_any.py")
    assert done.returncode == 0, done.stderr
    result = as_result("bind-any", done.stderr)
    assert lessons_addresses.check_bind_any(result) == []
    assert lessons_addresses.bind_table(lines_of(result, "bind"))[0] == ["127.0.0.1", "::1"]
    assert "cannot be shown here" in done.stderr.decode()


@needs_namespaces
def test_bind_any_finds_and_uses_addresses_the_test_made_in_a_namespace():
    done = run_in_new_namespace(VETH, "bind_any.py")
    assert done.returncode == 0, done.stderr
    result = as_result("bind-any", done.stderr)
    assert lessons_addresses.check_bind_any(result) == []
    targets, rows = lessons_addresses.bind_table(lines_of(result, "bind"))
    assert targets == ["127.0.0.1", "10.99.0.1", "::1", "fd99::1"]
    cells = {(bound, label): dict(zip(targets, row)) for bound, label, row in rows}
    assert cells[("0.0.0.0", "INADDR_ANY")]["10.99.0.1"] == "yes"
    assert cells[("127.0.0.1", "INADDR_LOOPBACK")]["10.99.0.1"] == "refused"


# -- the two axes ---------------------------------------------------------------


def test_axes_demo_through_the_harness():
    result = run_demo_once("axes")
    assert result.ok, result.problems
    table = lessons_addresses.axes_table(lines_of(result, "axes"))
    assert len(table) == 6
    assert (
        table[("AF_UNIX", "SOCK_STREAM")]["client, as the server saw it"] == "'' (unnamed)"
    )  # a Unix client need not bind
    assert re.match(
        r"^\('127\.0\.0\.1', \d+\)$", table[("AF_INET", "SOCK_DGRAM")]["address form (server's getsockname())"]
    )
    if not lessons_addresses.loopback_works(socket.AF_INET6, "::1"):
        pytest.skip("no IPv6 loopback here: its rows say no")
    assert all(row["works here"] == "yes" and row["messages"] == "2" for row in table.values())
    assert re.match(
        r"^\('::1', \d+, 0, 0\)$", table[("AF_INET6", "SOCK_STREAM")]["address form (server's getsockname())"]
    )


@needs_namespaces
def test_axes_without_a_network_shows_ip_rows_failing_and_unix_rows_working():
    done = run_in_new_namespace("true", "two_axes.py")  # a fresh namespace: even loopback is down
    assert done.returncode == 0, done.stderr
    table = lessons_addresses.axes_table([line for line in lines_of(as_result("axes", done.stderr), "axes")])
    assert {key: row["works here"] == "yes" for key, row in table.items()} == {
        ("AF_UNIX", "SOCK_STREAM"): True,
        ("AF_UNIX", "SOCK_DGRAM"): True,
        ("AF_INET", "SOCK_STREAM"): False,
        ("AF_INET", "SOCK_DGRAM"): False,
        ("AF_INET6", "SOCK_STREAM"): False,
        ("AF_INET6", "SOCK_DGRAM"): False,
    }
    assert all(row["works here"].startswith("no: OSError: ") for key, row in table.items() if key[0] != "AF_UNIX")


def test_axes_demo_refuses_an_oversized_message_in_one_line():
    done = run_program("two_axes.py", "x" * 5000)
    assert done.returncode == 1
    assert re.search(rb"^axes\[\d+\]: error: MessageTooLong: .+\n$", done.stderr, re.M)
    assert b"Traceback" not in done.stderr


@needs_two_addresses
def test_connect_each_tries_another_port_when_its_port_is_taken_on_an_earlier_address():
    """Issue 9: the kernel chose a port free on 127.0.0.1; taken on ::1, the demo failed (1 run in 200)."""
    code = (
        "import runpy, socket, sys; real_bind = socket.socket.bind; blockers = []\n"
        "def bind(self, address):\n"
        "    if not blockers and isinstance(address, tuple) and address[1] != 0:  # the first fixed port\n"
        "        blockers.append(socket.socket(self.family, self.type))\n"
        "        real_bind(blockers[-1], address)  # someone else has it there now\n"
        "    return real_bind(self, address)\n"
        "socket.socket.bind = bind; sys.argv = ['connect_each.py', 'one']\n"
        "runpy.run_path('demos/connect_each.py', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=20)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert re.search(r"port \d+ is free on \S+ but taken on another address: another port", err)
    assert 'received "1 ONE"' in err
