"""What the lecture warns about, found in a trace of any program. Pure: the trace model in, findings out.

Each rule reads the model (ipc.trace.model: processes, fd tables over time,
calls, waits) and says, with the calls and processes as evidence:

    fd-leak              a socket a process got (at fork, or kept across exec without close-on-exec)
                         and never used nor closed, while another process uses it
    unused-pipe-end      a pipe or FIFO end held, never used, never closed, while another process
                         uses the pipe: a reader never sees end of file, a writer never gets EPIPE
    listener-inherited   a child that got the listening socket at fork and never closed it
    zombie               a child that ended and was never collected by waitpid() while its parent lived on
    short-write          a write or send that took fewer bytes than asked, whose rest was never written
    one-recv-one-message a read that ended in the middle of a line, answered at once: one recv()
                         taken for one message, on a stream that keeps no boundaries
    read-before-write    a process stuck reading its reply before it wrote a request (the deadlock
                         order): who waits for whom is ipc.waitfor's judgement of the trace
    file-left            a socket file or FIFO made and never unlinked

Source lines are the model's (each call's source, ipc.trace.sources); the findings carry call indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ..protocol import MAX_MESSAGE_BYTES
from ..trace.describe import describe, parts, show_bytes
from ..trace.model import Call, FdChange, Trace
from ..trace.names import READS, WRITES
from ..trace.strace import Data, Struct

IPC_KINDS = {"pipe", "fifo", "unix-stream", "unix-dgram", "tcp", "udp", "socket"}
STREAMS = {"pipe", "fifo", "unix-stream", "tcp"}
ENDED_FROM_OUTSIDE = ("SIGTERM", "SIGKILL", "SIGINT", "SIGHUP")

RULES = {  # name -> (what the check is called, the lesson in a line)
    "fd-leak": (
        "no fd leaked into a child or across exec",
        "close in the child what only the parent uses (and the parent what it gave the child); "
        "open with close-on-exec (O_CLOEXEC, SOCK_CLOEXEC) what must not cross exec",
    ),
    "unused-pipe-end": (
        "every unused pipe end closed",
        "after fork() each process closes the ends it does not use: a reader sees end of file only once "
        "every write end is closed, its own copies included",
    ),
    "listener-inherited": (
        "the listening socket closed in each child",
        "a forked child serves its one connection: it closes its copy of the listening socket at once",
    ),
    "zombie": (
        "every child waited for",
        "a child that ended stays a zombie until its parent collects it with waitpid() (or the parent ignores SIGCHLD)",
    ),
    "short-write": (
        "every short write completed",
        "write() and send() may take fewer bytes than asked: loop until every byte is written (sendall)",
    ),
    "one-recv-one-message": (
        "whole messages read before answering",
        "a stream keeps no boundaries: one recv() may hold part of a message, or several; read until the newline",
    ),
    "read-before-write": (
        "the request written before the reply is read",
        "if both sides read first, each waits for the other for ever: the client writes its request, then reads",
    ),
    "file-left": (
        "socket files and FIFOs removed",
        "a socket file or FIFO outlives its process until unlinked: the next bind() there fails with "
        "EADDRINUSE; remove it on every way out (SIGTERM too)",
    ),
}


@dataclass
class Finding:
    rule: str
    text: str  # what happened, in the lecture's words
    pids: list = field(default_factory=list)
    calls: list = field(default_factory=list)  # indexes into trace.calls: the evidence, in order

    @property
    def title(self) -> str:
        return RULES[self.rule][0]

    @property
    def lesson(self) -> str:
        return RULES[self.rule][1]


def lint(
    trace: Trace,
    mine: Optional[Callable[[int], bool]] = None,
    lines: bool = True,
) -> list[Finding]:
    """Every finding in the trace, about the processes ``mine`` accepts (default: all). ``lines``: the
    streams carry the exchange's lines (the one-recv rule applies)."""
    mine = mine or (lambda pid: True)
    found = []
    found += _held_and_unused(trace, mine)
    found += _zombies(trace, mine)
    found += _short_writes(trace, mine)
    if lines:
        found += _one_recv(trace, mine)
    found += _read_before_write(trace, mine)
    found += _files_left(trace, mine)
    return found


# -- holdings: an fd, from when a process got it to when it let it go --------------------------------------------


@dataclass
class Holding:
    pid: int
    fd: int
    object: str
    got: FdChange
    lost: Optional[FdChange]  # None: still open when the trace ended


def holdings(trace: Trace) -> list[Holding]:
    """Every fd of every process, with the change that gave it and the change that took it away."""
    found, open_now = [], {}
    for change in trace.fd_changes:
        key = (change.pid, change.fd)
        if key in open_now:
            holding = open_now.pop(key)
            holding.lost = change
            found.append(holding)
        if change.entry is not None:
            open_now[key] = Holding(change.pid, change.fd, change.entry.object, change, None)
    return found + list(open_now.values())


