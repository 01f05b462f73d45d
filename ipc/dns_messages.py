"""DNS messages (RFC 1035, section 4): names, and what the numbers mean. Pure: bytes in, values out, no I/O.

Every DNS message, question or answer, is a 12-byte header, six 16-bit
numbers in network order (big-endian): id, flags, and how many questions,
answers, authority and additional records follow. A question is a name, then
its type and class (16 bits each); an answer record is a name, type, class, a
32-bit time to live, a 16-bit length, then that many bytes of data (an A
record: 4 bytes of IPv4 address; AAAA: 16 bytes of IPv6). The demos pack and
unpack these numbers with struct themselves, where a student reads them.

What is here is the part with rules of its own: a name is a run of labels,
each a length byte and that many bytes, ended by a zero byte::

    www.ipc.test  =  03 77 77 77  03 69 70 63  04 74 65 73 74  00
                     3  w  w  w   3  i  p  c   4  t  e  s  t   end

and inside a message a name may end in a pointer instead: two bytes whose
top two bits are set and whose other 14 give the offset of the rest of the
name earlier in the message (``c0 0c``: the name at byte 12, the question's).
A pointer read carelessly is a loop (``01 61 c0 0c`` at byte 12: the label
"a", then "the name at byte 12" again, for ever), so a reader bounds it three
ways (RFC 1035 4.1.4): each pointer must point before every byte of the name
read so far, at most MAX_POINTERS of them, and the name at most 255 bytes.

A label is bytes, and may hold any byte, a dot too: a name is shown as dig
shows it, a dot or backslash inside a label escaped (``www\\.ipc.test`` is two
labels, not three), other bytes outside printable ASCII as ``\\DDD``.

EDNS (RFC 6891) adds one pseudo-record, OPT (type 41), to a message's
additional section: its class says how big a UDP answer the asker takes, its
time-to-live field holds an extended rcode, a version (0) and flags.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from .protocol import ProtocolError

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "OPT": 41, "ANY": 255}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
CLASS_IN = 1  # the Internet class, the only one in use
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080  # flag bits: an answer, authoritative, ...
FLAG_NAMES = {QR: "QR", AA: "AA", TC: "TC", RD: "RD", RA: "RA"}
MAX_NAME_BYTES = 255  # a whole name on the wire, its zero byte included
MAX_LABEL_BYTES = 63  # the length byte's top two bits are taken: they mark a pointer
MAX_POINTERS = 127  # a 255-byte name has at most 127 labels: more pointers than that is a loop

# The made-up zone the DNS demos serve (.test is reserved for testing, RFC 6761):
# one name with several addresses, several names with one address.
ZONE_ORIGIN = "ipc.test"
SAMPLE_ZONE = {
    "www.ipc.test": ("10.53.0.10", "fd53::10"),
    "ipc.test": ("10.53.0.10",),
    "web.ipc.test": ("10.53.0.10",),
    "many.ipc.test": ("10.53.0.11", "10.53.0.12", "10.53.0.13", "fd53::11"),
}


class DNSFormatError(ProtocolError):
    """The bytes are not a well-formed DNS message (the server answers FORMERR)."""


def encode_name(name: str) -> bytes:
    """A name as it goes on the wire: length-prefixed labels, then a zero byte."""
    labels = name.rstrip(".").split(".") if name not in (".", "") else []
    try:
        encoded = [label.encode("ascii") for label in labels]
    except UnicodeEncodeError:
        raise DNSFormatError(f"{name!r} is not ASCII (an international name goes on the wire as xn--...)") from None
    if any(not 1 <= len(label) <= MAX_LABEL_BYTES for label in encoded):
        raise DNSFormatError(f"{name!r}: each label between dots is 1 to {MAX_LABEL_BYTES} bytes")
    wire = b"".join(bytes([len(label)]) + label for label in encoded) + b"\x00"
    if len(wire) > MAX_NAME_BYTES:
        raise DNSFormatError(f"{name!r} is {len(wire)} bytes on the wire; the limit is {MAX_NAME_BYTES}")
    return wire


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at offset, following pointers, as text; and the offset just after it where it started."""
    labels, end = read_labels(message, offset)
    return ".".join(map(label_text, labels)), end


