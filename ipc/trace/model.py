"""The trace model: what the kernel did, as processes, fds, objects, messages and waits. Pure.

Built by ``ipc.trace.build.build`` from strace's text; read by every
renderer (the terminal picture, the JSON export, the SVG, the step page, Perfetto and Mermaid).

Positions. Every record of every strace text gets a place on one time line,
``seq`` (several texts are merged by their timestamps). A call has a ``seq``
(when it began) and an ``end_seq`` (when it returned; the same place when
strace printed it whole, since then nothing else happened meanwhile).
``Trace.steps`` lists the moments worth stepping through, and
``Trace.state_at(step)`` answers, for one of them: every live process's fd
table, the bytes in flight in every pipe and socket, and who is blocked in
which call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..syscalls import READS
from .sources import Source


@dataclass
class Process:
    pid: int
    parent: Optional[int] = None  # None: started outside the trace (the command itself, or a server traced apart)
    role: Optional[str] = None  # from its labelled lines, "server[42]: ..."
    programs: list = field(default_factory=list)  # every program it ran, in order (after each execve)
    commands: list = field(default_factory=list)  # the whole argv of each execve, as strings (with programs)
    threads: list = field(default_factory=list)  # its tasks' ids; the first is pid itself
    created_by: Optional[int] = None  # the call (fork/clone/vfork) in its parent that made it
    seq: float = 0.0  # where it appears on the time line
    start: float = 0.0  # seconds from the trace's beginning
    end_seq: Optional[float] = None
    end: Optional[float] = None  # None: still running when the trace ended
    exit_code: Optional[int] = None
    killed_by: Optional[str] = None  # SIGPIPE
    reaped_by: Optional[int] = None  # the wait4 call that collected its status
    strace_text: int = 0  # which strace text it came from

    @property
    def program(self) -> str:
        return self.programs[-1] if self.programs else "?"

    @property
    def label(self) -> str:
        """How a person names it: its role (or else its program) and its pid: ``server[5893]``."""
        return f"{self.role or self.program}[{self.pid}]"

    def task_label(self, tid: int) -> str:
        """A task of it: the process's label while it has one thread; ``threads[5893/5895]`` once it has more."""
        if len(self.threads) <= 1:
            return self.label
        return f"{self.role or self.program}[{self.pid}/{tid}]"

    @property
    def ending(self) -> str:
        if self.killed_by:
            return f"killed by {self.killed_by}"
        if self.exit_code is not None:
            return f"exited {self.exit_code}"
        return "still running"


@dataclass
class Call:
    index: int  # its place in Trace.calls, which is the order calls began
    pid: int  # the process
    tid: int  # the task (pid, unless a thread made the call)
    name: str  # the kernel's name: pipe2, clone, wait4, recvfrom
    lecture: Optional[str]  # the lecture's name where it differs: pipe, fork, waitpid, recv
    args: list  # decoded by ipc.trace.strace: Fd, Data, int, Struct, list, Raw
    result: Optional[int]
    errno: Optional[str]
    seq: float
    end_seq: Optional[float]  # None: it never returned (killed inside it, or still blocked when the trace ended)
    start: float  # seconds from the trace's beginning
    end: Optional[float]
    text: str  # as strace printed it
    fds: list = field(default_factory=list)  # fd numbers it used or made
    objects: list = field(default_factory=list)  # ids of the kernel objects it touched
    data: Optional[bytes] = None  # the bytes written or read, as far as strace showed them
    data_complete: bool = True  # False: strace cut the bytes at -s (data is their start)
    kind: str = "other"  # io | fd | process | socket | file | signal | log | other
    noise: bool = False  # not part of the lecture: shown only with --all
    hidden: Optional[str] = None  # why it is noise, where --all should say so: "a shell's housekeeping: ..."
    note: Optional[str] = None  # a demo's own log line (kind "log"): what the program says it did
    # poll, select, epoll_wait...: the fds it waited on, [(fd, "read" | "write")] (for epoll, those its epoll_ctl
    # calls had added); None where they cannot be known. ``ready``: those it returned as ready, where strace says.
    watched: Optional[list] = None
    ready: Optional[list] = None
    strace_text: int = 0  # which strace text it came from (several are merged)
    strace_line: int = 0  # where it began in that text (0-based): strace's own line, for a person or a tool to find
    # Which line of the program made it, where that is known (ipc.trace.sources): the program's own line, and the
    # library's frame when a library made it for the program. None: no record of the program's answers for it.
    source: Optional[Source] = None
    stack: Optional[list] = None  # strace -k's frames [(binary, function, address)], for addr2line to name

    @property
    def returned(self) -> bool:
        return self.end_seq is not None

    @property
    def duration(self) -> Optional[float]:
        return None if self.end is None else self.end - self.start

    @property
    def title(self) -> str:
        """``pipe2 (pipe)``: the kernel's name, the lecture's beside it where they differ."""
        return f"{self.name} ({self.lecture})" if self.lecture else self.name


