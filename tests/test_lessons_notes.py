"""The lessons the notes raised that no demo showed: each one's run passes its check, and its check fails when
what the demo said is tampered with (the measurement changed, or a line gone)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from support import run_demo_once

from ipc import catalog
from ipc.transcript import Transcript

LESSONS = ["time-wait", "tcp-reset", "queue-full", "open-questions", "overlap-fork", "overlap-select", "lossy-link"]


def demo(name: str) -> catalog.Demo:
    return catalog.find([name])[0]


def ran(name: str):
    result = run_demo_once(name)
    if result.skipped:
        pytest.skip(f"{name}: {result.skipped}")
    assert result.ok, result.problems
    return result


def tampered(transcript: Transcript, pattern: str, replacement: str) -> Transcript:
    """The same lines, with pattern replaced in each (a line that becomes empty is dropped)."""
    lines = [replace(line, text=re.sub(pattern, replacement, line.text)) for line in transcript.lines]
    changed = [line for line in lines if line.text]
    assert [line.text for line in changed] != [line.text for line in transcript.lines], f"/{pattern}/ changed nothing"
    return Transcript(changed)


# (lesson, what to change in its lines, with what): each must make its check fail
TAMPERINGS = [
    ("time-wait", r"with=bound$", "with=EADDRINUSE"),  # SO_REUSEADDR no longer helps
    ("time-wait", r"without=EADDRINUSE", "without=bound"),  # a restart without the option succeeding
    ("time-wait", r" TIME_WAIT$", " ESTABLISHED"),  # the kernel's table no longer shows the wait
    ("tcp-reset", r"killed by signal 13 \(SIGPIPE\)", "exited with status 0"),
    ("tcp-reset", r"ConnectionResetError: .*", "b'': end of file"),
    ("tcp-reset", r"-> \d+ bytes, no error", "-> BrokenPipeError"),  # the first send failing
    ("queue-full", r"errno 11 \(EAGAIN\), at once", "connected (no error)"),
    ("queue-full", r"after [\d.]+ s$", "after 0.0 s"),  # ETIMEDOUT without the SYN retries
    ("queue-full", r"errno 104 \(ECONNRESET\): reset", "nothing within 0.5 s"),
    ("open-questions", r"returned fd 0", "returned fd 3"),
    ("open-questions", r"-> 0\.0\.0\.0, ::", "-> 127.0.0.1, ::1"),  # AI_PASSIVE giving loopback
    ("open-questions", r"ip_local_port_range = \d+", "ip_local_port_range = 1"),
    ("open-questions", r"^bind\(127\.0\.0\.1:80\) as uid .*", ""),  # the unprivileged answer gone
    ("lossy-link", r"all in order", "NOT in order"),
    ("lossy-link", r"the kernel sent \d+ of them", "the kernel sent 0 of them"),
    ("lossy-link", r"udp packets=(\d+) dropped=\d+", r"udp packets=\1 dropped=0"),
]


@pytest.mark.parametrize("name", LESSONS)
def test_each_lesson_passes_its_check(name):
    result = ran(name)
    assert demo(name).check(result.transcript) == []


@pytest.mark.parametrize(("name", "pattern", "replacement"), TAMPERINGS)
def test_each_check_fails_on_tampered_output(name, pattern, replacement):
    result = ran(name)
    assert demo(name).check(tampered(result.transcript, pattern, replacement)) != []


@pytest.mark.parametrize("name", ["overlap-fork", "overlap-select"])
def test_the_overlap_check_fails_when_the_slow_client_is_answered_first(name):
    """The fast client's lines moved after the slow one's: as an iterative server would have served them."""
    transcript = ran(name).transcript
    speed = {line.pid: line.text.split()[0] for line in transcript.lines if " client connected " in line.text}
    fast = [line for line in transcript.lines if speed.get(line.pid) == "fast"]
    rest = [line for line in transcript.lines if speed.get(line.pid) != "fast"]
    assert demo(name).check(transcript) == []
    problems = demo(name).check(Transcript(rest + fast))
    assert any("slow client did not connect first" in p or "before the fast one" in p for p in problems), problems
    assert demo(name).check(Transcript(rest)) != []  # the fast client gone: one exchange, not two
