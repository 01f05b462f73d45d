"""Lessons on addresses: byte order, names, which address a server binds, the two axes.

Each demo runs by itself (kind "runs"); its check reads what the demo printed
and recomputes what it should have seen, so ``ipc run NAME`` fails when the
behaviour was not observed, not merely when the program crashed.
"""

from __future__ import annotations

import re
import socket
import struct
import sys

from ..protocol import SAMPLE_REQUESTS
from ..transcript import Transcript, check_exchange
from . import Demo, Program


def _search(texts: list[str], pattern: str) -> list[re.Match]:
    return [match for text in texts if (match := re.search(pattern, text))]


def check_byte_order(transcript: Transcript) -> list[str]:
    problems = []
    texts = transcript.texts("byteorder")
    if f"this machine is {sys.byteorder}-endian (sys.byteorder)" not in texts:
        problems.append(f"the demo did not report this machine as {sys.byteorder}-endian")
    expected = {  # the default port and address, as the harness computes them
        "in this machine's memory, struct '=H'": struct.pack("=H", 8080).hex(" "),
        "in network order, struct '!H'": "1f 90",
        f"htons(8080) = {socket.htons(8080):#06x}, in memory": "1f 90",
        "address 127.0.0.1: inet_pton(AF_INET) =": "7f 00 00 01",
    }
    for label, data in expected.items():
        if not _search(texts, re.escape(label) + r"\s+" + re.escape(data) + r"\b"):
            problems.append(f"no line shows {label} {data}")
    sockaddrs = _search(texts, r"^sockaddr of (\S+) port (\d+) \((\d+) bytes\): (.*)$")
    if len(sockaddrs) != 2:
        problems.append(f"expected the kernel's sockaddr for 127.0.0.1 and ::1, saw {len(sockaddrs)}")
    for match in sockaddrs:
        host, port, fields = match[1], int(match[2]), match[4].split(" | ")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if sys.platform.startswith("linux") and fields[0] != struct.pack("=H", family).hex(" "):
            problems.append(f"sockaddr of {host}: family bytes {fields[0]}, expected {family.name} in host order")
        if fields[1] != struct.pack("!H", port).hex(" "):
            problems.append(f"sockaddr of {host}: port bytes {fields[1]} are not {port} in network order")
        address = fields[2] if family == socket.AF_INET else fields[3]
        if address != socket.inet_pton(family, host).hex(" "):
            problems.append(f"sockaddr of {host}: address bytes {address} are not inet_pton's")
    wire = _search(texts, r"^on the wire, a UDP header to 127\.0\.0\.1 port (\d+)")
    headers = _search(texts, r"^\s*(\w\w \w\w) \| (\w\w \w\w) \| (\w\w \w\w) \| (\w\w \w\w)\s+\(source port")
    if wire and headers:
        if headers[0][2] != struct.pack("!H", int(wire[0][1])).hex(" "):
            problems.append(f"the UDP header's destination port {headers[0][2]} is not {wire[0][1]} in network order")
    elif not _search(texts, r"^on the wire: not shown \(.+\)"):
        problems.append("neither the UDP header on the wire nor why it could not be shown")
    return problems


def lookups(texts: list[str]) -> dict[str, list[str]]:
    """showip's output as {name: [its result lines]} (an empty list: no address)."""
    found: dict[str, list[str]] = {}
    name = None
    for text in texts:
        if text.startswith("  ") and name is not None:
            found[name].append(text.strip())
        elif match := re.match(r"^(\S*): (\d+ results?|no address)", text):
            name = match[1]
            found[name] = []
    return found


def check_showip(transcript: Transcript) -> list[str]:
    found = lookups(transcript.texts("showip"))
    problems = []
    expected = {  # name -> a result line it must have
        "localhost": r"^AF_INET\s+SOCK_STREAM\s+IPPROTO_TCP\s+\('127\.0\.0\.1', 0\)$",
        "127.0.0.1": r"^AF_INET\s+SOCK_STREAM\s+IPPROTO_TCP\s+\('127\.0\.0\.1', 0\)$",
        "::1": r"^AF_INET6\s+SOCK_STREAM\s+IPPROTO_TCP\s+\('::1', 0, 0, 0\)$",
    }
    for name, pattern in expected.items():
        if not any(re.search(pattern, line) for line in found.get(name, [])):
            problems.append(f"getaddrinfo({name!r}) did not show a line like /{pattern}/")
    if socket.gethostname() not in found:
        problems.append(f"this machine's name {socket.gethostname()!r} was not looked up")
    if found.get("nowhere.invalid") != [] or not _search(
        transcript.texts("showip"), r"^nowhere\.invalid: no address: gaierror "
    ):
        problems.append("nowhere.invalid did not fail with a gaierror line")
    return problems