@dataclass
class KernelObject:
    id: str  # pipe:14365, fifo:/tmp/d/requests#1, unix:20211, tcp:20247, udp:..., file:3, dev:/dev/null
    kind: str  # pipe | fifo | unix-stream | unix-dgram | tcp | udp | file | terminal | socket | other
    label: str  # for people: "pipe #1", "FIFO requests", "TCP #1", "file reply.1"
    created_by: Optional[int] = None  # the call that made it (pipe2, socket, accept4, mknodat...)
    inode: Optional[int] = None
    path: Optional[str] = None
    local: Optional[str] = None  # a socket's own address
    remote: Optional[str] = None  # a connected socket's peer address
    peer: Optional[str] = None  # the id of a connected socket's other end, when traced
    listening: bool = False
    interesting: bool = True  # False: a library, a directory, /dev/null: start-up and housekeeping

    @property
    def description(self) -> str:
        """The label with what identifies it in strace's own output."""
        if self.kind == "pipe":
            return f"{self.label} (pipe:[{self.inode}])"
        if self.kind in ("tcp", "udp") and (self.local or self.remote):
            return f"{self.label} ({self.local or '?'}" + (f" -> {self.remote})" if self.remote else ")")
        if self.kind.startswith("unix") and self.inode is not None:
            peer = f" <-> socket:[{self.peer.split(':')[1]}]" if self.peer else ""
            return f"{self.label} (socket:[{self.inode}]{peer}" + (f", {self.local})" if self.local else ")")
        if self.path:
            return f"{self.label} ({self.path})"
        return self.label


@dataclass
class FdEntry:
    """One line of a process's fd table: fd -> open file description -> kernel object."""

    fd: int
    object: str  # KernelObject.id
    end: str  # read | write | both: which way it goes (a pipe's read end, a file opened O_WRONLY...)
    cloexec: bool = False  # closed by execve
    open_file: int = 0  # the open file description: shared after dup and fork (and its offset with it)


@dataclass
class FdChange:
    seq: float
    pid: int
    fd: int
    entry: Optional[FdEntry]  # None: the fd was closed
    call: Optional[int]  # the call that did it; None for an exit or an fd found already open
    # pipe2, dup2, close, "inherited at fork", "close-on-exec at execve", "closed at exit", "open before the trace"
    why: str
    time: Optional[float] = None  # seconds from the trace's beginning


@dataclass
class FdPass:
    """An fd passed over a Unix socket (SCM_RIGHTS): the receiver gets the sender's open file, under a new
    number. What travels is not bytes but the fd itself: "fd 4 → fd 3: pipe #1 read end"."""

    sender: int  # the sendmsg call (index into Trace.calls)
    receiver: int  # the recvmsg call
    sender_pid: int
    receiver_pid: int
    sender_fd: int
    receiver_fd: int
    object: str  # KernelObject.id
    end: str  # read | write | both, as the sender had it


@dataclass
class Message:
    """Bytes that went from one call to another: a write to the read that took them."""

    id: int
    channel: str  # one direction of one object: pipe:14365, tcp:A->B, unix:5->6, fifo:/p#1, udp:->addr, file:3
    kind: str  # stream | datagram | file
    writer: int  # the write/send call (index into Trace.calls)
    reader: int  # the read/recv call
    writer_pid: int
    reader_pid: int
    write_time: float
    read_time: float
    offset: int  # where the bytes start in the channel (a stream's byte count; a file's offset)
    length: int
    data: bytes  # as far as strace showed them
    complete: bool = True  # False: strace cut them at -s
    write_parts: int = 1  # into how many reads the write was split (>1: a fan-out)
    read_parts: int = 1  # how many writes the read took bytes from (>1: a fan-in)
    source_address: Optional[str] = None  # a datagram's sender and receiver addresses
    destination: Optional[str] = None
    # False: another task wrote the same bytes at the same time, so which of the two writes these are is not
    # known (the bytes are; the order of two concurrent writes is the kernel's, and strace prints it late)
    certain: bool = True


