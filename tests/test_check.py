"""ipc check over programs this project did not write: each wrong one caught, with the right explanation.

The programs are written here, in Python and in C (compiled here with cc -g, so that a finding names its C
line); each wrong one is the classic mistake of one lesson, and the test asserts the check that fails, what it
says, and the source line it points at. A correct one of each kind passes. The project's own servers and
clients pass ipc check for their mechanisms, traced, so the lecture's rules say nothing wrong about them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from support import needs

from ipc.check import run
from ipc.check.mechanisms import MECHANISMS, PROJECT_DATAGRAM_SERVERS, PROJECT_SERVERS, Target, demo
from ipc.trace.runner import TraceError, check_strace

try:
    check_strace()
    NO_STRACE = None
except TraceError as error:
    NO_STRACE = str(error)
needs_strace = pytest.mark.skipif(NO_STRACE is not None, reason=f"{NO_STRACE} (the findings come from its trace)")
needs_cc = needs("cc")  # (marked as needing a tool: tests/test_optional_tools.py runs it without)
pytestmark = needs_strace

PYTHON = {
    "good_server.py": """
        import socket, sys
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(sys.argv[1])))
        listener.listen()

        def serve(conn):
            buffer, number = b"", 0
            while True:
                data = conn.recv(4096)
                if not data:
                    return conn.sendall(b"error: stream ended in the middle of a message\\n") if buffer else None
                buffer += data
                while b"\\n" in buffer:
                    line, buffer = buffer.split(b"\\n", 1)
                    number += 1
                    try:
                        reply = f"{number} {line.decode().upper()}\\n".encode()
                    except UnicodeDecodeError:
                        return refuse(conn, b"error: not UTF-8\\n")
                    if len(reply) > 4096:
                        return refuse(conn, b"error: its answer would be too long\\n")
                    conn.sendall(reply)
                if len(buffer) >= 4096:
                    return refuse(conn, b"error: message too long\\n")

        def refuse(conn, why):
            conn.sendall(why)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(1)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

        while True:
            conn, _ = listener.accept()
            with conn:
                try:
                    serve(conn)
                except (ConnectionResetError, BrokenPipeError):
                    pass
    """,
    "one_recv.py": """
        import socket, sys
        listener = socket.socket()
        listener.bind(("127.0.0.1", int(sys.argv[1])))
        listener.listen()
        while True:
            conn, _ = listener.accept()
            number = 0
            while True:
                data = conn.recv(4096)  # one recv taken for one message
                if not data:
                    break
                number += 1
                conn.sendall(f"{number} {data.decode().strip().upper()}\\n".encode())
            conn.close()
    """,
    "one_client.py": """
        import socket, sys
        listener = socket.socket()
        listener.bind(("127.0.0.1", int(sys.argv[1])))
        listener.listen()
        conn, _ = listener.accept()  # one client, then it is done
        with conn, conn.makefile("rb") as lines:
            for number, line in enumerate(lines, start=1):
                conn.sendall(f"{number} {line.decode().strip().upper()}\\n".encode())
    """,
    "lower_case.py": """
        import socket, sys
        listener = socket.socket()
        listener.bind(("127.0.0.1", int(sys.argv[1])))
        listener.listen()
        while True:
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    conn.sendall(f"{number} {line.decode().strip()}\\n".encode())  # forgot .upper()
    """,
    "never_reaps.py": """
        import os, socket, sys
        listener = socket.socket()
        listener.bind(("127.0.0.1", int(sys.argv[1])))
        listener.listen()
        while True:
            conn, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                with conn, conn.makefile("rb") as lines:
                    for number, line in enumerate(lines, start=1):
                        conn.sendall(f"{number} {line.decode().strip().upper()}\\n".encode())
                os._exit(0)
            conn.close()  # and never waitpid(): each child that ends stays a zombie
    """,
    "keeps_its_socket_file.py": """
        import socket, sys
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(sys.argv[1])  # never unlinked, and SIGTERM ends it without a word
        listener.listen()
        while True:
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as lines:
                for number, line in enumerate(lines, start=1):
                    conn.sendall(f"{number} {line.decode().strip().upper()}\\n".encode())
    """,
    "reads_first.py": """
        import socket, sys
        sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        print(sock.recv(4096))  # the answer, before the request was sent
        sock.sendall(b"hello\\n")
    """,
    "good_client.py": """
        import socket, sys
        with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as sock, sock.makefile("rb") as answers:
            for request in ["hello", "bye"]:
                sock.sendall(request.encode() + b"\\n")
                print(answers.readline().decode().strip())
            sock.shutdown(socket.SHUT_WR)
    """,
    "forgets_close.py": """
        import os
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            while os.read(r, 100):  # until end of file: never, while this child holds w too
                pass
            os._exit(0)
        os.close(r)
        os.write(w, b"hello\\n")
        os.close(w)
        os.waitpid(pid, 0)
    """,
    "forks_forever.py": """
        import os, time
        for _ in range(1000):
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
    """,
}

C = {
    "fork_server.c": r"""
        #include <arpa/inet.h>
        #include <ctype.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <sys/socket.h>
        #include <sys/wait.h>
        #include <unistd.h>

        static void serve(int conn) {
            FILE *in = fdopen(conn, "r");
            char *line = NULL, reply[8192];
            size_t size = 0;
            ssize_t n;
            int count = 0;
            while ((n = getline(&line, &size, in)) > 0 && line[n - 1] == '\n') {
                line[n - 1] = 0;
                for (char *p = line; *p; p++) *p = toupper((unsigned char)*p);
                int length = snprintf(reply, sizeof reply, "%d %s\n", ++count, line);
                for (int sent = 0; sent < length;) {
                    ssize_t w = write(conn, reply + sent, length - sent);
                    if (w < 0) return;
                    sent += w;
                }
            }
        }

        int main(int argc, char **argv) {
            int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
            setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
            inet_pton(AF_INET, "127.0.0.1", &where.sin_addr);
            if (bind(listener, (struct sockaddr *)&where, sizeof where) < 0 || listen(listener, SOMAXCONN) < 0)
                return 1;
            for (;;) {
                int conn = accept(listener, NULL, NULL);
                if (conn < 0) continue;
                if (fork() == 0) {
        #ifdef FIXED
                    close(listener);
        #endif
                    serve(conn);
                    _exit(0);
                }
                close(conn);
                while (waitpid(-1, NULL, WNOHANG) > 0) {}
            }
        }
    """,
    "forgets_close.c": r"""
        #include <sys/wait.h>
        #include <unistd.h>

        int main(void) {
            int p[2];
            char buffer[64];
            pipe(p);
            pid_t child = fork();
            if (child == 0) {
                while (read(p[0], buffer, sizeof buffer) > 0) {}  /* p[1] still open here: no end of file */
                _exit(0);
            }
            close(p[0]);
            write(p[1], "hello\n", 6);
            close(p[1]);
            waitpid(child, NULL, 0);
            return 0;
        }
    """,
    "short_write.c": r"""
        #include <fcntl.h>
        #include <stdlib.h>
        #include <unistd.h>

        int main(void) {
            int p[2];
            pipe(p);
            fcntl(p[1], F_SETFL, O_NONBLOCK);
            char *data = calloc(1, 100000);
            write(p[1], data, 100000);  /* a pipe holds 64 KiB: the kernel takes part, the rest is dropped */
            close(p[1]);
            char buffer[65536];
            while (read(p[0], buffer, sizeof buffer) > 0) {}
            return 0;
        }
    """,
}


@pytest.fixture(scope="module")
def programs():
    """The programs above, written to a directory of their own (and the C ones compiled, where cc is)."""
    directory = Path(tempfile.mkdtemp(prefix="ipc-check-programs-"))
    for name, text in PYTHON.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip("\n"))
    if shutil.which("cc"):
        for name, text in C.items():
            (directory / name).write_text(textwrap.dedent(text).lstrip("\n"))
            binary = directory / name[:-2]
            subprocess.run(["cc", "-g", "-O0", "-o", str(binary), str(directory / name)], check=True, timeout=60)
            if name == "fork_server.c":
                fixed = [
                    "cc",
                    "-g",
                    "-O0",
                    "-DFIXED",
                    "-o",
                    str(directory / "fixed_fork_server"),
                    str(directory / name),
                ]
                subprocess.run(fixed, check=True, timeout=60)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def server(programs: Path, name: str, *args: str, mechanism: str = "tcp", concurrent: bool = False) -> Target:
    command = (sys.executable, str(programs / name)) if name.endswith(".py") else (str(programs / name),)
    return Target(MECHANISMS[mechanism], command + (args or ("{port}",)), concurrent=concurrent)


def failed(report) -> dict:
    return {result.name: result for result in report.failed}


def wheres(result) -> list:
    """The source lines of the first finding's calls, file name and line."""
    return [Path(call["where"]).name for call in result.findings[0]["calls"]]


