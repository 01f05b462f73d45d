"""What one ``ipc check`` came to: a result per check, each failure with its evidence.

A ``Result`` is one line of the verdict: passed, failed or skipped; for a
failure, what was expected and what came back, why (in the lecture's words:
a finding of ipc.check.lint, a deadlock diagnosis), and the evidence: the
program's own lines, its system calls around the failure with their source
lines, the diagnosis. The trace model is kept for the pictures (--html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Result:
    name: str  # short, stable: exchange, many-in-one-write, zombie
    title: str  # what it checks, in a line
    status: str = PASS
    message: str = ""  # what went wrong, or why it was skipped
    expected: object = None
    got: object = None
    why: list = field(default_factory=list)  # explanations: findings, a diagnosis' summary
    lesson: str = ""  # what the lecture says about it
    evidence: list = field(default_factory=list)  # (heading, [lines])
    seconds: float = 0.0
    group: str = "exchange"  # exchange | lecture (a lint rule) | run
    trace: object = None  # the trace model of the run that failed, for the pictures
    steps: Optional[tuple] = None  # ...and the steps of it around the failure (from 1; None: all)
    findings: list = field(default_factory=list)  # ipc.check.lint findings, as dicts (text, where, calls)

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class Report:
    mode: str  # server | client | lint
    mechanism: str  # tcp, fifo... ("" for --lint)
    command: str  # what was checked, as given
    results: list = field(default_factory=list)
    seconds: float = 0.0
    notes: list = field(default_factory=list)  # about the run itself: "not traced: strace is not installed"

    @property
    def failed(self) -> list:
        return [result for result in self.results if result.status == FAIL]

    @property
    def passed(self) -> list:
        return [result for result in self.results if result.status == PASS]

    @property
    def skipped(self) -> list:
        return [result for result in self.results if result.status == SKIP]

    @property
    def ok(self) -> bool:
        return not self.failed

    def result(self, name: str) -> Optional[Result]:
        return next((result for result in self.results if result.name == name), None)