@dataclass
class Unmatched:
    """Bytes written that no traced read took, or bytes read that no traced write made."""

    channel: str
    call: int
    pid: int
    offset: int
    length: int
    data: bytes
    # "left unread", "lost: never received", "truncated", "no traced reader", "no traced writer", "never read",
    # "order uncertain" (the bytes agree with no read at the place the order of writes gives them)
    reason: str
    side: str = "write"  # write: bytes written (and not read); read: bytes read (and not written)


@dataclass
class Wait:
    """A call that blocked: how long, and what ended it."""

    call: int
    pid: int
    tid: int
    seq: float
    end_seq: Optional[float]
    start: float
    end: Optional[float]  # None: it never ended
    what: str  # "read fd 5 (pipe #2)"
    reason: str  # "until server[5893] wrote", "end of file: client[5882] closed pipe #1", "still blocked at the end"
    cause: Optional[int] = None  # the call that ended it, when a traced call did
    cause_pid: Optional[int] = None  # the process whose act ended it (a writer, a child that exited)
    signal: Optional[str] = None  # the signal that interrupted it or killed its process
    cause_tid: Optional[int] = None  # the task whose act ended it: the thread that wrote (cause_pid for an exit)

    @property
    def duration(self) -> Optional[float]:
        return None if self.end is None else self.end - self.start


@dataclass
class Mark:
    """Something that happened to a process, not a call of its own: a signal, its exit."""

    seq: float
    time: float
    pid: int
    tid: int
    kind: str  # signal | exit | killed | thread-exit (one thread of a process that goes on)
    text: str  # "SIGPIPE", "exited 0", "killed by SIGPIPE"
    sender: Optional[int] = None  # the pid that sent a signal (from si_pid), when traced


@dataclass
class Step:
    """One moment to step through: a call began, a blocked call returned, a signal came, a process ended."""

    seq: float
    time: float
    kind: str  # call | return | signal | exit (of a process; of a thread where its mark's kind is thread-exit)
    pid: int
    call: Optional[int] = None
    mark: Optional[int] = None  # index into Trace.marks
    tid: Optional[int] = None  # the task: the thread that made the call, whose call returned, that ended

    def __post_init__(self) -> None:
        if self.tid is None:
            self.tid = self.pid


@dataclass
class State:
    """The kernel's side of things at one step. Neither the fd tables nor the bytes in flight hold the
    programs' own log (``Trace.logs``)."""

    step: int
    processes: list  # pids alive at that moment
    fd_tables: dict  # pid -> {fd: FdEntry}
    in_flight: dict  # channel -> its bytes written and not yet read (ipc.trace.channels.Queued; datagrams: a list)
    blocked: dict  # tid -> the Call it is blocked in