# -- servers -------------------------------------------------------------------------------------------------


def test_a_correct_python_server_passes_the_whole_suite(programs):
    report = run.check_server(server(programs, "good_server.py"))
    assert report.ok, [(r.name, r.message, r.why) for r in report.failed]
    assert {r.name for r in report.passed} >= {"exchange", "many-in-one-write", "too-long", "zombie", "fd-leak"}


def test_a_server_that_takes_one_recv_for_one_message(programs):
    report = run.check_server(server(programs, "one_recv.py"), ["many-in-one-write", "one-in-two-writes"])
    failures = failed(report)
    merged = failures["many-in-one-write"]
    assert merged.expected == ["1 A", "2 B", "3 C"] and merged.got == ["1 A", "B", "C"]
    assert any("one read took 3 requests at once" in why and "one_recv.py:9" in why for why in merged.why)
    cut = failures["one-in-two-writes"]
    assert (cut.expected, cut.got) == ("1 HELLO", "1 HEL")
    lint = failures["one-recv-one-message"]
    assert 'read "hel"' in lint.message and "answered at once" in lint.message
    assert [call["where"].endswith("one_recv.py:9") for call in lint.findings[0]["calls"]] == [True, False]


def test_a_server_that_exits_after_its_first_client(programs):
    report = run.check_server(server(programs, "one_client.py"), ["clients-in-a-row"])
    result = failed(report)["clients-in-a-row"]
    assert result.message.startswith("cannot connect") or "reset" in result.message
    assert "the server ended by itself during the check (exit code 0)" in result.why
    assert any(heading.startswith("the server's system calls") for heading, _ in result.evidence)


