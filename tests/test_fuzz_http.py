"""Fuzzing HTTP's readers: the request head, the chunked body, and the client's response reader."""

import pytest
from fuzzing import bounded, cuts, mutated
from hypothesis import given
from hypothesis import strategies as st

from ipc.http_messages import MAX_BODY_BYTES, MAX_HEAD_BYTES, HTTPError, Request, RequestDecoder, ResponseDecoder
from ipc.protocol import END, NEED_DATA, ProtocolError

H = b"Host: 127.0.0.1\r\n"
REQUESTS = [  # valid, and the attacks' requests
    b"GET /hello.txt HTTP/1.1\r\n" + H + b"\r\n",
    b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"PUT / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    b"GET http://x/hello.txt HTTP/1.2\r\n" + H + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",  # a Host with a space
    b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n"
    b"\r\n",  # smuggling: two framings, a second request hidden in the body
    b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",  # a huge chunk size
    b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",  # a chunk that lies
    b"GET /../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n",  # traversal
    b"GET / HTTP/1.1\r\n" + H + b"X-Slow: " + b"a" * 200,  # slowloris: a head that never ends
    b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + H + b" folded\r\n\r\n",
]  # fmt: skip
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nto the end of the stream",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
]


def feed_all(decoder, pieces):
    """Feed the pieces, taking every message out as it comes; then the end of the stream."""
    messages = []
    for piece in [*pieces, b""]:
        decoder.feed(piece)
        while (message := decoder.next_message()) not in (NEED_DATA, END):
            messages.append(message)
        if message is END:
            break
    return messages


@pytest.mark.parametrize("request_bytes", REQUESTS)
def test_the_attacks_requests_end_in_requests_or_a_status(request_bytes):
    with bounded(seconds=0.5):
        try:
            feed_all(RequestDecoder(), [request_bytes])
        except HTTPError as error:
            assert 400 <= error.status <= 505


@given(
    st.one_of(mutated(REQUESTS), st.binary(max_size=2000)),
    st.lists(st.integers(1, 64), max_size=40),
)
def test_any_bytes_however_cut_give_requests_or_an_httperror_never_more(data, sizes):
    decoder = RequestDecoder()
    with bounded():
        try:
            messages = feed_all(decoder, cuts(data, sizes))
        except HTTPError as error:
            assert 400 <= error.status <= 505 and str(error)
            return
    for message in messages:
        assert isinstance(message, Request) and message.head_bytes <= MAX_HEAD_BYTES
        assert len(message.body) <= MAX_BODY_BYTES
        assert message.path.startswith(("/", "*")) or message.method == "CONNECT"


@given(st.binary(max_size=300), st.lists(st.integers(1, 16), max_size=40))
def test_a_chunked_body_of_any_bytes_is_read_or_refused(body, sizes):
    head = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
    with bounded():
        try:
            feed_all(RequestDecoder(max_body=1000), cuts(head + body, sizes))
        except HTTPError as error:
            assert error.status in (400, 413, 431)


@given(st.one_of(mutated(RESPONSES), st.binary(max_size=2000)), st.lists(st.integers(1, 64), max_size=40))
def test_a_client_reads_any_server_bytes_as_responses_or_a_protocolerror(data, sizes):
    with bounded():
        try:
            feed_all(ResponseDecoder(max_body=1 << 16), cuts(data, sizes))
        except ProtocolError:
            pass
