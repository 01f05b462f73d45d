"""The C twins (demos/c/): warning-free, skipped with a reason where there is no compiler, and speaking the
exchange and the log exactly as the Python programs do (the harness's checks are the same for both)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import needs

from ipc import catalog, cprograms
from ipc.catalog import Demo, Program
from ipc.catalog.twins import check_showip_c
from ipc.harness import run_demo
from ipc.transcript import Transcript, parse_line

C_DEMOS = [demo for demo in catalog.all_demos() if any(script.endswith(".c") for script in demo.scripts)]


@needs("cc")
@pytest.mark.parametrize("source", cprograms.sources(), ids=lambda path: path.name)
def test_each_twin_compiles_without_a_warning(source):
    """cc -Wall -Wextra -O2 -Werror: a warning fails (make build and the harness show warnings, never fail on them)."""
    with tempfile.TemporaryDirectory() as directory:
        program = cprograms.build(source, directory=Path(directory), werror=True, force=True)
        assert os.access(program, os.X_OK)


def test_without_a_compiler_every_c_demo_is_skipped_saying_how_to_get_one(monkeypatch):
    with tempfile.TemporaryDirectory() as empty:
        monkeypatch.setenv("PATH", empty)  # no cc, gcc or clang on it
        monkeypatch.delenv("CC", raising=False)
        assert cprograms.compiler() is None
        assert {demo.unavailable() for demo in C_DEMOS} == {cprograms.NO_COMPILER}
        assert "apt-get install gcc" in cprograms.NO_COMPILER
        result = run_demo(catalog.find(["tcp-c"])[0])
        assert result.skipped == cprograms.NO_COMPILER and result.ok
        done = subprocess.run([sys.executable, "-m", "ipc.cprograms"], capture_output=True, text=True, timeout=30,
                              cwd=cprograms.ROOT)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, cprograms.NO_COMPILER + "\n")  # make build: one line, no failure


def test_every_c_demo_mixes_or_twins_a_python_one():
    """Each C program runs in a demo of its own and, for each client and server, beside its Python twin too."""
    scripts = {script for demo in C_DEMOS for script in demo.scripts if script.endswith(".c")}
    assert scripts == {f"c/{source.name}" for source in cprograms.sources()}
    for demo in C_DEMOS:
        for program in (demo.client, demo.server):
            if program is not None and program.compiled:
                twin = program.script.removeprefix("c/").replace(".c", ".py").replace("poll_server", "select_server")
                assert (catalog.DEMOS_DIR / twin).exists(), f"{program.script} has no Python twin {twin}"


@needs("cc")
def test_the_log_quotes_messages_as_json_does():
    """Quotes, a backslash, a tab, a control character and UTF-8: the C client's and the C server's lines parse
    back (JSON) to the very messages sent, and every answer is Python's str.upper() of its request."""
    messages = ['say "hi"', "back\\slash", "tab\there", "bell\x07", "Straße ünd ça"]
    demo = Demo(name="pipe-c-quoting", mechanism="", teaches="", client=Program("c/pipe_fork.c", tuple(messages)),
                kind="runs")  # fmt: skip
    result = run_demo(demo)
    assert result.ok, result.problems
    client = result.transcript.messages("client")
    server = result.transcript.messages("server")
    (talk,) = client.values()
    assert talk.sent == messages
    assert talk.received == [f"{n} {m.upper()}" for n, m in enumerate(messages, 1)]
    assert [m for t in server.values() for m in t.received] == messages


def lines(*texts: str) -> Transcript:
    return Transcript([parse_line(f"showip[9]: {text}") for text in texts])


def test_the_showip_check_fails_on_a_list_that_is_not_getaddrinfos():
    import socket

    good = []
    for name in ("localhost", socket.gethostname(), "127.0.0.1", "::1"):
        infos = socket.getaddrinfo(name, None)
        good.append(f"{name}: {len(infos)} results")
        names = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM", socket.SOCK_RAW: "SOCK_RAW"}
        good += [f"  {f.name:<9} {names[k]:<12} x  {where[0]}" for f, k, _, _, where in infos]
    good.append("nowhere.invalid: no address: getaddrinfo: Name or service not known")
    assert check_showip_c(lines(*good)) == []
    tampered = [text.replace("127.0.0.1", "127.0.0.2") for text in good]
    assert any("getaddrinfo('127.0.0.1')" in problem for problem in check_showip_c(lines(*tampered)))
    assert check_showip_c(lines(*good[:-1])) == ["nowhere.invalid did not fail with gai_strerror's words"]


@needs("cc")
@pytest.mark.parametrize("source", cprograms.sources(), ids=lambda path: path.name)
def test_a_wrong_option_is_a_usage_error_and_a_wrong_port_one_line(source):
    """getopt's words and exit 2 for an option it does not know; a port past 16 bits, or clients that are no
    number, a usage error too (getaddrinfo() would take port 65536 and bind port 0: any free one)."""
    program = str(cprograms.build(source))
    done = subprocess.run([program, "--no-such-option"], capture_output=True, text=True, timeout=10)
    if source.stem not in ("pipe_fork", "showip", "dup2_parent", "fifo_client"):  # they take messages or names
        assert done.returncode == 2 and "unrecognized option" in done.stderr, done.stderr
    if source.stem in ("tcp_server", "tcp_client", "udp_server", "udp_client", "poll_server"):
        for option, value in (("--port", "65536"), ("--port", "-1"), ("--port", "80x")):
            done = subprocess.run([program, option, value], capture_output=True, text=True, timeout=10)
            assert done.returncode == 2, done.stderr
            assert done.stderr == f"usage error: {option} {value}: a whole number from 0 to 65535 is needed\n"
    if source.stem in ("tcp_server", "udp_server", "poll_server", "unix_stream_server"):
        done = subprocess.run([program, "--clients", "x"], capture_output=True, text=True, timeout=10)
        assert done.returncode == 2 and "--clients x: a whole number" in done.stderr, done.stderr