def check_connect_each(transcript: Transcript) -> list[str]:
    texts = transcript.texts("client")
    problems, _ = check_exchange(transcript, SAMPLE_REQUESTS, clients=1)
    listed = _search(texts, r"^getaddrinfo\(None, \d+\) gave (\d+): ")
    tries = _search(texts, r"^try (\d+) of (\d+): connect\((\S+)\): (.*) after [\d.]+ ms")
    if not listed or int(listed[0][1]) < 2:
        return problems + ["getaddrinfo(None) did not give two addresses or more"]
    count = int(listed[0][1])
    if [int(m[1]) for m in tries] != list(range(1, count + 1)):
        problems.append(f"expected tries 1 to {count}, saw {[m[1] for m in tries]}")
    elif not all(m[4].startswith("ConnectionRefusedError") for m in tries[:-1]):
        problems.append(f"an early try was not refused: {[m[4] for m in tries[:-1]]}")
    elif not tries[-1][4].startswith("connected from"):
        problems.append(f"the last try did not connect: {tries[-1][4]}")
    return problems


def one_address_only():
    if len(socket.getaddrinfo(None, 0, type=socket.SOCK_STREAM)) < 2:
        return "getaddrinfo(None) gives a single address here: there is nothing to fall back on"
    return None


def reachable(bound: str, v6only: bool, target: str) -> bool:
    """The rule bind-any shows: who reaches a listener bound to `bound` by connecting to `target`."""
    if bound == target:
        return True
    if bound == "0.0.0.0":  # INADDR_ANY: every IPv4 address of this machine
        return ":" not in target
    if bound == "::":  # in6addr_any: every IPv6 address, and IPv4 too unless IPV6_V6ONLY
        return ":" in target or not v6only
    return False


def bind_table(texts: list[str]) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    """bind-any's table as (targets, [(bound address, label, cells)])."""
    targets, rows = [], []
    for text in texts:
        if text.startswith("bound \\ connect to"):
            targets = text.split()[4:]
        elif (
            targets
            and (tokens := text.split())
            and len(tokens) == 2 + len(targets)
            and re.match(r"^[\d.:a-f]+$", tokens[0])
        ):
            rows.append((tokens[0], tokens[1], tokens[2:]))
    return targets, rows


def check_bind_any(transcript: Transcript) -> list[str]:
    texts = transcript.texts("bind")
    targets, rows = bind_table(texts)
    problems = []
    if not {"127.0.0.1", "::1"} <= set(targets):
        problems.append(f"the table's targets {targets} lack 127.0.0.1 or ::1")
    seen = {(bound, label) for bound, label, _ in rows}
    for wanted in [
        ("0.0.0.0", "INADDR_ANY"),
        ("127.0.0.1", "INADDR_LOOPBACK"),
        ("::", "V6ONLY=0"),
        ("::", "V6ONLY=1"),
        ("::1", "in6addr_loopback"),
    ]:
        if wanted not in seen:
            problems.append(f"no row for a listener bound to {wanted[0]} ({wanted[1]})")
    for bound, label, cells in rows:
        for target, cell in zip(targets, cells):
            expected = reachable(bound, label == "V6ONLY=1", target)
            mapped = bound == "::" and ":" not in target  # an IPv4 client seen by an IPv6 listener
            if (
                cell not in ("yes", "yes*", "refused")
                or cell.startswith("yes") != expected
                or (cell == "yes*") != (expected and mapped)
            ):
                problems.append(f"bound to {bound} ({label}), connecting to {target} gave {cell!r}")
    if len(targets) < 4 and not _search(texts, r"cannot be shown here"):
        problems.append("fewer than 4 targets, and no word on what could not be shown")
    return problems