def test_a_server_that_answers_in_lower_case(programs):
    report = run.check_server(server(programs, "lower_case.py"), ["exchange"], trace=False)
    result = failed(report)["exchange"]
    assert (result.expected, result.got) == ("1 HELLO", "1 hello")
    assert report.notes == [] and len(report.results) == 1  # untraced: the suite only, no findings


def test_a_fork_server_that_never_reaps_its_children(programs):
    report = run.check_server(server(programs, "never_reaps.py", concurrent=True), ["clients-in-a-row"])
    result = failed(report)["zombie"]
    assert "never collected it with waitpid() (wait4), so it stayed a zombie" in result.message
    assert result.findings[0]["calls"][0]["where"].endswith("never_reaps.py:7")  # the os.fork() line
    assert "(and 2 more alike" in result.message  # three clients, three zombies, told once


def test_a_unix_server_that_leaves_its_socket_file_behind(programs):
    target = server(programs, "keeps_its_socket_file.py", "{path}", mechanism="unix")
    report = run.check_server(target, ["exchange"])
    result = failed(report)["file-left"]
    assert "bound the socket file" in result.message and "never unlinked it" in result.message
    assert result.findings[0]["calls"][0]["where"].endswith("keeps_its_socket_file.py:3")


@needs_cc
def test_a_c_fork_server_whose_children_keep_the_listening_socket(programs):
    checks = ["clients-in-a-row", "two-at-once", "many-in-one-write", "one-in-two-writes"]
    report = run.check_server(server(programs, "fork_server", concurrent=True), checks)
    assert set(failed(report)) == {"listener-inherited"}
    result = failed(report)["listener-inherited"]
    assert "inherited the listening socket (TCP listener 127.0.0.1:" in result.message
    found = [call["where"] for call in result.findings[0]["calls"]]
    assert [Path(where).name for where in found] == ["fork_server.c:28", "fork_server.c:37"]  # socket(), fork()
    fixed = run.check_server(server(programs, "fixed_fork_server", concurrent=True), checks)
    assert fixed.ok, [(r.name, r.message) for r in fixed.failed]


# -- clients ---------------------------------------------------------------------------------------------------


def test_a_client_that_reads_before_it_writes_deadlocks_and_is_told_why(programs):
    report = run.check_client(MECHANISMS["tcp"], [sys.executable, str(programs / "reads_first.py"), "{port}"])
    failures = failed(report)
    ran = failures["runs-to-its-end"]
    assert ran.message == "deadlock: reads_first.py waits for server, server waits for reads_first.py"
    diagnosis = dict(ran.evidence)["the deadlock, as it was seen (then every process was ended)"]
    assert any("reads_first.py:3" in line for line in diagnosis)
    assert "waits in recvfrom (recv) fd 3 (TCP #1) for a reply" in failures["read-before-write"].message
    assert failures["answered"].message == "the server received no request from the client"


