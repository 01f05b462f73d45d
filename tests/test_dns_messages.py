"""DNS names and fields on bytes alone: no sockets (ipc.dns_messages is pure)."""

import signal
import struct
from contextlib import contextmanager

import pytest

from ipc.dns_messages import (
    AA,
    QR,
    RD,
    SAMPLE_ZONE,
    TYPES,
    DNSFormatError,
    edns_version,
    encode_name,
    flag_names,
    hex_fields,
    opt_record,
    read_labels,
    read_name,
    read_opt,
    read_record,
    within,
)

HEADER = b"\x00" * 12


@contextmanager
def deadline(seconds: float):
    """Fail, instead of hanging, if the block takes longer (an alarm: it interrupts a loop of Python code too)."""

    def ring(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: a loop")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_name_is_length_prefixed_labels_and_a_zero_byte():
    assert encode_name("www.ipc.test") == b"\x03www\x03ipc\x04test\x00"
    assert encode_name("www.ipc.test.") == encode_name("www.ipc.test")  # the trailing dot: the root, implied
    assert encode_name(".") == b"\x00"


@pytest.mark.parametrize(
    "name,says",
    [
        ("a" * 64 + ".test", "1 to 63 bytes"),
        ("www..test", "1 to 63 bytes"),
        (".".join(["abcdefgh"] * 30), "the limit is 255"),
        ("grüße.test", "not ASCII"),
    ],
)
def test_names_the_wire_cannot_carry_are_refused(name, says):
    with pytest.raises(DNSFormatError, match=says):
        encode_name(name)


def test_reading_a_name_returns_it_and_where_the_next_field_starts():
    message = b"\x00" * 12 + encode_name("many.ipc.test") + struct.pack("!2H", 1, 1)
    assert read_name(message, 12) == ("many.ipc.test", 12 + 15)


def test_a_pointer_names_an_earlier_name_and_takes_two_bytes():
    question = b"\x00" * 12 + encode_name("www.ipc.test") + b"\x00\x01\x00\x01"
    record = b"\xc0\x0c" + b"\x00\x01"  # c0 0c: "the name at byte 12"
    message = question + record
    assert read_name(message, len(question)) == ("www.ipc.test", len(question) + 2)
    partial = message + b"\x03web\xc0\x10"  # web + the name at byte 16: "ipc.test"
    assert read_name(partial, len(message)) == ("web.ipc.test", len(partial))


@pytest.mark.parametrize(
    "message,offset,says",
    [
        (b"\x00" * 12 + b"\xc0\x0c", 12, "does not point back"),  # a pointer to itself: a loop
        (b"\x00" * 12 + b"\x01a\xc0\x0c", 12, "does not point back"),  # "a", then the name at 12 again: a loop
        (b"\x00" * 12 + b"\x01a\x00\x01b\xc0\x10", 15, "does not point back"),  # b, then itself at 16: a loop too
        (b"\x00" * 12 + b"\x03ww", 12, "runs past the end"),
        (b"\x00" * 12 + b"\x03www", 12, "runs past the end"),
        (b"\x00" * 12 + b"\xc0", 12, "cut off"),
        (b"\x00" * 12 + b"\x80abc", 12, "reserved bits"),
    ],
)
def test_malformed_names_are_errors_not_hangs(message, offset, says):
    with deadline(1.0), pytest.raises(DNSFormatError, match=says):
        read_name(message, offset)


def test_a_chain_of_pointers_each_further_back_is_followed_and_one_too_many_is_not():
    # 60 names, each one label and a pointer to the one before: the last is 60 labels through 59 pointers.
    message, starts = bytearray(HEADER + b"\x01z\x00"), [12]
    for n in range(1, 60):
        starts.append(len(message))
        message += b"\x01" + bytes([ord("a") + n % 26]) + struct.pack("!H", 0xC000 | starts[-2])
    labels, end = read_labels(bytes(message), starts[-1])
    assert len(labels) == 60 and labels[-1] == b"z" and end == len(message)
    with pytest.raises(DNSFormatError, match="over 255 bytes"):  # 127 such labels is more than a name can hold
        for _ in range(60, 130):
            starts.append(len(message))
            message += b"\x01x" + struct.pack("!H", 0xC000 | starts[-2])
        read_name(bytes(message), starts[-1])


def test_a_name_of_over_255_bytes_is_refused_however_it_is_made():
    long_name = HEADER + b"".join(b"\x3f" + b"x" * 63 for _ in range(4)) + b"\x00"  # 4 * 64 + 1 = 257 bytes
    with pytest.raises(DNSFormatError, match="over 255 bytes"):
        read_name(long_name, 12)
    exact = HEADER + b"".join(b"\x3f" + b"x" * 63 for _ in range(3)) + b"\x3d" + b"x" * 61 + b"\x00"  # 255
    assert len(read_labels(exact, 12)[0]) == 4


def test_a_dot_inside_a_label_is_shown_escaped_and_is_not_two_labels():
    message = HEADER + b"\x07www.ipc\x04test\x00"  # two labels: "www.ipc" and "test"
    assert read_labels(message, 12)[0] == [b"www.ipc", b"test"]
    assert read_name(message, 12)[0] == "www\\.ipc.test"  # as dig shows it
    assert not within("www\\.ipc.test", "ipc.test") and within("WWW.ipc.test", "ipc.test")
    assert within("ipc.test", "ipc.test") and not within("test", "ipc.test") and not within("xipc.test", "ipc.test")
    odd = HEADER + b"\x04a b\xff\x00"
    assert read_name(odd, 12)[0] == "a\\032b\\255"  # a space and a byte outside ASCII, as \DDD


def test_a_record_and_an_opt_record_read_back():
    opt = opt_record(1232, extended_rcode=16)  # BADVERS: 16, whose upper 8 bits (1) go in the OPT record
    record, end = read_record(HEADER + opt, 12)
    assert (record.name, record.rtype, record.rclass, record.ttl >> 24, record.data) == ("", TYPES["OPT"], 1232, 1, b"")
    assert end == 12 + 11
    with pytest.raises(DNSFormatError, match="cut short"):
        read_record(HEADER + b"\x00" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\x0a", 12)
    with pytest.raises(DNSFormatError, match="in the middle of its fields"):
        read_record(HEADER + b"\x00\x00\x01", 12)


def test_flags_and_fields_as_the_demos_show_them():
    assert flag_names(QR | AA | RD) == "QR AA RD" and flag_names(0) == "none"
    header = struct.pack("!6H", 0x1A2B, RD, 1, 0, 0, 0)  # network order: the id's high byte first
    assert hex_fields(header, 2, 4, 6, 8, 10) == "1a 2b | 01 00 | 00 01 | 00 00 | 00 00 | 00 00"


def test_the_sample_zone_has_one_name_with_several_addresses_and_several_names_with_one():
    assert len([a for a in SAMPLE_ZONE["many.ipc.test"] if ":" not in a]) == 3
    sharing = [name for name, found in SAMPLE_ZONE.items() if "10.53.0.10" in found]
    assert sorted(sharing) == ["ipc.test", "web.ipc.test", "www.ipc.test"]


def test_the_opt_record_is_found_after_the_question_and_two_or_one_misplaced_are_refused():
    opt = opt_record(1232)
    assert read_opt(HEADER + opt, 12, (0, 0, 1)).rclass == 1232
    assert read_opt(HEADER, 12, (0, 0, 0)) is None
    assert edns_version(read_record(HEADER + b"\x00\x00\x29\x04\xd0\x00\x01\x00\x00\x00\x00", 12)[0]) == 1
    for message, counts, says in [
        (HEADER + opt + opt, (0, 0, 2), "more than one OPT"),
        (HEADER + opt, (1, 0, 0), "outside the additional section"),
        (HEADER + b"\x01a\x00" + opt[1:], (0, 0, 1), "not the root"),
    ]:
        with pytest.raises(DNSFormatError, match=says):
            read_opt(message, 12, counts)
