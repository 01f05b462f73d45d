"""Which line of a program made each system call: the Python programs' own records, joined to strace's calls. Pure.

A Python program traced by this project carries a start-up hook
(ipc/inject/sitecustomize.py) that, just before each call of the lesson
(os.read, os.fork, sock.recv, select.select, subprocess's fork and exec...),
writes one record into a file of a directory named ``ipc-calls-...``: what it
is about to call, the fd where Python knows it (a socket's), which system
calls that may make, and where: the program's own line (file, line, function)
and, when a library made the call on its behalf, the library's frame too
(``reply = reader.receive()`` in the demo, ``os.read`` inside
``MessageReader.receive``). strace sees that write like any other, in the
same thread, just before the call it announces: so the records travel in the
trace itself, and the join is by thread and order, no clock involved.

The join (``Join``, driven by ipc.trace.instrumentation while it takes the
records' own calls out of a text) gives a record the calls its thread makes
next, up to its next record, that are of the kinds it named (and on its fd,
where both say): one call, or several for the calls that loop (sendall,
os.system), before which the helpers it may need (the poll of a socket with a
timeout) are also its own. A spawning call (subprocess's fork_exec,
posix_spawn) also answers for what its child does before its execve (dup2,
close, execve): that is its C code running. Nothing is guessed: a call no
record names has no source, and ``unknown`` lists the calls of the lesson
made where records were kept that still have none; a record that got no call
(a Python call that should have made one and did not) keeps an empty list.

A compiled program traced with ``strace -k`` has the stack of each call
instead (``Syscall.stack``): ipc.trace.runner asks addr2line for its lines
(``parse_addr2line`` reads its answer) and ``native_source`` picks the
program's own among them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from .strace import Data, Fd

MARKER = "/ipc-calls-"  # the records' directory: tempfile.mkdtemp(prefix="ipc-calls-")
FIELDS = 11  # what, fd, makes, helpers, flags, file, line, function, library file, line, function
LIBRARY_PATHS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/")  # a native stack's libraries
FORKS = ("clone", "clone3", "fork", "vfork")
EXECS = ("execve", "execveat")


@dataclass(frozen=True)
class Frame:
    """A place in a program's code."""

    file: str
    line: Optional[int]  # None: only the function is known (a native program built without -g)
    function: str = ""
    text: str = ""  # the line itself, as the file says it (read after the run)

    @property
    def name(self) -> str:
        return os.path.basename(self.file)

    @property
    def short(self) -> str:
        """``pipe_fork.py:64``: the file's name and the line."""
        return self.name if self.line is None else f"{self.name}:{self.line}"

    @property
    def where(self) -> str:
        """``demos/pipe_fork.py:64``: the path as a person gave it (relative to here when under it)."""
        shown = _shown(self.file)
        if self.line is None:
            return f"{shown} (in {self.function})" if self.function else shown
        return f"{shown}:{self.line}"


@dataclass(frozen=True)
class Source(Frame):
    """Where a call was made: the program's own line; ``library``, the frame of the library that made the call
    for it, when one did (``MessageReader.receive`` making ``os.read``); ``python``, the Python call that made
    it (``os.read``, ``socket.recv``), where a record said so; ``child``: made by the child of that call before
    its execve (subprocess's fork and exec)."""

    library: Optional[Frame] = None
    python: str = ""
    child: bool = False

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "text": self.text,
            "python": self.python or None,
            "library": None if self.library is None else _frame_json(self.library),
            "child": self.child,
        }


def _frame_json(frame: Frame) -> dict:
    return {"file": frame.file, "line": frame.line, "function": frame.function, "text": frame.text}


def parse_addr2line(text: str) -> list:
    """``addr2line --addresses --functions --inlines``'s answer, one group per address asked: its places
    [(path, line, function)], innermost inlined function first; an empty group where it cannot say (no -g)."""
    groups: list = []
    function = None
    for line in text.splitlines():
        if line.startswith("0x"):  # each address's group begins with it, then (function, place) pairs
            groups.append([])
            function = None
        elif groups and function is None:
            function = line.split(" ")[0]
        elif groups:
            path, _, number = line.rpartition(":")
            number = number.split()[0] if number else ""
            if path and path != "??" and number.isdigit() and number != "0":
                groups[-1].append((path, int(number), function))
            function = None
    return groups


