"""HTTP/1.1 over the TCP calls: the server with curl, a browser, raw bytes and the demo's own clients."""

import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from expected_output import mismatches
from support import ROOT, TOOL, Program, needs, run_program

from ipc import catalog
from ipc.catalog.protocols import no_chromium
from ipc.harness import run_demo


def labelled(result):
    return [f"{line.role}[{line.pid}]: {line.text}" for line in result.lines]


def raw_exchange(port, data, timeout=5.0):
    """Send raw bytes, then read until the server closes; the connection must end cleanly (no reset)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def server(*args):
    return Program("http_server.py", "--connections", "1", *args)


# -- through the harness -------------------------------------------------------


def test_http_demo_through_the_harness_matches_the_docstrings():
    result = run_demo(catalog.find(["http"])[0])
    assert result.ok, result.problems
    real = labelled(result)
    assert mismatches("http_client.py", real, vary=(r"(?<=< )Date: .*",)) == []
    assert mismatches("http_server.py", real) == []
    bodies = [line.text for line in result.said("client") if line.text.startswith("body: ")]
    assert re.match(r"body: 48894 bytes, as Content-Length said \(head \d+ bytes; \d+ recv\(\) calls", bodies[1])


def test_client_reads_first_deadlocks_with_the_http_server_then_the_fix_passes():
    result = run_demo(catalog.find(["http-client-reads-first"])[0])
    assert result.ok, result.problems
    diagnosis = result.diagnosis
    assert diagnosis.cycle_text() == "client waits for server, server waits for client"
    real = labelled(result) + labelled(result.fixed)
    assert mismatches("broken/http_client_reads_first.py", real) == []


def test_the_servers_deadline_turns_the_deadlock_into_an_error():
    with server("--timeout", "0.5") as http:
        port = http.ready()["port"]
        done = run_program("broken/http_client_reads_first.py", "--port", port)
        http.wait_for_line(r"no request for 0\.5 s: hanging up")
        assert http.finish()[0] == 0
    assert done.returncode == 1
    assert re.fullmatch(
        rb"(client\[\d+\]: .*\n){2}client\[\d+\]: error: ConnectionError: the server hung up "
        rb"without a word: it waited for a request that never came\n",
        done.stderr,
    )


@TOOL
@pytest.mark.skipif(no_chromium() is not None, reason=str(no_chromium()))
def test_a_browser_opens_several_connections_for_one_page():
    result = run_demo(catalog.find(["http-browser"])[0])
    assert result.ok, result.problems
    assert mismatches("http_browser.py", labelled(result), vary=(r"(?<=over )\d+", r"(?<=ports )[\d, ]+")) == []
    ports = [line.text.rsplit(":", 1)[1] for line in result.said("server") if line.text.startswith("accepted ")]
    assert len(ports) >= 2 and len(set(ports)) == len(ports)  # measured: 3 to 5 connections in 31 runs


# -- curl, a real client --------------------------------------------------------


@needs("curl")
def test_curl_and_the_demo_client_see_the_same_exchange():
    with Program("http_server.py", "--connections", "2") as http:
        port = http.ready()["port"]
        url = f"http://127.0.0.1:{port}"
        curl = subprocess.run(
            [
                "curl",
                "-sv",
                "-o",
                "/dev/null",
                f"{url}/",
                "--next",
                "-o",
                "/dev/null",
                "-H",
                "Connection: close",
                f"{url}/hello.txt",
            ],
            capture_output=True,
            timeout=10,
        )
        ours = run_program("http_client.py", "--port", port, "-o", "/dev/null", "/", "/hello.txt")
        assert http.finish()[0] == 0
    assert curl.returncode == 0 and ours.returncode == 0, (curl.stderr, ours.stderr)

    def exchange(lines):  # the request and response lines, with what must differ masked
        shown = [line.rstrip() for line in lines if line[:2] in ("> ", "< ") or line in (">", "<")]
        return [re.sub(r"^(> User-Agent|< Date): .*", r"\1: ...", line) for line in shown]

    ours_lines = [line.split(": ", 1)[1] for line in ours.stderr.decode().splitlines()]
    assert exchange(curl.stderr.decode().splitlines()) == exchange(ours_lines)
    assert "Re-using existing connection" in curl.stderr.decode()  # keep-alive: curl's two requests, one connection
    assert len([line for line in http.lines if " accepted " in line]) == 2  # one for curl, one for ours


@needs("curl")
def test_curl_head_gets_the_length_without_the_body():
    with server() as http:
        done = subprocess.run(
            ["curl", "-sI", f"http://127.0.0.1:{http.ready()['port']}/count.txt"], capture_output=True, timeout=10
        )
        assert http.finish()[0] == 0
    assert done.returncode == 0
    assert b"HTTP/1.1 200 OK\r\n" in done.stdout and b"Content-Length: 48894\r\n" in done.stdout
    assert done.stdout.endswith(b"\r\n\r\n")  # the head only
    assert any('sent "HTTP/1.1 200 OK" and 0 bytes of text/plain' in line for line in http.lines)


# -- bad requests: the right status, then a clean close -------------------------


@pytest.mark.parametrize(
    "data,status",
    [
        (b"hello\r\n\r\n", "400 Bad Request"),
        (b"GET / HTTP/1.1\r\n\r\n", "400 Bad Request"),  # no Host
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000, "413 Request Entity Too Large"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"a" * 20000 + b"\r\n\r\n", "431 Request Header Fields Too Large"),
        (b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "501 Not Implemented"),
        (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported"),
        (b"GET /nowhere HTTP/1.0\r\n\r\n", "404 Not Found"),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400 Bad Request"),  # RFC 9112 3.2: MUST be 400; once it got 200
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400 Bad Request",
        ),  # two framings: request smuggling
    ],
)
def test_a_bad_request_gets_its_status_and_the_connection_closes_cleanly(data, status):
    with server() as http:
        response = raw_exchange(int(http.ready()["port"]), data)  # a reset here would raise ConnectionResetError
        assert http.finish()[0] == 0
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status}\r\n".encode())
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head)[1])
    assert len(body) == length  # the whole answer arrived, then end of file
    assert b"\r\nConnection: close\r\n" in head + b"\r\n" or status.startswith("404")  # HTTP/1.0 closes by itself
    assert not any("Traceback" in line for line in http.lines)


def test_a_405_keeps_the_connection_usable_its_body_read_and_skipped():
    with server() as http:
        response = raw_exchange(
            int(http.ready()["port"]),
            b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert http.finish()[0] == 0
    assert re.findall(rb"HTTP/1.1 (\d{3} [A-Za-z ]+)\r\n", response) == [b"405 Method Not Allowed", b"200 OK"]
    assert b"\r\nAllow: GET, HEAD\r\n" in response  # RFC 9110: a 405 says which methods are allowed


@pytest.mark.parametrize(
    "data,statuses",
    [
        (b"GET http://127.0.0.1/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", ["200 OK"]),  # absolute-form: once 404
        (b"GET /hello.txt HTTP/1.2\r\nHost: x\r\n\r\n", ["200 OK"]),  # HTTP/1.2: answered as 1.1, once 505
        (
            b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            ["405 Method Not Allowed"],
        ),  # its chunked body read (once 501), so the connection stays usable
    ],
)
def test_requests_http_1_1_servers_must_accept_are_answered_and_the_connection_stays_usable(data, statuses):
    with server() as http:
        response = raw_exchange(
            int(http.ready()["port"]), data + b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert http.finish()[0] == 0
    assert re.findall(rb"HTTP/1.1 (\d{3} [A-Za-z ]+)\r\n", response) == [s.encode() for s in statuses + ["200 OK"]]


def test_expect_100_continue_is_answered_before_the_body_is_sent():
    with server() as http:
        port = int(http.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the body is held back until this comes
            sock.sendall(b"hi")
            final = sock.recv(4096)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while sock.recv(65536):
                pass
        assert http.finish()[0] == 0
    assert final.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert any(line.endswith('sent "HTTP/1.1 100 Continue": it may send its body') for line in http.lines)


def test_a_request_that_trickles_in_gets_408_at_its_deadline_not_per_byte():
    with server("--timeout", "1") as http:
        with socket.create_connection(("127.0.0.1", int(http.ready()["port"])), timeout=5) as sock:
            started = time.monotonic()
            for byte in b"GET / HTTP/1.1\r\nHost: slow\r\nX-Padding: " + b"z" * 100:
                sock.send(bytes([byte]))
                if select.select([sock], [], [], 0.2)[0]:  # pace: a byte every 0.2 s, until the server answers
                    break
            response = sock.recv(4096)
            elapsed = time.monotonic() - started
        assert http.finish()[0] == 0
    assert response.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert 0.9 < elapsed < 5  # one deadline for the whole request, though a byte came every 0.2 s


def test_an_idle_connection_is_closed_without_an_answer_and_others_are_served_meanwhile():
    with Program("http_server.py", "--connections", "2", "--timeout", "1") as http:
        port = int(http.ready()["port"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
            http.wait_for_line(r"accepted ")
            answer = raw_exchange(port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert answer.endswith(b"\r\n\r\nHello from demos/http_server.py\n")  # served while the first one idles
            assert idle.recv(1) == b""  # then the idle one is closed, with nothing said
        http.wait_for_line(r"no request for 1 s: hanging up")
        assert http.finish()[0] == 0


def test_pipelined_requests_are_answered_in_order_on_one_connection():
    with server() as http:
        response = raw_exchange(
            int(http.ready()["port"]),
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert http.finish()[0] == 0
    assert re.findall(rb"HTTP/1.1 (\d{3})", response) == [b"200", b"404", b"200"]
    assert response.endswith(b"Connection: close\r\n\r\n")  # HEAD: the head only


def test_sigterm_ends_the_server_in_one_line_with_a_connection_open():
    with Program("http_server.py") as http:
        with socket.create_connection(("127.0.0.1", int(http.ready()["port"])), timeout=5):
            http.wait_for_line(r"accepted ")
            http.popen.send_signal(signal.SIGTERM)  # as from kill, while a connection waits for its request
            assert http.finish()[0] == 143  # SIGTERM: 128 + 15
    assert re.fullmatch(r"server\[\d+\]: interrupted", http.lines[-1])


# -- bad command lines and bad peers: one line, no traceback --------------------


@pytest.mark.parametrize(
    "script,args,code,says",
    [
        ("http_server.py", ["--port", "70000"], 2, "70000 is not a port"),
        (
            "http_server.py",
            ["--timeout", "nan"],
            2,
            "nan is out of range: more than 0 s, at most 86400 s, or 0 (no limit)",
        ),
        ("http_server.py", ["--timeout", "-1"], 2, "-1 is out of range"),
        ("http_server.py", ["--connections", "-1"], 2, "-1 is out of range: 0 to"),
        ("http_server.py", ["--host", "a" * 64], 2, "is not a host name or address"),
        ("http_server.py", ["--host", "nowhere.invalid"], 1, "error: gaierror: "),
        ("http_client.py", ["--port", "80", "no-slash"], 2, "a PATH starts with /"),
        ("http_client.py", ["--port", "80", "/grüße"], 2, "a PATH starts with / and is ASCII"),
        ("http_client.py", ["--port", "80", "--host", "bücher.test"], 2, "--host: a name in ASCII"),
        ("http_client.py", ["--port", "{closed}"], 1, "error: ConnectionRefusedError: Connection refused"),
        ("http_client.py", ["--port", "80", "--timeout", "0"], 2, "0 is out of range: more than 0 s"),  # 0: for ever
        (
            "http_client.py",
            ["--port", "{silent}", "--timeout", "0.3"],
            1,
            "error: TimeoutError: no whole response within 0.3 s",
        ),
        (
            "http_client.py",
            ["--port", "1", "-o", "/nonexistent/dir/out"],
            1,
            "error: FileNotFoundError: No such file or directory",
        ),
        ("http_browser.py", ["--browser", "/nonexistent/chromium"], 1, "error: FileNotFoundError: no Chromium found"),
    ],
)
def test_bad_input_gets_one_line_and_a_non_zero_exit(script, args, code, says):
    with socket.socket() as closed, socket.socket() as silent:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connect() is refused
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts; nobody ever answers
        ports = {"closed": str(closed.getsockname()[1]), "silent": str(silent.getsockname()[1])}
        done = run_program(script, *[arg.format(**ports) for arg in args])
    assert done.returncode == code
    assert says in done.stderr.decode().splitlines()[-1]  # the last line says what went wrong
    assert b"Traceback" not in done.stderr


def test_the_client_refuses_a_server_that_does_not_speak_http():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with Program("http_client.py", "--port", str(listener.getsockname()[1])) as client:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
                code, _, _ = client.finish()
    assert code == 1
    assert re.fullmatch(
        r"client\[\d+\]: error: ProtocolError: not a status line: 'SSH-2.0-OpenSSH_9.2' .*", client.lines[-1]
    )


def test_port_80_without_privileges_says_why():
    fake = (
        "import runpy, socket, sys\n"
        "def bind(self, where): raise PermissionError(13, 'Permission denied')\n"
        "socket.socket.bind = bind  # as for a user who is not root\n"
        "sys.argv = ['http_server.py', '--port', '80']\n"
        "runpy.run_path('demos/http_server.py', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", fake], capture_output=True, cwd=ROOT, timeout=10)
    assert done.returncode == 1
    assert re.fullmatch(
        rb"server\[\d+\]: error: PermissionError: cannot bind 127\.0\.0\.1:80: ports below 1024 need "
        rb"privileges \(root, or CAP_NET_BIND_SERVICE\); try --port 0 or a port from 1024 up\n",
        done.stderr,
    )


# -- running out: said once, 503 to the newest, and serving goes on ------------------


def vm_size(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


def first_answer(socks, deadline=10.0):
    """The first answer any of these connections gets, and which connection it was."""
    ready, _, _ = select.select(socks, [], [], deadline)
    assert ready, f"no connection was answered within {deadline} s"
    return ready[0].recv(4096), ready[0]


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux's prlimit() to cap a running server")
@pytest.mark.parametrize(
    "short_of,cap",
    [
        ("file descriptors", lambda pid: (resource.RLIMIT_NOFILE, len(os.listdir(f"/proc/{pid}/fd")) + 5)),  # 5 more
        ("threads", lambda pid: (resource.RLIMIT_AS, vm_size(pid) + 6 * 8 * 2**20 + 4 * 2**20)),  # 6 stacks of 8 MB
    ],
)
def test_a_server_out_of_fds_or_threads_answers_503_says_so_once_and_serves_on(short_of, cap):
    # Once, EMFILE in accept() or "can't start new thread" ended the server: 20 idle connections were enough.
    with Program("http_server.py", "--timeout", "30") as http:
        where = ("127.0.0.1", int(http.ready()["port"]))
        which, limit = cap(http.popen.pid)
        resource.prlimit(http.popen.pid, which, (limit, limit))  # as prlimit --nofile (or --as) would
        idle = []
        try:
            for _ in range(20):  # connected and silent: each holds a thread and an fd until --timeout
                idle.append(socket.create_connection(where, timeout=5))
                idle[-1].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # a head begun, never ended
            answer, _ = first_answer(idle)
            assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"), answer
            http.wait_for_line(rf"out of {short_of}: answering 503 and pausing accept\(\) 0\.5 s", anywhere=True)
        finally:
            for sock in idle:
                sock.close()
        http.wait_for_line(rf"enough {short_of} again \(\d+ times? short meanwhile\)", deadline=20)
        response = raw_exchange(where[1], b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert sum(f"out of {short_of}" in line for line in http.lines) == 1  # once, however many were refused
        assert not any("Traceback" in line for line in http.lines)
        assert http.stop() == 143
