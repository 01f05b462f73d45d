"""The detector: samples the watched processes and returns a Diagnosis once they are deadlocked.

1.  Blocked. Every thread of every process sleeps in a call that waits on
    another process, with no timeout (ipc.deadlock.waits).
2.  Nothing moves. Same call, same arguments, no time on a cpu, no bytes
    read or written (schedstat, io), for SETTLE seconds.
3.  Who could wake it: the wait-for graph (ipc.deadlock.graph).
4.  Deadlock: every watched process is blocked, and every process any of
    them waits for is one of them. Nobody running, nobody outside, no
    timeout can wake any of them: they will wait forever.

Without /proc (macOS) it falls back to psutil: every process asleep and not
moving (no cpu time, no context switch) for QUIET seconds. That cannot tell a
sleep from a blocked read, nor see who waits for whom; its report says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from .. import procfs
from .graph import WaitForGraph
from .report import Diagnosis, Stuck
from .waits import Blocked, analyse

SETTLE = 0.15  # seconds of no movement at all before the graph is built
RECHECK = 1.0  # rebuild the graph this often while everything stays blocked without a deadlock
QUIET = 3.0  # without /proc: seconds of every process asleep and still before "probably deadlocked"


@dataclass
class _Seen:
    fingerprint: tuple
    since: float  # first sample with this fingerprint
    before: float  # the sample before that: it changed after this
    blocked: Optional[Blocked] = None
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
    ):
        self.use_proc = procfs.AVAILABLE if use_proc is None else use_proc
        self.closed_world = closed_world  # only the watched processes can connect to each other (see the module doc)
        self.stacks = stacks  # an ipc.stackdumps.StackDumps, to ask for Python lines
        self.settle = settle if self.use_proc else quiet
        self.started = time.monotonic()
        self._seen: dict[int, _Seen] = {}
        self._last: Optional[float] = None  # when the previous sample was taken
        self._checked: Optional[tuple[frozenset, float]] = None

    def sample(
        self, pids: Iterable[int], name: Callable[[int], str] = procfs.command, now: Optional[float] = None
    ) -> Optional[Diagnosis]:
        """A Diagnosis once the processes are deadlocked, else None. The order of pids is the order
        of the report: the watcher puts first the process whose story should be told first."""
        now = time.monotonic() if now is None else now
        pids = list(dict.fromkeys(pids))
        alive = []
        for pid in pids:
            fingerprint, threads = self._fingerprint(pid)
            if fingerprint is None:
                self._seen.pop(pid, None)
                continue
            alive.append(pid)
            seen = self._seen.get(pid)
            if seen is None or seen.fingerprint != fingerprint:  # it moved (or is new): start counting again
                self._seen[pid] = seen = _Seen(fingerprint, now, self._last if self._last is not None else now)
            if self.use_proc and not seen.analysed:
                seen.blocked, seen.analysed = analyse(pid, threads), True
        self._last = now
        if not alive or any(now - self._seen[pid].since < self.settle for pid in alive):
            return None
        if self.use_proc:
            if any(self._seen[pid].blocked is None for pid in alive):
                return None
            return self._graph(alive, name, now)
        return self._plain(alive, name, now)

    def _fingerprint(self, pid: int) -> tuple[Optional[tuple], list]:
        if self.use_proc:
            threads = procfs.threads(pid)
            counters = procfs.progress(pid)
            if not threads or counters is None or all(t.state == "Z" for t in threads):
                return None, []
            return (tuple((t.tid, t.state, t.raw) for t in threads), counters), threads
        import psutil

        try:
            process = psutil.Process(pid)
            with process.oneshot():
                status = process.status()
                if status == psutil.STATUS_ZOMBIE:
                    return None, []
                times = process.cpu_times()
                switches = process.num_ctx_switches()
            if status not in (psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP):
                return ("awake", time.monotonic()), []  # never the same twice: it does not count as still
            return ("asleep", times.user + times.system, tuple(switches)), []
        except psutil.Error:
            return None, []

    def _graph(self, alive: list[int], name: Callable[[int], str], now: float) -> Optional[Diagnosis]:
        key = frozenset((pid, self._seen[pid].fingerprint) for pid in alive)
        if self._checked and self._checked[0] == key and now - self._checked[1] < RECHECK:
            return None  # the same blocked state was already found not to be a deadlock
        self._checked = (key, now)
        watched = set(alive)
        blocked = {pid: self._seen[pid].blocked for pid in alive}
        if len(alive) == 1 and all(
            w.want in ("accept", "connect", "open-read", "open-write") for w in blocked[alive[0]].waits
        ):
            return None  # alone, waiting for someone to arrive: only the world outside can end that
        graph = WaitForGraph(blocked, name, watched, self.closed_world)
        stuck: dict[int, Stuck] = {}
        outside: set[int] = set()
        edges: dict[int, set[int]] = {}
        for pid, b in blocked.items():
            item = Stuck(pid, name(pid), b.call, b.shown, tid=b.tid)
            edges[pid] = set()
            for wait in b.waits:
                found = graph.resolve(pid, wait)
                if found.outside or not found.waits_for:
                    outside.add(pid)
                edges[pid] |= found.waits_for
                item.details.extend(found.lines)
                ranked = sorted(found.reasons.items(), key=lambda pair: alive.index(pair[0]) if pair[0] in alive else 0)
                for target, reason in ranked:
                    item.waits_for.setdefault(target, reason)
                if wait.handle is not None:
                    item.fds[wait.handle.fd] = graph.describe(wait.handle)
            stuck[pid] = item
        knot = set(alive) - outside
        changed = True
        while changed:
            changed = False
            for pid in list(knot):
                if edges[pid] - knot:
                    knot.discard(pid)
                    changed = True
        if knot != watched:
            return None
        self._add_python_lines(stuck)
        formed_after = max(self._seen[pid].before for pid in alive)
        # The cycle starts at the first process, in the watcher's order, that is on one.
        return Diagnosis(
            [stuck[pid] for pid in alive],
            _find_cycle(alive, edges),
            "/proc",
            now - max(self._seen[pid].since for pid in alive),
            formed_after,
            time.monotonic(),
            graph.could_not_see,
        )

    def _plain(self, alive: list[int], name: Callable[[int], str], now: float) -> Optional[Diagnosis]:
        """Without /proc: all asleep and still for a while. Say what could and could not be seen."""
        if any(self._seen[pid].fingerprint[0] != "asleep" for pid in alive):
            return None
        import psutil

        stuck = {}
        for pid in alive:
            item = Stuck(pid, name(pid), "?", "a call that cannot be seen (asleep, not moving)")
            try:
                process = psutil.Process(pid)
                connections = (
                    process.net_connections(kind="all")
                    if hasattr(process, "net_connections")
                    else process.connections(kind="all")
                )
            except psutil.Error:
                connections = []
            for conn in connections:
                local = _psutil_address(conn.laddr)
                remote = _psutil_address(conn.raddr)
                text = (
                    f"a socket {local}"
                    + (f" -> {remote}" if remote else "")
                    + (f" ({conn.status})" if conn.status and conn.status != "NONE" else "")
                )
                item.fds[conn.fd] = text
                item.details.append(f"fd {conn.fd} is {text}")
            stuck[pid] = item
        self._add_python_lines(stuck)
        formed_after = max(self._seen[pid].before for pid in alive)
        return Diagnosis(
            [stuck[pid] for pid in alive],
            [],
            "psutil",
            now - max(self._seen[pid].since for pid in alive),
            formed_after,
            time.monotonic(),
            [
                "without /proc, the system call each process is blocked in, its pipes, and who holds "
                "the other ends are not visible; a process asleep in sleep() looks the same"
            ],
        )

    def _add_python_lines(self, stuck: dict[int, Stuck]) -> None:
        for pid, item in stuck.items():
            python = procfs.is_python(pid)
            item.note = (
                "its Python line is unknown: it was not started through ipc.program"
                if python is not False
                else "not a Python program: no source line to show"
            )
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


def _psutil_address(address) -> str:
    if not address:
        return ""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _find_cycle(order: list[int], edges: dict[int, set[int]]) -> list[int]:
    """The shortest cycle through the first process (in this order) that is on a cycle at all."""
    for start in order:
        if start in edges.get(start, ()):
            return [start]  # it waits for itself
        paths = {start: [start]}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for target in sorted(edges.get(node, ()), key=order.index):
                    if target == start:
                        return paths[node]
                    if target not in paths:
                        paths[target] = paths[node] + [target]
                        following.append(target)
            frontier = following
    return []
