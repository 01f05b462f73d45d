"""What one run of one demo came to: its verdict, its problems, its transcript, and what the kernel did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .catalog import Demo
from .deadlock import Diagnosis
from .trace.model import Trace
from .trace.report import DEADLOCKED
from .transcript import Line, Transcript
from .waitfor import lock_waits


@dataclass
class Result:
    demo: Demo
    problems: list[str] = field(default_factory=list)
    transcript: Transcript = field(default_factory=Transcript)
    exit_codes: dict[str, int] = field(default_factory=dict)  # label -> exit code
    messages: int = 0
    seconds: float = 0.0
    skipped: Optional[str] = None  # why the demo could not run here
    interrupted: bool = False  # cut short because the whole run was stopped (Ctrl-C, SIGTERM): no verdict on it
    diagnosis: Optional[Diagnosis] = None  # the deadlock, when its processes deadlocked
    judged: Optional[tuple] = None  # ...and the snapshot ipc.waitfor judged then, with its finding
    deadlock_seconds: Optional[float] = None  # when it was reported, on the clock of the lines
    fixed: Optional["Result"] = None  # a broken demo's fix, run after it
    trace_texts: list[str] = field(default_factory=list)  # run under strace: its words, one text per program
    stopped_texts: list[str] = field(default_factory=list)  # ...and, for a deadlock, as they stood when diagnosed
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        return "interrupted" if self.interrupted else ("ok" if self.ok else "FAILED")

    @property
    def outcome(self) -> str:
        """The verdict in words: a broken demo that deadlocked as expected is not "ok" like a working exchange."""
        if self.demo.kind == "deadlock" and self.ok and not self.skipped and self.diagnosis is not None:
            return DEADLOCKED
        return self.verdict

    @property
    def trace(self) -> Optional[Trace]:
        """What the kernel did (ipc.trace), built from strace's texts when first asked for; None if not traced."""
        return self._model("trace", self.trace_texts)

    @property
    def stopped(self) -> Optional[Trace]:
        """For a deadlock: the kernel's view as it stood when the deadlock was diagnosed."""
        return self._model("stopped", self.stopped_texts)

    def _model(self, which: str, texts: list[str]) -> Optional[Trace]:
        if texts and which not in self._models:
            from .trace.runner import model as read_model  # (it reads the programs' files for their lines)

            model = self._models[which] = read_model(texts)  # a model takes a while: only for whoever draws it
            if self.judged is not None:
                model.lock_waits = lock_waits(self.judged[0])
        return self._models.get(which)

    @property
    def lines(self) -> list[Line]:
        return self.transcript.lines

    def said(self, role: str) -> list[Line]:
        return self.transcript.said(role)
