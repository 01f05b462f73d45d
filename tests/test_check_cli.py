"""The ipc check command: its exit codes, its usage errors in one line, and its reports (text, JSON, JUnit, HTML)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER_CASE = """
import socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen()
while True:
    conn, _ = listener.accept()
    with conn, conn.makefile("rb") as lines:
        for number, line in enumerate(lines, start=1):
            conn.sendall(f"{number} {line.decode().strip()}\\n".encode())
"""


def ipc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ipc", "check", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def outputs():
    """A directory of its own for the program and the reports (removed at the end)."""
    directory = Path(tempfile.mkdtemp(prefix="ipc-check-cli-"))
    (directory / "lower_case.py").write_text(LOWER_CASE)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("args,says", [
    ([], "say what to check: ipc check MECHANISM --server 'COMMAND' (or --client), or --lint -- COMMAND"),
    (["tcp"], "say what to check"),
    (["sctp", "--server", "x"], "no mechanism 'sctp'; one of: tcp, unix, udp, unix-dgram, fifo, files, stdio, http"),
    (["stdio", "--client", "cat"], "stdio: only a server (--server) can be checked"),
    (["tcp", "--server", "true", "--only", "nonsense"], "no check named 'nonsense' for tcp; its checks: exchange,"),
    (["tcp", "--server", "'unclosed"], "cannot read the command"),
    (["--lint"], "give the program after --: ipc check --lint -- COMMAND [ARG...]"),
    (["tcp", "--server", "x", "--wait", "0"], "--wait: 0 is out of range"),
    (["tcp", "--server", "./no-such-server {port}"], "./no-such-server: command not found"),
    (["--lint", "--", "no-such-program"], "no-such-program: command not found"),
])  # fmt: skip
def test_a_usage_error_is_one_line_and_exit_2(args, says):
    done = ipc(*args)
    assert done.returncode == 2, done
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing ran


def test_a_passing_server_exits_0():
    done = ipc("tcp", "--server", "python3 demos/tcp_server.py --port {port}", "--only", "exchange", "--no-trace")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "ipc check tcp --server: python3 demos/tcp_server.py --port {port}"
    assert done.stdout.splitlines()[-1].startswith("1 passed, 0 failed, 0 skipped in ")


def test_a_failing_server_exits_1_and_writes_every_report(outputs):
    reports = {kind: outputs / f"report.{kind}" for kind in ("json", "junit", "html")}
    done = ipc(
        "tcp", "--server", f"python3 {outputs / 'lower_case.py'} {{port}}", "--only", "exchange,clients-in-a-row",
        *(arg for kind, path in reports.items() for arg in (f"--{kind}", str(path))),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failing = lines.index(next(line for line in lines if line.startswith("  FAIL  exchange")))
    assert lines[failing + 2 : failing + 4] == ["        expected: '1 HELLO'", "        got:      '1 hello'"]
    assert any("lower_case.py:9" in line for line in lines)  # the call that sent it, by its source line

    data = json.loads(reports["json"].read_text())
    assert (data["mode"], data["mechanism"], data["failed"]) == ("server", "tcp", 2)
    exchange = next(check for check in data["checks"] if check["name"] == "exchange")
    assert (exchange["status"], exchange["expected"], exchange["got"]) == ("fail", "1 HELLO", "1 hello")
    assert any(item["heading"].startswith("the server's system calls") for item in exchange["evidence"])

    suite = ElementTree.parse(reports["junit"]).getroot()
    assert (suite.tag, suite.get("failures"), suite.get("tests")) == ("testsuites", "2", str(len(data["checks"])))
    cases = suite.findall("testsuite/testcase")
    assert [case.get("name") for case in cases][:2] == ["exchange", "clients-in-a-row"]
    failure = cases[0].find("failure")
    assert failure.get("message") == "the answer to the first request" and "got:      '1 hello'" in failure.text

    page = reports["html"].read_text()
    assert page.startswith("<!doctype html>") and page.count('<div class="failure"') == 2
    assert page.count("<svg") == 2  # each failure's trace, drawn
    assert 'expected: <code class="expected">&#x27;1 HELLO&#x27;</code>' in page


def test_a_report_that_cannot_be_written_is_a_usage_error():
    done = ipc("tcp", "--server", "python3 demos/tcp_server.py --port {port}", "--only", "exchange", "--no-trace",
               "--json", "/nonexistent/report.json")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "ipc: cannot write /nonexistent/report.json: No such file or directory\n"


def test_lint_runs_the_command_after_the_double_dash():
    done = ipc("--lint", "--", "python3", "-c", "import os, sys; os.write(1, b'ok ' + sys.argv[1].encode())", "arg")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout.splitlines()[0]
        == "ipc check --lint -- python3 -c 'import os, sys; os.write(1, b'\"'\"'ok '\"'\"' + sys.argv[1].encode())' arg"
    )
    assert "  ok    runs-to-its-end" in done.stdout


@pytest.mark.skipif(not os.path.exists("/proc/self/fd"), reason="needs /proc")
def test_nothing_is_left_behind_by_a_failing_run(outputs):
    """The conftest checks this test's TMPDIR, processes and fds; a failing server run must leave none."""
    done = ipc("tcp", "--server", f"python3 {outputs / 'lower_case.py'} {{port}}", "--only", "exchange")
    assert done.returncode == 1
    assert os.listdir(os.environ["TMPDIR"]) == []
