"""The detector: samples the watched processes and returns a Diagnosis once they are deadlocked.

1.  Blocked. Every thread of every process sleeps in a call that waits on
    another process, with no timeout (decoded by ipc.deadlock.waits).
2.  Nothing moves. Same call, same arguments, no time on a cpu, no bytes
    read or written (schedstat, io), for SETTLE seconds.
3.  Who could wake it, and is it a deadlock: ipc.deadlock.observe makes a
    snapshot (who holds each end, what is queued), and ipc.waitfor judges
    it, with the same rules as every trace and picture. When the other end
    of a wait is held by a process outside the watched ones (a server in
    another terminal), that process is sampled too, and joins the snapshot
    once it has settled: a cycle may run through it.
4.  The report: ipc.deadlock.explain says the edges found in words.

When the watched processes wait on something outside that is not waiting on
them (a server waiting for clients, a terminal, a path nobody opened yet),
that is no deadlock; after NOTICE seconds of it, the detector says once what
each one waits for and who holds the other end (``notices``).

Without /proc (macOS) the psutil fallback of ipc.deadlock.fallback is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from .. import procfs
from ..waitfor import Finding, Snapshot, Verdict, Want, World, judge
from .explain import Explainer
from .fallback import QUIET, plain_diagnosis, psutil_fingerprint
from .observe import observe
from .report import Diagnosis, Stuck
from .waits import Seen, analyse

SETTLE = 0.15  # seconds of no movement at all before the graph is built
RECHECK = 1.0  # rebuild the graph this often while everything stays blocked without a deadlock
NOTICE = 5.0  # seconds blocked on the world outside before saying what on
MAX_OUTSIDERS = 16  # processes outside the watched ones followed at most


@dataclass
class _Seen:
    fingerprint: tuple
    since: float  # first sample with this fingerprint
    before: float  # the sample before that: it changed after this
    blocked: Optional[Seen] = None  # the process, decoded, when every thread of it is blocked
    analysed: bool = False


class Detector:
    """Samples the watched processes; returns a Diagnosis once they are deadlocked."""

    def __init__(
        self,
        use_proc: Optional[bool] = None,
        stacks=None,
        settle: float = SETTLE,
        quiet: float = QUIET,
        closed_world: bool = True,
        notice: float = NOTICE,
    ):
        self.use_proc = procfs.AVAILABLE if use_proc is None else use_proc
        self.closed_world = closed_world  # only the watched processes can connect to each other (see graph.py)
        self.stacks = stacks  # an ipc.stackdumps.StackDumps, to ask for Python lines
        self.settle = settle if self.use_proc else quiet
        self.notice_after = notice
        self.notices: list[str] = []  # what it has to say that is no deadlock, said once each
        self._seen: dict[int, _Seen] = {}
        self._outsiders: set[int] = set()  # processes outside the watched ones, at the other end of their waits
        self._found_at: dict[int, float] = {}  # when each outsider was found
        self._last: Optional[float] = None  # when the previous sample was taken
        self._checked: Optional[tuple[frozenset, float]] = None
        self._noticed: set[frozenset] = set()
        self.last: Optional[tuple[Snapshot, Finding]] = None  # the last snapshot judged, and what was found

    def sample(
        self, pids: Iterable[int], name: Callable[[int], str] = procfs.command, now: Optional[float] = None
    ) -> Optional[Diagnosis]:
        """A Diagnosis once the processes are deadlocked, else None. The order of pids is the order
        of the report: the watcher puts first the process whose story should be told first."""
        now = time.monotonic() if now is None else now
        alive = [pid for pid in dict.fromkeys(pids) if self._look_at(pid, now)]
        for pid in list(self._outsiders):
            if pid in alive or not self._look_at(pid, now):
                self._outsiders.discard(pid)
                self._found_at.pop(pid, None)
        self._last = now
        if not alive or any(now - self._seen[pid].since < self.settle for pid in alive):
            return None
        if not self.use_proc:
            return plain_diagnosis(alive, {pid: self._seen[pid] for pid in alive}, name, now, self)
        if any(self._seen[pid].blocked is None for pid in alive):
            return None
        return self._graph(alive, name, now)

    def _look_at(self, pid: int, now: float) -> bool:
        """Take the process's fingerprint; False if it has ended."""
        if self.use_proc:
            threads = procfs.threads(pid)
            counters = procfs.progress(pid)
            if not threads or counters is None or all(t.state == "Z" for t in threads):
                fingerprint = None
            else:
                fingerprint = (tuple((t.tid, t.state, t.raw) for t in threads), counters)
        else:
            threads, fingerprint = [], psutil_fingerprint(pid)
        if fingerprint is None:
            self._seen.pop(pid, None)
            return False
        seen = self._seen.get(pid)
        if seen is None or seen.fingerprint != fingerprint:  # it moved (or is new): start counting again
            self._seen[pid] = seen = _Seen(fingerprint, now, self._last if self._last is not None else now)
        if self.use_proc and not seen.analysed:
            decoded = analyse(pid, threads)
            seen.blocked, seen.analysed = (decoded if decoded.blocked else None), True
        return True

    def _settling(self, pid: int, now: float) -> bool:
        """An outsider just found, not yet still for long enough: wait for it, but not for one that keeps moving."""
        seen = self._seen.get(pid)
        found = self._found_at.get(pid, now)
        return seen is not None and now - seen.since < self.settle and now - found < 2 * self.settle

    def _settled(self, pid: int, now: float) -> Optional[Seen]:
        seen = self._seen.get(pid)
        return seen.blocked if seen and now - seen.since >= self.settle else None

    def _graph(self, alive: list[int], name: Callable[[int], str], now: float) -> Optional[Diagnosis]:
        looked_at = [*alive, *sorted(self._outsiders)]
        key = frozenset((pid, self._seen[pid].fingerprint) for pid in looked_at if pid in self._seen)
        if self._checked and self._checked[0] == key and now - self._checked[1] < RECHECK:
            return None  # the same blocked state was already found not to be a deadlock
        self._checked = (key, now)
        watched = set(alive)
        world = World.CLOSED if self.closed_world else World.OPEN
        nodes = {pid: self._seen[pid].blocked for pid in alive}
        while True:  # follow the waits out of the watched processes, to the outsiders that have settled
            snapshot, facts = observe(nodes, watched, world)
            finding = judge(snapshot, [*alive, *sorted(set(nodes) - watched)])
            self.last = (snapshot, finding)
            beyond = {edge.holder for edge in finding.edges} - set(nodes)
            newcomers = beyond - self._outsiders
            if newcomers and len(self._outsiders) < MAX_OUTSIDERS:
                self._outsiders |= newcomers  # sampled from now on; looked at again once they settle
                self._found_at.update((pid, now) for pid in newcomers)
                self._checked = None
                return None
            if any(self._settling(pid, now) for pid in beyond):
                self._checked = None  # look again as soon as they have settled
                return None
            joining = {pid: seen for pid in beyond if (seen := self._settled(pid, now)) is not None}
            if not joining:
                break
            nodes.update(joining)
        label = _Labels(watched, name)
        explainer = Explainer(snapshot, facts, label)
        if finding.verdict is not Verdict.DEADLOCK:
            self._maybe_notice(alive, finding, explainer, name, now, key)
            return None
        order = [*alive, *(pid for pid in nodes if pid in finding.stuck and pid not in watched)]
        stuck = {pid: self._stuck(pid, nodes[pid], finding, explainer, name, order, pid in watched) for pid in order}
        self.add_python_lines(stuck)
        formed_after = max(self._seen[pid].before for pid in order)
        return Diagnosis(
            [stuck[pid] for pid in order],
            list(finding.cycle),
            "/proc",
            now - max(self._seen[pid].since for pid in order),
            formed_after,
            time.monotonic(),
            facts.could_not_see,
        )

    @staticmethod
    def _stuck(pid, seen: Seen, finding: Finding, explainer: "Explainer", name, order, watched) -> Stuck:
        main = seen.main
        threads = [(d.thread.tid, d.shown) for d in seen.decoded]
        locked = not any(n.want is not Want.LOCK for d in seen.decoded for n in d.thread.needs)
        item = Stuck(pid, name(pid) if watched else procfs.command(pid), main.thread.call, main.shown,
                     tid=main.thread.tid, threads=threads, locked=locked, watched=watched)  # fmt: skip
        rank = {p: index for index, p in enumerate(order)}
        for resolution in finding.of(pid):
            item.details.extend(explainer.lines(resolution))
            for edge in sorted(resolution.edges, key=lambda e: rank.get(e.holder, 0)):
                item.waits_for.setdefault(edge.holder, explainer.reason(edge))
            fd = explainer.fd_text(resolution)
            if fd is not None:
                item.fds[fd[0]] = fd[1]
        return item

    def _maybe_notice(self, alive, finding: Finding, explainer: "Explainer", name, now, key) -> None:
        """Everything watched is blocked, on something outside: after NOTICE seconds, say once on what."""
        still = now - max(self._seen[pid].since for pid in alive)
        if still < self.notice_after or key in self._noticed:
            return
        self._noticed.add(key)
        lines = []
        for pid in alive:
            resolutions = finding.of(pid)
            held_outside = {edge.holder for r in resolutions for edge in r.edges if edge.holder not in alive}
            if not any(r.outside is not None for r in resolutions) and not held_outside:
                continue
            lines.append(f"{name(pid)}[{pid}] has waited {still:.0f} s in {self._seen[pid].blocked.main.shown}")
            lines.extend(f"    {line}" for r in resolutions for line in explainer.lines(r))
            for other in sorted(held_outside):
                lines.append(f"    pid {other} `{procfs.command_line(other)}` {self._doing(other, now)}")
        if lines:
            self.notices.append("\n".join(["waiting, not deadlocked:", *lines, "nothing was ended"]))

    def _doing(self, pid: int, now: float) -> str:
        seen = self._seen.get(pid)
        if seen is None:
            return "cannot be seen"
        if seen.blocked is not None:
            return f"is blocked in {seen.blocked.main.shown}"
        return "is running, or waits with a timeout"

    def add_python_lines(self, stuck: dict[int, Stuck]) -> None:
        for pid, item in stuck.items():
            python = procfs.is_python(pid)
            if python is False:
                item.note = "not a Python program: no source line to show"
            elif not item.watched:  # only the processes watched were started able to say where they are
                item.note = "its Python line is unknown: it runs outside this watch"
            else:
                item.note = "its Python line is unknown: it did not say where it was when asked"
        if self.stacks is None:
            return
        found = self.stacks.collect({pid: item.tid or pid for pid, item in stuck.items()})
        for pid, stack in found.items():
            own, inner = stack.own, stack.innermost
            if own is None:
                continue
            stuck[pid].python, stuck[pid].source = own.where, own.source
            if inner is not None and (inner.path, inner.line) != (own.path, own.line):
                stuck[pid].inner = f"{inner.where}: {inner.source}" if inner.source else inner.where
        for pid, item in stuck.items():  # where there are several threads: each one's line, one at a time
            for tid, _ in item.threads if len(item.threads) > 1 else []:
                if tid == item.tid and item.python:
                    item.thread_lines[tid] = item.python
                    continue
                stack = self.stacks.collect({pid: tid}).get(pid)
                if stack is not None and stack.own is not None:
                    item.thread_lines[tid] = stack.own.where


class _Labels:
    """How a report names a process: its role or command and pid; one outside the watched ones says so."""

    def __init__(self, watched: set[int], name: Callable[[int], str]):
        self.watched, self.name = watched, name

    def __call__(self, pid: int) -> str:
        if pid in self.watched:
            return f"{self.name(pid)}[{pid}]"
        return f"{procfs.command(pid)}[{pid}] (not watched)"
