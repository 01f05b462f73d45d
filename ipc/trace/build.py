"""From strace's text to the trace model: processes, fd tables over time, kernel objects. Pure.

``build([text, ...])`` merges several strace outputs (a server and a client
traced apart) by their timestamps, then replays every call's effect in the
order the kernel made them: a process is made at its clone (before its
parent's clone returns, as it may speak first), an fd appears when the call
that makes it returns, close-on-exec fds go at execve, and everything a
process held goes when it exits. What the bytes did (messages) and who waited
for whom (waits) are worked out from that by ipc.trace.matching and
ipc.trace.waits.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import replace
from typing import Optional, Sequence

from . import instrumentation, recorder, waits
from .classify import classify, mark_files
from .effects import Effects, _fds, _flags, _path
from .model import Call, FdChange, FdEntry, KernelObject, Mark, Process, Step, Trace
from .names import MOVES, POLLS, READS, WRITES, labelled_lines, lecture_name, program_name, without_housekeeping
from .objects import compatible, name_objects, new_object, object_key, update
from .sources import Join, Source
from .strace import Data, Exit, Fd, Signal, Syscall, parse

CREATE_FD = {
    "socket",
    "accept",
    "accept4",
    "open",
    "openat",
    "openat2",
    "creat",
    "epoll_create",
    "epoll_create1",
    "eventfd",
    "eventfd2",
    "memfd_create",
    "timerfd_create",
    "signalfd4",
    "inotify_init1",
    "pidfd_open",
}


def build(texts: Sequence[str], roles: Optional[dict] = None, housekeeping: bool = False) -> Trace:
    """One model from one or more strace outputs (each from ``strace -f -ttt -T -yy``). Start-up and
    housekeeping reads of system files are left out unless ``housekeeping`` (``ipc trace --all``)."""
    if not housekeeping:
        texts = [without_housekeeping(text) for text in texts]
    parsed = [parse(text, source) for source, text in enumerate(texts)]
    last = max((getattr(r, "end_time", None) or r.time for records in parsed for r in records), default=None)
    joins = [Join() for _ in parsed]
    trace = Builder([instrumentation.remove(records, join) for records, join in zip(parsed, joins)], roles or {}).trace
    trace.end = None if last is None else last - trace.origin  # a watcher's stack dumps count: it was looking
    trace.python_calls = _python_calls(trace, [record for join in joins for record in join.records])
    return trace


def _source(record: Syscall) -> Optional[Source]:
    """Where the program said it made this call (ipc.trace.sources): its record's line, or, in the child of a
    spawning call before its execve, that call's line."""
    if record.site is None:
        return None
    said, child = record.site
    return replace(said.source, child=True) if child else said.source


def _python_calls(trace: Trace, records: list) -> list:
    """The Python programs' records, in time order, each with the indexes of the calls it made and its process
    (and its time from the trace's beginning)."""
    owner = {call.tid: call.pid for call in trace.calls}
    for record in records:
        record.calls = [made.index for made in record.calls if getattr(made, "index", None) is not None]
        record.pid = owner.get(record.tid, record.tid)
        record.time -= trace.origin
    return sorted(records, key=lambda record: record.time)


