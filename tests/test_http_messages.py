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
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "decodes chunked only"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "is not a host[:port]"),
        (b"GET hello HTTP/1.1\r\nHost: x\r\n\r\n", 400, "not a request target"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417, "only 100-continue"),
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


# -- RFC 9112 framing, beside h11 (a well-kept HTTP/1.1 library, here only as a second opinion) -------------

H = b"Host: x\r\n"
CHUNKED = b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
FRAMING = [  # name, request, our status or the body we read, h11's, why we differ when we do
    ("absolute-form target", b"GET http://x/hello.txt HTTP/1.1\r\n" + H + b"\r\n", b"", b"", ""),
    ("chunked body", CHUNKED + b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", b"hello world", ""),
    ("chunk extension, trailer", CHUNKED + b"5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", b"hello", b"hello", ""),
    ("HTTP/1.2: same major version", b"GET / HTTP/1.2\r\n" + H + b"\r\n", b"", b"", ""),
    ("Expect: 100-continue", b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", b"hi",
     b"hi", ""),
    ("Content-Length said twice alike", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello", b"hello",
     b"hello", ""),
    ("asterisk-form for OPTIONS", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n", b"", b"", ""),
    ("Host with a port", b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", b"", b"", ""),
    ("Host, IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", b"", b"", ""),
    ("Host empty (a target without authority)", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", b"", b"", ""),
    ("gzip, then chunked", CHUNKED.replace(b"chunked", b"gzip, chunked") + b"0\r\n\r\n", 501, 501, ""),
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400, 400, ""),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 400, ""),
    ("space before the colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 400, ""),
    ("NUL in a field", b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n", 400, 400, ""),
    ("Content-Length -1", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, 400, ""),
    ("Content-Length 3, 4", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n\r\n", 400, 400, ""),
    ("chunk size not hex", CHUNKED + b"zz\r\n", 400, 400, ""),
    ("chunk longer than its size", CHUNKED + b"3\r\nhello\r\n0\r\n\r\n", 400, 400, ""),
    ("chunk lines ended by bare LF", CHUNKED + b"5\nhello\n0\n\n", 400, 400, ""),
    ("two spaces in the request line", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400, 400, ""),
    ("a bad method", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400, 400, ""),
    ("Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, b"",
     "RFC 9112 3.2: a Host that is no host[:port] MUST get 400; h11 leaves Host's syntax to the application"),
    ("Host with a slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, b"", "the same rule"),
    ("HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505, b"",
     "RFC 9110 15.6.6: a major version we do not speak is 505; h11 leaves the version to the application"),
    ("Transfer-Encoding and Content-Length", CHUNKED.replace(H, H + b"Content-Length: 3\r\n") + b"0\r\n\r\n", 400,
     b"", "RFC 9112 6.1 lets a server reject it or follow Transfer-Encoding; we reject it (request smuggling)"),
    ("Transfer-Encoding in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, b"",
     "RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding MUST be treated as faulty framing"),
    ("gzip alone", CHUNKED.replace(b"chunked", b"gzip"), 400, 501,
     "RFC 9112 6.3: chunked not last in a request MUST get 400 (where a body ends is unknowable); h11 says 501"),
    ("chunked, then gzip", CHUNKED.replace(b"chunked", b"chunked, gzip"), 400, 501, "the same rule"),
    ("obsolete line folding", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n", 400, b"",
     "RFC 9112 5.2 lets a server reject it with 400 or unfold it; h11 unfolds it"),
    ("Expect: something else", b"GET / HTTP/1.1\r\n" + H + b"Expect: teapot\r\n\r\n", 417, b"",
     "RFC 9110 10.1.1: a server MAY answer 417; h11 leaves Expect to the application"),
    ("target neither /path nor URL", b"GET hello HTTP/1.1\r\n" + H + b"\r\n", 400, b"",
     "RFC 9112 3.2: no form of request-target; h11 does not check the target's form"),
]  # fmt: skip


def ours(data: bytes):
    """Our decoder's verdict: the request's body, or the status of its refusal."""
    try:
        [request] = decode_all(RequestDecoder(), data)
        return request.body
    except HTTPError as error:
        return error.status


def h11s(data: bytes):
    """h11's verdict on the same bytes: the body it frames, or its status hint."""
    h11 = pytest.importorskip("h11", reason="no h11 here (pip install h11: a test-only dependency)")
    connection, body = h11.Connection(h11.SERVER), b""
    try:
        connection.receive_data(data)
        connection.receive_data(b"")
        while not isinstance(event := connection.next_event(), h11.EndOfMessage):
            assert event is not h11.NEED_DATA and not isinstance(event, h11.ConnectionClosed), event
            body += event.data if isinstance(event, h11.Data) else b""
        return body
    except h11.RemoteProtocolError as error:
        return error.error_status_hint


@pytest.mark.parametrize("name,data,expected,theirs,why", FRAMING, ids=[row[0] for row in FRAMING])
def test_framing_per_rfc_9112_beside_h11(name, data, expected, theirs, why):
    assert ours(data) == expected
    assert h11s(data) == theirs  # h11's own answer, recorded: where it differs from ours, `why` says which rule
    assert (expected == theirs) == (not why)


@pytest.mark.parametrize("bytewise", [False, True])
def test_a_chunked_body_is_read_however_its_bytes_are_cut_and_the_next_request_follows(bytewise):
    data = CHUNKED + b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\n" + GET
    first, second = decode_all(RequestDecoder(), data, bytewise=bytewise)
    assert first.body == b"hello world" and second.target == "/hello.txt"


@pytest.mark.parametrize(
    "chunks,status,says",
    [
        (b"f" * 9 + b"\r\n", 413, "a chunked body of over"),  # 68 GB said in a size line: refused before a byte
        (b"ffff\r\n" + b"x" * 10, 413, "a chunked body of over 1000 bytes"),
        (b"5" + b";x" * 600 + b"\r\n", 400, "not a chunk size line"),  # extensions past 1024 bytes
        (b"5\r\nhello\r\n0\r\n" + b"X: " + b"a" * 9000, 431, "no end to the trailer fields"),
        (b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n", 400, "not a trailer field line"),
        (b"5\r\nhel", 400, "ended inside a chunked body"),
    ],
)
def test_a_chunked_body_that_breaks_the_rules_is_refused_with_bounded_memory(chunks, status, says):
    with pytest.raises(HTTPError) as raised:
        decode_all(RequestDecoder(max_body=1000), CHUNKED + chunks)
    assert raised.value.status == status and says in str(raised.value)


def test_a_100_continue_is_wanted_once_the_head_is_in_and_the_body_is_not():
    decoder = RequestDecoder()
    head = b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    decoder.feed(head)
    assert decoder.next_message() is NEED_DATA and decoder.continue_wanted
    decoder.continue_said()
    assert not decoder.continue_wanted  # said once
    decoder.feed(b"hi")
    assert decoder.next_message().body == b"hi"
    for old in (head.replace(b"HTTP/1.1", b"HTTP/1.0"), head.replace(b"Content-Length: 2", b"Content-Length: 0")):
        fresh = RequestDecoder()  # HTTP/1.0 knows no 100 (RFC 9110 10.1.1), and no body needs none
        fresh.feed(old)
        assert fresh.next_message() is not None and not fresh.continue_wanted


def test_the_path_of_an_absolute_form_target_is_its_url_path():
    [request] = decode_all(RequestDecoder(), b"GET http://x:80/hello.txt?a=1 HTTP/1.1\r\n" + H + b"\r\n")
    assert request.target == "http://x:80/hello.txt?a=1" and request.path == "/hello.txt?a=1"
    [plain] = decode_all(RequestDecoder(), GET)
    assert plain.path == plain.target == "/hello.txt"
