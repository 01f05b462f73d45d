"""A deadlock watch over the processes of one run, for the harness and ``ipc watch`` alike.

It names each process by its role (the label of its lines: client, server),
else its command (cat, sh), asks the programs that agreed to it for their
Python stacks (ipc.stackdumps), and samples the detector at most every
INTERVAL seconds, however fast output arrives. A deadlock beyond doubt is
returned, for the caller to report and end; what is worth saying but no
certain deadlock (waiting on the world outside, or a stillness that cannot
be seen into without /proc) is kept as notices, each said once, and ends nothing.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

from ..processes import Keeper
from ..procfs import command
from ..stackdumps import StackDumps
from .detector import Detector
from .report import Diagnosis

DOUBT = (
    "Nothing was ended: without /proc this cannot be told apart from processes that wait on purpose "
    "(a sleep, a server waiting for clients). If it is a deadlock, end it yourself (Ctrl-C)."
)


class Watcher:
    INTERVAL = 0.03

    def __init__(
        self,
        keeper: Keeper,
        use_proc: Optional[bool] = None,
        quiet: Optional[float] = None,
        closed_world: bool = True,
        notice: Optional[float] = None,
    ):
        self.keeper = keeper
        self.stacks = StackDumps()
        options = {"quiet": quiet} if quiet else {}
        options.update({"notice": notice} if notice else {})
        self.detector = Detector(use_proc=use_proc, stacks=self.stacks, closed_world=closed_world, **options)
        self.roles: dict[int, str] = {}
        self.diagnosis: Optional[Diagnosis] = None  # a deadlock beyond doubt: its processes are to be ended
        self._last = 0.0
        self._notices: list[str] = []
        self._doubtful: set[tuple[int, ...]] = set()
        self.transparent: set[int] = set()  # never looked at: a tracer (strace) between us and the programs

    @property
    def environment(self) -> dict[str, str]:
        """For the processes launched: where to write their Python stacks when asked."""
        return self.stacks.environment

    def call(self, pid: int, role: str) -> None:
        """Name a process by its role; the latest name wins (exec may change a process's role)."""
        self.roles[pid] = role

    def name(self, pid: int) -> str:
        return self.roles.get(pid) or command(pid)

    def look(self, roots: Optional[Sequence[int]] = None) -> Optional[Diagnosis]:
        """Sample the processes under roots (default: every process of the run); a Diagnosis once
        they are deadlocked beyond doubt. The report tells their story in the order of the roots given."""
        now = time.monotonic()
        if now - self._last < self.INTERVAL:
            return None
        self._last = now
        pids = [pid for pid in self.keeper.alive(roots) if pid not in self.transparent]
        if roots is not None:
            rank = {pid: index for index, pid in enumerate(roots)}
            root_of = self.keeper.tree.root_of
            pids.sort(key=lambda pid: rank.get(root_of.get(pid, pid), len(rank)))
        diagnosis = self.detector.sample(pids, self.name, now)
        if diagnosis is not None and not diagnosis.certain:  # it only looks like one: say so once, end nothing
            key = tuple(stuck.pid for stuck in diagnosis.stuck)
            if key not in self._doubtful:
                self._doubtful.add(key)
                self._notices.append(diagnosis.report() + "\n" + DOUBT)
            diagnosis = None
        self.diagnosis = diagnosis
        return diagnosis

    def notices(self) -> list[str]:
        """What is worth saying that is no certain deadlock, each said once: taken, then forgotten."""
        taken = self._notices + self.detector.notices
        self._notices, self.detector.notices = [], []
        return taken

    def close(self) -> None:
        self.stacks.close()
