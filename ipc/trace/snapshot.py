"""The trace's half of the wait-for question: a snapshot at any step, for ipc.waitfor to judge. Pure.

The live diagnosis builds its snapshot from /proc (ipc.deadlock.observe);
this one builds it from the trace model, so that every picture of a trace
(the terminal's, the SVG, the page, Mermaid, Perfetto, the JSON) is judged by
the same rules as ``ipc run`` and ``ipc watch``. What strace shows is less
than /proc: a call strace has not finished printing may lack its timeout
(epoll_wait prints it on return), so such a wait counts as one that may end
by itself; a thread in no traced call may be running, unless /proc saw it
waiting for a lock when the deadlock was diagnosed (``Trace.lock_waits``:
futex is not traced). An fd that was open before the trace began was given by
a process outside it, which may hold the other end.
"""

from __future__ import annotations

from typing import Optional

from ..syscalls import TIMEOUT_ARGUMENT, WOULD_BLOCK, Family, family, has_timeout
from ..waitfor import End, Finding, Holder, Kind, Motion, Need, Object, Process, Snapshot, Thread, Want, World, judge
from .channels import stream_channel
from .model import Call, Trace
from .strace import Fd

KINDS = {"pipe": Kind.PIPE, "fifo": Kind.FIFO, "unix-dgram": Kind.DATAGRAM, "udp": Kind.DATAGRAM,
         "terminal": Kind.TERMINAL, "file": Kind.FILE}  # fmt: skip
ENDS = {"read": End.READ, "write": End.WRITE, "both": End.BOTH}


ENDING = ("SIGTERM", "SIGKILL", "SIGINT", "SIGHUP")  # how a watcher, a user or a timeout ends a process


def moment(trace: Trace) -> float:
    """Where the trace's end stands: just before the first blocked call that a signal from outside the trace
    ended (a deadlock as it stood, before it was ended), else after everything."""
    cuts = []
    for wait in trace.waits:
        if wait.signal not in ENDING:
            continue
        sent = next((m for m in trace.marks if m.tid == wait.tid and m.seq > wait.seq and m.text == wait.signal), None)
        if sent is not None and sent.sender in trace.processes:
            continue  # one traced process signalled another: part of the story
        end = wait.end_seq if wait.end_seq is not None else trace.processes[wait.pid].end_seq
        if end is not None:
            cuts.append(end)
    return min(cuts) - 0.25 if cuts else float("inf")


def snapshot(trace: Trace, at: Optional[float] = None, world: World = World.OPEN) -> Snapshot:
    """The processes alive at place ``at`` of the time line (None: the trace's end, see ``moment``),
    each thread's motion and needs, and the objects they wait on."""
    at = moment(trace) if at is None else at
    return _Builder(trace, at, world).snapshot()


def finding(trace: Trace, at: Optional[float] = None, world: World = World.OPEN) -> Finding:
    """ipc.waitfor's judgement of the trace at ``at`` (by default at its end); the cycle starts at the
    first process to appear."""
    order = [p.pid for p in sorted(trace.processes.values(), key=lambda p: p.seq)]
    return judge(snapshot(trace, at, world), order)


def blocked_call(trace: Trace, pid: int, at: Optional[float] = None) -> Optional[Call]:
    """The call a process's main blocked thread was in at ``at``: the one a report names."""
    at = moment(trace) if at is None else at
    waits = [w for w in trace.waits if w.pid == pid and w.seq <= at and (w.end_seq is None or w.end_seq > at)]
    main = next((w for w in waits if w.tid == pid), waits[0] if waits else None)
    return trace.calls[main.call] if main else None


