"""Who waits for whom, and whether that is a deadlock: the rules, written once. Pure.

Like ipc.protocol, this module does no I/O: it is given a ``Snapshot`` (plain,
frozen data) and returns a ``Finding``. Two adapters build snapshots: one from
/proc for live processes (ipc.deadlock, behind ``ipc run`` and ``ipc watch``),
one from a trace model at any step (ipc.trace.snapshot, behind ``ipc trace``
and every picture). Both are judged here, so they cannot disagree; the words
of a report are written by the reports, from the edges found here.

A snapshot holds, for each process looked at, what each of its threads is
doing: running, sleeping with a timeout, or blocked on ``Need``s (an object
and what it needs from it: data, room, a connection, a partner, a child...).
It holds, for each object waited on, who holds which end, what is queued in
it, and which object is at its other end. The rules:

1. A process moves by itself when any of its threads runs, waits with a
   timeout, or waits in a call whose waker cannot be seen. Only a process
   whose every thread is blocked with no timeout can be stuck.
2. A blocked thread wakes when any one of its needs is met (a poll waits on
   many fds). Whom each need waits for:
   - data from a pipe or FIFO: every holder of a write end, the waiter too if
     it holds one (the forgotten close: end of file never comes); room: the
     holders of a read end. Bytes already queued: nobody, it is not stuck.
   - data or room on a connected socket: the holders of its other end; a
     connection still in a listener's queue: the listener's holders, who have
     not accept()ed it.
   - a connection (accept, or a poll on a listening socket), a datagram on
     a socket with no peer of its own, a connect whose listener cannot be
     seen: anyone who knows the address.
     In a closed world (the harness launched every process, and its paths
     and ports are private) that is the other processes inside; otherwise
     the world outside, and never a deadlock.
   - a partner for a FIFO's open(), or data from a FIFO whose only write end
     the reader holds itself (a server's spare write end): the FIFO rule.
   - a child's exit: its children. A private lock: its own threads.
   - a terminal, a signal: the world outside.
   A holder that is not among the processes looked at may act at any time.
3. The stuck processes are the largest set of blocked processes that wait
   only for each other (a knot: no need can be met from outside it). It is a
   deadlock when every process inside is stuck. The cycle reported is the
   shortest one through the first stuck process, in the order given.
4. The FIFO rule. Anyone who knows its path may open a FIFO, so an open()
   waiting for a partner waits on the world outside -- a server waiting for
   clients at its well-known FIFO is not deadlocked. Except where the open
   can only be answered from inside: in a closed world; or when at least two
   processes inside are blocked in opens of FIFOs that the processes inside
   made, and no process outside holds any of those FIFOs open: then each
   waits for the others (two processes opening two FIFOs in opposite
   orders); the partners it waits for are then those others. Its limit: a rule from the kernel's state cannot read a
   program's future. Two servers, started together, each waiting for clients
   at a FIFO of its own, look the same as that deadlock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence


class Want(enum.Enum):
    """What a blocked call needs another process to do."""

    DATA = "data"  # write into it, or close the last write end (end of file)
    ROOM = "room"  # read from it, making room in a full buffer
    CONNECTION = "connection"  # connect to this listening socket
    ACCEPTED = "accepted"  # accept() the connection it started (a connect, or a read on it)
    PARTNER = "partner"  # open the FIFO's other side
    CHILD = "child"  # exit (a child)
    LOCK = "lock"  # release a lock only the process's own threads can release
    SIGNAL = "signal"  # send it a signal


class Kind(enum.Enum):
    PIPE = "pipe"
    FIFO = "fifo"
    STREAM = "stream socket"  # connected, or connecting: it has (or will have) another end
    LISTENER = "listening socket"
    DATAGRAM = "datagram socket"
    TERMINAL = "terminal"
    FILE = "file"
    OTHER = "other"  # a socket this observer cannot see into, an eventfd...


class End(enum.Enum):
    READ = "read"
    WRITE = "write"
    BOTH = "both"

    @property
    def reads(self) -> bool:
        return self is not End.WRITE

    @property
    def writes(self) -> bool:
        return self is not End.READ


class Motion(enum.Enum):
    """What a thread is doing."""

    BLOCKED = "blocked"  # in a call that waits, with no timeout, for what its needs say
    RUNNING = "running"  # on a CPU, or ready to be
    TIMED = "waiting with a timeout"  # it wakes by itself
    UNSEEN = "in a call whose waker cannot be seen"  # a disk, a shared lock, a timeout not yet known


class World(enum.Enum):
    CLOSED = "closed"  # every process that could reach these paths and ports was launched by the observer
    OPEN = "open"  # anyone on the machine may connect, send or open


@dataclass(frozen=True)
class Need:
    """One thing one blocked thread waits for."""

    want: Want
    object: Optional[str] = None  # the id of the object waited on (None for a child, a lock, a signal)
    fd: Optional[int] = None  # the waiter's fd on it
    children: tuple[int, ...] = ()  # Want.CHILD: the children it may collect
    opening: Optional["End"] = None  # Want.PARTNER: the end it opens (a reader waits for a writer)


@dataclass(frozen=True)
class Thread:
    tid: int
    call: str  # the kernel's name of the call it is in; "running" when in none
    motion: Motion
    needs: tuple[Need, ...] = ()  # Motion.BLOCKED: any one of them met wakes it


@dataclass(frozen=True)
class Process:
    pid: int
    threads: tuple[Thread, ...]
    inside: bool = True  # one of the processes observed (watched, traced); False: one followed outside them

    @property
    def blocked(self) -> bool:
        return bool(self.threads) and all(thread.motion is Motion.BLOCKED for thread in self.threads)

    @property
    def motion(self) -> Motion:
        """The process as a whole: blocked only if every thread is; else the liveliest of its threads."""
        for motion in (Motion.RUNNING, Motion.UNSEEN, Motion.TIMED):
            if any(thread.motion is motion for thread in self.threads):
                return motion
        return Motion.BLOCKED


@dataclass(frozen=True)
class Holder:
    """A process holding an object open."""

    pid: Optional[int]  # None: a process outside those observed, not known by pid (an fd open before a trace)
    fd: Optional[int]
    end: End


@dataclass(frozen=True)
class Object:
    """A pipe, FIFO, socket or terminal some blocked call waits on."""

    id: str
    kind: Kind
    holders: tuple[Holder, ...] = ()
    peer: Optional[str] = None  # the object at its other end (a connected socket), when it can be seen
    listener: Optional[str] = None  # a connection nobody has accepted yet: the listening socket it waits in
    queued: Optional[int] = None  # bytes ready to be read (None: not known)
    made_inside: bool = False  # a FIFO the processes inside made (its path is theirs)
    holders_unseen: bool = False  # some processes could not be looked into: a holder may be missing


@dataclass(frozen=True)
class Snapshot:
    processes: Mapping[int, Process]  # every process looked at: those inside, and those followed outside
    objects: Mapping[str, Object]
    world: World = World.OPEN


# -- what is found ----------------------------------------------------------


class Reason(enum.Enum):
    """Why a wait waits for a process."""

    HOLDS_WRITE_END = "holds a write end"
    HOLDS_READ_END = "holds a read end"
    HOLDS_OTHER_END = "holds the other end"
    NOT_ACCEPTED = "has not accepted the connection"
    CHILD = "is its child, which has not exited"
    COULD_OPEN = "could open the FIFO's other side"
    COULD_CONNECT = "could connect"
    COULD_SEND = "could send it a datagram"
    COULD_ACCEPT = "could accept the connection"
    OWN_THREADS = "its threads wait for each other's locks"


class Outside(enum.Enum):
    """Why a wait may end without any process looked at doing anything: it is not stuck."""

    QUEUED = "something is already there to be read"
    ANYONE_MAY_CONNECT = "anyone may connect to it"
    ANYONE_MAY_SEND = "anyone may send it a datagram"
    ANYONE_MAY_OPEN = "anyone who knows the path may open the FIFO's other side"
    ANYONE_MAY_ACCEPT = "the listening socket it waits in cannot be seen"
    TERMINAL = "someone may type at the terminal"
    SIGNAL = "anyone may send it a signal"
    HOLDER_UNSEEN = "a process outside those observed holds the other end"
    UNSEEN = "who could end this wait cannot be seen"
    NOBODY_SEEN = "no process that could end it is seen: one may yet come"


@dataclass(frozen=True)
class Edge:
    """``waiter`` waits for ``holder``: ``holder`` could end ``need``."""

    waiter: int
    tid: int  # the waiter's blocked thread
    need: Need
    holder: int
    reason: Reason
    fd: Optional[int] = None  # the holder's fd on the object, when it holds one


@dataclass(frozen=True)
class Resolution:
    """One need of one blocked thread: the processes that could meet it, or why it may be met from outside."""

    pid: int
    tid: int
    call: str
    need: Need
    edges: tuple[Edge, ...] = ()
    outside: Optional[Outside] = None


class Verdict(enum.Enum):
    DEADLOCK = "deadlock"  # every process inside is stuck: none can ever move
    WAITING = "waiting on the outside"  # all blocked, and something outside could wake one
    TIMEOUT = "waiting with a timeout"  # all waiting, and one will wake by itself
    RUNNING = "running"  # some process inside runs (or waits on something that cannot be seen)


@dataclass(frozen=True)
class Finding:
    verdict: Verdict
    resolutions: tuple[Resolution, ...]  # every need of every blocked process, resolved
    stuck: frozenset[int]  # processes that can never move (the knot)
    cycle: tuple[int, ...]  # pids, each waiting for the next, the last for the first (empty: no deadlock)

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(edge for resolution in self.resolutions for edge in resolution.edges)

    def waits_for(self, pid: int) -> dict[int, list[Edge]]:
        """Whom ``pid`` waits for: holder -> the edges, in the order found."""
        found: dict[int, list[Edge]] = {}
        for edge in self.edges:
            if edge.waiter == pid:
                found.setdefault(edge.holder, []).append(edge)
        return found

    def of(self, pid: int) -> list[Resolution]:
        return [resolution for resolution in self.resolutions if resolution.pid == pid]

    def in_cycle(self, edge: Edge) -> bool:
        """Whether the edge is a step of the cycle reported (not any edge between stuck processes)."""
        steps = set(zip(self.cycle, self.cycle[1:] + self.cycle[:1]))
        return (edge.waiter, edge.holder) in steps


# -- the rules --------------------------------------------------------------


def judge(snapshot: Snapshot, order: Sequence[int] = ()) -> Finding:
    """Whom each blocked process waits for, who is stuck, and the verdict. ``order``: the processes
    in the order their story should be told; the cycle starts at the first stuck one."""
    resolver = _Resolver(snapshot)
    resolutions: list[Resolution] = []
    escapes: set[int] = set()
    waits: dict[int, set[int]] = {}
    blocked = [pid for pid, process in snapshot.processes.items() if process.blocked]
    for pid in blocked:
        found = resolver.process(snapshot.processes[pid])
        resolutions.extend(found)
        waits[pid] = {edge.holder for resolution in found for edge in resolution.edges}
        if any(resolution.outside is not None for resolution in found):
            escapes.add(pid)
    stuck = set(blocked) - escapes
    changed = True
    while changed:  # a process that waits for one that can move (or is not looked at) can move too
        changed = False
        for pid in sorted(stuck):
            if waits[pid] - stuck:
                stuck.discard(pid)
                changed = True
    inside = [pid for pid, process in snapshot.processes.items() if process.inside]
    if inside and set(inside) <= stuck:
        verdict = Verdict.DEADLOCK
    else:
        motions = {snapshot.processes[pid].motion for pid in inside}
        if Motion.RUNNING in motions or Motion.UNSEEN in motions or not inside:
            verdict = Verdict.RUNNING
        elif Motion.TIMED in motions:
            verdict = Verdict.TIMEOUT
        else:
            verdict = Verdict.WAITING
    ranked = [*order, *sorted(pid for pid in snapshot.processes if pid not in order)]
    cycle = _find_cycle(ranked, {pid: waits[pid] & stuck for pid in stuck}) if stuck else []
    return Finding(verdict, tuple(resolutions), frozenset(stuck), tuple(cycle))


class _Resolver:
    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.objects = snapshot.objects
        self.inside = sorted(pid for pid, process in snapshot.processes.items() if process.inside)
        self.fifo_openers = self._fifo_openers()

    def _fifo_openers(self) -> set[int]:
        """The processes inside blocked in an open() of a FIFO the processes inside made."""
        openers = set()
        for pid in self.inside:
            process = self.snapshot.processes[pid]
            for thread in process.threads if process.blocked else ():
                for need in thread.needs:
                    obj = self.objects.get(need.object) if need.object else None
                    if need.want is Want.PARTNER and obj is not None and obj.made_inside:
                        openers.add(pid)
        return openers

    def process(self, process: Process) -> list[Resolution]:
        pid = process.pid
        waiting = [thread for thread in process.threads if not all(n.want is Want.LOCK for n in thread.needs)]
        if not waiting:  # every thread waits for a lock only its own threads could release: for each other
            first = process.threads[0]
            need = first.needs[0] if first.needs else Need(Want.LOCK)
            edge = Edge(pid, first.tid, need, pid, Reason.OWN_THREADS)
            return [Resolution(pid, first.tid, first.call, need, (edge,))]
        # A thread waiting for a lock waits for the other threads of its process: the waits that matter
        # are theirs.
        return [self.need(pid, thread, need) for thread in waiting for need in thread.needs]

    def need(self, pid: int, thread: Thread, need: Need) -> Resolution:
        def resolved(edges: Iterable[tuple[int, Reason, Optional[int]]] = (), outside: Optional[Outside] = None):
            unique = dict.fromkeys(Edge(pid, thread.tid, need, holder, reason, fd) for holder, reason, fd in edges)
            return Resolution(pid, thread.tid, thread.call, need, tuple(unique), outside)

        if need.want is Want.CHILD:
            return resolved(((child, Reason.CHILD, None) for child in need.children), None if need.children else
                            Outside.NOBODY_SEEN)  # fmt: skip
        if need.want is Want.SIGNAL:
            return resolved(outside=Outside.SIGNAL)
        if need.want is Want.LOCK:
            return resolved(outside=Outside.UNSEEN)  # a lock in a process where other threads wait on fds
        obj = self.objects.get(need.object) if need.object else None
        if obj is None or obj.kind in (Kind.OTHER, Kind.FILE):
            return resolved(outside=Outside.UNSEEN)
        if obj.kind is Kind.TERMINAL:
            return resolved(outside=Outside.TERMINAL)
        if need.want is Want.DATA and obj.queued:
            return resolved(outside=Outside.QUEUED)
        if need.want is Want.PARTNER:
            return self._partner(pid, obj, resolved)
        if obj.kind in (Kind.PIPE, Kind.FIFO):
            writers = [holder for holder in obj.holders if holder.end.writes]
            if obj.kind is Kind.FIFO and need.want is Want.DATA and writers and {h.pid for h in writers} == {pid}:
                # It holds the only write end itself: a FIFO server's spare write end, kept so that read() never
                # sees end of file between clients (TLPI's fifo_seqnum_server). Its writers are whoever opens the
                # path next: the FIFO rule decides who that may be.
                return self._partner(pid, obj, resolved)
            if need.want is Want.DATA:
                return self._holders(obj, lambda end: end.writes, Reason.HOLDS_WRITE_END, resolved)
            return self._holders(obj, lambda end: end.reads, Reason.HOLDS_READ_END, resolved)
        if obj.kind is Kind.LISTENER or need.want is Want.CONNECTION or (obj.kind is Kind.DATAGRAM and not obj.peer):
            if obj.kind is Kind.LISTENER:  # accept(), or a poll for a listening socket to be readable
                return self._anyone(pid, Reason.COULD_CONNECT, Outside.ANYONE_MAY_CONNECT, resolved)
            return self._anyone(pid, Reason.COULD_SEND, Outside.ANYONE_MAY_SEND, resolved)
        peer = self.objects.get(obj.peer) if obj.peer else None
        if peer is not None and peer.holders:
            return self._holders(peer, lambda end: True, Reason.HOLDS_OTHER_END, resolved)
        listener = self.objects.get(obj.listener) if obj.listener else None
        if listener is not None:  # connected, but nobody has accept()ed its other end yet
            return self._holders(listener, lambda end: True, Reason.NOT_ACCEPTED, resolved)
        if need.want is Want.ACCEPTED:
            return self._anyone(pid, Reason.COULD_ACCEPT, Outside.ANYONE_MAY_ACCEPT, resolved)
        return resolved(outside=Outside.HOLDER_UNSEEN if obj.peer is None else Outside.UNSEEN)

    def _holders(self, obj: Object, end_wanted, reason: Reason, resolved) -> Resolution:
        holders = [holder for holder in obj.holders if end_wanted(holder.end)]
        if any(holder.pid is None for holder in holders) or obj.holders_unseen:
            return resolved(
                ((h.pid, reason, h.fd) for h in holders if h.pid is not None), outside=Outside.HOLDER_UNSEEN
            )
        if not holders:
            return resolved(outside=Outside.NOBODY_SEEN)
        return resolved((holder.pid, reason, holder.fd) for holder in holders)

    def _others(self, pid: int) -> list[int]:
        return [other for other in self.inside if other != pid]

    def _anyone(self, pid: int, reason: Reason, outside: Outside, resolved) -> Resolution:
        """A wait anyone who knows the address could end: in a closed world, the other processes inside."""
        if self.snapshot.world is World.CLOSED and self.snapshot.processes[pid].inside:
            others = self._others(pid)
            return resolved(((other, reason, None) for other in others), None if others else Outside.NOBODY_SEEN)
        return resolved(outside=outside)

    def _partner(self, pid: int, fifo: Object, resolved) -> Resolution:
        """The FIFO rule (see the module's docstring)."""
        inside = self.snapshot.processes[pid].inside
        held_outside = fifo.holders_unseen or any(
            holder.pid is None or not self._is_inside(holder.pid) for holder in fifo.holders
        )
        only_inside = self.snapshot.world is World.CLOSED or (
            fifo.made_inside and not held_outside and len(self.fifo_openers) >= 2 and pid in self.fifo_openers
        )
        if not (inside and only_inside):
            return resolved(outside=Outside.ANYONE_MAY_OPEN)
        # The partner it waits for: one of the others blocked in FIFO opens, when there are some (the
        # processes behind them, a shell in wait4 say, are stuck with them, not the story).
        others = sorted(self.fifo_openers - {pid}) or self._others(pid)
        return resolved(((other, Reason.COULD_OPEN, None) for other in others), None if others else
                        Outside.NOBODY_SEEN)  # fmt: skip

    def _is_inside(self, pid: int) -> bool:
        process = self.snapshot.processes.get(pid)
        return process is not None and process.inside


def _find_cycle(order: Sequence[int], edges: Mapping[int, set[int]]) -> list[int]:
    """The cycle that explains the hang: the shortest one between several processes, through the
    first process (in this order) on such a cycle. A process that waits only for itself (it holds
    the write end its own read waits on) is the answer only when no such cycle exists: holding a
    spare end is then the whole story, not a side note."""
    rank = {pid: index for index, pid in enumerate(order)}
    for start in order:
        if start not in edges:
            continue
        paths = {start: [start]}
        frontier = [start]
        while frontier:
            following = []
            for node in frontier:
                for target in sorted(edges.get(node, ()), key=lambda pid: rank.get(pid, len(rank))):
                    if target == start and node != start:
                        return paths[node]
                    if target not in paths:
                        paths[target] = paths[node] + [target]
                        following.append(target)
            frontier = following
    return next(([pid] for pid in order if pid in edges.get(pid, ())), [])


def lock_waits(snapshot: Snapshot) -> frozenset:
    """The threads of a snapshot that wait for a lock only their own process's threads can release."""
    return frozenset(
        thread.tid
        for process in snapshot.processes.values()
        for thread in process.threads
        if thread.motion is Motion.BLOCKED and any(need.want is Want.LOCK for need in thread.needs)
    )


# -- snapshots as plain data (recorded for the tests, and for a look at what was judged) --


def to_json(snapshot: Snapshot) -> dict:
    def thread(t: Thread) -> dict:
        needs = [
            {
                "want": n.want.value,
                "object": n.object,
                "fd": n.fd,
                "children": list(n.children),
                "opening": n.opening.value if n.opening else None,
            }  # fmt: skip
            for n in t.needs
        ]
        return {"tid": t.tid, "call": t.call, "motion": t.motion.name, "needs": needs}

    return {
        "world": snapshot.world.value,
        "processes": [
            {"pid": p.pid, "inside": p.inside, "threads": [thread(t) for t in p.threads]}
            for p in snapshot.processes.values()
        ],
        "objects": [
            {
                "id": o.id,
                "kind": o.kind.name,
                "holders": [[h.pid, h.fd, h.end.value] for h in o.holders],
                "peer": o.peer,
                "listener": o.listener,
                "queued": o.queued,
                "made_inside": o.made_inside,
                "holders_unseen": o.holders_unseen,
            }  # fmt: skip
            for o in snapshot.objects.values()
        ],
    }


def finding_to_json(finding: Finding) -> dict:
    """What was found, as plain data: the verdict, the stuck processes, the cycle, every edge."""
    return {
        "verdict": finding.verdict.value,
        "stuck": sorted(finding.stuck),
        "cycle": list(finding.cycle),
        "waits_for": [
            {
                "waiter": e.waiter,
                "tid": e.tid,
                "holder": e.holder,
                "reason": e.reason.name,
                "fd": e.fd,
                "object": e.need.object,
                "want": e.need.want.value,
                "in_cycle": finding.in_cycle(e),
            }  # fmt: skip
            for e in finding.edges
        ],
        "outside": [
            {"pid": r.pid, "tid": r.tid, "call": r.call, "object": r.need.object, "why": r.outside.name}
            for r in finding.resolutions
            if r.outside is not None
        ],
    }


def from_json(data: dict) -> Snapshot:
    def need(n: dict) -> Need:
        opening = End(n["opening"]) if n.get("opening") else None
        return Need(Want(n["want"]), n.get("object"), n.get("fd"), tuple(n.get("children", ())), opening)

    processes = {
        p["pid"]: Process(
            p["pid"],
            tuple(Thread(t["tid"], t["call"], Motion[t["motion"]], tuple(map(need, t["needs"]))) for t in p["threads"]),
            p.get("inside", True),
        )
        for p in data["processes"]
    }
    objects = {
        o["id"]: Object(
            o["id"],
            Kind[o["kind"]],
            tuple(Holder(pid, fd, End(end)) for pid, fd, end in o.get("holders", ())),
            o.get("peer"),
            o.get("listener"),
            o.get("queued"),
            o.get("made_inside", False),
            o.get("holders_unseen", False),
        )  # fmt: skip
        for o in data["objects"]
    }
    return Snapshot(processes, objects, World(data.get("world", "open")))
