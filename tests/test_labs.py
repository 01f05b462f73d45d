"""The labs: each spec gives one ipc check command; the starter, as given, fails it; the reference demo passes it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
NAMES = sorted(path.name for path in LABS.iterdir() if path.is_dir())


def commands(lab: str) -> tuple[str, str]:
    """(the command that checks the student's file, the same command over the reference demo), from the spec."""
    spec = (LABS / lab / "README.md").read_text()
    check = re.search(r"\*\*Check it\*\*\s*\n\s*\n {4}(ipc check .+)\n", spec)
    reference = re.search(r"The reference:\s*`(ipc check [^`]+)`", spec)
    assert check and reference, f"labs/{lab}/README.md gives no check command, or no reference"
    return check[1], " ".join(reference[1].split())


def ipc(command: str) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    assert words[:2] == ["ipc", "check"]
    return subprocess.run([sys.executable, "-m", "ipc", *words[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)  # fmt: skip


def test_there_are_four_labs_each_listed_with_its_command():
    assert NAMES == ["fifo-client", "pipe-fork", "stdio-filter", "tcp-server"]
    index = (LABS / "README.md").read_text()
    for lab in NAMES:
        check, _ = commands(lab)
        assert f"`{check}`" in index  # the table gives the same command as the spec


@pytest.mark.parametrize("lab", NAMES)
def test_the_starter_fails_its_check_and_says_what_to_write(lab):
    check, _ = commands(lab)
    starter = next(word for word in shlex.split(check) if word.startswith("labs/") or "labs/" in word)
    assert (ROOT / starter.split()[1 if starter.startswith("python3 ") else 0]).exists()
    done = ipc(check)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NotImplementedError" in done.stdout  # its own TODO, quoted in the evidence


@pytest.mark.parametrize("lab", NAMES)
def test_the_reference_demo_passes_the_same_check(lab):
    check, reference = commands(lab)
    assert reference.split("demos/")[0] == check.split("labs/")[0]  # the same command, another program
    done = ipc(reference)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\d+ passed, 0 failed, \d+ skipped in ", done.stdout, re.M)
