"""A deadlock watch over the processes of one run, for the harness and ``ipc watch`` alike.

It names each process by its role (the label of its lines: client, server),
else its command (cat, sh), asks the programs that agreed to it for their
Python stacks (ipc.stackdumps), and samples the detector at most every
INTERVAL seconds, however fast output arrives.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

from ..processes import Keeper
from ..procfs import command
from ..stackdumps import StackDumps
from .detector import Detector
from .report import Diagnosis


class Watcher:
    INTERVAL = 0.03

    def __init__(
        self, keeper: Keeper, use_proc: Optional[bool] = None, quiet: Optional[float] = None, closed_world: bool = True
    ):
        self.keeper = keeper
        self.stacks = StackDumps()
        options = {"quiet": quiet} if quiet else {}
        self.detector = Detector(use_proc=use_proc, stacks=self.stacks, closed_world=closed_world, **options)
        self.roles: dict[int, str] = {}
        self.diagnosis: Optional[Diagnosis] = None
        self._last = 0.0

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
        they are deadlocked. The report tells their story in the order of the roots given."""
        now = time.monotonic()
        if now - self._last < self.INTERVAL:
            return None
        self._last = now
        pids = self.keeper.alive(roots)
        if roots is not None:
            rank = {pid: index for index, pid in enumerate(roots)}
            root_of = self.keeper.tree.root_of
            pids.sort(key=lambda pid: rank.get(root_of.get(pid, pid), len(rank)))
        self.diagnosis = self.detector.sample(pids, self.name, now)
        return self.diagnosis

    def close(self) -> None:
        self.stacks.close()
