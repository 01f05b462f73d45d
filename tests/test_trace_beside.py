"""ipc trace NAME --beside OTHER: a Python demo and its C twin, traced, drawn side by side, their differences
named with why; the same connect(2), send(2) and recv(2) on both sides are not differences."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

import pytest
from support import ROOT, needs, why_no_strace

from ipc import catalog
from ipc.harness import run_demo
from ipc.trace import beside

pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")


def traced(name: str):
    result = run_demo(catalog.find([name])[0], trace=True)
    assert result.ok, result.problems
    return result.trace


@needs("cc")
def test_python_adds_accept4_and_close_on_exec_and_nothing_else_of_the_lesson():
    notes = beside.differences(traced("tcp4"), traced("tcp-c"), "tcp4", "tcp-c")
    server = [note for note in notes if note.startswith("server: ")]
    assert any("accept4 twice, tcp-c: accept twice: Python's socket.accept() is accept4" in n for n in server)
    assert any("SOCK_CLOEXEC on accept4, socket, tcp-c never" in n for n in server)
    assert any(n.startswith("client: tcp4: SOCK_CLOEXEC on socket") for n in notes)
    for same in ("connect", "sendto", "recvfrom", "bind", "listen", "setsockopt", "close"):
        assert not any(f": {same} " in note for note in notes), (same, notes)
    assert all(beside.NOT_EXPLAINED not in note for note in notes), notes


@needs("cc")
def test_the_command_draws_both_in_one_svg_and_one_page():
    with tempfile.TemporaryDirectory() as directory:
        svg, page = os.path.join(directory, "both.svg"), os.path.join(directory, "both.html")
        done = subprocess.run(
            [sys.executable, "-m", "ipc", "trace", "pipe", "--beside", "pipe-c", "--width", "160", "--svg", svg,
             "--html", page], capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
        assert done.returncode == 0, done.stderr
        root = ElementTree.parse(svg).getroot()
        inner = root.findall("{http://www.w3.org/2000/svg}svg")
        assert [element.get("x") for element in inner][:1] == ["0"] and len(inner) == 2
        with open(page, encoding="utf-8") as file:
            text = file.read()
    assert text.count("<iframe srcdoc=") == 2
    assert "O_CLOEXEC on pipe2, pipe-c never: Python&#x27;s os.pipe() is pipe2(O_CLOEXEC)" in text
    lines = done.stdout.splitlines()
    assert any(line.startswith("pipe ") and line.rstrip().endswith("│ pipe-c") for line in lines)  # two columns
    assert any("execve python" in line and "execve pipe_fork" in line for line in lines)


def test_an_unknown_other_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "ipc", "trace", "pipe", "--beside", "no-such"],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "ipc trace: no demo named 'no-such' to draw beside pipe; 'ipc list' shows them"
