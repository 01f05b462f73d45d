"""A demo's --help shows its expected output; this compares it with what the demo really printed.

Only the labelled lines of the "Expected output" section count (``role[pid]: text``);
lines such as "..." stand for lines left out, and "..." ending a line for the rest
of it. Pids, ports (after a colon, or ``port=``) and times in milliseconds vary
from run to run; so may whatever the caller names in ``vary`` (regular
expressions). Each role's expected lines must appear among that role's real
lines, in the same order.
"""

from __future__ import annotations

import re

from ipc import catalog

LABELLED = re.compile(r"^(?P<role>[A-Za-z][\w.-]*)\[\d+\]: (?P<text>.*)$")
VARYING = [r"(?<=\[)\d+(?=\]: )", r"(?<=:)\d{4,5}\b", r"(?<=port=)\d+", r"\d+\.\d+(?= ms\b)", r"\.\.\.$"]


def expected_lines(script: str) -> list[str]:
    section = catalog.help_text(script).split("Expected output", 1)[1]  # its --help: header and details
    return [line.strip() for line in section.splitlines() if LABELLED.match(line.strip())]


def pattern(line: str, vary: tuple[str, ...] = ()) -> re.Pattern:
    parts, last = [], 0
    for match in re.finditer("|".join(VARYING + list(vary)), line):
        parts += [re.escape(line[last : match.start()]), r"\d+" if match[0].isdigit() else r".+?"]
        last = match.end()
    return re.compile("^" + "".join(parts) + re.escape(line[last:]) + "$")


def mismatches(script: str, real: list[str], vary: tuple[str, ...] = ()) -> list[str]:
    """The expected lines of the script's docstring that its real output lacks (empty: it matches)."""
    by_role: dict[str, list[str]] = {}
    for line in real:
        if match := LABELLED.match(line):
            by_role.setdefault(match["role"], []).append(line)
    missing, cursor = [], {}
    expected = expected_lines(script)
    assert expected, f"{script}: no labelled lines under 'Expected output'"
    for line in expected:
        role = LABELLED.match(line)["role"]
        lines, start = by_role.get(role, []), cursor.get(role, 0)
        regex = pattern(line, vary)
        found = next((i for i in range(start, len(lines)) if regex.match(lines[i])), None)
        if found is None:
            missing.append(line)
        else:
            cursor[role] = found + 1
    return missing
