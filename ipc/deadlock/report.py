"""What a diagnosis says: the stuck processes, the cycle, and the report in plain words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Stuck:
    """One process of a deadlock: where it is blocked and whom it waits for."""

    pid: int
    name: str  # its role (client, server) or its command (cat)
    call: str  # the system call it is blocked in: read, write, open, accept, wait4, poll...
    shown: str  # the call as a person writes it: read(fd 5), open("/tmp/x/requests", O_RDONLY)
    fds: dict[int, str] = field(default_factory=dict)  # fd -> what it is
    details: list[str] = field(default_factory=list)  # what the fds are and who holds their other ends
    waits_for: dict[int, str] = field(default_factory=dict)  # pid -> why this process waits for that one
    python: Optional[str] = None  # "demos/broken/x.py:64 in main"
    source: str = ""  # the text of that line
    inner: Optional[str] = None  # the innermost frame, when it is in a library
    note: str = ""  # why there is no Python line
    tid: int = 0

    @property
    def label(self) -> str:
        return f"{self.name}[{self.pid}]"


@dataclass
class Diagnosis:
    stuck: list[Stuck]
    cycle: list[int]  # pids, each waiting for the next, the last for the first
    seen_with: str  # "/proc" or "psutil"
    still_for: float  # how long nothing had moved when it was reported
    formed_after: float  # time.monotonic(): it formed after this moment...
    reported_at: float  # ...and was reported at this one
    could_not_see: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float:
        """At most this long passed between the deadlock forming and its report."""
        return self.reported_at - self.formed_after

    def process(self, name: str) -> Stuck:
        """The stuck process with this role or pid (KeyError if none)."""
        for stuck in self.stuck:
            if name in (stuck.name, str(stuck.pid), stuck.label):
                return stuck
        raise KeyError(name)

    def _word(self, pid: int) -> str:
        names = [stuck.name for stuck in self.stuck]
        stuck = next(s for s in self.stuck if s.pid == pid)
        return stuck.name if names.count(stuck.name) == 1 else stuck.label

    def cycle_text(self) -> str:
        """The cycle in plain words: "client waits for server, server waits for client"."""
        if not self.cycle:
            return ""
        steps = []
        for index, pid in enumerate(self.cycle):
            after = self.cycle[(index + 1) % len(self.cycle)]
            steps.append(f"{self._word(pid)} waits for {'itself' if after == pid else self._word(after)}")
        return ", ".join(steps)

    def others_text(self) -> str:
        """Waits of the processes that are not on the cycle: "client waits for server"."""
        parts = []
        for stuck in self.stuck:
            if stuck.pid in self.cycle or not stuck.waits_for:
                continue
            targets = [self._word(pid) if pid != stuck.pid else "itself" for pid in stuck.waits_for]
            parts.append(f"{self._word(stuck.pid)} waits for {join_and(targets)}")
        return ", ".join(parts)

    def summary(self) -> str:
        if not self.cycle:
            labels = join_and([s.label for s in self.stuck])
            return f"probably deadlocked: {labels} all asleep, nothing moved for {self.still_for:.1f} s"
        text = f"deadlock: {self.cycle_text()}"
        others = self.others_text()
        return f"{text}; {others}" if others else text

    def report(self) -> str:
        labels = join_and([stuck.label for stuck in self.stuck])
        if self.cycle:
            if len(self.stuck) == 1:
                each = "is blocked, waiting for itself"
            elif len(self.stuck) == 2 and len(self.cycle) == 2:
                each = "are blocked, each waiting for the other"
            else:
                each = "are all blocked, each waiting for one of them"
            head = f"DEADLOCK: {labels} {each}; nothing has moved for {self.still_for:.2f} s."
        else:
            head = (
                f"PROBABLY A DEADLOCK: {labels} have all been asleep for {self.still_for:.1f} s, and none "
                f"has used any cpu or been woken."
            )
        lines = [head, ""]
        for stuck in self.stuck:
            lines.append(f"{stuck.label} is blocked in {stuck.shown}")
            if stuck.python:
                lines.append(f"    at {stuck.python}" + (f":  {stuck.source}" if stuck.source else ""))
                if stuck.inner:
                    lines.append(f"       inside {stuck.inner}")
            elif stuck.note:
                lines.append(f"    ({stuck.note})")
            lines.extend(f"    {detail}" for detail in stuck.details)
            if stuck.waits_for:
                targets = [self._word(pid) if pid != stuck.pid else "itself" for pid in stuck.waits_for]
                lines.append(f"    so {self._word(stuck.pid)} waits for {join_and(targets)}")
            lines.append("")
        if self.cycle:
            lines.append(f"The cycle: {self.cycle_text()}.")
            if self.others_text():
                lines.append(f"And: {self.others_text()}.")
            lines.append("Each can go on only when another acts, and none of them ever will.")
        else:
            lines.append("Who waits for whom cannot be seen here: " + "; ".join(self.could_not_see) + ".")
        if self.cycle and self.could_not_see:
            lines.append("Not seen: " + "; ".join(self.could_not_see) + ".")
        return "\n".join(lines)


def join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
