r"""DNS server: a small authoritative server over UDP, answering A and AAAA for made-up names.

What it shows
    DNS over UDP: one datagram asks, one datagram answers. This server owns
    the made-up zone ipc.test (.test is reserved for testing) and answers for
    it alone: A records (IPv4) and AAAA records (IPv6); one name with several
    addresses (many.ipc.test: "1 domain can go to many servers") and several
    names with one address (www.ipc.test, web.ipc.test, ipc.test). A name of
    the zone it lacks gets NXDOMAIN, any other name REFUSED: it is an
    authoritative server, not a resolver, and asks no one else. An answer is
    built with struct: the query's id, flags with QR and AA set, its question
    copied, then one record per address, whose name is a 2-byte pointer
    (c0 0c) back to the question's name at byte 12. A query with an EDNS OPT
    record (dig sends one) gets one back, and answers as big as it offers.

Run it
    python demos/dns_server.py [--host 127.0.0.1] [--port 0] [--queries N] [--record NAME=ADDRESS...]
    (or: make dns, with demos/dns_client.py; make dns-names: dig, the client and getaddrinfo)
    dig @127.0.0.1 -p PORT many.ipc.test A        dig @127.0.0.1 -p PORT www.ipc.test AAAA +norecurse

System calls, in order
    getaddrinfo(AI_PASSIVE, SOCK_DGRAM) -> socket(SOCK_DGRAM) -> bind() ->
    getsockname() -> per query: recvfrom() (one whole datagram, and who sent
    it) -> sendto() the answer, to that address.

Its peer
    dig, demos/dns_client.py, or getaddrinfo() with a resolv.conf naming this
    server (demos/dns_names.py). UDP only: dig +tcp finds no one.

Expected output
    dns[200]: zone ipc.test: www.ipc.test 10.53.0.10 fd53::10; ipc.test 10.53.0.10; web.ipc.test 10.53.0.10; ...
    dns[200]: ready: host=127.0.0.1 port=41234
    dns[200]: query 0x1a2b from 127.0.0.1:53012: www.ipc.test A -> NOERROR, 1 answer: 10.53.0.10
    ...
    dns[200]: query 0x3c4d from 127.0.0.1:53012: many.ipc.test A -> NOERROR, 3 answers: 10.53.0.11 10.53.0.12 10.53.0.13
    ...
    dns[200]: query 0x5e6f from 127.0.0.1:53012: nothing.ipc.test A -> NXDOMAIN, 0 answers
"""

import argparse
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.dns_messages import (
    AA,
    CLASS_IN,
    QR,
    RCODES,
    RD,
    SAMPLE_ZONE,
    TC,
    TYPE_NAMES,
    TYPES,
    ZONE_ORIGIN,
    DNSFormatError,
    edns_version,
    encode_name,
    opt_record,
    read_name,
    read_opt,
    within,
)
from ipc.log import Log, address

TTL = 60  # seconds a resolver may keep an answer
MAX_UDP_ANSWER = 512  # bytes in a UDP answer, unless the query offers more with EDNS
EDNS_PAYLOAD = 1232  # what we take and send over UDP with EDNS: no IP fragments on any usual path
log = Log("dns")