class _Builder:
    def __init__(self, trace: Trace, at: float, world: World):
        self.trace, self.at, self.world = trace, at, world
        self.needs: dict[str, set] = {}
        self.outside = {c.entry.object for c in trace.fd_changes if c.entry and c.why == "open before the trace"}

    def snapshot(self) -> Snapshot:
        trace, at = self.trace, self.at
        alive = [p for p in trace.processes.values() if p.seq <= at and (p.end_seq is None or p.end_seq > at)]
        ended = {m.tid for m in trace.marks if m.kind in ("exit", "killed", "thread-exit") and m.seq <= at}
        in_call: dict[int, Call] = {}
        for wait in trace.waits:
            if wait.seq <= at and (wait.end_seq is None or wait.end_seq > at):  # noise or not: it waits
                in_call[wait.tid] = trace.calls[wait.call]
        processes = {}
        for process in alive:
            threads = []
            for tid in process.threads or [process.pid]:
                if tid in ended and tid != process.pid:
                    continue
                call = in_call.get(tid)
                if call is not None:
                    threads.append(self._thread(process.pid, tid, call))
                elif tid in trace.lock_waits:  # seen by /proc in futex, which strace does not show
                    threads.append(Thread(tid, "futex", Motion.BLOCKED, (Need(Want.LOCK),)))
                else:  # in no traced call: it may be running
                    threads.append(Thread(tid, "running", Motion.RUNNING))
            processes[process.pid] = Process(process.pid, tuple(threads))
        objects = {}
        for key in list(self.needs):
            objects[key] = self._object(key)
            for other in (objects[key].peer, objects[key].listener):
                if other and other not in objects:
                    objects[other] = self._object(other)
        return Snapshot(processes, objects, self.world)

    # -- threads --------------------------------------------------------------------------------

    def _thread(self, pid: int, tid: int, call: Call) -> Thread:
        name, kind = call.name, family(call.name)
        if call.errno in WOULD_BLOCK:
            return Thread(tid, name, Motion.RUNNING)
        if name in TIMEOUT_ARGUMENT:
            timed = has_timeout(name, _timeout_value(call))
            if timed is None:
                return Thread(tid, name, Motion.UNSEEN)  # strace has not printed its timeout yet
            if timed:
                return Thread(tid, name, Motion.TIMED)
        table = self.trace.fd_table(pid, self.at)
        needs: list[Need] = []
        if kind in (Family.READ, Family.WRITE, Family.ACCEPT, Family.CONNECT):
            want = {Family.READ: Want.DATA, Family.WRITE: Want.ROOM, Family.ACCEPT: Want.CONNECTION,
                    Family.CONNECT: Want.ACCEPTED}[kind]  # fmt: skip
            fd = _fd_number(call.args[0] if call.args else None)
            need = self._on_fd(table, fd, want)
            if need is None:
                return Thread(tid, name, Motion.UNSEEN)
            if kind is Family.CONNECT and self.trace.objects[need.object].kind == "tcp":
                return Thread(tid, name, Motion.TIMED)  # the kernel resends the SYN, then gives up
            needs.append(need)
        elif kind is Family.MOVE:  # vmsplice: the program's pages into a pipe (or out of one, at its read end)
            numbers = [_fd_number(arg) for arg in call.args if isinstance(arg, Fd)]
            wants = {"sendfile": (Want.ROOM, Want.DATA), "vmsplice": (Want.ROOM,)}.get(name, (Want.DATA, Want.ROOM))
            if name == "vmsplice" and numbers and numbers[0] in table and table[numbers[0]].end == "read":
                wants = (Want.DATA,)
            for fd, want in zip(numbers, wants):
                if (need := self._on_fd(table, fd, want)) is not None:
                    needs.append(need)
        elif kind is Family.POLL:
            polled = self._polled(call)
            if polled is None:
                return Thread(tid, name, Motion.UNSEEN)
            for fd, want in polled:
                need = self._on_fd(table, fd, want)
                if need is None:
                    return Thread(tid, name, Motion.UNSEEN)
                needs.append(need)
        elif kind is Family.OPEN:
            obj = self.trace.objects.get(call.objects[0]) if call.objects else None
            if obj is None or obj.kind != "fifo":
                return Thread(tid, name, Motion.UNSEEN)
            opening = End.WRITE if "O_WRONLY" in call.text else End.BOTH if "O_RDWR" in call.text else End.READ
            needs.append(self._need(Need(Want.PARTNER, obj.id, opening=opening)))
        elif kind is Family.CHILD_WAIT:
            target = call.args[0] if call.args and isinstance(call.args[0], int) and call.args[0] > 0 else None
            kids = tuple(
                p.pid
                for p in self.trace.processes.values()
                if p.parent == pid and p.seq <= self.at and (p.end_seq is None or p.end_seq > self.at)
                and (target is None or p.pid == target)
            )  # fmt: skip
            if not kids:
                return Thread(tid, name, Motion.UNSEEN)
            needs.append(Need(Want.CHILD, children=kids))
        elif kind is Family.SIGNAL_WAIT:
            needs.append(Need(Want.SIGNAL))
        elif kind is Family.SLEEP:
            return Thread(tid, name, Motion.TIMED)
        else:
            return Thread(tid, name, Motion.RUNNING)
        return Thread(tid, name, Motion.BLOCKED, tuple(needs))

    def _need(self, need: Need) -> Need:
        if need.object is not None:
            self.needs.setdefault(need.object, set()).add(need.want)
        return need

    def _on_fd(self, table: dict, fd: Optional[int], want: Want) -> Optional[Need]:
        entry = table.get(fd) if fd is not None else None
        if entry is None:
            return None
        kind = self.trace.objects[entry.object].kind
        if kind in ("file", "other"):
            return None  # a disk file, an eventfd: nothing another process is seen to end
        return self._need(Need(want, entry.object, fd))

    def _polled(self, call: Call) -> Optional[list]:
        """(fd, data or room) for each fd a poll-like call waits on (the model's ``watched``: for epoll, what
        its epoll_ctl calls had added); None if they cannot be seen."""
        if call.watched is None:
            return None
        return [(fd, Want.DATA if want == "read" else Want.ROOM) for fd, want in call.watched]

    # -- objects --------------------------------------------------------------------------------

    def _object(self, key: str) -> Object:
        obj = self.trace.objects[key]
        holders = [Holder(pid, fd, ENDS.get(end, End.BOTH)) for pid, fd, end in self.trace.holders(key, self.at)]
        if key in self.outside:  # given by a process outside the trace, which may hold it too
            holders.append(Holder(None, None, End.BOTH))
        kind = KINDS.get(obj.kind, Kind.OTHER)
        peer = listener = None
        if obj.kind in ("unix-stream", "tcp"):
            kind = Kind.LISTENER if obj.listening else Kind.STREAM
            peer = self._peer(obj)
            if peer is None and obj.kind == "tcp" and not obj.listening:
                listener = next((o.id for o in self.trace.objects.values()
                                 if o.kind == "tcp" and o.listening and o.local == obj.remote), None)  # fmt: skip
        elif obj.kind == "unix-dgram":
            peer = self._peer(obj)
        queued = None
        if Want.DATA in self.needs.get(key, ()):
            channel = self.trace.channels.get(stream_channel(obj, None, False))
            queued = len(channel.in_flight(self.at)) if channel is not None and channel.kind == "stream" else None
        made = obj.kind == "fifo" and obj.created_by is not None
        return Object(key, kind, tuple(holders), peer, listener, queued, made)

    def _peer(self, obj) -> Optional[str]:
        if obj.peer and obj.peer in self.trace.objects:
            return obj.peer
        if obj.kind == "tcp" and obj.local and obj.remote:
            return next((o.id for o in self.trace.objects.values() if o.kind == "tcp" and o.local == obj.remote
                         and o.remote == obj.local), None)  # fmt: skip
        return None


def _fd_number(value) -> Optional[int]:
    if isinstance(value, Fd):
        return value.number
    return value if isinstance(value, int) else None


def _timeout_value(call: Call) -> Optional[int]:
    """The timeout argument as ipc.syscalls.has_timeout takes it; None where strace has not printed it."""
    index, _ = TIMEOUT_ARGUMENT[call.name]
    if len(call.args) <= index:
        return None
    value = call.args[index]
    if isinstance(value, int):
        return value
    return 0 if str(value) == "NULL" else 1
