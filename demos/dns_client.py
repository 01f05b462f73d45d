r"""DNS client: a query packed byte by byte with struct, one UDP datagram each way, the answer taken apart.

What it shows
    What a resolver does under getaddrinfo(): ask a DNS server for a name's A
    (IPv4) or AAAA (IPv6) records. A query is a 12-byte header, six 16-bit
    numbers in network order (big-endian, as the byte-order lesson teaches:
    id, flags, then 1 question and no records), then the question: the name
    as length-prefixed labels, its type and its class. The answer repeats
    the id and the question and adds a record per address: a name (a 2-byte
    pointer back to the question's), type, class, time to live, length, and
    the address's 4 or 16 bytes. Every byte is shown, field by field, as dig
    shows the records. A fresh random id per query: a datagram that does not
    carry it, or is no answer (QR clear), or answers another question, is
    not the answer to this one: ignored, and the client waits on, until its
    deadline, for the one that is.

Run it
    python demos/dns_client.py --server 127.0.0.1 --port PORT [--type A] [--type AAAA] [NAME...]
    (start demos/dns_server.py first; or: make dns)
    Compare:  dig @127.0.0.1 -p PORT many.ipc.test A +norecurse

System calls, in order
    getaddrinfo(server, port, SOCK_DGRAM) -> socket(SOCK_DGRAM) -> connect()
    (on UDP it sends nothing: it fixes the peer, and the kernel drops
    datagrams from anyone else) -> per question: send() -> recv() with a
    deadline (a datagram can be lost), again after a stray -> close().

Its peer
    demos/dns_server.py, dnsmasq, or any DNS server.

Expected output
    client[300]: query 0x1a2b: www.ipc.test A, 30 bytes
    client[300]:   header   1a 2b | 01 00 | 00 01 | 00 00 | 00 00 | 00 00   id, flags RD, 1 question
    client[300]:   question 03 77 77 77 03 69 70 63 04 74 65 73 74 00 | 00 01 | 00 01   www.ipc.test, A, IN
    client[300]: answer 0x1a2b: 46 bytes: NOERROR, flags QR AA RD, 1 answer
    client[300]:   header   1a 2b | 85 00 | 00 01 | 00 01 | 00 00 | 00 00
    client[300]:   record   c0 0c | 00 01 | 00 01 | 00 00 00 3c | 00 04 | 0a 35 00 0a   www.ipc.test. 60 IN A 10.53.0.10
    ...
    client[300]: answer 0x3c4d: 34 bytes: NXDOMAIN, flags QR AA RD, 0 answers
"""

import os
import random
import socket
import struct
import sys
import time
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.dns_messages import (
    CLASS_IN,
    RCODES,
    RD,
    TYPE_NAMES,
    TYPES,
    DNSFormatError,
    encode_name,
    flag_names,
    hex_fields,
    read_name,
)
from ipc.log import Log

log = Log("client")


def ask(sock: socket.socket, name: str, qtype: str, timeout: float) -> None:
    ident = random.getrandbits(16)  # the answer must carry the same id
    header = struct.pack("!6H", ident, RD, 1, 0, 0, 0)  # id, flags (RD: recursion desired), 1 question, 0, 0, 0
    query = header + encode_name(name) + struct.pack("!2H", TYPES[qtype], CLASS_IN)  # the question: name, type, class
    log.say(f"query {ident:#06x}: {name} {qtype}, {len(query)} bytes")  # shown from the very bytes sent
    log.say(f"  header   {hex_fields(query[:12], 2, 4, 6, 8, 10)}   id, flags RD, 1 question")
    log.say(f"  question {hex_fields(query[12:], len(query) - 16, len(query) - 14)}   {name}, {qtype}, IN")
    sock.send(query)  # one datagram: the whole query
    deadline = time.monotonic() + timeout  # one deadline for the answer, however many strays come first
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        data = sock.recv(4096)  # one datagram: the whole answer (socket.timeout if none comes)
        stray = not_the_answer(data, query)
        if stray is None:
            break
        log.say(f"ignored a datagram of {len(data)} bytes: {stray}")  # and wait on for the answer
    got_id, flags, questions, answers, _, _ = struct.unpack("!6H", data[:12])  # network order: "!"
    log.say(
        f"answer {got_id:#06x}: {len(data)} bytes: {RCODES.get(flags & 0xF, flags & 0xF)}, "
        f"flags {flag_names(flags)}, {answers} answer{'s' * (answers != 1)}"
    )
    log.say(f"  header   {hex_fields(data[:12], 2, 4, 6, 8, 10)}")
    offset = 12
    for _ in range(questions):  # the question comes back as it went
        offset = read_name(data, offset)[1] + 4
    for _ in range(answers):
        start = offset
        owner, offset = read_name(data, offset)  # 2 bytes when it is a pointer
        rtype, rclass, ttl, length = struct.unpack("!HHIH", data[offset : offset + 10])  # struct.error if cut short
        rdata, n = data[offset + 10 : offset + 10 + length], offset - start
        if len(rdata) != length:
            raise DNSFormatError(f"a record of {length} bytes cut short at {len(rdata)}")
        offset += 10 + length
        family = {TYPES["A"]: socket.AF_INET, TYPES["AAAA"]: socket.AF_INET6}.get(rtype)
        shown = socket.inet_ntop(family, rdata) if family and length == (4 if rtype == 1 else 16) else rdata.hex()
        log.say(
            f"  record   {hex_fields(data[start:offset], n, n + 2, n + 4, n + 8, n + 10)}   {owner}. {ttl} "
            f"{'IN' if rclass == CLASS_IN else rclass} {TYPE_NAMES.get(rtype, rtype)} {shown}"
        )


def not_the_answer(data: bytes, query: bytes) -> Optional[str]:
    """Why a datagram is not the answer to our query (None: it is). Anyone can send us datagrams:
    a late answer to an earlier query, an echo of our own, a forgery that guesses badly."""
    if len(data) < 12:
        return "too short for a DNS header"
    if data[:2] != query[:2]:
        return f"its id {data[0] << 8 | data[1]:#06x} is not our query's {query[0] << 8 | query[1]:#06x}"
    if not data[2] & 0x80:
        return "QR is clear: a query, not an answer (our own, echoed?)"
    if data[4:6] == b"\x00\x01" and data[12 : len(query)].lower() != query[12:].lower():
        return "it answers another question"  # names compare without regard to letter case
    return None


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--server", type=program.host_name, default="127.0.0.1", help="the DNS server's address")
    parser.add_argument("--port", type=program.port_number, required=True, help="its port (DNS's own is 53)")
    parser.add_argument("--type", action="append", choices=("A", "AAAA"), help="A, AAAA or both (the default)")
    parser.add_argument("--timeout", type=program.seconds(), default=3.0, help="seconds to wait for each answer")
    parser.add_argument(
        "names", nargs="*", default=["www.ipc.test", "many.ipc.test", "nothing.ipc.test"], metavar="NAME"
    )
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(args.server, args.port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.connect(where)  # UDP: no packet; only answers from this address come in
        for name in args.names:
            for qtype in args.type or ("A", "AAAA"):
                try:
                    ask(sock, name, qtype, args.timeout)
                except TimeoutError:
                    raise TimeoutError(f"no answer within {args.timeout:g} s (a datagram may be lost)") from None
                except struct.error:
                    raise DNSFormatError("the answer ends in the middle of a record") from None


if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