class Builder(Effects):
    def __init__(self, sources: list, roles: dict):
        self.records = self._place(sources)
        self.origin = self.records[0].time if self.records else 0.0
        self.objects: dict = {}
        self.tables: dict = {}  # pid -> {fd: FdEntry}
        self.changes: list = []
        self.marks: list = []
        self.open_files = 0
        self.offsets: dict = {}  # open file description -> its offset (regular files)
        self.paths: dict = {}  # path -> the object at that path now (files, FIFOs, socket files)
        self.fifo_generation: dict = {}
        self.io = recorder.Recorder(self.offsets)
        self.in_passing: dict = {}  # object -> [(sendmsg call, fd, entry)]: fds sent, not yet received
        self.sent_fds: set = set()  # the sendmsg calls whose fds are counted in in_passing
        self.passes: list = []
        self.interest: dict = {}  # epoll object -> {fd: (object, ["read", "write"], data)}: what epoll_ctl added
        self.interest_seen: dict = {}  # epoll object -> (its interest list, what a wait makes of it)
        self.senders: Optional[list] = None  # the sendmsg calls that pass fds (SCM_RIGHTS), found when needed
        self.task_pid = self._tasks()
        self.threads_of: dict = {}  # pid -> how many tasks it had
        for pid in self.task_pid.values():
            self.threads_of[pid] = self.threads_of.get(pid, 0) + 1
        self.processes: dict = {}
        self.calls = [
            self._call(index, record) for index, record in enumerate(r for r in self.records if isinstance(r, Syscall))
        ]
        self._replay()
        times = {r.seq: r.time for r in self.records}
        times.update({c.end_seq: c.end + self.origin for c in self.calls if c.end_seq is not None})
        for change in self.changes:
            change.time = times[change.seq] - self.origin if change.seq in times else None
        self._name(roles)
        name_objects(self.objects)
        held = [change.entry for change in self.changes if change.entry is not None]
        channels, messages, unmatched = self.io.match(self.objects, self.calls, held)
        trace = Trace(
            self.processes,
            self.calls,
            self.objects,
            self.changes,
            messages,
            unmatched,
            [],
            self.marks,
            origin=self.origin,
            channels=channels,
            passes=self.passes,
        )
        trace.waits = waits.find(trace, self.io)
        _classify(trace)
        trace.unmatched = [u for u in trace.unmatched if not self.calls[u.call].noise]
        trace.steps = _steps(trace)
        self.trace = trace

    # -- the time line -------------------------------------------------------------------------
    def _place(self, sources: list) -> list:
        """Every record gets ``seq`` (where it began) and ``end_seq`` on one merged time line."""
        per_source = [
            sorted(
                [(r.time, r.source, r.line, r, False) for r in records]
                + [
                    (r.end_time, r.source, r.end_line, r, True)
                    for r in records
                    if isinstance(r, Syscall) and r.split and r.end_line is not None
                ],
                key=lambda m: m[2],
            )  # each text in its own order: the order of its lines
            for records in sources
        ]
        moments = list(heapq.merge(*per_source, key=lambda m: (m[0], m[1])))  # texts interleaved by time
        times = [m[0] for m in moments]
        for seq, (_, _, _, record, is_end) in enumerate(moments):
            if is_end:
                record.end_seq = float(seq)
            else:
                record.seq = float(seq)
        records = [m[3] for m in moments if not m[4]]
        for record in records:
            if not isinstance(record, Syscall) or record.split:
                continue
            if (
                record.end_line is None
                or record.result is None
                and record.errno is None
                and record.name not in ("exit", "exit_group")
            ):
                record.end_seq = None  # still in progress when the text ended
            elif len(sources) == 1 or record.duration is None:
                record.end_seq = record.seq + 0.5  # printed whole: it returned before the next line
            else:  # traced apart: place its end among the other texts' records by time
                record.end_seq = max(record.seq + 0.5, bisect_right(times, record.end_time) - 0.5)
        for record in records:
            if isinstance(record, Syscall) and record.split and record.end_line is None:
                record.end_seq = None
        return records

    def _tasks(self) -> dict:
        """Task id -> process id, from every clone: a thread belongs to the process that made it."""
        parent_of = {}
        for record in self.records:
            if (
                isinstance(record, Syscall)
                and record.name in ("clone", "clone3", "fork", "vfork")
                and record.result
                and record.result > 0
            ):
                parent_of[record.result] = (record.pid, "CLONE_THREAD" in _flags(record))
        tasks = {}

        def pid_of(tid: int, depth: int = 0) -> int:
            parent, thread = parent_of.get(tid, (None, False))
            return pid_of(parent, depth + 1) if thread and depth < 64 else tid

        for record in self.records:
            tasks.setdefault(record.pid, pid_of(record.pid))
        for tid in parent_of:
            tasks.setdefault(tid, pid_of(tid))
        return tasks

    def _call(self, index: int, record: Syscall) -> Call:
        record.index = index
        end = None if record.end_seq is None else (record.end_time or record.time) - self.origin
        pid = self.task_pid.get(record.pid, record.pid)
        lecture = lecture_name(record.name, record.args, record.result_text)
        if record.name == "exit" and self.threads_of.get(pid, 1) > 1:
            lecture = "thread ends"  # exit ends one thread (exit_group, the process): its process goes on
        return Call(
            index=index,
            pid=pid,
            tid=record.pid,
            name=record.name,
            lecture=lecture,
            args=record.args,
            result=record.result,
            errno=record.errno,
            seq=record.seq,
            end_seq=record.end_seq,
            start=record.time - self.origin,
            end=end,
            text=record.text,
            strace_text=record.source,
            strace_line=record.line,
            source=_source(record),
            stack=record.stack,
        )

    # -- replaying the effects -----------------------------------------------------------------
    def _replay(self) -> None:
        effects = []
        for record in self.records:
            if isinstance(record, Syscall):
                if record.name in ("clone", "clone3", "fork", "vfork"):
                    effects.append((record.seq, 0, record))  # the child exists from here
                else:
                    effects.append((record.seq if record.end_seq is None else record.end_seq, 1, record))
            else:
                effects.append((record.seq, 1, record))
        for _, _, record in sorted(effects, key=lambda e: (e[0], e[1], e[2].seq)):
            self._process(record.pid, record.seq, record.time, record.source)
            if isinstance(record, Syscall):
                self._effect(self.calls[record.index], record)
            elif isinstance(record, Signal):
                self._signal(record)
            else:
                self._exit(record)

    def _process(self, tid: int, seq: float, time: float, source: int = 0) -> Process:
        pid = self.task_pid.get(tid, tid)
        if pid not in self.processes:
            self.processes[pid] = Process(pid, threads=[pid], seq=seq, start=time - self.origin, strace_text=source)
            self.io.sources[pid] = source
            self.tables[pid] = {}
        process = self.processes[pid]
        if tid not in process.threads:
            process.threads.append(tid)
        return process

    def _effect(self, call: Call, record: Syscall) -> None:
        pid, name = call.pid, call.name
        for fd in _fds(record.args, deep=name in POLLS):
            if fd.number >= 0:
                call.fds.append(fd.number)
                call.objects.append(self._resolve(pid, fd, call).id)
        if name in ("clone", "clone3", "fork", "vfork"):
            return self._fork(call, record)
        if name in POLLS:
            self._watch(call, record)
        if name in ("open", "openat", "openat2", "creat") and record.result_fd is None:
            path = _path(record.args, 1 if name in ("openat", "openat2") else 0)
            if path in self.paths:  # an open still waiting (a FIFO), or one that failed: still about that object
                call.objects.append(self.paths[path])
        if not record.ok and name != "connect":
            return
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(call, record)
        elif name in CREATE_FD and record.result_fd is not None:
            self._open(call, record)
        if name in WRITES or name in READS or name == "vmsplice":
            self.io.record(call, record, self._objects_of(call), self._entry(pid, call.fds[0] if call.fds else -1))
        elif name in MOVES:
            self._move(call, record)

    # Where a move's fds and offsets are among its arguments: (source, destination, source's offset, destination's)
    MOVE_ARGUMENTS = {"splice": (0, 2, 1, 3), "tee": (0, 1, None, None), "sendfile": (1, 0, 2, None),
                      "copy_file_range": (0, 2, 1, 3)}  # fmt: skip

    def _move(self, call: Call, record: Syscall) -> None:
        if call.name not in self.MOVE_ARGUMENTS:
            return
        sides = []
        for fd_at, offset_at in zip(self.MOVE_ARGUMENTS[call.name][:2], self.MOVE_ARGUMENTS[call.name][2:]):
            fd = record.args[fd_at] if len(record.args) > fd_at else None
            if not isinstance(fd, Fd):
                return
            offset = record.args[offset_at] if offset_at is not None and len(record.args) > offset_at else None
            given = offset[0] if isinstance(offset, list) and offset and isinstance(offset[0], int) else None
            sides.append((self._resolve(call.pid, fd, call), fd.target, self._entry(call.pid, fd.number), given))
        self.io.move(call, record, *sides)

    def _objects_of(self, call: Call) -> list:
        return [self.objects[key] for key in call.objects]

    def _entry(self, pid: int, fd: int) -> Optional[FdEntry]:
        return self.tables.get(pid, {}).get(fd)

    def _resolve(self, pid: int, fd: Fd, call: Optional[Call]) -> KernelObject:
        """The object an fd means: from the process's table when the decoration agrees, else from the decoration."""
        entry = self.tables[pid].get(fd.number)
        if entry is not None and compatible(self.objects[entry.object], fd.target):
            obj = self.objects[entry.object]
            update(obj, fd.target)
            return obj
        obj = self._object(fd.target) if fd.target is not None else self._unknown(fd.number)
        end = "read" if fd.number == 0 else "write" if fd.number in (1, 2) else "both"
        self._set(
            pid,
            fd.number,
            FdEntry(fd.number, obj.id, end, open_file=self._new_open_file()),
            call.seq if call else 0.0,
            None,
            "open before the trace" if entry is None else "found open",
        )
        return obj

    def _object(self, target, created_by: Optional[int] = None) -> KernelObject:
        key = object_key(target)
        if target.kind == "path" and target.path in self.paths:
            key = self.paths[target.path]
        if key not in self.objects:
            self.objects[key] = new_object(target, key)
            self.objects[key].created_by = created_by
        obj = self.objects[key]
        update(obj, target)
        return obj

    def _unknown(self, number: int) -> KernelObject:
        key = f"other:fd{number}"
        self.objects.setdefault(key, KernelObject(key, "other", "", interesting=False))
        return self.objects[key]

    def _new_open_file(self) -> int:
        self.open_files += 1
        return self.open_files

    def _set(self, pid: int, fd: int, entry: Optional[FdEntry], seq: float, call: Optional[int], why: str) -> None:
        table = self.tables[pid]
        old = table.pop(fd, None)
        if entry is not None:
            table[fd] = entry
        elif old is None:
            return
        self.changes.append(FdChange(seq, pid, fd, entry, call, why))
        if old is not None and (entry is None or entry.object != old.object):
            self.io.released(old, self.objects[old.object], self._holders(old.object), seq, call, pid)

    def _holders(self, key: str) -> list:
        return [entry for table in self.tables.values() for entry in table.values() if entry.object == key]

    # -- process life ----------------------------------------------------------------------------
    def _fork(self, call: Call, record: Syscall) -> None:
        child = record.result
        if not child or child < 0 or self.task_pid.get(child, child) != child:
            return  # failed, or a thread: it shares its process's fds
        process = self._process(child, record.seq, record.time)
        parent = self.processes[call.pid]
        process.parent, process.created_by, process.programs = call.pid, call.index, list(parent.programs[-1:])
        process.commands = list(parent.commands[-1:])
        for fd, entry in sorted(self.tables[call.pid].items()):
            self._set(
                child,
                fd,
                FdEntry(fd, entry.object, entry.end, entry.cloexec, entry.open_file),
                record.seq,
                call.index,
                "inherited at fork",
            )

    def _on_execve(self, call: Call, record: Syscall) -> None:
        path = record.args[0].value if record.args and isinstance(record.args[0], Data) else b"?"
        argv = record.args[1] if len(record.args) > 1 and isinstance(record.args[1], list) else []
        self.processes[call.pid].programs.append(program_name(path, argv))
        words = [a.value.decode("utf-8", "backslashreplace") for a in argv if isinstance(a, Data)]
        self.processes[call.pid].commands.append(words)
        for fd, entry in sorted(self.tables[call.pid].items()):
            if entry.cloexec:
                self._set(call.pid, fd, None, call.end_seq, call.index, "close-on-exec at execve")

    _on_execveat = _on_execve

    def _on_wait4(self, call: Call, record: Syscall) -> None:
        child = self.processes.get(record.result or 0)
        if child is not None and record.result > 0:
            child.reaped_by = call.index

    def _exit(self, record: Exit) -> None:
        pid = self.task_pid.get(record.pid, record.pid)
        process = self.processes[pid]
        text = f"killed by {record.signal}" if record.signal else f"exited {record.code}"
        kind = "killed" if record.signal else "exit" if record.pid == pid else "thread-exit"
        self.marks.append(Mark(record.seq, record.time - self.origin, pid, record.pid, kind, text))
        if record.pid != pid:
            return  # a thread ended; its process goes on
        process.end_seq, process.end = record.seq, record.time - self.origin
        process.exit_code, process.killed_by = record.code, record.signal
        for fd in sorted(self.tables[pid]):
            self._set(pid, fd, None, record.seq, None, "closed at exit")

    def _signal(self, record: Signal) -> None:
        sender = record.info.fields.get("si_pid") if record.info else None
        pid = self.task_pid.get(record.pid, record.pid)
        self.marks.append(
            Mark(
                record.seq,
                record.time - self.origin,
                pid,
                record.pid,
                "signal",
                record.name,
                sender if isinstance(sender, int) and sender in self.task_pid else None,
            )
        )

    # -- names ----------------------------------------------------------------------------------
    def _name(self, roles: dict) -> None:
        for call in self.calls:
            if call.name in WRITES and call.result and call.result > 0:
                data = _data(call.args)
                for role, pid, text in labelled_lines(data.value if data else b""):
                    if pid == call.pid:
                        self.processes[call.pid].role = self.processes[call.pid].role or role
                        call.kind, call.note = "log", text
        for pid, role in roles.items():
            if pid in self.processes:
                self.processes[pid].role = role


def _data(args: list) -> Optional[Data]:
    return next((a for a in args if isinstance(a, Data)), None)


def _classify(trace: Trace) -> None:
    mark_files(trace)
    waited = {wait.call for wait in trace.waits}
    for call in trace.calls:
        classify(call, trace, waited)


def _steps(trace: Trace) -> list:
    # A call's step is where it began; the state shown with it includes what the call did (its new
    # fds, its bytes), except for a call that waited: that comes with its "return" step.
    steps = [Step(c.seq, c.start, "call", c.pid, call=c.index, tid=c.tid) for c in trace.calls if not c.noise]
    steps += [
        Step(w.end_seq, w.end, "return", w.pid, call=w.call, tid=w.tid)
        for w in trace.waits
        if w.end_seq is not None and not trace.calls[w.call].noise
    ]
    steps += [
        Step(m.seq, m.time, m.kind if m.kind == "signal" else "exit", m.pid, mark=i, tid=m.tid)
        for i, m in enumerate(trace.marks)
        if m.text != "SIGCHLD"
    ]
    return sorted(steps, key=lambda s: (s.seq, s.kind == "return"))
