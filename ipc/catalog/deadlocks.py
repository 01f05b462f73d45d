"""Broken on purpose: each demo deadlocks, the harness explains it, then runs its fix.

A demo of kind "deadlock" passes when the harness sees its processes block
waiting for each other and its diagnosis names the processes, the calls they
are blocked in, and the cycle this catalog expects. ``fixed_by`` names the
demo that does it right (the same program with --fixed): it must then pass.
"""

from __future__ import annotations

import shutil
from typing import Callable, Optional

from . import Demo, Program


def expect(cycle: str, **calls: str) -> Callable[..., list[str]]:
    """A check: the diagnosis has this cycle (in plain words) and each named process blocked in that call."""

    def check(result) -> list[str]:
        diagnosis = result.details.get("deadlock")
        if diagnosis is None:
            return ["no deadlock was diagnosed"]
        problems = []
        if diagnosis.cycle_text() != cycle:
            problems.append(f"expected the cycle {cycle!r}, the diagnosis says {diagnosis.cycle_text()!r}")
        for name, call in calls.items():
            try:
                blocked_in = diagnosis.process(name).call
            except KeyError:
                problems.append(f"the diagnosis names no {name}")
                continue
            if blocked_in != call:
                problems.append(f"{name} is blocked in {blocked_in}, expected {call}")
        return problems

    return check


def answered_all(role: str, text: str) -> Callable[..., list[str]]:
    """A check for a fixed twin that is not a plain exchange: that process said it got everything."""

    def check(result) -> list[str]:
        said = [line.text for line in result.said(role)]
        return [] if any(text in line for line in said) else [f"{role} never said {text!r}; it said {said}"]

    return check


def no_cat() -> Optional[str]:
    return None if shutil.which("cat") else "no cat(1) on this system"


EACH_WAITS_FOR_THE_OTHER = "client waits for server, server waits for client"

DEMOS = [
    Demo(
        name="both-read-first",
        mechanism="fork + two pipes, broken",
        teaches="both sides read first: each pipe is empty, and the only writer is blocked reading",
        client=Program("broken/both_read_first.py"),
        kind="deadlock",
        check=expect(EACH_WAITS_FOR_THE_OTHER, client="read", server="read"),
        fixed_by="both-read-first-fixed",
        timeout=10.0,
    ),
    Demo(
        name="both-read-first-fixed",
        mechanism="fork + two pipes, fixed",
        teaches="the client writes its request before it reads: request, then response",
        client=Program("broken/both_read_first.py", ("--fixed",)),
    ),
]
