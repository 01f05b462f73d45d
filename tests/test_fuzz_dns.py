"""Fuzzing the DNS message reader: names, records, and the server's whole answer to any datagram."""

import struct

import pytest
from fuzzing import bounded, mutated
from hypothesis import example, given
from hypothesis import strategies as st
from support import load_demo

from ipc.dns_messages import MAX_NAME_BYTES, SAMPLE_ZONE, DNSFormatError, encode_name, read_labels, read_record

HEADER = struct.pack("!6H", 0x1234, 0x0100, 1, 0, 0, 0)
QUERY = HEADER + encode_name("www.ipc.test") + b"\x00\x01\x00\x01"
OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
WITH_OPT = HEADER[:10] + b"\x00\x01" + QUERY[12:] + OPT
SEEDS = [  # the attacks' datagrams
    HEADER + b"\x01a\xc0\x0c\x00\x01\x00\x01",  # a label, then a pointer back to it: once a loop for ever
    HEADER + b"\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
    HEADER + b"\x01a\x00\x01b\xc0\x10\x00\x01\x00\x01",  # a pointer into its own name
    HEADER + b"\x07www.ipc\x04test\x00\x00\x01\x00\x01",  # a dot inside a label
    HEADER[:10] + b"\x00\x02" + QUERY[12:] + OPT + OPT,  # two OPT records
    HEADER[:10] + b"\x00\x01" + QUERY[12:] + OPT[:5] + b"\x01" + OPT[6:],  # EDNS version 1
    struct.pack("!6H", 7, 0x0100, 1, 0xFFFF, 0xFFFF, 0xFFFF) + QUERY[12:],  # counts far beyond the bytes
    HEADER + b"".join(b"\x3f" + b"x" * 63 for _ in range(5)) + b"\x00\x00\x01\x00\x01",  # a name of 321 bytes
    QUERY,
    WITH_OPT,
]
zone = {name: tuple(found) for name, found in SAMPLE_ZONE.items()}
respond = load_demo("dns_server").respond


@pytest.mark.parametrize("datagram", SEEDS)
def test_the_attacks_datagrams_are_answered_at_once(datagram):
    with bounded(seconds=0.5):
        answer, said = respond(datagram, zone)
    assert answer[:2] == datagram[:2] and answer[2] & 0x80 and said  # an answer, to that query


@given(st.one_of(mutated(SEEDS), st.binary(max_size=600)))
@example(SEEDS[0])
def test_the_server_answers_any_datagram_without_loop_crash_or_swelling(datagram):
    if len(datagram) < 12 or datagram[2] & 0x80:
        return  # its loop ignores these before respond(): no header, or an answer (QR set)
    with bounded():
        answer, said = respond(datagram, zone)  # every error of the query's is an rcode in the answer
    assert answer[:2] == datagram[:2] and answer[2] & 0x80 and len(answer) <= 1232 and isinstance(said, str)


@given(st.binary(max_size=600), st.integers(0, 600))
def test_reading_a_name_or_a_record_anywhere_ends_in_a_name_or_a_dnsformaterror(message, offset):
    with bounded():
        try:
            labels, end = read_labels(message, offset)
        except DNSFormatError:
            labels, end = None, None
        try:
            read_record(message, offset)
        except DNSFormatError:
            pass
    if labels is not None:
        assert sum(1 + len(label) for label in labels) + 1 <= MAX_NAME_BYTES and 0 < end <= len(message)
