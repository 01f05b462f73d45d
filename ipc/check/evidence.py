"""A failure's evidence, from the trace: the calls around it, what was blocked, the findings with their lines. Pure."""

from __future__ import annotations

from typing import Iterable, Optional

from ..trace.describe import describe, parts, show_bytes
from ..trace.model import Call, Trace
from ..trace.names import READS, WRITES
from .lint import Finding

AROUND = 10  # calls shown before a failure


def where(trace: Trace, index: Optional[int]) -> str:
    """``my_server.py:12``: the line of the program that made a call (its source in the model), or ""."""
    if index is None or not 0 <= index < len(trace.calls) or trace.calls[index].source is None:
        return ""
    return trace.calls[index].source.where


def call_line(trace: Trace, call: Call, at: Optional[float] = None) -> str:
    """``  152.3 ms  server[42]  recvfrom fd 4 (TCP #1) = 6 "a\\nb\\n"  (my_server.py:12)``; a call still
    waiting at ``at`` (seconds since the epoch) is shown as it stood then, without what came of it later."""
    here = where(trace, call.index)
    process = trace.processes.get(call.pid)
    label = process.label if process else str(call.pid)
    shown = describe(trace, call, 40)
    waiting = ""
    blocked = at is not None and call.end is not None and trace.origin + call.end > at
    if not call.returned or (blocked and any(wait.call == call.index for wait in trace.waits)):
        shown, waiting = parts(trace, call, 40)[0], "  … still waiting"
    elif call.duration is not None and call.duration >= 0.1:
        waiting = f"  (waited {call.duration:.1f} s)"
    return f"{call.start * 1000:9.1f} ms  {label}  {shown}{waiting}" + (f"  ({here})" if here else "")


def _lesson_calls(trace: Trace, pids: Optional[set]) -> list[Call]:
    """The calls worth showing: not start-up, not the program's own log lines or tracebacks on stderr."""
    return [
        call
        for call in trace.calls
        if not call.noise
        and call.kind != "log"
        and (pids is None or call.pid in pids)
        and call.name != "execve"
        and not (call.name in WRITES and call.fds[:1] == [2])
    ]


def calls_around(trace: Trace, at: Optional[float], pids: Optional[set] = None, count: int = AROUND) -> list[str]:
    """The program's last calls before ``at`` (seconds since the epoch; None: the end), and any call still
    waiting then: the steps that led to the failure."""
    calls = _lesson_calls(trace, pids)
    if at is not None:
        calls = [call for call in calls if trace.origin + call.start <= at]
    shown = calls[-count:]
    earlier_waits = []
    if at is not None:  # a call begun long before and still waiting: the heart of a hang
        earlier_waits = [
            call
            for call in calls[:-count]
            if (call.end is None or trace.origin + call.end > at) and call.name not in ("exit", "exit_group")
        ][-3:]
    return [call_line(trace, call, at) for call in earlier_waits + shown]


def finding_lines(finding: Finding, trace: Trace) -> list[str]:
    lines = [finding.text]
    for index in finding.calls:
        if index is not None and 0 <= index < len(trace.calls):
            call = trace.calls[index]
            at = trace.origin + call.start if finding.rule == "read-before-write" else None  # as it stood, waiting
            lines.append("  " + call_line(trace, call, at).strip())
    return lines


def finding_record(finding: Finding, trace: Trace) -> dict:
    """A finding as the JSON output gives it."""
    calls = [trace.calls[i] for i in finding.calls if i is not None and 0 <= i < len(trace.calls)]
    return {
        "rule": finding.rule,
        "text": finding.text,
        "processes": [trace.processes[pid].label for pid in finding.pids if pid in trace.processes],
        "calls": [
            {
                "call": describe(trace, call, 60),
                "strace": call.text[:300],
                "where": where(trace, call.index),
            }
            for call in calls
        ],
    }


def several_in_one_read(trace: Trace, pids: Optional[Iterable[int]] = None) -> list[str]:
    """Why a server answered three requests as one: the read that took them all, and the one write that answered."""
    wanted = set(pids) if pids is not None else None
    for call in trace.calls:
        if call.name not in READS or not call.data or call.data.count(b"\n") < 2:
            continue
        if wanted is not None and call.pid not in wanted:
            continue
        lines_read = call.data.count(b"\n")
        writes = []
        for other in trace.calls[call.index + 1 :]:
            if other.pid != call.pid or other.objects[:1] != call.objects[:1]:
                continue
            if other.name in READS:
                break
            if other.name in WRITES:
                writes.append(other)
        if 0 < len(writes) < lines_read:
            here = where(trace, call.index)
            return [
                f"one read took {lines_read} requests at once: {describe(trace, call, 40)}"
                + (f" ({here})" if here else ""),
                f"and the program wrote {len(writes)} answer(s): "
                + ", ".join(show_bytes(w.data or b"", 30) for w in writes)
                + ": it took one recv() for one message",
            ]
    return []


def steps_around(trace: Trace, at: Optional[float] = None, call: Optional[int] = None, before: int = 24,
                 after: int = 6) -> Optional[tuple]:  # fmt: skip
    """(first, last) steps of the trace, from 1, around a moment (seconds since the epoch) or a call: the part of
    the picture that shows the failure (None: the whole of a short trace)."""
    steps = trace.steps
    if len(steps) <= before + after:
        return None
    if call is not None:
        index = next((i for i, step in enumerate(steps) if step.call == call), len(steps) - 1)
    elif at is not None:
        index = max((i for i, step in enumerate(steps) if trace.origin + step.time <= at), default=len(steps) - 1)
    else:
        index = len(steps) - 1
    return max(1, index + 1 - before), min(len(steps), index + 1 + after)
