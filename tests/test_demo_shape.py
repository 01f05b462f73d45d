"""Each demo reads top-down like a TLPI program: a short header, then the lesson on the first screen.

The header (the module docstring: what it shows, how to run it) is at most 15 lines; the rest of what
--help prints (system calls in order, its peer, its output) lives below the code, in DETAILS. The first
call the demo's "System calls, in order" names (socket(), pipe(), getaddrinfo()...) is made within the
first 50 lines of the file: options, logging, deadlines and refusals come after the lesson, or live in ipc/.
"""

from __future__ import annotations

import ast
import re
import tempfile
from pathlib import Path

import pytest

from ipc import catalog

HEADER_LINES = 15
FIRST_SCREEN = 50
SCRIPTS = sorted({script for demo in catalog.all_demos() for script in demo.scripts if script.endswith(".py")})
C_SCRIPTS = sorted({script for demo in catalog.all_demos() for script in demo.scripts if script.endswith(".c")})
CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
# A call the lecture names, and the Python calls that make it
PYTHON_NAMES = {
    "recv": {"recv", "recv_into", "recvfrom", "recvfrom_into"},
    "recvfrom": {"recvfrom", "recvfrom_into"},
    "send": {"send", "sendall", "sendto"},
    "exec": {"execv", "execvp", "execl", "execlp", "Popen", "run"},
    "execv": {"execv"},
}


def documented_calls(script: str) -> list[str]:
    """The calls a demo's "System calls, in order" names, in the order it names them."""
    text = catalog.help_text(script)
    section = text.split("System calls, in order", 1)[1].split("\n", 1)[1]
    section = re.split(r"\n(?=\S)", section)[0]  # up to the next heading
    return CALL.findall(section)


def first_lesson_call(script: str) -> tuple[int, str]:
    """The line of the first call the file makes to any of its documented calls, and that call's source."""
    source = (catalog.DEMOS_DIR / script).read_text()
    wanted = set().union(*(PYTHON_NAMES.get(name, {name}) for name in documented_calls(script)))
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in wanted:
                calls.append((node.lineno, ast.unparse(node)[:60]))
    assert calls, f"{script}: makes none of the calls its docstring names: {documented_calls(script)}"
    return min(calls)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_header_is_short(script):
    tree = ast.parse((catalog.DEMOS_DIR / script).read_text())
    header = tree.body[0]
    assert isinstance(header, ast.Expr) and isinstance(header.value, ast.Constant), f"{script}: no header"
    assert header.end_lineno <= HEADER_LINES, f"{script}: a header of {header.end_lineno} lines"


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_first_lesson_call_is_on_the_first_screen(script):
    line, call = first_lesson_call(script)
    assert line <= FIRST_SCREEN, f"{script}: its first lesson call, {call}, is at line {line}"


def test_the_check_sees_a_call_buried_below_the_first_screen(monkeypatch):
    """The check itself: a demo whose first documented call comes after 60 lines of scaffolding fails it."""
    buried = '"""A demo.\n\nRun it\n    python x.py\n"""\n' + "x = 1\n" * 60 + "import os\nos.pipe()\n"
    buried += 'DETAILS = """\nSystem calls, in order\n    pipe()\n"""\n'
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "buried.py").write_text(buried)
        monkeypatch.setattr(catalog, "DEMOS_DIR", Path(directory))
        assert documented_calls("buried.py") == ["pipe"]
        assert first_lesson_call("buried.py")[0] == 67


@pytest.mark.parametrize("script", C_SCRIPTS)
def test_a_c_twin_opens_the_same_way(script):
    """A C twin's header comment is at most 15 lines too, and the first call its "System calls, in order" names
    is made within its first 50 lines (a call, not a prototype or a comment: a line that ends in ; or {)."""
    lines = (catalog.DEMOS_DIR / script).read_text().splitlines()
    assert lines[0].startswith("/* ")
    header_end = next(number for number, line in enumerate(lines, 1) if "*/" in line)
    assert header_end <= HEADER_LINES, f"{script}: a header of {header_end} lines"
    wanted = set(documented_calls(script))
    first = next(
        (
            number
            for number, line in enumerate(lines, 1)
            if number > header_end
            and not line.lstrip().startswith(("/*", "static ", "*"))
            and wanted & set(CALL.findall(line.split("/*")[0]))
        ),
        None,
    )
    assert first is not None, f"{script}: makes none of the calls its text names: {sorted(wanted)}"
    assert first <= FIRST_SCREEN, f"{script}: its first lesson call is at line {first}"