def fd_calls(trace: Trace) -> dict:
    """(pid, fd) -> the calls of that process that named that fd, in order."""
    found: dict = {}
    for call in trace.calls:
        for fd in dict.fromkeys(call.fds):
            found.setdefault((call.pid, fd), []).append(call)
    return found


def _uses(by_fd: dict, holding: Holding) -> list[Call]:
    """The calls of the holder that used the fd while it held it (the call that gave it left out)."""
    end = holding.lost.seq if holding.lost is not None else float("inf")
    return [
        call
        for call in by_fd.get((holding.pid, holding.fd), ())
        if holding.got.seq < call.seq <= end
        and call.index != holding.got.call
        and not (holding.lost is not None and call.index == holding.lost.call and call.name in ("close", "dup2"))
    ]


def _let_go(holding: Holding) -> bool:
    """Closed by a call of its own (close, dup2 over it, close-on-exec), not only at exit or never."""
    lost = holding.lost
    return lost is not None and (lost.call is not None or lost.why == "close-on-exec at execve")


def _held_and_unused(trace: Trace, mine) -> list[Finding]:
    """An fd held to the end, never used, while another process used the same end and let it go: the harm is
    done then (a reader waits for an end of file that this copy holds back), not before (a writer that has not
    written yet may still mean to)."""
    all_holdings = holdings(trace)
    by_fd = fd_calls(trace)
    used = {id(holding) for holding in all_holdings if _uses(by_fd, holding)}
    by_object: dict[str, list] = {}
    for holding in all_holdings:
        by_object.setdefault(holding.object, []).append(holding)
    findings, seen = [], set()
    for holding in all_holdings:
        obj = trace.objects.get(holding.object)
        if obj is None or obj.kind not in IPC_KINDS or obj.created_by is None or holding.fd <= 2:
            continue
        if not mine(holding.pid) or _let_go(holding) or id(holding) in used or (holding.pid, obj.id) in seen:
            continue
        if obj.listening and holding.got.why == "inherited at fork":
            seen.add((holding.pid, obj.id))
            findings.append(_unused(trace, holding, obj, []))
            continue
        held_until = holding.lost.seq if holding.lost is not None else float("inf")
        done = [
            other
            for other in by_object[holding.object]
            if other.pid != holding.pid
            and other.got.entry.end == holding.got.entry.end
            and id(other) in used
            and other.lost is not None
            and other.lost.seq < held_until
        ]
        if done:
            seen.add((holding.pid, obj.id))
            findings.append(_unused(trace, holding, obj, sorted({other.pid for other in done})))
    return findings


def _unused(trace: Trace, holding: Holding, obj, others: list) -> Finding:
    process = trace.processes[holding.pid]
    entry = holding.got.entry
    how = holding.got.why
    evidence = [i for i in (obj.created_by, holding.got.call) if i is not None]
    users = ", ".join(trace.processes[pid].label for pid in others)  # who used that end, and let it go
    execs = [
        call
        for call in trace.calls
        if call.pid == holding.pid
        and call.name in ("execve", "execveat")
        and call.result == 0
        and call.seq > holding.got.seq
        and (holding.lost is None or call.seq < holding.lost.seq)
    ]
    kept = " and kept it across execve (not close-on-exec)" if execs and not entry.cloexec else ""
    evidence += [call.index for call in execs[:1]]
    end = f"the {entry.end} end of " if obj.kind in ("pipe", "fifo") and entry.end in ("read", "write") else ""
    what = f"{end}{obj.label} (fd {holding.fd})"
    got = "inherited at fork" if how == "inherited at fork" else f"from {how}"
    text = f"{process.label} never closed {what}, {got}{kept}, and never used it; {users} used it and closed it"
    if obj.listening and how == "inherited at fork":
        rule = "listener-inherited"
        text = (
            f"{process.label} inherited the listening socket ({obj.label}, fd {holding.fd}) at fork and never closed it"
        )
    elif obj.kind in ("pipe", "fifo"):
        rule = "unused-pipe-end"
        if entry.end == "write":
            text += ": while it holds a write end, no reader of it sees end of file"
        elif entry.end == "read":
            text += ": while it holds a read end, no writer to it gets EPIPE"
    else:
        rule = "fd-leak"
        if obj.kind in STREAMS:
            text += ": while this copy is open, the peer sees no end of file"
    return Finding(rule, text, [holding.pid], evidence)


# -- zombies ---------------------------------------------------------------------------------------------------


def _ignores_children(trace: Trace, pid: int) -> bool:
    """The parent set SIGCHLD to SIG_IGN or SA_NOCLDWAIT: the kernel collects its children itself."""
    for call in trace.calls:
        if call.pid == pid and call.name == "rt_sigaction" and call.args and call.args[0] == "SIGCHLD":
            if "SIG_IGN" in call.text.split(",", 2)[1] or "SA_NOCLDWAIT" in call.text:
                return True
    return False


