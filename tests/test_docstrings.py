"""Each demo's docstring shows its expected output: that output must be what the demo really prints.

The lines of a docstring's "Expected output" section that look like a process's line (``role[pid]: text``)
must appear, in that order, among the lines that role really printed when the demo ran through the harness.
Numbers (pids, ports, sizes, times, bytes and numbers in hex: 1a, 0x1a2b) and paths vary from run to run, so
they match any number and any path, and a table's columns any width; "..." inside a line matches anything.
Prose and "..." lines between them say what is left out, and are skipped.
"""

from __future__ import annotations

import re
import shutil

import pytest
from support import ROOT, TOOLS, run_demo_once, why_no

from ipc import catalog

SHOWN = re.compile(r"^ {4}(?P<role>[A-Za-z][\w.-]*)\[\d+\]: (?P<text>.*)$")
VARYING = re.compile(r"(\.\.\.|\b0x[0-9a-f]+\b|\b[0-9a-f]{2}\b|\d+|/[^\s\"'(),:]+| {2,})")  # "...", hex, a byte, ...


def expected_lines(script: str) -> list[tuple[str, str]]:
    doc = (ROOT / "demos" / script).read_text().split('"""')[1]
    section = doc.split("Expected output", 1)[1]
    section = re.split(r"\n(?=\S)", section.split("\n", 1)[1])[0]  # up to the next heading, if any
    return [(m["role"], m["text"]) for m in map(SHOWN.match, section.splitlines()) if m]


def pattern(text: str) -> re.Pattern:
    parts = []
    for token in VARYING.split(text):
        if token == "...":
            parts.append(".*")
        elif token.startswith("0x"):
            parts.append("0x[0-9a-f]+")  # a number in hex: a DNS query's random id
        elif re.fullmatch(r"[0-9a-f]{2}", token) and not token.isdigit():
            parts.append("[0-9a-f]{2}")  # a byte in hex
        elif token.isdigit():
            parts.append(r"\d+" if len(token) > 2 else r"(\d+|[0-9a-f]{2})")
        elif token.startswith("  "):
            parts.append(" +")  # columns: their widths follow what is in them
        elif token.startswith("/"):
            parts.append(r"\S+")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + "$")


def first_demo_running(script: str) -> catalog.Demo:
    demos = [demo for demo in catalog.all_demos() if script in demo.scripts]
    return next(
        (demo for demo in demos if script in (demo.client.script, getattr(demo.server, "script", None))), demos[0]
    )


SCRIPTS = sorted({script for demo in catalog.all_demos() for script in demo.scripts})
NEEDS_TOOLS = {"dns_names.py", "http_browser.py", "two_hosts.py"}  # run only where unshare, ip, chromium are


@pytest.mark.parametrize(
    "script", [pytest.param(script, marks=pytest.mark.tools) if script in NEEDS_TOOLS else script for script in SCRIPTS]
)
def test_the_expected_output_in_the_docstring_is_what_the_demo_prints(script):
    expected = expected_lines(script)
    assert expected, f"{script}: its docstring shows no output line"
    demo = first_demo_running(script)
    result = run_demo_once(demo.name)
    if result.skipped:
        pytest.skip(f"{demo.name}: {result.skipped}")
    missing_tools = sorted({role for role, _ in expected if role in TOOLS and shutil.which(role) is None})
    expected = [(role, text) for role, text in expected if role not in missing_tools]  # dig's lines, without dig
    for role in dict.fromkeys(role for role, _ in expected):
        said = [line.text for line in result.said(role)]
        position = 0
        for wanted_role, text in expected:
            if wanted_role != role:
                continue
            regex = pattern(text)
            found = next((i for i in range(position, len(said)) if regex.match(said[i])), None)
            assert found is not None, (
                f"{script}: the docstring shows {role}[...]: {text!r}, but after the lines "
                f"matched so far, {demo.name} printed no such line; {role} said {said}"
            )
            position = found + 1
    if missing_tools:  # all the rest was checked: say what was not, and why
        pytest.skip(
            f"{script}: the lines of {', '.join(missing_tools)} not checked: {'; '.join(map(why_no, missing_tools))}"
        )