def native_source(chain: list, binary: str, function: str) -> Source:
    """Where a compiled program made a call, from its places (``chain``: innermost first, each frame's inlined
    functions, then the frame that called it): the first line in a ``.c`` file, not a header; the header's
    function that line called (exchange.h's ``converse``, which calls ``put``, which calls ``write``) is its
    ``library`` frame, as a Python library's is: its name is on the program's line. No place known (built
    without -g): only the binary and the function strace named."""
    if not chain:
        return Source(binary, None, function.split("+")[0])
    at = next((index for index, place in enumerate(chain) if not place[0].endswith(".h")), 0)
    return Source(*chain[at], library=Frame(*chain[at - 1]) if at else None)


@dataclass
class PythonCall:
    """One record: a Python call a program was about to make, and the system calls it made (``calls``)."""

    tid: int
    time: float  # when it was written (seconds since the epoch; the model makes it relative)
    what: str  # os.read, socket.recv, _posixsubprocess.fork_exec
    fd: int  # -1: not known (os.read's argument is not seen; a socket's fd is)
    makes: tuple  # the system calls it may make: ("read",), ("clone", "clone3", "fork", "vfork")
    helpers: tuple  # calls it may make on its way (a socket with a timeout polls first)
    flags: frozenset  # many: may make several; maybe: may make none (buffered I/O); spawn: its child acts for it
    source: Source
    calls: list = field(default_factory=list)  # the Syscall records it made (call indexes, once the model is built)
    pid: Optional[int] = None  # its process, once the model is built

    @property
    def made_none(self) -> bool:
        """It should have made a system call and none came."""
        return not self.calls and "maybe" not in self.flags


def parse_record(data: bytes, tid: int, time: float) -> Optional[PythonCall]:
    """One record as the hook writes it (tab-separated, one line), or None if it is not one."""
    parts = data.decode("utf-8", "surrogateescape").rstrip("\n").split("\t")
    if len(parts) != FIELDS:
        return None
    what, fd, makes, helpers, flags, file, line, function, library_file, library_line, library_function = parts
    try:
        library = Frame(library_file, int(library_line), library_function) if library_file else None
        source = Source(file, int(line), function, library=library, python=what)
        return PythonCall(tid, time, what, int(fd), tuple(filter(None, makes.split(","))),
                          tuple(filter(None, helpers.split(","))), frozenset(filter(None, flags.split(","))),
                          source)  # fmt: skip
    except ValueError:
        return None


class Join:
    """The join of one strace text's records to its calls, in the text's order (see the module's docstring).

    ``said(write)`` for each write of a record (taken out of the text); ``made(call)`` for every other call,
    in order: it sets ``call.site`` where a record (or a spawning parent's) answers for it."""

    def __init__(self) -> None:
        self.records: list[PythonCall] = []
        self.open: dict[int, _Open] = {}  # tid -> the record still taking its calls
        self.spawned: dict[int, PythonCall] = {}  # a spawned child's tid -> the record of the call that made it

    def said(self, write) -> None:
        data = _written(write)
        for line in data.splitlines(keepends=True) if data else ():
            record = parse_record(line, write.pid, write.time)
            if record is not None:
                self.records.append(record)
                self.open[write.pid] = _Open(record)

    def made(self, call) -> None:
        current = self.open.get(call.pid)
        if current is not None:
            taken = current.take(call)
            if taken:
                self._claim(call, current.record)
                if current.record.flags & {"spawn"} and call.name in FORKS and call.result and call.result > 0:
                    self.spawned[call.result] = current.record
                return
            if current.closed:
                del self.open[call.pid]
        parent = self.spawned.get(call.pid)
        if parent is not None:  # the C code of a spawning call, in the child it made
            self._claim(call, parent, child=True)
            if call.name in EXECS:
                del self.spawned[call.pid]

    def again(self, first, call) -> None:
        """``call`` is ``first`` restarted (the instruments' signal interrupted it): the same call, one site."""
        site = getattr(first, "site", None)
        if site is not None:
            record = site[0]
            record.calls[:] = [call if made is first else made for made in record.calls]
            call.site = site

    def _claim(self, call, record: PythonCall, child: bool = False) -> None:
        record.calls.append(call)
        call.site = (record, child)


class _Open:
    """A record taking its thread's calls: its kinds (and its helpers before and after), on its fd."""

    def __init__(self, record: PythonCall) -> None:
        self.record = record
        self.main = False  # it has taken one of the calls it names
        self.closed = False

    def take(self, call) -> bool:
        record = self.record
        if self.closed:
            return False
        fd = _first_fd(call)
        same_fd = record.fd < 0 or fd is None or fd == record.fd
        if call.name in record.makes and same_fd and (not self.main or "many" in record.flags):
            self.main = True
            return True
        if call.name in record.helpers and same_fd:
            return True
        if self.main and "many" not in record.flags:
            self.closed = True  # its call came and went: what follows is someone else's
        return False


