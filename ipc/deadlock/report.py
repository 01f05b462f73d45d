"""What a diagnosis says: the stuck processes and threads, the cycle, and the report in plain words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Stuck:
    """One process of a deadlock: where it is blocked and whom it waits for."""

    pid: int
    name: str  # its role (client, server) or its command (cat)
    call: str  # the system call it is blocked in, by the kernel's name: read, recvfrom, openat, wait4, poll...
    shown: str  # the call in words: "recvfrom (recv) on fd 5", 'openat (open) of "/tmp/x/f" for reading (O_RDONLY)'
    fds: dict[int, str] = field(default_factory=dict)  # fd -> what it is
    details: list[str] = field(default_factory=list)  # what the fds are and who holds their other ends
    waits_for: dict[int, str] = field(default_factory=dict)  # pid -> why this process waits for that one
    python: Optional[str] = None  # "demos/broken/x.py:64 in main"
    source: str = ""  # the text of that line
    inner: Optional[str] = None  # the innermost frame, when it is in a library
    note: str = ""  # why there is no Python line
    tid: int = 0  # the thread in that call
    threads: list[tuple[int, str]] = field(default_factory=list)  # each thread's tid, and what it waits on
    thread_lines: dict[int, str] = field(default_factory=dict)  # tid -> its Python line, where known
    locked: bool = False  # every thread waits for a lock that only another of its threads could release
    watched: bool = True  # False: found outside the watched processes, at the other end of a wait; left alone

    @property
    def label(self) -> str:
        return f"{self.name}[{self.pid}]"

    @property
    def where(self) -> str:
        """The process, and the thread when the call is not in its main thread: "client[12] (thread 14)"."""
        return self.label if self.tid in (0, self.pid) else f"{self.label} (thread {self.tid})"


@dataclass
class Diagnosis:
    stuck: list[Stuck]
    cycle: list[int]  # pids, each waiting for the next, the last for the first
    seen_with: str  # "/proc" or "psutil"
    still_for: float  # how long nothing had moved when it was reported
    formed_after: float  # time.monotonic(): it formed after this moment...
    reported_at: float  # ...and was reported at this one
    could_not_see: list[str] = field(default_factory=list)
    certain: bool = True  # False: it only looks like a deadlock (without /proc); nothing is ended for it
    evidence: str = ""  # without /proc: what showed it beyond doubt, when something did

    @property
    def latency(self) -> float:
        """At most this long passed between the deadlock forming and its report."""
        return self.reported_at - self.formed_after

    @property
    def watched(self) -> list[Stuck]:
        """The stuck processes of the watched run: the ones a watcher may end."""
        return [stuck for stuck in self.stuck if stuck.watched]

    @property
    def left_alone(self) -> list[Stuck]:
        """Stuck processes found outside the watched ones: part of the story, not ours to end."""
        return [stuck for stuck in self.stuck if not stuck.watched]

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
        steps = []
        for index, pid in enumerate(self.cycle):
            after = self.cycle[(index + 1) % len(self.cycle)]
            if after == pid and self.process(str(pid)).locked:
                steps.append(f"the threads of {self._word(pid)} wait for each other's locks")
            else:
                steps.append(f"{self._word(pid)} waits for {'itself' if after == pid else self._word(after)}")
        return ", ".join(steps)

    def others_text(self) -> str:
        """Waits of the processes that are not on the cycle: "client waits for server"."""
        parts = []
        for stuck in self.stuck:
            if stuck.pid in self.cycle or not stuck.waits_for:
                continue
            parts.append(f"{self._word(stuck.pid)} waits for {self._targets(stuck)}")
        return ", ".join(parts)

    def _targets(self, stuck: Stuck) -> str:
        """Whom it waits for, in words: the others first, "itself" last."""
        others = [self._word(pid) for pid in stuck.waits_for if pid != stuck.pid]
        return join_and(others + (["itself"] if stuck.pid in stuck.waits_for else []))

    def spare_ends_text(self) -> str:
        """Processes on a cycle with others that also hold an end they wait on themselves."""
        if len(self.cycle) < 2:
            return ""  # waiting for itself is then the whole story, told by the cycle
        holders = [self._word(s.pid) for s in self.stuck if s.pid in self.cycle and s.pid in s.waits_for]
        if not holders:
            return ""
        verb = "holds" if len(holders) == 1 else "each hold"
        return (
            f"{join_and(holders)} {verb} a spare copy of an end it waits on, inherited through fork(): "
            f"should the other close its end, it would still not see end of file until it closed that copy too"
        )

    def summary(self) -> str:
        if not self.cycle:
            labels = join_and([s.label for s in self.stuck])
            if self.certain:
                return f"deadlock, seen without /proc: {labels} all blocked for good"
            return f"{labels} all asleep, nothing moved for {self.still_for:.1f} s"
        text = f"deadlock: {self.cycle_text()}"
        others = self.others_text()
        return f"{text}; {others}" if others else text

    def _head(self) -> str:
        labels = join_and([stuck.label for stuck in self.stuck])
        if not self.cycle and self.certain:
            return f"DEADLOCK: {labels} are blocked for good; nothing has moved for {self.still_for:.1f} s."
        if not self.cycle:
            have = "has" if len(self.stuck) == 1 else "have all"
            return (
                f"ALL ASLEEP: {labels} {have} been asleep for {self.still_for:.1f} s, without using any cpu or "
                f"being woken. A deadlock looks like this; so does a sleep, or a server waiting for clients."
            )
        if len(self.stuck) == 1 and self.stuck[0].locked:
            each = "is blocked: every one of its threads waits for a lock"
        elif len(self.stuck) == 1:
            each = "is blocked, waiting for itself"
        elif len(self.stuck) == 2 and len(self.cycle) == 2:
            each = "are blocked, each waiting for the other"
        else:
            each = "are all blocked, each waiting for one of them"
        return f"DEADLOCK: {labels} {each}; nothing has moved for {self.still_for:.2f} s."

    def _process_lines(self, stuck: Stuck) -> list[str]:
        outside = "" if stuck.watched else ", outside the watched processes,"
        lines = [f"{stuck.where}{outside} is blocked in {stuck.shown}"]
        if stuck.python:
            lines.append(f"    at {stuck.python}" + (f":  {stuck.source}" if stuck.source else ""))
            if stuck.inner:
                lines.append(f"       inside {stuck.inner}")
        elif stuck.note:
            lines.append(f"    ({stuck.note})")
        for tid, what in stuck.threads if len(stuck.threads) > 1 else []:
            main = " (main)" if tid == stuck.pid else ""
            line = f"    thread {tid}{main} waits in {what}"
            lines.append(line + (f", at {stuck.thread_lines[tid]}" if tid in stuck.thread_lines else ""))
        lines.extend(f"    {detail}" for detail in stuck.details)
        if stuck.locked:
            lines.append(
                "    no thread has a timeout, and no other process can release these locks (private futexes): "
                "each thread waits for a lock another holds, as when two locks are taken in opposite orders"
            )
        if stuck.waits_for and not stuck.locked:
            lines.append(f"    so {self._word(stuck.pid)} waits for {self._targets(stuck)}")
        return lines + [""]

    def report(self) -> str:
        lines = [self._head(), ""]
        for stuck in self.stuck:
            lines.extend(self._process_lines(stuck))
        if self.cycle:
            lines.append(f"The cycle: {self.cycle_text()}.")
            if self.others_text():
                lines.append(f"And: {self.others_text()}.")
            lines.append("Each can go on only when another acts, and none of them ever will.")
            if self.spare_ends_text():
                lines.append(f"Besides: {self.spare_ends_text()}.")
        else:
            lines.append("Who waits for whom cannot be seen here: " + "; ".join(self.could_not_see) + ".")
        if self.cycle and self.could_not_see:
            lines.append("Not seen: " + "; ".join(self.could_not_see) + ".")
        if self.evidence:
            lines.append(f"Beyond doubt: {self.evidence}.")
        if self.left_alone:
            outside = join_and([stuck.label for stuck in self.left_alone])
            lines.append(f"Left alone: {outside}, not one of the watched processes; only the watched ones are ended.")
        return "\n".join(lines)


def join_and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