def read_labels(message: bytes, offset: int) -> tuple[list[bytes], int]:
    """The name at offset as its labels (bytes), following pointers; and the offset just after it."""
    labels: list[bytes] = []
    size = 1  # the name's length on the wire, its zero byte included
    end = None  # where the name ends in place: after its first pointer, or after its zero byte
    lowest = offset  # the first byte of the name read so far: a pointer must point before it
    pointers = 0
    while True:
        if offset >= len(message):
            raise DNSFormatError(f"a name runs past the end of the message (at byte {offset})")
        length = message[offset]
        if length & 0xC0 == 0xC0:  # a pointer: 14 bits of offset
            if offset + 1 >= len(message):
                raise DNSFormatError("a name's pointer is cut off by the end of the message")
            target = ((length & 0x3F) << 8) | message[offset + 1]
            if end is None:
                end = offset + 2
            pointers += 1
            if target >= lowest or pointers > MAX_POINTERS:  # so each jump goes further back: no loop
                raise DNSFormatError(
                    f"a name's pointer at byte {offset} does not point back before the name ({target})"
                )
            offset = lowest = target
        elif length & 0xC0:
            raise DNSFormatError(f"a label length byte {length:#04x} with reserved bits set")
        elif length == 0:
            return labels, end if end is not None else offset + 1
        else:
            label = message[offset + 1 : offset + 1 + length]
            if len(label) < length:
                raise DNSFormatError(f"a label runs past the end of the message (at byte {offset})")
            size += 1 + length
            if size > MAX_NAME_BYTES:
                raise DNSFormatError(f"a name of over {MAX_NAME_BYTES} bytes")
            labels.append(bytes(label))
            offset += 1 + length


def label_text(label: bytes) -> str:
    """A label as dig shows it: a dot or a backslash in it escaped, a byte outside printable ASCII as \\DDD."""
    return "".join(
        "\\" + chr(byte) if byte in b".\\" else chr(byte) if 0x21 <= byte <= 0x7E else f"\\{byte:03d}" for byte in label
    )


def within(name: str, origin: str) -> bool:
    """Whether the name is the origin or under it, label by label (an escaped dot is no label's end)."""
    labels, ends = _split(name.lower()), _split(origin.lower())
    return len(labels) >= len(ends) and labels[len(labels) - len(ends) :] == ends


def _split(name: str) -> list[str]:
    """A name's text cut at each dot that is not escaped."""
    labels, label, escaped = [], "", False
    for character in name:
        if character == "." and not escaped:
            labels.append(label)
            label = ""
        else:
            label += character
        escaped = character == "\\" and not escaped
    return labels + [label] if name else []


@dataclass
class Record:
    """A resource record as it is on the wire: its owner name, type, class, time to live and data."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: bytes


def read_record(message: bytes, offset: int) -> tuple[Record, int]:
    """The record at offset, and the offset just after it."""
    name, offset = read_name(message, offset)
    fixed = message[offset : offset + 10]
    if len(fixed) < 10:
        raise DNSFormatError(f"a record of {name or '.'} ends in the middle of its fields")
    rtype, rclass, ttl, length = struct.unpack("!HHIH", fixed)
    data = message[offset + 10 : offset + 10 + length]
    if len(data) < length:
        raise DNSFormatError(f"a record of {length} bytes cut short at {len(data)}")
    return Record(name, rtype, rclass, ttl, bytes(data)), offset + 10 + length


def read_opt(message: bytes, offset: int, counts: tuple[int, int, int]) -> Optional[Record]:
    """The EDNS OPT record among the records at offset (counts: answers, authority, additional), or None.

    DNSFormatError for two, or one out of place: not in the additional section, or not owned by the root
    (RFC 6891 6.1.1)."""
    records = []
    for _ in range(sum(counts)):
        found, offset = read_record(message, offset)
        records.append(found)
    opts = [index for index, found in enumerate(records) if found.rtype == TYPES["OPT"]]
    if len(opts) > 1 or any(index < counts[0] + counts[1] for index in opts):
        raise DNSFormatError("more than one OPT record, or one outside the additional section (RFC 6891 6.1.1)")
    if opts and records[opts[0]].name:
        raise DNSFormatError(f"an OPT record owned by {records[opts[0]].name!r}, not the root")
    return records[opts[0]] if opts else None


def edns_version(opt: Record) -> int:
    """An OPT record's EDNS version: the second byte of its time-to-live field."""
    return (opt.ttl >> 16) & 0xFF


def opt_record(payload: int, extended_rcode: int = 0) -> bytes:
    """Our own OPT record: the root name, type 41, the UDP size we take as its class; extended rcode, version 0."""
    return b"\x00" + struct.pack("!HHIH", TYPES["OPT"], payload, (extended_rcode >> 4) << 24, 0)


def flag_names(flags: int) -> str:
    """The flag bits set, by name: "QR AA RD"."""
    return " ".join(name for bit, name in FLAG_NAMES.items() if flags & bit) or "none"


def hex_fields(data: bytes, *cuts: int) -> str:
    """Bytes in hex, a bar between fields: hex_fields(b"\\x1a\\x2b\\x01\\x00", 2) is '1a 2b | 01 00'."""
    edges = [0, *cuts, len(data)]
    return " | ".join(data[start:stop].hex(" ") for start, stop in zip(edges, edges[1:]) if stop > start)
