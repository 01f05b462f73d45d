"""Waits: every call that blocked, for how long, and what ended it. Pure.

A call waited when something another process did, while it was in the
call, is what let it return: the write whose bytes a read got, the close
that gave it end of file, the connect an accept took, the open of a FIFO's
other end, the exit a wait4 collected, the read that made room for a write.
On the merged time line that act lies between the call's beginning and its
return. A call that never returned (a deadlock) or that a signal cut short
is a wait too. Times under strace are slow; the order is exact.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Optional

from ..syscalls import FAMILIES, WOULD_BLOCK, Family
from .channels import stream_channel
from .model import Trace, Wait
from .names import MOVES, POLLS, READS, WRITES
from .strace import Fd, Struct

# The calls that can wait for another process (ipc.syscalls' families); whom they wait for is
# ipc.waitfor's to say, from ipc.trace.snapshot.
BLOCKING = frozenset().union(
    *(
        FAMILIES[f]
        for f in (
            Family.READ,
            Family.WRITE,
            Family.MOVE,
            Family.POLL,
            Family.ACCEPT,
            Family.CONNECT,
            Family.OPEN,
            Family.CHILD_WAIT,
            Family.SIGNAL_WAIT,
        )
    )
) | {"vfork"}  # fmt: skip (vfork: the parent waits until its child execs or exits)
INTERRUPTED = {"EINTR", "ERESTARTSYS", "ERESTARTNOHAND", "ERESTARTNOINTR", "ERESTART_RESTARTBLOCK"}
BIG_WRITE = 4096  # a write this long can meet a full buffer; a shorter one split by a reader is not taken for a wait
LONG = 0.005  # s: a call this long with no traced cause waited for something outside the trace
SKEW = 0.005  # s: how late one strace's clock reading may be against another's (each stamps a line when it gets to it)


def find(trace: Trace, io) -> list:
    finder = _Finder(trace, io)
    return [wait for call in trace.calls if call.name in BLOCKING and (wait := finder.wait(call)) is not None]


class _Finder:
    def __init__(self, trace: Trace, io):
        self.trace, self.io = trace, io
        self.read_channel: dict = {}
        self.write_op: dict = {}
        for channel in io.channels.values():
            for op in channel.reads:
                self.read_channel[op.call] = channel
            for op in channel.writes:
                self.write_op[op.call] = (channel, op)
        self.events: dict = {}
        self.time_at: dict = {}  # place on the time line -> seconds
        for c in trace.calls:
            self.time_at[c.seq] = c.start
            if c.end_seq is not None:
                self.time_at.setdefault(c.end_seq, c.end)
        for mark in trace.marks:
            self.time_at.setdefault(mark.seq, mark.time)
        self.first_message: dict = {}
        for message in trace.messages:
            if message.reader not in self.first_message or message.offset < self.first_message[message.reader].offset:
                self.first_message[message.reader] = message

    def label(self, pid: Optional[int]) -> str:
        process = self.trace.processes.get(pid)
        return process.label if process else f"process {pid}"

    def task(self, cause: Optional[int], pid: int) -> str:
        """Who did it: a process by its label; a thread of a process that has several, by pid/tid (a thread
        woken by another thread of its own process is not woken by "itself")."""
        tid = self.trace.calls[cause].tid if cause is not None else pid
        return self.trace.task_label(pid, tid) if pid in self.trace.processes else self.label(pid)

    def wait(self, call) -> Optional[Wait]:
        source = self.trace.processes[call.pid].strace_text

        def during(seq: Optional[float], pid: Optional[int] = None) -> bool:
            """Did the act at ``seq`` (by ``pid``) happen while the call waited? Within one strace text,
            by the order of its lines; across two, by their clocks, which may run a little late."""
            if seq is None:
                return False
            if pid is None or self.trace.processes[pid].strace_text == source:
                return call.seq < seq and (call.end_seq is None or seq <= call.end_seq)
            moment = self.time_at.get(seq)
            return moment is not None and call.start < moment and (call.end is None or moment <= call.end + SKEW)

        found = self._cause(call, during)
        obj = self.trace.objects.get(call.objects[0]) if call.objects else None
        if found is None and obj is not None and obj.kind == "file":
            return None
        if found is None:
            found = self._fallback(call, obj)
        if found is None:
            return None
        reason, cause, cause_pid, signal = found
        cause_tid = self.trace.calls[cause].tid if cause is not None else cause_pid
        return Wait(
            call.index,
            call.pid,
            call.tid,
            call.seq,
            call.end_seq,
            call.start,
            call.end,
            self.what(call, obj),
            reason,
            cause,
            cause_pid,
            signal,
            cause_tid,
        )

    def what(self, call, obj) -> str:
        if call.name in ("wait4", "waitid"):
            target = call.args[0] if call.args and isinstance(call.args[0], int) and call.args[0] > 0 else None
            return f"{call.name} for {self.label(target) if target else 'any child'}"
        if call.name in POLLS and call.watched:  # a wait on a set of fds: each named
            fds = dict.fromkeys(fd for fd, _ in call.watched)
            named = [f"fd {fd} ({self.trace.objects[key].label})" if (key := self._object_of(call, fd)) else f"fd {fd}"
                     for fd in fds]  # fmt: skip
            return f"{call.name} on " + ", ".join(named)
        if obj is None:
            return call.name
        if call.name in ("open", "openat", "openat2"):
            return f"{call.name} {obj.label}"
        return f"{call.name} fd {call.fds[0]} ({obj.label})" if call.fds else f"{call.name} ({obj.label})"

    def _cause(self, call, during) -> Optional[tuple]:
        calls = self.trace.calls
        if (call.name in READS or call.name in MOVES) and (channel := self.read_channel.get(call.index)) is not None:
            message = self.first_message.get(call.index)
            if message is not None:
                writer = calls[message.writer]
                # the bytes went in while it waited
                if during(writer.seq, writer.pid) or during(writer.end_seq, writer.pid):
                    verb = "sent a datagram" if channel.kind == "datagram" else "wrote"
                    return f"until {self.task(writer.index, writer.pid)} {verb}", writer.index, writer.pid, None
            elif call.result == 0 and channel.kind == "stream":
                for seq, closer, pid in channel.eofs:
                    if during(seq, pid):
                        how = "exited" if closer is None else f"{_closed(calls[closer])} {channel.label}"
                        return f"end of file: {self.task(closer, pid)} {how}", closer, pid, None
        if call.name in WRITES and call.errno == "EPIPE" and call.objects:  # it waited; then the reader went away
            channel = self.io.channels.get(call.objects[0])
            for seq, closer, pid in channel.readers_gone if channel is not None else []:
                other = pid != call.pid or (closer is not None and self.trace.calls[closer].tid != call.tid)
                if during(seq, pid) and other:
                    how = "exited" if closer is None else "closed the last read end"
                    return f"until {self.task(closer, pid)} {how}: EPIPE", closer, pid, None
        if call.name in WRITES and call.index in self.write_op:
            channel, op = self.write_op[call.index]
            if channel.kind == "stream" and (op.length >= BIG_WRITE) and call.end_seq is not None:
                asked = call.args[2] if len(call.args) > 2 and isinstance(call.args[2], int) else op.length
                signal = self._signal_after(call) if op.length < asked else None  # cut short: a signal came
                for read in channel.reads:
                    unread = read.offset + read.length < op.offset + op.length  # the write still had bytes to put in
                    if read.tid != call.tid and during(read.end_seq, read.pid) and unread:
                        then = f", then interrupted by {signal} ({op.length} of {asked} bytes written)" * bool(signal)
                        return (
                            f"until {self.task(read.call, read.pid)} read (the buffer was full){then}",
                            read.call,
                            read.pid,
                            signal,
                        )
        if call.name in ("accept", "accept4") and call.objects:
            accepted = self.trace.objects[call.objects[-1]]
            for connect, obj in self.io.connects:
                same = obj.id == accepted.peer or (
                    obj.kind == "tcp" and obj.local == accepted.remote and obj.remote == accepted.local
                )
                if same and during(connect.seq, connect.pid):
                    return f"until {self.task(connect.index, connect.pid)} connected", connect.index, connect.pid, None
        if call.name in ("open", "openat", "openat2"):
            mine = next(((obj, end) for c, obj, end in self.io.fifo_opens if c.index == call.index), None)
            for other, obj, end in self.io.fifo_opens:
                opposite = mine and obj.id == mine[0].id and other.pid != call.pid and end != mine[1]
                if opposite and during(other.seq, other.pid):
                    return (
                        f"until {self.task(other.index, other.pid)} opened the other end",
                        other.index,
                        other.pid,
                        None,
                    )
        if call.name in ("wait4", "waitid") and call.result and call.result > 0:
            child = self.trace.processes.get(call.result)
            if child is not None and during(child.end_seq, child.pid):
                return f"until {child.label} {child.ending}", None, child.pid, None
        if call.name == "vfork" and call.result and call.result > 0 and call.result in self.trace.processes:
            child = self.trace.processes[call.result]
            execve = next((c for c in self.trace.calls if c.pid == child.pid and c.name in ("execve", "execveat")
                           and c.errno is None), None)  # fmt: skip
            if execve is not None and (during(execve.seq, child.pid) or during(execve.end_seq, child.pid)):
                return f"until {child.label} called execve", execve.index, child.pid, None
            if during(child.end_seq, child.pid):
                return f"until {child.label} {child.ending}", None, child.pid, None
        if call.name in POLLS:
            return self._poll_cause(call, during)
        return None

    def _poll_cause(self, call, during) -> Optional[tuple]:
        """What woke a wait on a set of fds: the first act of another task, while it waited, on the channel of
        a fd it returned as ready (or, where strace does not say which, of any fd it watched)."""
        if call.result == 0 and call.errno is None:
            return None if call.end is None or call.duration < LONG else ("timed out", None, None, None)
        best = None
        ready = set(call.ready) if call.ready else None
        for fd in dict.fromkeys(fd for fd, want in call.watched or [] if want == "read"):
            if ready is not None and fd not in ready:
                continue
            obj = self.trace.objects.get(self._object_of(call, fd))
            if obj is None:
                continue
            target = next((a.target for a in _fd_arguments(call.args) if a.number == fd), None)
            name = (
                f"dgram:{obj.local or obj.id}"
                if obj.kind in ("udp", "unix-dgram")
                else stream_channel(obj, target, False)
            )
            seqs, events = self._events(name, obj)
            for seq, cause, pid, verb, began in events[bisect_right(seqs, call.seq) :]:
                moment = self.time_at.get(seq)
                if (best is not None and seq >= best[0]) or (
                    call.end_seq is not None and seq > call.end_seq and (moment is None or moment > call.end + SKEW)
                ):
                    break  # past the end of the wait, even by a late clock
                # a write whose return strace printed late still woke the poll if it began during it
                mine = cause is not None and self.trace.calls[cause].tid == call.tid
                if (
                    not mine
                    and (pid != call.pid or cause is not None)
                    and (during(seq, pid) or (began is not None and during(began, pid)))
                ):
                    best = (seq, cause, pid, f"{verb} (fd {fd}, {obj.label})")
                    break
        if best is None:
            return None
        return f"until {self.task(best[1], best[2])} {best[3]}", best[1], best[2], None

    def _events(self, name: str, obj) -> tuple:
        """What could wake a poll on a channel: (places, events), in order of place; worked out once."""
        if name not in self.events:
            channel = self.io.channels.get(name)
            events = []
            if channel is not None:
                verb = "sent a datagram" if channel.kind == "datagram" else "wrote"
                events += [
                    (op.end_seq, op.call, op.pid, verb, op.seq) for op in channel.writes if op.end_seq is not None
                ]
                events += [(seq, closer, pid, "closed", None) for seq, closer, pid in channel.eofs]
            if obj.listening:
                events += [
                    (c.seq, c.index, c.pid, "connected", None)
                    for c, o in self.io.connects
                    if o.remote and obj.local and o.remote == obj.local
                ]
            events.sort(key=lambda event: event[0])
            self.events[name] = ([event[0] for event in events], events)
        return self.events[name]

    def _object_of(self, call, fd: int) -> Optional[str]:
        return next((key for number, key in zip(call.fds, call.objects) if number == fd), None)

    def _fallback(self, call, obj) -> Optional[tuple]:
        process = self.trace.processes[call.pid]
        if call.end_seq is None:
            if process.killed_by:
                return f"killed by {process.killed_by} while waiting", None, None, process.killed_by
            if process.end_seq is not None:
                return f"ended when its process {process.ending}", None, None, None
            return "still blocked when the trace ended", None, None, None
        if call.errno in INTERRUPTED:
            signal = self._signal_after(call)
            return f"interrupted by {signal or 'a signal'}", None, None, signal or "?"
        interesting = obj is None or obj.interesting
        if call.errno in WOULD_BLOCK:  # non-blocking: slow only because strace stopped it
            return None
        if call.duration is not None and call.duration >= LONG and interesting and call.name not in WRITES:
            return "until something outside the trace", None, None, None
        return None

    def _signal_after(self, call) -> Optional[str]:
        """The signal that cut a call short: the first one its task got after the call began."""
        return next(
            (
                m.text
                for m in self.trace.marks
                if m.kind == "signal" and m.tid == call.tid and m.seq > call.seq and m.text != "SIGCHLD"
            ),
            None,
        )


def _fd_arguments(values: list) -> list:
    """Every fd among a call's arguments, inside lists and structures too (a poll's, a select's sets)."""
    found = []
    for value in values:
        if isinstance(value, Fd):
            found.append(value)
        elif isinstance(value, list):
            found += _fd_arguments(value)
        elif isinstance(value, Struct):
            found += _fd_arguments(list(value.fields.values()))
    return found


def _closed(call) -> str:
    """How a call ended a stream's sending side: ``closed``, or a half-close, which is no close at all."""
    how = str(call.args[1]) if call.name == "shutdown" and len(call.args) > 1 else ""
    return f"shut down ({how}) its sending side of" if how else "closed"
