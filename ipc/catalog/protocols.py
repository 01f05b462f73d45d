"""The notes' protocols for real: HTTP/1.1 over the socket calls of the TCP demos, and DNS.

Each demo runs with kind "runs" (or "deadlock" for the broken HTTP client);
its check reads what the processes printed and recomputes what they should
have seen, so ``ipc run NAME`` fails when the behaviour was not observed. The
checks read only the transcript: what each role said.
"""

from __future__ import annotations

import re
import shutil
from typing import Optional

from ..transcript import Transcript
from . import Demo, ExpectedDeadlock, Program
from .deadlocks import EACH_WAITS_FOR_THE_OTHER

HTTP_PATHS = ("/", "/count.txt", "/hello.txt", "/nowhere")


def check_http(transcript: Transcript) -> list[str]:
    """Every request the client sent, the server received, on one connection (one 4-tuple seen from both
    ends); each response was read to its Content-Length; the status lines agree on both sides."""
    client, server = transcript.texts("client"), transcript.texts("server")
    problems = []
    connected = [m for t in client if (m := re.match(r"^connected (\S+) -> (\S+)$", t))]
    accepted = [m for t in server if (m := re.match(r"^accepted (\S+) <- (\S+)$", t))]
    ends = [(m[1], m[2]) for m in connected] + [(m[2], m[1]) for m in accepted]  # (client, server), both views
    if len(connected) != 1 or len(accepted) != 1 or ends[0] != ends[1]:
        return [f"expected one connection seen from both ends, saw {[m[0] for m in connected + accepted]}"]
    peer = connected[0][1]
    sent = [t[2:] for t in client if t.startswith("> GET ")]
    received = [m[1] for t in server if (m := re.match(rf'^{re.escape(peer)}: received "(.*)"$', t))]
    if sent != [f"GET {path} HTTP/1.1" for path in HTTP_PATHS] or received != sent:
        problems.append(f"the client sent {sent}, the server received {received}")
    status_client = [t[2:] for t in client if t.startswith("< HTTP/")]
    status_server = [m[1] for t in server if (m := re.match(rf'^{re.escape(peer)}: sent "(.*)" and \d+ bytes', t))]
    expected = ["HTTP/1.1 200 OK"] * (len(HTTP_PATHS) - 1) + ["HTTP/1.1 404 Not Found"]
    if status_client != expected or status_server != expected:
        problems.append(f"status lines: the server sent {status_server}, the client read {status_client}")
    lengths = [int(t.split()[-1]) for t in client if t.startswith("< Content-Length:")]
    bodies = [int(m[1]) for t in client if (m := re.match(r"^body: (\d+) bytes, as Content-Length said", t))]
    if lengths != bodies or len(bodies) != len(HTTP_PATHS):
        problems.append(f"Content-Length said {lengths}, the bodies read were {bodies}")
    if not any(re.match(r"^body: 48894 bytes, .*; ([2-9]|\d\d+) recv\(\) calls", t) for t in client):
        problems.append("the 48894-byte /count.txt did not take several recv() calls")
    if f"{peer}: hung up" not in server:  # the last request said Connection: close
        problems.append("the server did not hang up after Connection: close")
    return problems


def check_http_fixed(transcript: Transcript) -> list[str]:
    said = transcript.texts("client")
    if 'sent "GET / HTTP/1.1" and 0 bytes of body' not in said or not any(
        t.startswith('received "HTTP/1.1 200 OK" and ') for t in said
    ):
        return [f"the client did not get its page: it said {said}"]
    return []


PAGE_PARTS = ("/", "/style.css", "/script.js", "/crimson.svg", "/seagreen.svg", "/royalblue.svg")


def check_http_browser(transcript: Transcript) -> list[str]:
    """The browser asked for each part once; it used several connections, each from its own client port,
    and the browser's count agrees with the server's own lines."""
    server, browser = transcript.texts("server"), transcript.texts("browser")
    problems = []
    accepted = [m[1] for t in server if (m := re.match(r"^accepted \S+ <- (\S+)$", t))]
    requests = [(m[1], m[2]) for t in server if (m := re.match(r'^(\S+): received "GET (\S+) HTTP/1.1"$', t))]
    if sorted(path for _, path in requests) != sorted(PAGE_PARTS):
        asked = sorted(path for _, path in requests)
        problems.append(f"the browser asked for {asked}, expected each of {sorted(PAGE_PARTS)} once")
    if len(accepted) < 2 or len(set(accepted)) != len(accepted):
        problems.append(f"expected several connections, each from its own client port; the server accepted {accepted}")
    if not {peer for peer, _ in requests} <= set(accepted):
        problems.append("a request came on a connection the server never accepted")
    counted = re.compile(r"^(\d+) requests over (\d+) connections to \S+, from client ports (.*)$")
    summary = [m for t in browser if (m := counted.match(t))]
    if (
        not summary
        or (int(summary[0][1]), int(summary[0][2])) != (len(requests), len(accepted))
        or summary[0][3].split(", ") != [peer.rsplit(":", 1)[1] for peer in accepted]
    ):
        problems.append(f"the browser's count {[m[0] for m in summary]} disagrees with the server's lines")
    if not any(t.endswith('3 pictures, "the script ran"') for t in browser):
        problems.append("the page the browser built lacks its pictures or its script's line")
    return problems