ADDRESS_FORMS = {  # the form getsockname() gives in each family
    "AF_UNIX": r"^/\S+$",  # a path
    "AF_INET": r"^\('[\d.]+', \d+\)$",  # (host, port)
    "AF_INET6": r"^\('[0-9a-f:]+', \d+, \d+, \d+\)$",  # (host, port, flowinfo, scope_id)
}


def axes_table(texts: list[str]) -> dict[tuple[str, str], dict[str, str]]:
    """two_axes's table as {(domain, type): {column: cell}}."""
    rows = [re.split(r"\s{2,}", text.strip()) for text in texts]
    header = next((row for row in rows if row[0] == "domain"), None)
    return {
        (row[0], row[1]): dict(zip(header, row))
        for row in rows
        if header and row[0] in ADDRESS_FORMS and len(row) == len(header)
    }


def loopback_works(family: socket.AddressFamily, host: str) -> bool:
    """Can this process send itself a datagram over this family's loopback?"""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.bind((host, 0))
            sock.sendto(b"?", sock.getsockname())
            return sock.recv(1) == b"?"
    except OSError:
        return False


def check_axes(transcript: Transcript) -> list[str]:
    table = axes_table(transcript.texts("axes"))
    problems = []
    wanted = [(domain, kind) for domain in ADDRESS_FORMS for kind in ("SOCK_STREAM", "SOCK_DGRAM")]
    if sorted(table) != sorted(wanted):
        return [f"expected a row for each of {wanted}, saw {sorted(table)}"]
    must_work = {
        "AF_UNIX": True,
        "AF_INET": loopback_works(socket.AF_INET, "127.0.0.1"),
        "AF_INET6": loopback_works(socket.AF_INET6, "::1"),
    }
    for (domain, kind), row in table.items():
        works, form, messages = row["works here"], row["address form (server's getsockname())"], row["messages"]
        if works == "yes" and (messages != "2" or not re.match(ADDRESS_FORMS[domain], form)):
            problems.append(f"{domain} x {kind}: {messages} messages, address form {form}")
        elif works != "yes" and (must_work[domain] or not works.startswith("no: ") or messages != "0"):
            problems.append(f"{domain} x {kind} did not work ({works}), though this machine has {domain}")
    sent = [text for text in transcript.texts("client") if text.startswith("sent ")]
    if len(sent) != sum(row["works here"] == "yes" for row in table.values()):
        problems.append(
            f"{len(sent)} requests sent for {sum(row['works here'] == 'yes' for row in table.values())} working pairs"
        )
    return problems


DEMOS = [
    Demo(
        name="byte-order",
        mechanism="htons/htonl, inet_pton, struct '!'",
        teaches="a port and an address in this machine's byte order and in network order, "
        "down to the kernel's sockaddr and the wire",
        client=Program("byte_order.py"),
        kind="runs",
        check=check_byte_order,
    ),
    Demo(
        name="showip",
        mechanism="getaddrinfo",
        teaches="what getaddrinfo gives for a name, a numeric address, IPv6, and a name nobody knows (gaierror)",
        client=Program("showip.py"),
        kind="runs",
        check=check_showip,
    ),
    Demo(
        name="connect-each",
        mechanism="getaddrinfo + connect, each address in turn",
        teaches="a client tries each address of a name until one connects; here the first is refused for real",
        client=Program("connect_each.py"),
        kind="runs",
        check=check_connect_each,
        unavailable=one_address_only,
    ),
    Demo(
        name="bind-any",
        mechanism="bind: INADDR_ANY, INADDR_LOOPBACK, ::, ::1, IPV6_V6ONLY",
        teaches="the address a server binds decides who reaches it: loopback only from here, ANY through every address",
        client=Program("bind_any.py"),
        kind="runs",
        check=check_bind_any,
    ),
    Demo(
        name="axes",
        mechanism="socket(family, type): Unix/IPv4/IPv6 x stream/datagram",
        teaches="the two axes, tried for real: which of the six combinations work here, and each family's address form",
        client=Program("two_axes.py"),
        kind="runs",
        check=check_axes,
    ),
]