def respond(query: bytes, zone: dict) -> tuple[bytes, str]:
    """The answer to a query's bytes, and a line saying what it says."""
    ident, flags, questions, *counts = struct.unpack("!6H", query[:12])  # id, flags, questions, records (3 counts)
    flags_back = QR | AA | (flags & RD)  # an answer, authoritative, RD echoed; RA clear: it does not recurse
    if flags & 0x7800:  # an opcode other than 0, a standard query
        return struct.pack("!6H", ident, flags_back | 4, 0, 0, 0, 0), "NOTIMP (not a standard query)"  # 4: NOTIMP
    try:
        if questions != 1:
            raise DNSFormatError(f"{questions} questions (one, in practice)")
        name, end = read_name(query, 12)  # the question's name starts right after the header
        qtype, qclass = struct.unpack("!2H", query[end : end + 4])  # struct.error when cut short
        opt = read_opt(query, end + 4, counts)  # EDNS: one OPT record after the question, or none (dig sends one)
    except (DNSFormatError, struct.error) as error:
        return struct.pack("!6H", ident, flags_back | 1, 0, 0, 0, 0), f"FORMERR ({error})"  # 1: FORMERR
    question = query[12 : end + 4]  # copied as it came, letter case and all
    what = f"{name} {TYPE_NAMES.get(qtype, qtype)}{'' if qclass == CLASS_IN else f' class {qclass}'}"
    if opt is not None and edns_version(opt) != 0:  # a version it does not speak: BADVERS, said in our OPT
        answer = struct.pack("!6H", ident, flags_back, 1, 0, 0, 1) + question + opt_record(EDNS_PAYLOAD, 16)
        return answer, f"{what} -> BADVERS (EDNS version {edns_version(opt)}; this server speaks 0)"
    limit = max(MAX_UDP_ANSWER, min(opt.rclass, EDNS_PAYLOAD)) if opt else MAX_UDP_ANSWER  # the asker's size, if said
    edns = opt_record(EDNS_PAYLOAD) if opt else b""  # an OPT in the query gets one back (RFC 6891 7)
    family = {TYPES["A"]: socket.AF_INET, TYPES["AAAA"]: socket.AF_INET6}.get(qtype) if qclass == CLASS_IN else None
    addresses = [a for a in zone.get(name.lower(), ()) if family and (":" in a) == (family == socket.AF_INET6)]
    in_zone = within(name, ZONE_ORIGIN)  # label by label: "www\.ipc" is one label, not two
    rcode = 5 if qclass != CLASS_IN or not in_zone else 0 if name.lower() in zone else 3  # REFUSED, NOERROR, NXDOMAIN
    records = b"".join(
        struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN, TTL, 4 if family == socket.AF_INET else 16)
        + socket.inet_pton(family, a)
        for a in addresses
    )  # c0 0c: "the name at byte 12"
    header = struct.pack("!6H", ident, flags_back | rcode, 1, len(addresses), 0, len(edns) and 1)
    answer = header + question + records + edns
    what = f"{what} -> {RCODES[rcode]}"
    said = f" (EDNS: answers up to {limit} bytes)" if opt else ""
    if len(answer) > limit:  # too big for a datagram: TC (truncated) tells the resolver to ask over TCP
        answer = struct.pack("!6H", ident, flags_back | TC | rcode, 1, 0, 0, len(edns) and 1) + question + edns
        return answer, f"{what}, {len(addresses)} answers: too big for UDP, sent truncated (TC) with none{said}"
    return answer, f"{what}, {len(addresses)} answer{'s' * (len(addresses) != 1)}" + (
        f": {' '.join(addresses)}" if addresses else ""
    ) + said


def record(text: str) -> tuple[str, str]:
    """An argparse type: NAME=ADDRESS, the address IPv4 or IPv6."""
    name, _, where = text.partition("=")
    if not name or not any(_is_address(family, where) for family in (socket.AF_INET, socket.AF_INET6)):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=ADDRESS (e.g. demo.ipc.test=127.0.0.1)")
    try:
        encode_name(name)  # a name the wire can carry
    except DNSFormatError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name.lower().rstrip("."), where


record.kind = "text"  # what it takes, as ipc.program's types say it (tests/test_options.py fuzzes every option)


def _is_address(family: int, text: str) -> bool:
    try:
        return bool(socket.inet_pton(family, text))
    except (OSError, ValueError):  # ValueError: a NUL byte, or a character that is not even ASCII
        return False


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument(
        "--host", type=program.host_name, default="127.0.0.1", help="address to listen on (default: loopback only)"
    )
    parser.add_argument("--port", type=program.port_number, default=0, help="port (default 0: any free; DNS's is 53)")
    parser.add_argument(
        "--queries", type=program.whole_number(0, 2**31), default=0, help="answer this many, then exit (0: no end)"
    )
    parser.add_argument(
        "--record",
        type=record,
        action="append",
        default=[],
        metavar="NAME=ADDRESS",
        help="one more address for a name (may be repeated)",
    )
    args = parser.parse_args()
    zone = {name: tuple(addresses) for name, addresses in SAMPLE_ZONE.items()}
    for name, where in args.record:
        zone[name] = zone.get(name, ()) + (where,)

    family, kind, proto, _, where = socket.getaddrinfo(
        args.host or None, args.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        try:
            sock.bind(where)  # and no listen(): UDP has no connections to accept
        except OSError as error:  # say which address, and why: a port below 1024 (53 is one), a port in use
            raise program.explain_bind(error, where) from None
        log.say(f"zone {ZONE_ORIGIN}: " + "; ".join(f"{name} {' '.join(found)}" for name, found in zone.items()))
        log.ready(host=sock.getsockname()[0], port=sock.getsockname()[1])
        answered = 0
        while args.queries == 0 or answered < args.queries:
            query, peer = sock.recvfrom(4096)  # one whole datagram, one query
            if len(query) < 12 or query[2] & 0x80:  # no room for a header, or QR set: never answer an answer
                log.say(f"ignored {len(query)} bytes from {address(peer)}: not a DNS query")
                continue
            answer, said = respond(query, zone)
            log.say(f"query {query[0] << 8 | query[1]:#06x} from {address(peer)}: {said}")
            try:
                sock.sendto(answer, peer)  # back to the address recvfrom() gave
            except OSError as error:  # one peer we cannot answer must not end the server
                log.say(f"could not answer {address(peer)}: {program.describe(error)}")
            answered += 1


if __name__ == "__main__":
    sys.exit(program.run(main, "dns"))
