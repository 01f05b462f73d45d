"""DNS: the demo server asked by dig, by the demo's own client, by raw datagrams; names through getaddrinfo."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import replace

import pytest
from expected_output import mismatches
from support import ROOT, TOOL, Program, also, needs, run_demo_once, run_program

from ipc import catalog
from ipc.catalog import protocols
from ipc.dns_messages import QR, RCODES, SAMPLE_ZONE, TC, TYPES, encode_name, read_record
from ipc.harness import run_demo
from ipc.transcript import Transcript

NO_NAMESPACES = protocols.no_namespaces()
needs_namespaces = also(TOOL, pytest.mark.skipif(NO_NAMESPACES is not None, reason=f"{NO_NAMESPACES}"))
VARY_IDS = (r"(?<=0x)[0-9a-f]{4}", r"(?<=header   )[0-9a-f]{2} [0-9a-f]{2}")


def labelled(result):
    return [f"{line.role}[{line.pid}]: {line.text}" for line in result.lines]


def dns_server(*args):
    return Program("dns_server.py", *args)


def ask(port, query, timeout=5.0):
    """One raw datagram to the server, and its answer's header: (id, flags, qd, an, ns, ar) and the bytes."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, ("127.0.0.1", port))
        data = sock.recv(4096)
    return struct.unpack("!6H", data[:12]), data


def query(name, qtype=1, ident=0x1234, flags=0x0100, questions=1):
    return struct.pack("!6H", ident, flags, questions, 0, 0, 0) + encode_name(name) + struct.pack("!2H", qtype, 1)


def with_opt(datagram, version=0, payload=1232):
    """The query with an EDNS OPT record added to its additional section (RFC 6891 6.1.2), as dig adds one."""
    ident, flags, qd, an, ns, ar = struct.unpack("!6H", datagram[:12])
    opt = b"\x00" + struct.pack("!HHIH", TYPES["OPT"], payload, version << 16, 0)
    return struct.pack("!6H", ident, flags, qd, an, ns, ar + 1) + datagram[12:] + opt


# -- through the harness ---------------------------------------------------------


def test_dns_demo_through_the_harness_matches_the_docstrings():
    result = run_demo(catalog.find(["dns"])[0])
    assert result.ok, result.problems
    real = labelled(result)
    assert mismatches("dns_client.py", real, vary=VARY_IDS) == []
    assert mismatches("dns_server.py", real, vary=VARY_IDS) == []


def test_the_dns_check_fails_when_an_answer_or_the_bytes_are_wrong():
    result = run_demo(catalog.find(["dns"])[0])
    assert result.ok, result.problems

    def doctored(old, new):
        return Transcript([replace(line, text=line.text.replace(old, new)) for line in result.lines])

    assert protocols.check_dns(doctored("", "")) == []
    wrong_address = protocols.check_dns(doctored("IN A 10.53.0.12", "IN A 10.53.0.99"))
    assert any("a record's bytes are not the address" in p for p in wrong_address)
    assert any("many.ipc.test A: got NOERROR" in p for p in wrong_address)
    wrong_bytes = protocols.check_dns(doctored("| 00 1c | 00 01   www", "| 00 01 | 00 01   www"))  # AAAA asked as A
    assert any("the bytes shown are not a query for it" in p for p in wrong_bytes)


@needs_namespaces
def test_dns_names_resolves_three_ways_through_a_server_on_port_53_of_its_own():
    result = run_demo_once("dns-names")
    assert result.ok, result.problems
    missing = mismatches("dns_names.py", labelled(result), vary=VARY_IDS)
    if shutil.which("dig") is None:  # then it says so instead, and dig's lines are for the test below
        assert "dig: not installed (Debian: apt-get install dnsutils): skipped" in result.transcript.texts("names")
        missing = [line for line in missing if not line.startswith("dig[")]
    assert missing == []
    names = [line.text for line in result.said("names")]
    # measured: IPv6 first (RFC 6724), then the IPv4 addresses in the order the server gave them
    assert "3. getaddrinfo('many.ipc.test', 80): [fd53::11]:80, 10.53.0.11:80, 10.53.0.12:80, 10.53.0.13:80" in names
    queried = [line.text for line in result.said("dns") if " -> " in line.text]
    assert any("many.ipc.test AAAA" in text for text in queried)  # getaddrinfo asked the server for both families