def no_chromium() -> Optional[str]:
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        return "no Chromium here (Debian: apt-get install chromium)"
    return None


def count_http(transcript: Transcript) -> int:
    """Requests and responses: as the client sent and read them (curl -v's "> GET", "< HTTP/"), or else as the
    server received and sent them ('PEER: received "GET ..."'): 2 for each request answered."""
    client = sum(t.startswith(("> GET ", "< HTTP/")) for t in transcript.texts("client"))
    return client or sum(bool(re.match(r'^\S+: (received|sent) "', t)) for t in transcript.texts("server"))


HTTP_SERVER = Program("http_server.py", ("--host", "127.0.0.1", "--connections", "1"))

DEMOS = [
    Demo(
        name="http",
        mechanism="HTTP/1.1 over TCP, keep-alive",
        teaches="HTTP is bytes on a TCP stream: a head up to a blank line, then Content-Length bytes of body; "
        "several requests on one connection, the last one closes it",
        server=HTTP_SERVER,
        client=Program(
            "http_client.py", ("--host", "{host}", "--port", "{port}", "--output", "/dev/null", *HTTP_PATHS)
        ),
        kind="runs",
        check=check_http,
        count=count_http,
    ),
    Demo(
        name="http-browser",
        mechanism="HTTP/1.1 over TCP, headless Chromium",
        teaches="a browser fetches a page's parts over several connections at once, each from its own client port: "
        "the 4-tuples at accept() tell them apart",
        client=Program("http_browser.py"),
        also_runs=("http_server.py",),
        kind="runs",
        check=check_http_browser,
        count=count_http,
        timeout=90.0,
        unavailable=no_chromium,
        untraced="Chromium makes some 28,000 system calls of its own: ipc trace http-browser draws them, "
        "the report leaves them out",
        slow="it starts a browser",
    ),
    Demo(
        name="http-client-reads-first",
        mechanism="HTTP/1.1 over TCP, broken",
        teaches="the notes' HTTP deadlock with a real HTTP server: a client that reads before sending its GET waits "
        "for ever (the server, without its deadline, waits too)",
        server=Program("http_server.py", ("--host", "127.0.0.1", "--connections", "1", "--timeout", "0")),
        client=Program("broken/http_client_reads_first.py", ("--host", "{host}", "--port", "{port}")),
        kind="deadlock",
        deadlock=ExpectedDeadlock(EACH_WAITS_FOR_THE_OTHER, {"client": "recvfrom", "server": "recvfrom"}),
        fixed_by="http-client-reads-first-fixed",
        timeout=10.0,
    ),
    Demo(
        name="http-client-reads-first-fixed",
        mechanism="HTTP/1.1 over TCP, fixed",
        teaches="the client sends its GET, then reads the response: the server speaks only when asked",
        server=HTTP_SERVER,
        client=Program("broken/http_client_reads_first.py", ("--host", "{host}", "--port", "{port}", "--fixed")),
        kind="runs",
        check=check_http_fixed,
        count=count_http,  # the request and its response, as the server logged them
    ),
]


# -- DNS ------------------------------------------------------------------------

QUERY = re.compile(r"^query (0x[0-9a-f]{4}): (\S+) (A|AAAA), \d+ bytes$")
ANSWER = re.compile(r"^answer (0x[0-9a-f]{4}): \d+ bytes: (\w+), flags ([A-Z ]+), \d+ answers?$")
SHOWN = re.compile(r"^  (header|question|record) +([0-9a-f]{2}(?:(?: \| | )[0-9a-f]{2})*)(?: {3}(.*))?$")
DIG = re.compile(r"^(\S+)\.\s+\d+\s+IN\s+(A|AAAA)\s+(\S+)$")
TRY = re.compile(r"^try (\d+) of (\d+): connect\((\S+)\): (ConnectionRefusedError|connected from)")
NAMES = ("www.ipc.test", "many.ipc.test", "nothing.ipc.test")


