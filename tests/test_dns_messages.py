"""DNS names and fields on bytes alone: no sockets (ipc.dns_messages is pure)."""

import struct

import pytest

from ipc.dns_messages import AA, QR, RD, SAMPLE_ZONE, DNSFormatError, encode_name, flag_names, hex_fields, read_name


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
        (b"\x00" * 12 + b"\x03ww", 12, "runs past the end"),
        (b"\x00" * 12 + b"\x03www", 12, "runs past the end"),
        (b"\x00" * 12 + b"\xc0", 12, "cut off"),
        (b"\x00" * 12 + b"\x80abc", 12, "reserved bits"),
    ],
)
def test_malformed_names_are_errors_not_hangs(message, offset, says):
    with pytest.raises(DNSFormatError, match=says):
        read_name(message, offset)


def test_flags_and_fields_as_the_demos_show_them():
    assert flag_names(QR | AA | RD) == "QR AA RD" and flag_names(0) == "none"
    header = struct.pack("!6H", 0x1A2B, RD, 1, 0, 0, 0)  # network order: the id's high byte first
    assert hex_fields(header, 2, 4, 6, 8, 10) == "1a 2b | 01 00 | 00 01 | 00 00 | 00 00 | 00 00"


def test_the_sample_zone_has_one_name_with_several_addresses_and_several_names_with_one():
    assert len([a for a in SAMPLE_ZONE["many.ipc.test"] if ":" not in a]) == 3
    sharing = [name for name, found in SAMPLE_ZONE.items() if "10.53.0.10" in found]
    assert sorted(sharing) == ["ipc.test", "web.ipc.test", "www.ipc.test"]