@dataclass
class Trace:
    processes: dict  # pid -> Process
    calls: list  # every Call, in the order they began
    objects: dict  # id -> KernelObject
    fd_changes: list  # every FdChange, in order
    messages: list  # every Message
    unmatched: list  # every Unmatched
    waits: list  # every Wait
    marks: list  # every Mark
    steps: list = field(default_factory=list)
    origin: float = 0.0  # the epoch time of the first record: every time here counts from it
    channels: dict = field(default_factory=dict)  # channel -> its writes and reads (ipc.trace.channels.Channel)
    passes: list = field(default_factory=list)  # every FdPass: fds sent over Unix sockets, in the order received
    # Threads /proc saw waiting for a lock of their own process when a deadlock was diagnosed: futex is not
    # traced (a Python program makes thousands), so strace shows such a thread (one joining another) in no call.
    lock_waits: frozenset = frozenset()
    end: Optional[float] = None  # seconds from the beginning to the last thing strace recorded (None: not known)
    # What the Python programs said they were about to call (ipc.trace.sources.PythonCall), each with the calls
    # it made; and the programs' source files as read after the run (path -> its lines), for the pictures.
    python_calls: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    _logs: Optional[frozenset] = field(default=None, repr=False, compare=False)

    def process(self, pid: int) -> Process:
        return self.processes[pid]

    def task_label(self, pid: int, tid: int) -> str:
        """``server[5893]``, or ``threads[5893/5895]`` for a thread of a process that has several."""
        return self.processes[pid].task_label(tid)

    def lecture_calls(self) -> list:
        return [call for call in self.calls if not call.noise]

    def fd_table(self, pid: int, seq: float = float("inf"), call: Optional[int] = None) -> dict:
        """Process ``pid``'s fds at position ``seq`` of the time line (by default, at the end),
        with what ``call`` did even if it returned later."""
        table: dict = {}
        for change in self.fd_changes:
            if change.pid != pid or (change.seq > seq and (call is None or change.call != call)):
                continue
            if change.entry is None:
                table.pop(change.fd, None)
            else:
                table[change.fd] = change.entry
        return table

    def logs(self) -> frozenset:
        """The objects that only the programs' own log lines went into: a harness's log pipe on fd 2 (each
        line ``role[pid]: text``), given to them before the trace began and read by no traced process.
        Not part of any exchange: no state holds them (``state_at``); ``ipc trace --notes`` shows the lines."""
        if self._logs is None:
            logged, other = set(), set()
            for call in self.calls:
                (logged if call.kind == "log" else other if call.name in READS else set()).update(call.objects)
            self._logs = frozenset(
                key for key in logged - other if key in self.objects and self.objects[key].created_by is None
            )
        return self._logs

    def state_at(self, step: int) -> State:
        """The state after ``steps[step]``: a call's own effects count, unless it is still waiting."""
        at = self.steps[step]
        waited = {wait.call for wait in self.waits}
        own = at.call if at.kind == "return" or (at.call is not None and at.call not in waited) else None
        alive = [
            p.pid for p in self.processes.values() if p.seq <= at.seq and (p.end_seq is None or p.end_seq > at.seq)
        ]
        logs = self.logs()
        tables = {
            pid: {fd: entry for fd, entry in self.fd_table(pid, at.seq, own).items() if entry.object not in logs}
            for pid in alive
        }
        in_flight = {
            name: channel.in_flight(at.seq, own) for name, channel in self.channels.items() if name not in logs
        }
        blocked = {}
        for wait in self.waits:
            if wait.seq <= at.seq and (wait.end_seq is None or wait.end_seq > at.seq):
                blocked[wait.tid] = self.calls[wait.call]
        return State(step, alive, tables, {k: v for k, v in in_flight.items() if v}, blocked)

    def blocked_at_end(self) -> list:
        """The waits that never ended, or that only a signal ended (a deadlock ended from outside)."""
        return [wait for wait in self.waits if wait.end_seq is None or wait.signal is not None]

    def holders(self, object_id: str, seq: float) -> list:
        """Who had ``object_id`` open at ``seq``: (pid, fd, end) for every process and fd; an fd on its way over
        a Unix socket (sent, not yet received) is held by the process that receives it, under no fd yet."""
        found = []
        for process in self.processes.values():
            if process.seq <= seq and (process.end_seq is None or process.end_seq > seq):
                found += [
                    (process.pid, fd, entry.end)
                    for fd, entry in sorted(self.fd_table(process.pid, seq).items())
                    if entry.object == object_id
                ]
        for passed in self.passes:
            sent, received = self.calls[passed.sender].end_seq, self.calls[passed.receiver].end_seq
            if passed.object == object_id and sent is not None and sent <= seq and (received is None or seq < received):
                found.append((passed.receiver_pid, None, passed.end))
        return found

    def write_parts(self) -> dict:
        """message id -> which part of its write it is (1, 2, ...): a write that several reads took is a fan-out."""
        offsets: dict = {}  # writer -> the places its pieces begin (a piece read twice is one piece)
        for message in self.messages:
            offsets.setdefault(message.writer, set()).add(message.offset)
        ranks = {writer: {at: n for n, at in enumerate(sorted(places), 1)} for writer, places in offsets.items()}
        return {message.id: ranks[message.writer][message.offset] for message in self.messages}

    def messages_between(self, writer_pid: int, reader_pid: int) -> list:
        return [m for m in self.messages if m.writer_pid == writer_pid and m.reader_pid == reader_pid]
