"""The exchange on bytes alone: no pipes, no sockets."""

import pytest

from ipc import protocol
from ipc.protocol import END, NEED_DATA, Decoder
from ipc.stream import MessageReader, write_all


def messages_from(decoder: Decoder) -> list:
    out = []
    while (message := decoder.next_message()) not in (NEED_DATA, END):
        out.append(message)
    return out


def test_one_byte_at_a_time_gives_the_same_messages():
    data = b"hello\nGr\xc3\xbc\xc3\x9fe\n"
    decoder = Decoder()
    got = []
    for i in range(len(data)):
        decoder.feed(data[i : i + 1])  # the UTF-8 of "ü" is split across two feeds
        got += messages_from(decoder)
    decoder.feed(b"")
    assert got == ["hello", "Grüße"]
    assert decoder.next_message() is END


def test_many_messages_in_one_chunk():
    decoder = Decoder()
    decoder.feed(b"a\nb\n\nc\r\n")
    assert messages_from(decoder) == ["a", "b", "", "c"]
    assert decoder.next_message() is NEED_DATA


def test_oversized_message_is_refused_before_its_end_arrives():
    decoder = Decoder(max_bytes=8)
    decoder.feed(b"12345678")  # 8 bytes and still no newline: it cannot fit
    with pytest.raises(protocol.MessageTooLong):
        decoder.next_message()


def test_a_message_exactly_at_the_limit_passes():
    decoder = Decoder(max_bytes=8)
    decoder.feed(b"1234567\n")
    assert decoder.next_message() == "1234567"


def test_invalid_utf8_is_a_protocol_error():
    decoder = Decoder()
    decoder.feed(b"\xff\xfe\n")
    with pytest.raises(protocol.InvalidText):
        decoder.next_message()


def test_truncated_stream_is_a_protocol_error_not_a_hang():
    decoder = Decoder()
    decoder.feed(b"hello\nhalf a mess")
    decoder.feed(b"")
    assert decoder.next_message() == "hello"
    with pytest.raises(protocol.TruncatedMessage):
        decoder.next_message()


def test_encode_refuses_newlines_and_oversize():
    with pytest.raises(protocol.ProtocolError):
        protocol.encode("two\nlines")
    with pytest.raises(protocol.MessageTooLong):
        protocol.encode("x" * protocol.MAX_MESSAGE_BYTES)
    assert protocol.encode("x" * (protocol.MAX_MESSAGE_BYTES - 1)).endswith(b"\n")


def test_an_empty_message_cannot_be_a_datagram_for_an_empty_datagram_is_the_goodbye():
    with pytest.raises(protocol.ProtocolError, match="an empty datagram ends the conversation"):
        protocol.encode_datagram("")


def test_datagrams_carry_no_newline():
    assert protocol.encode_datagram("hi") == b"hi"
    assert protocol.decode_datagram(b"hi") == "hi"
    with pytest.raises(protocol.MessageTooLong):
        protocol.decode_datagram(b"x" * protocol.MAX_MESSAGE_BYTES)
    with pytest.raises(protocol.MessageTooLong, match="a datagram of 65000 bytes, the limit is 4095 bytes"):
        protocol.decode_datagram(b"x" * 4096, 65000)  # the buffer held 4,096 bytes; MSG_TRUNC said the real size


def test_answers_depend_on_text_and_position():
    server = protocol.ServerConversation()
    assert [server.reply_to(m) for m in ["hi", "hi"]] == ["1 HI", "2 HI"]


@pytest.mark.parametrize("reply", ["hi", "2 HI", "1 HO", "error: nope"])
def test_client_tells_echo_replay_and_errors_from_the_answer(reply):
    client = protocol.ClientConversation()
    with pytest.raises(protocol.UnexpectedReply):
        client.check("hi", reply)


def test_client_accepts_the_right_answers_in_order():
    client = protocol.ClientConversation()
    client.check("hi", "1 HI")
    client.check("hi", "2 HI")
    assert client.checked == 2


def test_reader_copes_with_short_reads_and_ends_at_eof():
    chunks = [b"he", b"llo\nwor", b"ld\n", b""]
    reader = MessageReader(lambda n: chunks.pop(0))
    assert list(reader) == ["hello", "world"]
    assert reader.reads == 4


def test_reader_does_not_spin_on_eof_mid_message():
    calls = []

    def read(n):
        calls.append(n)
        return b"partial" if len(calls) == 1 else b""

    with pytest.raises(protocol.TruncatedMessage):
        MessageReader(read).receive()
    assert len(calls) == 2


def test_write_all_loops_over_short_writes():
    written = bytearray()

    def write(data):
        written.extend(bytes(data[:3]))  # takes at most 3 bytes per call
        return min(3, len(data))

    write_all(write, b"0123456789")
    assert written == b"0123456789"


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_gives_the_same_messages(seed):
    import random

    rng = random.Random(seed)
    messages = ["", "a", "Grüße", "x" * 300, "1 2 3", "ünï"]
    data = b"".join(protocol.encode(m) for m in messages)
    chunks, at = [], 0
    while at < len(data):
        size = rng.randint(1, 40)
        chunks.append(data[at : at + size])
        at += size
    chunks.append(b"")
    assert list(MessageReader(lambda n: chunks.pop(0))) == messages


def test_text_that_cannot_be_utf8_is_refused_as_invalid_text():
    with pytest.raises(protocol.InvalidText):
        protocol.encode("\udcff")  # how Python hands over a byte 0xff from the command line


def test_a_request_whose_answer_would_not_fit_is_refused_before_anything_is_said():
    server = protocol.ServerConversation()
    longest = "a" * (protocol.MAX_MESSAGE_BYTES - 1)  # fits as a request, with its newline
    protocol.encode(longest)
    with pytest.raises(protocol.MessageTooLong, match="its answer would be 4098 bytes"):
        server.reply_to(longest)
    assert server.answered == 0  # the refused request takes no number
    assert server.reply_to("ß") == "1 SS"