@needs_namespaces
@needs("dig")
def test_dns_names_shows_what_dig_says():
    result = run_demo_once("dns-names")
    dug = [line.text for line in result.said("dig")]
    assert {text.split()[-1] for text in dug if "\tIN\tA\t" in text} == {"10.53.0.11", "10.53.0.12", "10.53.0.13"}
    assert [text.split()[-1] for text in dug if "\tIN\tAAAA\t" in text] == ["fd53::11"]


@TOOL
@pytest.mark.skipif(protocols.no_dnsmasq() is not None, reason=str(protocols.no_dnsmasq()))
def test_dnsmasq_an_independent_server_gives_the_same_names():
    result = run_demo(catalog.find(["dns-dnsmasq"])[0])
    assert result.ok, result.problems
    assert any(re.search(r"many\.ipc\.test is 10\.53\.0\.1[123]$", line.text) for line in result.said("dnsmasq"))


def test_dns_names_without_unshare_says_so_in_one_line():
    done = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "dns_names.py")],
        capture_output=True,
        cwd=ROOT,
        timeout=10,
        env={**os.environ, "PATH": "/nonexistent"},
    )
    assert done.returncode == 1
    assert re.fullmatch(
        rb"names\[\d+\]: error: FileNotFoundError: needs Linux namespaces and unshare, mount, ip "
        rb"\(util-linux, iproute2\)\n",
        done.stderr,
    )


@needs_namespaces
def test_the_inner_step_refuses_to_run_in_its_parents_namespaces():
    # Its parent here (sh) shares its namespaces, as a person typing --inside at a prompt would: it must refuse
    # before it mounts or adds anything. All inside a sandbox, so that a failing guard could change nothing here.
    script = f'"{sys.executable}" demos/dns_names.py --inside; echo "code $?"; ip -brief address show lo'
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=20,
    )
    assert re.fullmatch(
        r"names\[\d+\]: error: PermissionError: --inside is for dns_names\.py itself, once unshare "
        r"has made it namespaces of its own\n",
        done.stderr,
    )
    assert done.stdout.split()[:4] == ["code", "1", "lo", "DOWN"]  # and no address was added


@needs_namespaces
def test_dns_names_stopped_midway_ends_everything_it_started():
    with Program("dns_names.py") as names:
        names.wait_for_line(r"dns\[\d+\]: ready: host=127\.0\.0\.1 port=53")
        names.popen.send_signal(signal.SIGTERM)  # as from kill, while its DNS server runs
        code, _, _ = names.finish()
    assert code == 143  # SIGTERM: 128 + 15
    assert re.fullmatch(r"names\[\d+\]: interrupted", names.lines[-1])  # and the fixture finds no process left


# -- dig, a real client ------------------------------------------------------------