def _zombies(trace: Trace, mine) -> list[Finding]:
    findings = []
    for child in trace.processes.values():
        parent = trace.processes.get(child.parent) if child.parent is not None else None
        if parent is None or child.reaped_by is not None or child.end_seq is None or not mine(parent.pid):
            continue
        if parent.end_seq is not None and parent.end_seq < child.end_seq:
            continue  # the parent went first: the orphan went to init, which collects it
        lived_on = [call for call in trace.calls if call.pid == parent.pid and call.seq > child.end_seq]
        ended_from_outside = parent.killed_by in ENDED_FROM_OUTSIDE or any(
            mark.pid == parent.pid and mark.kind == "signal" and mark.text in ENDED_FROM_OUTSIDE
            for mark in trace.marks
            if mark.seq > child.end_seq
        )
        if ended_from_outside and not any(call.name not in ("exit", "exit_group") for call in lived_on):
            continue  # both were ended together, from outside: no time to collect it
        if _ignores_children(trace, parent.pid):
            continue
        when = f"{child.end * 1000:.0f} ms" if child.end is not None else "?"
        text = (
            f"{parent.label} forked {child.label}, which {child.ending} at {when}; {parent.label} never "
            "collected it with waitpid() (wait4), so it stayed a zombie "
            + ("until its parent exited" if parent.end_seq is not None else "to the end")
        )
        findings.append(Finding("zombie", text, [parent.pid, child.pid], [child.created_by]))
    return findings


# -- short writes ----------------------------------------------------------------------------------------------


def _asked(call: Call) -> Optional[int]:
    if call.name in ("write", "send", "sendto", "pwrite64") and len(call.args) > 2 and isinstance(call.args[2], int):
        return call.args[2]
    return None


def _short_writes(trace: Trace, mine) -> list[Finding]:
    findings = []
    for call in trace.calls:
        asked = _asked(call)
        if asked is None or call.result is None or call.result < 0 or call.result >= asked or not mine(call.pid):
            continue
        obj = trace.objects.get(call.objects[0]) if call.objects else None
        if obj is None or obj.kind not in STREAMS:
            continue
        later = [
            other
            for other in trace.calls
            if other.pid == call.pid
            and other.seq > call.seq
            and other.name in WRITES
            and other.objects[:1] == call.objects[:1]
            and (other.result or 0) > 0
        ]
        if later:
            continue
        process = trace.processes[call.pid]
        interrupted = any(wait.call == call.index and wait.signal for wait in trace.waits)
        moved_on = any(other.pid == call.pid and other.seq > call.seq and other.name not in ("exit", "exit_group")
                       for other in trace.calls)  # fmt: skip
        if interrupted or (process.killed_by and not moved_on):
            continue  # ended from outside in the middle of it: it had no chance to write the rest
        text = (
            f"{process.label}: {describe(trace, call)}: asked to write {asked} bytes, the kernel took "
            f"{call.result}, and the other {asked - call.result} were never written"
        )
        findings.append(Finding("short-write", text, [call.pid], [call.index]))
    return findings


# -- one recv taken for one message ----------------------------------------------------------------------------


def _one_recv(trace: Trace, mine) -> list[Finding]:
    streams: dict = {}  # (pid, object) -> its reads and writes, in order
    for call in trace.calls:
        if call.objects and (call.name in READS or call.name in WRITES) and mine(call.pid):
            obj = trace.objects.get(call.objects[0])
            if obj is not None and obj.kind in STREAMS:
                streams.setdefault((call.pid, obj.id), []).append(call)
    findings = []
    for (pid, object_id), calls in streams.items():
        pending = b""  # bytes read since the last newline
        for call, nxt in zip(calls, calls[1:] + [None]):
            if call.name not in READS or not call.result or call.result <= 0 or call.data is None:
                continue
            pending = call.data.rsplit(b"\n", 1)[-1] if b"\n" in call.data else pending + call.data
            if b"\n" in call.data or len(pending) >= MAX_MESSAGE_BYTES or not call.data_complete:
                continue  # whole lines came with it, or a line too long to wait for: an answer (an error) is right
            if nxt is None or nxt.name not in WRITES or (nxt.data or b"").startswith(b"error"):
                continue
            text = (
                f"{trace.processes[pid].label} read {show_bytes(call.data, 30)} from {trace.objects[object_id].label} "
                f"(it ends without a newline: part of a message) and answered at once: {describe(trace, nxt)}"
            )
            findings.append(Finding("one-recv-one-message", text, [pid], [call.index, nxt.index]))
            break  # once per stream: the first is the lesson
    return findings


