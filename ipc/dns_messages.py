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
"""

from __future__ import annotations

from .protocol import ProtocolError

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
CLASS_IN = 1  # the Internet class, the only one in use
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080  # flag bits: an answer, authoritative, ...
FLAG_NAMES = {QR: "QR", AA: "AA", TC: "TC", RD: "RD", RA: "RA"}
MAX_NAME_BYTES = 255  # a whole name on the wire, its zero byte included
MAX_LABEL_BYTES = 63  # the length byte's top two bits are taken: they mark a pointer

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
    """The name at offset, following pointers; and the offset just after it where it started."""
    labels: list[str] = []
    end = None  # where the name ends in place: after its first pointer, or after its zero byte
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
            if target >= offset:  # a pointer points back, to an earlier name: so it can never loop
                raise DNSFormatError(f"a name's pointer at byte {offset} does not point back (to {target})")
            offset = target
        elif length & 0xC0:
            raise DNSFormatError(f"a label length byte {length:#04x} with reserved bits set")
        elif length == 0:
            name = ".".join(labels)
            if len(name) + 2 > MAX_NAME_BYTES:
                raise DNSFormatError(f"a name of over {MAX_NAME_BYTES} bytes")
            return name, end if end is not None else offset + 1
        else:
            label = message[offset + 1 : offset + 1 + length]
            if len(label) < length:
                raise DNSFormatError(f"a label runs past the end of the message (at byte {offset})")
            labels.append(label.decode("ascii", "backslashreplace"))
            offset += 1 + length


def flag_names(flags: int) -> str:
    """The flag bits set, by name: "QR AA RD"."""
    return " ".join(name for bit, name in FLAG_NAMES.items() if flags & bit) or "none"


def hex_fields(data: bytes, *cuts: int) -> str:
    """Bytes in hex, a bar between fields: hex_fields(b"\\x1a\\x2b\\x01\\x00", 2) is '1a 2b | 01 00'."""
    edges = [0, *cuts, len(data)]
    return " | ".join(data[start:stop].hex(" ") for start, stop in zip(edges, edges[1:]) if stop > start)