def test_a_correct_client_passes(programs):
    report = run.check_client(MECHANISMS["tcp"], [sys.executable, str(programs / "good_client.py"), "{port}"])
    assert report.ok, [(r.name, r.message) for r in report.failed]


# -- any program -----------------------------------------------------------------------------------------------


def test_a_pipe_program_that_forgets_a_close_hangs_and_is_told_why(programs):
    report = run.check_program([sys.executable, str(programs / "forgets_close.py")])
    failures = failed(report)
    assert set(failures) == {"runs-to-its-end", "unused-pipe-end"}
    assert "waits for itself" in failures["runs-to-its-end"].message
    result = failures["unused-pipe-end"]
    assert "never closed the write end of pipe #1 (fd 4), inherited at fork" in result.message
    assert wheres(result) == ["forgets_close.py:2", "forgets_close.py:3"]  # pipe(), fork()


@needs_cc
def test_a_c_pipe_program_that_forgets_a_close_names_its_c_lines(programs):
    report = run.check_program([str(programs / "forgets_close")])
    result = failed(report)["unused-pipe-end"]
    assert wheres(result) == ["forgets_close.c:7", "forgets_close.c:8"]  # pipe(), fork()
    assert "waits for itself" in failed(report)["runs-to-its-end"].message


@needs_cc
def test_a_short_write_whose_rest_is_never_written(programs):
    report = run.check_program([str(programs / "short_write")])
    result = failed(report)["short-write"]
    assert (
        "asked to write 100000 bytes, the kernel took 65536, and the other 34464 were never written" in result.message
    )
    assert result.findings[0]["calls"][0]["where"].endswith("short_write.c:10")


def test_a_program_that_forks_a_thousand_children_is_contained(programs):
    report = run.check_program([sys.executable, str(programs / "forks_forever.py")], max_processes=16)
    result = failed(report)["runs-to-its-end"]
    assert result.message.startswith("it was stopped: it ran more than 16 processes at once")  # and nothing is left:
    # the conftest fails the test if a single one still runs


def test_a_program_that_never_ends_is_ended_at_its_time_limit():
    report = run.check_program([sys.executable, "-c", "import time; time.sleep(60)"], within=0.5)
    assert failed(report)["runs-to-its-end"].message.startswith("program did not end within 0.5 s: it was ended")


# -- the project's own programs pass -----------------------------------------------------------------------------

CHECKS = {  # a few checks each (test_conformance runs them all, untraced): enough for every rule to read a trace
    "tcp": ["clients-in-a-row", "closes-early"],
    "fork-server": ["clients-in-a-row"],
    "fifo": ["clients-in-a-row"],
    "stdio": ["exchange"],
    "files": ["exchange"],
    "udp4": ["datagram-conversations"],
    "unix-dgram": ["datagram-conversations"],
    "http": ["http-keep-alive", "http-pipelined"],
}
TARGETS = PROJECT_SERVERS + PROJECT_DATAGRAM_SERVERS + [Target(MECHANISMS["http"], demo("http_server.py"), name="http")]


@pytest.mark.parametrize("target", [t for t in TARGETS if t.name in CHECKS], ids=lambda target: target.label)
def test_the_project_servers_pass_ipc_check_traced(target):
    """Checks of the suite and every rule of the lecture, over traces of the project's own servers."""
    report = run.check_server(target, CHECKS[target.name])
    assert report.ok, [(r.name, r.message) for r in report.failed]
    assert {r.name for r in report.results if r.group == "lecture"} >= {"fd-leak", "zombie", "file-left"}


@pytest.mark.parametrize("client", ["tcp_client.py --port {port}", "fifo_client.py --dir {dir}",
                                    "unix_dgram_client.py --path {path}"])  # fmt: skip
def test_the_project_clients_pass_ipc_check(client):
    script, *args = client.split()
    mechanism = {"tcp_client.py": "tcp", "fifo_client.py": "fifo", "unix_dgram_client.py": "unix-dgram"}[script]
    report = run.check_client(MECHANISMS[mechanism], list(demo(script, *args)))
    assert report.ok, [(r.name, r.message) for r in report.failed]


@pytest.mark.parametrize("script", ["pipe_fork.py", "dup2_parent.py"])
def test_the_project_pipe_programs_pass_ipc_check(script):
    report = run.check_program(list(demo(script)), exchange=True)
    assert report.ok, [(r.name, r.message) for r in report.failed]