# -- the deadlock order: a reply read before the request was written -------------------------------------------


def _read_before_write(trace: Trace, mine) -> list[Finding]:
    """Two processes each blocked reading what the other should write (ipc.waitfor's edges, judged on the
    trace as it stood before it was ended): the one that has written nothing yet read first."""
    from ..trace.snapshot import finding as judged
    from ..trace.snapshot import moment

    try:
        resolutions = judged(trace).resolutions
    except Exception:  # a trace the judgement cannot read: no finding rather than a wrong one
        return []
    reading = {r.pid: r for r in resolutions if r.call in READS}
    crossed = {
        pid
        for pid, resolution in reading.items()
        if any(edge.holder != pid and edge.holder in reading for edge in resolution.edges)
    }
    at = moment(trace)  # before whatever ended it from outside: the deadlock as it stood
    findings, readers = [], []
    for wait in trace.waits:
        if wait.seq > at or (wait.end_seq is not None and wait.end_seq <= at):
            continue
        call = trace.calls[wait.call]
        if call.name not in READS or wait.pid not in crossed or not mine(wait.pid) or not call.objects:
            continue
        obj = trace.objects.get(call.objects[0])
        if obj is None or obj.kind not in STREAMS or _accepted(trace, call):
            continue  # (a server reads first on a connection it accepted: the client speaks first)
        wrote = [
            other
            for other in trace.calls[: call.index]
            if other.pid == call.pid
            and other.name in WRITES
            and (other.result or 0) > 0
            and other.objects
            and trace.objects.get(other.objects[0]) is not None
            and trace.objects[other.objects[0]].kind in IPC_KINDS
            and trace.objects[other.objects[0]].created_by is not None
        ]
        if not wrote:
            readers.append(call)
    if len(readers) == 1:
        call = readers[0]
        text = (
            f"{trace.processes[call.pid].label} waits in {parts(trace, call)[0]} for a reply, and has written no "
            "request: its peer waits for that request, so neither ever goes on"
        )
        findings.append(Finding("read-before-write", text, [call.pid], [call.index]))
    elif readers:  # (over pipes there is no telling the client: each read first)
        each = " and ".join(f"{trace.processes[call.pid].label} in {parts(trace, call)[0]}" for call in readers)
        text = (
            f"each waits for the other to write, and neither has written anything: {each}; "
            "one of them must write first (in the exchange, the client sends its request, then reads)"
        )
        findings.append(Finding("read-before-write", text, [c.pid for c in readers], [c.index for c in readers]))
    return findings


def _accepted(trace: Trace, call: Call) -> bool:
    """Whether the fd the call reads was made by accept() in that process (the server's side of a connection)."""
    fd = call.fds[0] if call.fds else None
    change = next(
        (c for c in reversed(trace.fd_changes) if c.pid == call.pid and c.fd == fd and c.seq <= call.seq and c.entry),
        None,
    )
    maker = trace.calls[change.call] if change is not None and change.call is not None else None
    return maker is not None and maker.name in ("accept", "accept4")


# -- files left behind -----------------------------------------------------------------------------------------


def _made_paths(trace: Trace, mine) -> list[tuple]:
    made = []
    for call in trace.calls:
        if call.result != 0 or not mine(call.pid):
            continue
        if call.name == "bind" and len(call.args) > 1 and isinstance(call.args[1], Struct):
            path = call.args[1].fields.get("sun_path")
            if isinstance(path, Data) and path.value and not path.value.startswith(b"\0"):
                made.append(("socket file", path.value.decode("utf-8", "surrogateescape"), call))
        elif call.name in ("mknod", "mknodat"):
            data = next((arg for arg in call.args if isinstance(arg, Data)), None)
            if data is not None and "S_IFIFO" in call.text:
                made.append(("FIFO", data.value.decode("utf-8", "surrogateescape"), call))
    return made


def _files_left(trace: Trace, mine) -> list[Finding]:
    removed = []
    for call in trace.calls:
        if call.name in ("unlink", "unlinkat", "rename", "renameat", "renameat2") and call.result == 0:
            data = next((arg for arg in call.args if isinstance(arg, Data)), None)
            if data is not None:
                removed.append((call.seq, data.value.decode("utf-8", "surrogateescape")))
    findings = []
    for what, path, call in _made_paths(trace, mine):
        if any(seq > call.seq and _same_path(gone, path) for seq, gone in removed):
            continue
        process = trace.processes[call.pid]
        verb = "bound" if what == "socket file" else "made"
        text = f"{process.label} {verb} the {what} {path} and never unlinked it: it is still there after the program"
        findings.append(Finding("file-left", text, [call.pid], [call.index]))
    return findings


def _same_path(a: str, b: str) -> bool:
    if a.startswith("/") and b.startswith("/"):
        return a == b
    return a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]