def zone_addresses(name: str, kind: str) -> set[str]:
    from ..dns_messages import SAMPLE_ZONE

    return {a for a in SAMPLE_ZONE.get(name, ()) if (":" in a) == (kind == "AAAA")}


def client_lookups(texts: list[str]) -> tuple[dict, list[str]]:
    """dns_client's output as {(name, type): (rcode, {addresses})}, and the problems in the bytes it showed:
    each query must be the header and question that name and type make, each record's data its address."""
    import socket
    import struct

    from ..dns_messages import CLASS_IN, RD, TYPES, encode_name

    blocks, problems, block = {}, [], None
    for text in texts:
        if m := QUERY.match(text):
            block = blocks[(m[2], m[3])] = {"id": m[1], "sent": b"", "rcode": None, "addresses": set()}
        elif block is None:
            continue
        elif m := ANSWER.match(text):
            block["rcode"] = m[2]
            if m[1] != block["id"] or "QR" not in m[3].split():
                problems.append(f"answer {m[1]} to query {block['id']} is not marked as its answer ({m[3]})")
        elif (m := SHOWN.match(text)) and m[1] != "record" and block["rcode"] is None:
            block["sent"] += bytes.fromhex(m[2].replace("|", ""))
        elif m and m[1] == "record":
            owner, _, _, kind, shown = m[3].split()
            data = bytes.fromhex(m[2].replace("|", ""))[-(4 if kind == "A" else 16) :]
            if socket.inet_pton(socket.AF_INET if kind == "A" else socket.AF_INET6, shown) != data:
                problems.append(f"a record's bytes are not the address it shows: {text.strip()}")
            block["addresses"].add(shown)
    for (name, kind), block in blocks.items():
        query = (
            struct.pack("!6H", int(block["id"], 16), RD, 1, 0, 0, 0)
            + encode_name(name)
            + struct.pack("!2H", TYPES[kind], CLASS_IN)
        )  # recomputed here, independently of the demo
        if block["sent"] != query:
            problems.append(f"query {block['id']} for {name} {kind}: the bytes shown are not a query for it")
    return {key: (block["rcode"], block["addresses"]) for key, block in blocks.items()}, problems


def count_dns(transcript: Transcript) -> int:
    """Queries and answers, as the client packed and read them."""
    return sum(bool(QUERY.match(t) or ANSWER.match(t)) for t in transcript.texts("client"))


def check_dns(transcript: Transcript) -> list[str]:
    """The client's answers are the zone's, in bytes that say so; the server logged each query it answered."""
    from ..dns_messages import SAMPLE_ZONE

    lookups, problems = client_lookups(transcript.texts("client"))
    served = transcript.texts("dns")
    for name in NAMES:
        for kind in ("A", "AAAA"):
            rcode, addresses = lookups.get((name, kind), (None, set()))
            wanted = "NOERROR" if name in SAMPLE_ZONE else "NXDOMAIN"
            if (rcode, addresses) != (wanted, zone_addresses(name, kind)):
                problems.append(
                    f"{name} {kind}: got {rcode} {sorted(addresses)}, "
                    f"the zone says {wanted} {sorted(zone_addresses(name, kind))}"
                )
            logged = re.compile(rf"^query 0x[0-9a-f]{{4}} from \S+: {re.escape(name)} {kind} -> {wanted}, ")
            if not any(logged.match(t) for t in served):
                problems.append(f"the server logged no answer to {name} {kind}")
    return problems


