"""HTTP framing on bytes alone: no sockets (ipc.http_messages is sans-IO)."""

import re

import pytest

from ipc.http_messages import MAX_HEAD_BYTES, HTTPError, RequestDecoder, ResponseDecoder
from ipc.protocol import END, NEED_DATA, ProtocolError
from ipc.stream import MessageReader

GET = b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: t\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


def decode_all(decoder, data, *, bytewise=False, eof=True):
    """Every message the decoder gives for data, fed at once or one byte at a time."""
    messages = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks + ([b""] if eof else []):
        decoder.feed(chunk)
        while (message := decoder.next_message()) not in (NEED_DATA, END):
            messages.append(message)
        if message is END:
            break
    return messages


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_request_arriving_whole_or_byte_by_byte_is_the_same(bytewise):
    [request] = decode_all(RequestDecoder(), GET, bytewise=bytewise)
    assert (request.method, request.target, request.version) == ("GET", "/hello.txt", "HTTP/1.1")
    assert request.header("host") == "127.0.0.1:8080"  # field names are case-insensitive
    assert request.keep_alive and request.body == b"" and request.head_bytes == len(GET)


@pytest.mark.parametrize("bytewise", [False, True])
def test_pipelined_requests_with_bodies_are_cut_at_content_length(bytewise):
    post = b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\na=1&b=2"
    requests = decode_all(RequestDecoder(), post + b"\r\n" + GET, bytewise=bytewise)  # a stray CRLF between: ignored
    assert [(r.method, r.body) for r in requests] == [("POST", b"a=1&b=2"), ("GET", b"")]


def test_a_bare_lf_ends_lines_too_as_from_nc_without_crlf():
    [request] = decode_all(RequestDecoder(), b"GET / HTTP/1.0\nHost: x\n\n")
    assert request.version == "HTTP/1.0" and not request.keep_alive  # HTTP/1.0 closes unless asked


@pytest.mark.parametrize(
    "connection,version,keep",
    [
        ("close", "HTTP/1.1", False),
        ("keep-alive", "HTTP/1.0", True),
        ("Keep-Alive, Upgrade", "HTTP/1.0", True),
        (None, "HTTP/1.1", True),
        ("upgrade, CLOSE", "HTTP/1.1", False),
    ],
)
def test_keep_alive_follows_the_version_and_the_connection_field(connection, version, keep):
    head = f"GET / {version}\r\nHost: x\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    [request] = decode_all(RequestDecoder(), head.encode())
    assert request.keep_alive is keep


def test_end_of_file_between_requests_is_a_clean_end():
    decoder = RequestDecoder()
    decoder.feed(b"\r\n")
    assert decoder.next_message() is NEED_DATA and not decoder.started  # blank lines are not a request yet
    decoder.feed(b"")
    assert decoder.next_message() is END


@pytest.mark.parametrize(
    "data,status,says",
    [
        (b"hello\r\n\r\n", 400, "not a request line"),
        (b"GET /\r\nHost: x\r\n\r\n", 400, "not a request line"),
        (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "not a request line"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "exactly one Host"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "exactly one Host"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "not a header line"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "line folding"),
        (b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n", 400, "control character"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length is not one number"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", 400, "Content-Length is not one number"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n\r\n", 413, "a body of 999999 bytes"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Transfer-Encoding"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", 431, "no blank line in the first"),
    ],
)
def test_bad_requests_raise_the_status_a_server_answers(data, status, says):
    with pytest.raises(HTTPError) as raised:
        decode_all(RequestDecoder(), data)
    assert raised.value.status == status and says in str(raised.value)


def test_an_endless_head_is_refused_before_it_fills_memory():
    decoder = RequestDecoder()
    decoder.feed(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 2000)  # no blank line, and no end of file either
    with pytest.raises(HTTPError) as raised:
        decoder.next_message()
    assert raised.value.status == 431


@pytest.mark.parametrize(
    "data,says",
    [
        (GET[:-2], "ended inside a head"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort", "ended inside a body (5 of 10 bytes)"),
    ],
)
def test_a_request_cut_short_by_end_of_file_is_a_400(data, says):
    with pytest.raises(HTTPError) as raised:
        decode_all(RequestDecoder(), data)
    assert raised.value.status == 400 and says in str(raised.value)


def test_started_says_whether_a_deadline_would_cut_a_request_short():
    decoder = RequestDecoder()
    assert not decoder.started
    decoder.feed(b"GET / HT")
    assert decoder.next_message() is NEED_DATA and decoder.started


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_response_is_read_to_its_content_length_and_no_further(bytewise):
    [first, second] = decode_all(ResponseDecoder(), OK + OK.replace(b"hello", b"world"), bytewise=bytewise, eof=False)
    assert (first.status, first.body, second.body) == (200, b"hello", b"world")
    assert first.lines == ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5"]


def test_a_response_to_head_has_no_body_whatever_its_content_length():
    decoder = ResponseDecoder()
    decoder.request_method = "HEAD"
    [response] = decode_all(decoder, OK[:-5], eof=False)
    assert response.header("Content-Length") == "5" and response.body == b""


def test_a_response_without_content_length_runs_to_end_of_file():
    [response] = decode_all(ResponseDecoder(), b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert response.body == b"all of it" and not response.keep_alive


@pytest.mark.parametrize(
    "data,says",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not a status line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "reads Content-Length only"),
        (OK[:-2], "ended inside a body (3 of 5 bytes)"),
    ],
)
def test_responses_this_client_cannot_read_are_protocol_errors(data, says):
    with pytest.raises(ProtocolError, match=re.escape(says)):
        decode_all(ResponseDecoder(), data)


def test_the_one_read_loop_carries_http_however_the_bytes_are_cut():
    chunks = [GET[:5], GET[5:30], GET[30:] + GET[:10], GET[10:], b""]  # two requests, cut anywhere
    reader = MessageReader(lambda size: chunks.pop(0), decoder=RequestDecoder())
    assert [request.target for request in reader] == ["/hello.txt", "/hello.txt"]
    assert reader.reads == 5