def _first_fd(call) -> Optional[int]:
    first = call.args[0] if call.args else None
    return first.number if isinstance(first, Fd) else None


def _written(write) -> bytes:
    """The bytes a record's write carried: its hex dump where strace made one, else its string."""
    if write.dumped is not None:
        return bytes(write.dumped)
    data = write.args[1] if len(write.args) > 1 else None
    return data.value if isinstance(data, Data) and not data.truncated else b""


def on_records(record) -> bool:
    """Whether a call is the hook's own: on its directory's files (the open, the dup onto fd 250, the writes)."""
    for value in [*record.args, record.result_fd]:
        if isinstance(value, Fd) and value.target is not None and MARKER in value.target.text:
            return True
        if isinstance(value, Data) and MARKER.encode() in value.value:
            return True
    return False


# -- what the model says about it -----------------------------------------------------------------------

IPC_KINDS = ("pipe", "fifo", "unix-stream", "unix-dgram", "tcp", "udp", "socket")
LESSON_CALLS = {  # the lecture's calls that must have a source where a program kept records
    "pipe", "pipe2", "clone", "clone3", "fork", "vfork", "dup2", "dup3", "execve", "mknod", "mknodat", "socket",
    "socketpair", "bind", "listen", "accept", "accept4", "connect", "sendto", "sendmsg", "recvfrom", "recvmsg",
    "shutdown", "wait4", "waitid",
}  # fmt: skip
ON_IPC = {"read", "write", "readv", "writev", "close", "openat", "open"}  # these only on a pipe, FIFO or socket


def lesson_call(trace, call) -> bool:
    """A call of the lecture: processes, pipes, FIFOs and sockets made, used and closed, children reaped (not
    a thread's clone, not a read of a regular file, not the program's own log line)."""
    if call.noise or call.kind == "log" or call.lecture == "thread":
        return False
    if call.name in LESSON_CALLS:
        return True
    if call.name in ON_IPC:
        return any(trace.objects[key].kind in IPC_KINDS for key in call.objects if key in trace.objects)
    return False


def recording(trace) -> set:
    """The (pid, image) pairs that kept records: image n is what a process ran after its n-th execve."""
    execs = _execs(trace)
    kept = {(r.pid, _image(execs, r.pid, r.time)) for r in trace.python_calls if r.pid is not None}
    for call in trace.calls:
        if call.source is not None and call.source.python and not call.source.child:
            kept.add((call.pid, _image(execs, call.pid, call.start)))
    return kept


def unknown(trace) -> list:
    """The calls of the lesson, made by a program that kept records, that no record answers for: "source
    unknown". (A program that keeps none, a shell or a C program without -k, is not counted.)"""
    return [call.index for call in _counted(trace) if call.source is None]


def coverage(trace) -> tuple:
    """(lesson calls with a source, lesson calls) among those of programs that kept records."""
    counted = _counted(trace)
    return sum(1 for call in counted if call.source is not None), len(counted)


def _counted(trace) -> list:
    execs, kept = _execs(trace), recording(trace)
    return [
        call
        for call in trace.calls
        if lesson_call(trace, call)
        and (call.pid, _image(execs, call.pid, call.start)) in kept
        and (call.source is not None or not _first_execve(trace, call))
    ]


def _first_execve(trace, call) -> bool:
    """The execve that started a process the trace did not see begin (the command itself, a program the
    harness launched): no line of its own program made it."""
    process = trace.processes.get(call.pid)
    return (
        call.name in EXECS
        and process is not None
        and process.created_by is None
        and call.index == next((c.index for c in trace.calls if c.pid == call.pid and c.name in EXECS), None)
    )


def _execs(trace) -> dict:
    """pid -> when each of its successful execves began (seconds from the trace's beginning)."""
    execs: dict = {}
    for call in trace.calls:
        if call.name in EXECS and call.errno is None and call.returned:
            execs.setdefault(call.pid, []).append(call.start)
    return execs


def _image(execs: dict, pid: int, time: float) -> int:
    """Which image of its process was running at ``time``: how many execves had begun before (an execve is
    made by the image it replaces)."""
    return sum(1 for start in execs.get(pid, ()) if start < time)


def _shown(path: str) -> str:
    """A path as a person gave it: relative to the current directory when it is under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path