def check_dns_names(transcript: Transcript) -> list[str]:
    """Three ways, one answer: dig, the demo's client and getaddrinfo agree with the zone; several names share
    an address; connect_each walks many.ipc.test's addresses in getaddrinfo's order until one connects."""
    names, client = transcript.texts("names"), transcript.texts("client")
    problems = []
    if not any("dig: not installed" in t for t in names):
        dug = [m.groups() for t in transcript.texts("dig") if (m := DIG.match(t))]
        for kind in ("A", "AAAA"):
            answered = {a for name, k, a in dug if (name, k) == ("many.ipc.test", kind)}
            if answered != zone_addresses("many.ipc.test", kind):
                problems.append(f"dig's {kind} answers for many.ipc.test are not the zone's: {dug}")
    lookups, wrong_bytes = client_lookups(client)
    problems += wrong_bytes
    for kind in ("A", "AAAA"):
        if lookups.get(("many.ipc.test", kind), (None, set()))[1] != zone_addresses("many.ipc.test", kind):
            problems.append(f"the client's {kind} answers for many.ipc.test are not the zone's: {lookups}")
    listed = re.compile(r"^3\. getaddrinfo\('many\.ipc\.test', 80\): (.*)$")
    gai = [m for t in names if (m := listed.match(t))]
    found = [where.rsplit(":", 1)[0].strip("[]") for where in gai[0][1].split(", ")] if gai else []
    if set(found) != zone_addresses("many.ipc.test", "A") | zone_addresses("many.ipc.test", "AAAA"):
        problems.append(f"getaddrinfo('many.ipc.test') gave {found}, not the zone's four addresses")
    if "several names, one address: www.ipc.test, web.ipc.test, ipc.test -> 10.53.0.10" not in names:
        problems.append("www, web and ipc.test did not resolve to one shared address")
    if not any(t.startswith("getaddrinfo('nothing.ipc.test'): gaierror EAI_NONAME") for t in names):
        problems.append("nothing.ipc.test did not fail with EAI_NONAME")
    tries = [m for t in client if (m := TRY.match(t))]
    order = [m[3].rsplit(":", 1)[0].strip("[]") for m in tries]
    if (
        not tries
        or [int(m[1]) for m in tries] != list(range(1, len(tries) + 1))
        or tries[-1][4] != "connected from"
        or any(m[4] != "ConnectionRefusedError" for m in tries[:-1])
        or int(tries[0][2]) != len(found)
    ):
        problems.append(f"connect_each did not try the addresses in turn until one connected: {[m[0] for m in tries]}")
    elif not transcript.texts("dnsmasq") and order != found:  # our server keeps its order; dnsmasq rotates it
        problems.append(f"connect_each tried {order}, not getaddrinfo's order {found}")
    if 'received "4 BYE"' not in client:
        problems.append("connect_each's exchange did not finish")
    return problems


_NAMESPACES: list = []


def no_namespaces() -> Optional[str]:
    """Why dns_names.py cannot make its namespaces here, or None (asked once)."""
    import subprocess
    import sys

    if not _NAMESPACES:
        missing = [tool for tool in ("unshare", "mount", "ip") if shutil.which(tool) is None]
        if not sys.platform.startswith("linux") or missing:
            _NAMESPACES.append(f"needs Linux namespaces and {', '.join(missing) or 'unshare'} (util-linux, iproute2)")
        else:
            probe = subprocess.run(
                ["unshare", "--user", "--map-root-user", "--net", "--mount", "true"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            _NAMESPACES.append(
                None
                if probe.returncode == 0
                else f"cannot make namespaces here: {probe.stderr.strip()} (needs root or user namespaces)"
            )
    return _NAMESPACES[0]


def no_dnsmasq() -> Optional[str]:
    if shutil.which("dnsmasq") is None:
        return "no dnsmasq here (Debian: apt-get install dnsmasq-base)"
    return no_namespaces()


DEMOS += [
    Demo(
        name="dns",
        mechanism="DNS over UDP, loopback",
        teaches="a DNS query and its answer, byte by byte: a 12-byte header of big-endian numbers, the name as labels, "
        "records whose name is a pointer; A and AAAA; NXDOMAIN",
        server=Program("dns_server.py", ("--host", "127.0.0.1", "--queries", str(2 * len(NAMES)))),
        client=Program("dns_client.py", ("--server", "{host}", "--port", "{port}", *NAMES)),
        kind="runs",
        check=check_dns,
        count=count_dns,
    ),
    Demo(
        name="dns-names",
        mechanism="DNS: dig, struct, getaddrinfo, in namespaces",
        teaches="a name resolved three ways through a real server on port 53 of a host of its own; one name, several "
        "addresses (connect-each tries them); several names, one address",
        client=Program("dns_names.py"),
        also_runs=("dns_server.py", "dns_client.py", "connect_each.py"),
        kind="runs",
        check=check_dns_names,
        unavailable=no_namespaces,
        traced_from_start=True,  # it runs ip, unshare, mount, dig...: 150 programs
        slow="it makes network namespaces and runs some 150 programs",
    ),
    Demo(
        name="dns-dnsmasq",
        mechanism="DNS: dnsmasq, in namespaces",
        teaches="the same names served by Debian's dnsmasq, an independent server: the same answers, "
        "in a rotating order (round robin)",
        client=Program("dns_names.py", ("--dnsmasq",)),
        also_runs=("dns_client.py", "connect_each.py"),
        kind="runs",
        check=check_dns_names,
        unavailable=no_dnsmasq,
        traced_from_start=True,  # it runs ip, unshare, mount, dnsmasq...: 150 programs
        slow="it makes network namespaces and runs some 150 programs",
    ),
]
