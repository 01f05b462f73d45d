"""Fuzzing the exchange's line decoder (ipc.protocol), and the FIFO server's first line: a client's pid."""

import pytest
from fuzzing import bounded, cuts, mutated
from hypothesis import given
from hypothesis import strategies as st
from support import load_demo

from ipc.protocol import END, MAX_MESSAGE_BYTES, NEED_DATA, Decoder, ProtocolError, decode_datagram, encode
from ipc.stream import MessageReader

STREAMS = [  # valid, and the attacks'
    b"hello\nhow are you?\nGr\xc3\xbc\xc3\x9fe aus der Pipe\nbye\n",
    b"hello\r\n",  # nc's CRLF
    b"x" * 60_000 + b"y" * 10_000,  # a megabyte's start, no newline
    b"\xff\xfe not UTF-8\n",
    b"\xc3",  # a character cut in two, then the end
    b"half a message",  # the end inside a message
    b"\n\n\n",
]
client_pid = load_demo("fifo_server").client_pid
PID_LINES = ["²", "١٢", "12\u00a0", "-5", "+5", " 5", "5" * 11, "0", "4194304", "007", "", "١", "𝟓"]


def decode(pieces, max_bytes=MAX_MESSAGE_BYTES):
    decoder, messages = Decoder(max_bytes), []
    for piece in [*pieces, b""]:
        decoder.feed(piece)
        while (message := decoder.next_message()) not in (NEED_DATA, END):
            messages.append(message)
        if message is END:
            break
    return messages


@given(st.one_of(mutated(STREAMS), st.binary(max_size=6000)), st.lists(st.integers(1, 512), max_size=30))
def test_any_stream_however_cut_gives_lines_or_a_protocolerror(data, sizes):
    with bounded():
        try:
            messages = decode(cuts(data, sizes))
        except ProtocolError:
            return
    for message in messages:
        assert "\n" not in message and len(message.encode()) < MAX_MESSAGE_BYTES
    assert data.count(b"\n") == len(messages)  # one message a line, none lost: the end came after the last newline


@given(st.lists(st.text(max_size=50).filter(lambda t: "\n" not in t and "\r" not in t), max_size=20),
       st.lists(st.integers(1, 64), max_size=30))  # fmt: skip
def test_what_encode_sends_decode_gives_back_however_the_bytes_are_cut(texts, sizes):
    try:
        data = b"".join(encode(text) for text in texts)
    except ProtocolError:  # a surrogate: not sendable, refused before it is said
        return
    assert decode(cuts(data, sizes)) == texts


@given(st.binary(max_size=5000))
def test_a_datagram_of_any_bytes_is_a_message_or_a_protocolerror(data):
    with bounded():
        try:
            assert isinstance(decode_datagram(data), str)
        except ProtocolError:
            pass


@pytest.mark.parametrize("line", PID_LINES)
def test_the_fifo_servers_pid_line_of_the_attacks_is_a_pid_or_none(line):
    pid = client_pid(line)
    assert pid is None or (line.isascii() and line.isdigit() and pid == int(line))


@given(st.one_of(st.text(max_size=40), st.sampled_from(PID_LINES), st.from_regex(r"[0-9]{1,12}", fullmatch=True)))
def test_any_text_on_the_well_known_fifo_is_a_pid_or_ignored_never_an_error(line):
    pid = client_pid(line)
    assert pid is None or (isinstance(pid, int) and pid >= 0 and str(pid) == line.lstrip("0").rjust(1, "0"))


@given(st.binary(max_size=400), st.lists(st.integers(1, 16), max_size=30))
def test_the_well_known_fifos_bytes_are_read_as_lines_of_32_bytes_at_most_or_a_protocolerror(data, sizes):
    pieces = iter(cuts(data, sizes))
    reader = MessageReader(lambda n: next(pieces, b""), max_bytes=32)  # as fifo_server.py reads its FIFO
    with bounded():
        try:
            for line in reader:
                assert len(line.encode()) < 32 and (client_pid(line) is None or line.isdigit())
        except ProtocolError:
            pass