@needs("dig")
def test_dig_reads_the_demo_servers_answers():
    with dns_server("--record", "demo.ipc.test=127.0.0.1", "--queries", "7") as dns:
        port = dns.ready()["port"]

        def dig(*args):
            done = subprocess.run(
                ["dig", "@127.0.0.1", "-p", port, "+time=3", "+tries=1", *args],
                capture_output=True,
                text=True,
                timeout=10,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert set(dig("many.ipc.test", "A", "+short").split()) == {"10.53.0.11", "10.53.0.12", "10.53.0.13"}
        assert dig("www.ipc.test", "AAAA", "+short").split() == ["fd53::10"]
        assert dig("demo.ipc.test", "+short").split() == ["127.0.0.1"]  # a --record of our own
        full = dig("nothing.ipc.test")
        assert "status: NXDOMAIN" in full and re.search(r"flags: qr aa rd;", full)  # authoritative, no "ra"
        assert "; EDNS: version: 0, flags:; udp: 1232" in full  # dig sent an OPT record: ours came back
        assert "status: REFUSED" in dig("example.com")  # not its zone, and it does not ask anyone else
        assert "status: BADVERS" in dig("www.ipc.test", "+edns=1", "+noednsnegotiation")  # a version it lacks
        no_mx = dig("ipc.test", "MX", "+norecurse")  # the name exists, with no such record
        assert re.search(r"status: NOERROR.*\n;; flags: qr aa; QUERY: 1, ANSWER: 0,", no_mx)
        assert dns.finish()[0] == 0


# -- bad datagrams: answered as DNS says, and the server goes on --------------------


@pytest.mark.parametrize(
    "datagram,rcode",
    [
        (query("www.ipc.test", questions=2), "FORMERR"),
        (
            struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
            "FORMERR",
        ),  # a name pointing at itself
        (struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\x03www", "FORMERR"),  # the question cut short
        (query("www.ipc.test", flags=0x1000), "NOTIMP"),  # opcode 2: a server status request
        (query("www.ipc.test", qtype=15), "NOERROR"),  # MX: the name exists, no such record (0 answers)
        (query("WWW.IPC.TEST"), "NOERROR"),  # names are case-insensitive
        (query("www.ipc.test")[:-2] + b"\x00\x03", "REFUSED"),  # class CH (Chaosnet), not the Internet's
        (struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\x01a\xc0\x0c", "FORMERR"),  # "a", then itself again: a loop
        (struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\x07www.ipc\x04test\x00\x00\x01\x00\x01", "REFUSED"),  # 2 labels
        (with_opt(with_opt(query("www.ipc.test")), payload=4096), "FORMERR"),  # two OPT records
        (with_opt(query("www.ipc.test"), version=1), "BADVERS"),  # EDNS version 1: not spoken here
    ],
)
def test_each_query_gets_the_rcode_dns_prescribes(datagram, rcode):
    with dns_server("--queries", "1") as dns:
        (ident, flags, _, answers, _, additional), data = ask(int(dns.ready()["port"]), datagram)
        assert dns.finish()[0] == 0
    assert ident == struct.unpack("!H", datagram[:2])[0] and flags & QR
    extended = 0
    if additional:  # an OPT record carries the rcode's upper 8 bits (RFC 6891 6.1.3)
        opt, _ = read_record(data, len(data) - 11)
        assert opt.rtype == TYPES["OPT"] and opt.name == ""
        extended = opt.ttl >> 24
    assert RCODES[extended << 4 | flags & 0xF] == rcode
    if datagram[12:14] == b"\x03W":
        assert answers == 1 and data[12:30] == datagram[12:30]  # the question comes back as it went, capitals and all


def test_garbage_and_answers_are_ignored_and_the_next_query_is_served():
    with dns_server("--queries", "1") as dns:
        port = int(dns.ready()["port"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"hello", ("127.0.0.1", port))  # 5 bytes: no room for a header
            sock.sendto(query("www.ipc.test", flags=QR), ("127.0.0.1", port))  # an answer: answering it could loop
        header, _ = ask(port, query("www.ipc.test"))
        assert dns.finish()[0] == 0
    assert header[3] == 1
    assert sum("not a DNS query" in line for line in dns.lines) == 2


def test_a_pointer_loop_costs_the_server_nothing_and_the_next_query_is_served():
    loop = struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\x01a\xc0\x0c"  # 16 bytes that once stopped it for everyone
    with dns_server("--queries", "2") as dns:
        port = int(dns.ready()["port"])
        (_, flags, _, _, _, _), _ = ask(port, loop, timeout=2)
        header, _ = ask(port, query("www.ipc.test"), timeout=2)
        assert dns.finish()[0] == 0
    assert RCODES[flags & 0xF] == "FORMERR" and header[3] == 1
    assert any("FORMERR (a name's pointer at byte 14 does not point back" in line for line in dns.lines)


def test_a_query_with_edns_gets_an_opt_record_back_and_answers_as_big_as_it_offers():
    records = [arg for n in range(40) for arg in ("--record", f"big.ipc.test=10.53.1.{n}")]  # 676 bytes of answer
    with dns_server("--queries", "2", *records) as dns:
        port = int(dns.ready()["port"])
        (_, flags, _, answers, _, additional), data = ask(port, with_opt(query("big.ipc.test"), payload=1232))
        (_, small_flags, _, none, _, _), small = ask(port, with_opt(query("big.ipc.test"), payload=600))
        assert dns.finish()[0] == 0
    assert not flags & TC and answers == 40 and additional == 1 and len(data) == 12 + 18 + 40 * 16 + 11
    opt, end = read_record(data, len(data) - 11)
    assert (opt.rtype, opt.rclass, opt.ttl, end) == (TYPES["OPT"], 1232, 0, len(data))  # version 0, no flags
    assert small_flags & TC and none == 0 and len(small) <= 600  # it offered 600 bytes: truncated, with its OPT
    assert any(
        "40 answers: 10.53.1.0 " in line and line.endswith("(EDNS: answers up to 1232 bytes)") for line in dns.lines
    )


def test_an_answer_too_big_for_a_udp_datagram_is_marked_truncated():
    records = [arg for n in range(40) for arg in ("--record", f"big.ipc.test=10.53.1.{n}")]
    with dns_server("--queries", "1", *records) as dns:
        (_, flags, _, answers, _, _), data = ask(int(dns.ready()["port"]), query("big.ipc.test"))
        assert dns.finish()[0] == 0
    assert flags & TC and answers == 0 and len(data) <= 512  # 40 records would be 676 bytes: ask again over TCP
    said = "big.ipc.test A -> NOERROR, 40 answers: too big for UDP, sent truncated (TC) with none"
    assert any(said in line for line in dns.lines)


# -- the demo's client against servers that misbehave; bad command lines ------------

ONE_ANSWER = struct.pack("!5H", 0x8180, 1, 1, 0, 0)  # flags QR RD RA, 1 question, 1 answer (the id comes first)


def fake_server_answers(replies_for, timeout=5):
    """Run the client against a UDP socket of ours that answers its query with the datagrams replies_for(query)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as fake:
        fake.bind(("127.0.0.1", 0))
        fake.settimeout(5)
        port = str(fake.getsockname()[1])
        with Program(
            "dns_client.py", "--port", port, "--type", "A", "--timeout", str(timeout), "www.ipc.test"
        ) as client:
            data, peer = fake.recvfrom(4096)
            for reply in replies_for(data):
                fake.sendto(reply, peer)
            code, _, _ = client.finish()
    return code, client.lines


def answer_to(q):
    """The right answer to a query of www.ipc.test A: its id, its question, one record, 10.53.0.10."""
    return q[:2] + ONE_ANSWER + q[12:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x35\x00\x0a"


def other_id(q):
    return struct.pack("!H", (struct.unpack("!H", q[:2])[0] + 1) % 65536)


@pytest.mark.parametrize(
    "strays,says",
    [
        ([lambda q: other_id(q) + answer_to(q)[2:]], "is not our query's"),  # a late or forged answer
        ([lambda q: q], "QR is clear: a query, not an answer"),  # our own query, echoed back
        ([lambda q: q[:5]], "too short for a DNS header"),
        ([lambda q: answer_to(q.replace(b"\x03www", b"\x03web"))], "it answers another question"),
        ([lambda q: q, lambda q: other_id(q) + q[2:], lambda q: b""], "too short"),  # several, then the answer
    ],
)
def test_the_client_ignores_datagrams_that_are_not_its_answer_and_waits_for_it(strays, says):
    code, lines = fake_server_answers(lambda q: [stray(q) for stray in strays] + [answer_to(q)])
    assert code == 0, lines
    ignored = [line for line in lines if "ignored a datagram" in line]
    assert len(ignored) == len(strays) and says in " ".join(ignored)
    assert any(line.endswith("www.ipc.test. 60 IN A 10.53.0.10") for line in lines)


@pytest.mark.parametrize(
    "reply_for,says",
    [
        (lambda q: q[:2] + ONE_ANSWER + q[12:] + b"\xc0\x0c\x00\x01", "ends in the middle"),
        (lambda q: q[:2] + ONE_ANSWER + q[12:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a", "cut short"),
        (
            lambda q: (
                q[:2] + ONE_ANSWER + q[12:] + b"\x01a\xc0\x1e\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x35\x00\x0a"
            ),
            "does not point back",
        ),  # the record's name: "a", then itself again (at byte 30): a loop
    ],
)
def test_the_client_refuses_a_wrong_answer_in_one_line(reply_for, says):
    code, lines = fake_server_answers(lambda q: [reply_for(q)], timeout=2)
    assert code == 1 and says in lines[-1] and re.match(r"client\[\d+\]: error: DNSFormatError: ", lines[-1])


@pytest.mark.parametrize(
    "script,args,code,says",
    [
        ("dns_client.py", ["--port", "{silent}", "--timeout", "0.3"], 1, "error: TimeoutError: no answer within 0.3 s"),
        ("dns_client.py", ["--port", "53", "a" * 64 + ".test"], 1, "error: DNSFormatError: "),
        ("dns_client.py", ["--port", "53", "--type", "MX"], 2, "invalid choice: 'MX'"),
        ("dns_client.py", ["--port", "70000"], 2, "70000 is not a port"),
        ("dns_client.py", ["--port", "53", "--timeout", "0"], 2, "0 is out of range: more than 0 s"),
        ("dns_client.py", ["--port", "53", "--server", "a" * 64], 2, "is not a host name or address"),
        ("dns_server.py", ["--record", "nonsense"], 2, "'nonsense' is not NAME=ADDRESS"),
        ("dns_server.py", ["--record", "x.ipc.test=10.0.0.256"], 2, "is not NAME=ADDRESS"),
        ("dns_server.py", ["--queries", "-2"], 2, "-2 is out of range: 0 to"),
        ("dns_server.py", ["--record", "a" * 64 + ".test=10.0.0.1"], 2, "each label between dots is 1 to 63 bytes"),
        ("dns_names.py", ["--nonsense"], 2, "unrecognized arguments: --nonsense"),
    ],
)
def test_bad_input_gets_one_line_and_a_non_zero_exit(script, args, code, says):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound: the datagram is queued here, and nobody ever answers
        done = run_program(script, *[arg.format(silent=silent.getsockname()[1]) for arg in args])
    assert done.returncode == code
    assert says in done.stderr.decode().splitlines()[-1]
    assert b"Traceback" not in done.stderr


def test_port_53_without_privileges_says_why():
    fake = (
        "import runpy, socket, sys\n"
        "def bind(self, where): raise PermissionError(13, 'Permission denied')\n"
        "socket.socket.bind = bind  # as for a user who is not root\n"
        "sys.argv = ['dns_server.py', '--port', '53']\n"
        "runpy.run_path('demos/dns_server.py', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", fake], capture_output=True, cwd=ROOT, timeout=10)
    assert done.returncode == 1
    assert re.fullmatch(
        rb"dns\[\d+\]: error: PermissionError: cannot bind 127\.0\.0\.1:53: ports below 1024 need "
        rb"privileges \(root, or CAP_NET_BIND_SERVICE\); try --port 0 or a port from 1024 up\n",
        done.stderr,
    )


def test_the_zone_the_checks_expect_is_the_one_the_server_serves():
    with dns_server("--queries", "1") as dns:
        dns.ready()
        zone_line = next(line for line in dns.lines if ": zone ipc.test: " in line)
        dns.stop()
    assert zone_line.split(": zone ipc.test: ")[1] == "; ".join(f"{n} {' '.join(a)}" for n, a in SAMPLE_ZONE.items())
