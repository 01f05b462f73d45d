"""Deadlocks, seen as they form and explained the way an expert would.

A watcher (the harness, ``ipc watch``) calls ``Detector.sample(pids)`` every
few tens of milliseconds with the processes it watches. It returns None, or a
Diagnosis once they are deadlocked. On Linux everything comes from /proc
(ipc.procfs):

1.  Blocked. Every thread of the process sleeps (state S or D) in a system
    call that waits on another process, with no timeout: read/recv or
    write/send on a pipe, a FIFO or a socket; open() of a FIFO; accept();
    connect(); poll/select/epoll on such fds; waitpid() for a child. Other
    threads may wait on a lock (futex): they wait for a sibling thread.
    A process that runs, sleeps in nanosleep, reads a terminal, or waits
    with a timeout is not blocked: it will move by itself.
2.  Nothing moves. Same call, same arguments, no time on a cpu, no bytes
    read or written (schedstat, io), for SETTLE seconds.
3.  Who could wake it: the wait-for graph. A reader of a pipe or FIFO waits
    for every process holding a write end (itself included: the forgotten
    close); a writer waits for the readers; a stream socket waits for the
    holders of the socket at its other end (sock_diag, /proc/net/tcp). For
    waits any process could end (accept, open of a FIFO nobody has opened,
    an unconnected datagram socket), the world is taken to be closed: only
    the other watched processes know these private paths and ports.
    waitpid() waits for the children it names. The harness launched every
    process, so for it the world is closed; ``ipc watch`` does not know who
    else may connect to a port, so there accept(), connect() and datagram
    waits count as waits on the world outside (closed_world=False).
4.  Deadlock: every watched process is blocked, and every process any of
    them waits for is one of them. Nobody running, nobody outside, no
    timeout can wake any of them: they will wait forever.

Without /proc (macOS) it falls back to psutil: every process asleep and not
moving (no cpu time, no context switch) for QUIET seconds. That cannot tell a
sleep from a blocked read, nor see who waits for whom; its report says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from . import procfs

SETTLE = 0.15  # seconds of no movement at all before the graph is built
RECHECK = 1.0  # rebuild the graph this often while everything stays blocked without a deadlock
QUIET = 3.0  # without /proc: seconds of every process asleep and still before "probably deadlocked"

READS = {"read", "readv", "pread64", "recvfrom", "recvmsg", "recvmmsg"}
WRITES = {"write", "writev", "pwrite64", "sendto", "sendmsg", "sendmmsg"}
OPENS = {"open", "openat", "openat2"}
POLLS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}
WAITS = {"wait4", "waitid"}
LOCKS = {"futex", "futex_waitv"}
POLLIN, POLLPRI, POLLOUT = 0x1, 0x2, 0x4


# -- what a diagnosis says --------------------------------------------------


@dataclass
class Stuck:
    """One process of a deadlock: where it is blocked and whom it waits for."""

    pid: int
    name: str  # its role (client, server) or its command (cat)
    call: str  # the system call it is blocked in: read, write, open, accept, wait4, poll...
    shown: str  # the call as a person writes it: read(fd 5), open("/tmp/x/requests", O_RDONLY)
    fds: dict[int, str] = field(default_factory=dict)  # fd -> what it is
    details: list[str] = field(default_factory=list)  # what the fds are and who holds their other ends
    waits_for: dict[int, str] = field(default_factory=dict)  # pid -> why this process waits for that one
    python: Optional[str] = None  # "demos/broken/x.py:64 in main"
    source: str = ""  # the text of that line
    inner: Optional[str] = None  # the innermost frame, when it is in a library
    note: str = ""  # why there is no Python line
    tid: int = 0

    @property
    def label(self) -> str:
        return f"{self.name}[{self.pid}]"


@dataclass
class Diagnosis:
    stuck: list[Stuck]
    cycle: list[int]  # pids, each waiting for the next, the last for the first
    seen_with: str  # "/proc" or "psutil"
    still_for: float  # how long nothing had moved when it was reported
    formed_after: float  # time.monotonic(): it formed after this moment...
    reported_at: float  # ...and was reported at this one
    could_not_see: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float:
        """At most this long passed between the deadlock forming and its report."""
        return self.reported_at - self.formed_after

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
        if not self.cycle:
            return ""
        steps = []
        for index, pid in enumerate(self.cycle):
            after = self.cycle[(index + 1) % len(self.cycle)]
            steps.append(f"{self._word(pid)} waits for {'itself' if after == pid else self._word(after)}")
        return ", ".join(steps)

    def others_text(self) -> str:
        """Waits of the processes that are not on the cycle: "client waits for server"."""
        parts = []
        for stuck in self.stuck:
            if stuck.pid in self.cycle or not stuck.waits_for:
                continue
            targets = [self._word(pid) if pid != stuck.pid else "itself" for pid in stuck.waits_for]
            parts.append(f"{self._word(stuck.pid)} waits for {_and(targets)}")
        return ", ".join(parts)

    def summary(self) -> str:
        if not self.cycle:
            return f"probably deadlocked: {_and([s.label for s in self.stuck])} all asleep, nothing moved for {self.still_for:.1f} s"
        text = f"deadlock: {self.cycle_text()}"
        others = self.others_text()
        return f"{text}; {others}" if others else text

    def report(self) -> str:
        labels = _and([stuck.label for stuck in self.stuck])
        if self.cycle:
            if len(self.stuck) == 1:
                each = "is blocked, waiting for itself"
            elif len(self.stuck) == 2 and len(self.cycle) == 2:
                each = "are blocked, each waiting for the other"
            else:
                each = "are all blocked, each waiting for one of them"
            head = f"DEADLOCK: {labels} {each}; nothing has moved for {self.still_for:.2f} s."
        else:
            head = (f"PROBABLY A DEADLOCK: {labels} have all been asleep for {self.still_for:.1f} s, and none "
                    f"has used any cpu or been woken.")
        lines = [head, ""]
        for stuck in self.stuck:
            lines.append(f"{stuck.label} is blocked in {stuck.shown}")
            if stuck.python:
                lines.append(f"    at {stuck.python}" + (f":  {stuck.source}" if stuck.source else ""))
                if stuck.inner:
                    lines.append(f"       inside {stuck.inner}")
            elif stuck.note:
                lines.append(f"    ({stuck.note})")
            lines.extend(f"    {detail}" for detail in stuck.details)
            if stuck.waits_for:
                targets = [self._word(pid) if pid != stuck.pid else "itself" for pid in stuck.waits_for]
                lines.append(f"    so {self._word(stuck.pid)} waits for {_and(targets)}")
            lines.append("")
        if self.cycle:
            lines.append(f"The cycle: {self.cycle_text()}.")
            if self.others_text():
                lines.append(f"And: {self.others_text()}.")
            lines.append("Each can go on only when another acts, and none of them ever will.")
        else:
            lines.append("Who waits for whom cannot be seen here: " + "; ".join(self.could_not_see) + ".")
        if self.cycle and self.could_not_see:
            lines.append("Not seen: " + "; ".join(self.could_not_see) + ".")
        return "\n".join(lines)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# -- what one process is waiting on (before anyone else is looked at) -------


@dataclass
class Wait:
    """One thing one thread waits for."""

    call: str
    tid: int
    want: str  # "read", "write", "open", "accept", "connect", "child"
    fd: Optional[int] = None
    handle: Optional[procfs.Handle] = None
    path: Optional[str] = None  # a FIFO being opened
    children: tuple[int, ...] = ()


@dataclass
class Blocked:
    pid: int
    waits: list[Wait]
    shown: str
    call: str
    tid: int


def _signed(value: int, bits: int = 32) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _timespec_set(pid: int, address: int) -> Optional[bool]:
    """Whether a timeout pointer gives a timeout: None if unreadable, False for NULL (wait forever)."""
    if address == 0:
        return False
    return True if procfs.read_memory(pid, address, 16) is not None else None


def _ipc_handle(pid: int, fd: int) -> Optional[procfs.Handle]:
    seen = procfs.handle(pid, fd)
    return seen if seen is not None and seen.kind in ("pipe", "fifo", "socket") else None


def _fd_wait(pid: int, thread: procfs.Thread, fd: int, want: str) -> Optional[Wait]:
    seen = _ipc_handle(pid, fd)
    return Wait(thread.call, thread.tid, want, fd, seen) if seen else None


def _poll_fds(pid: int, thread: procfs.Thread) -> Optional[list[tuple[int, str]]]:
    """(fd, "read"/"write") for each fd a poll-like call waits on; None if it has a timeout or cannot be read."""
    call, args = thread.call, thread.args
    fds: list[tuple[int, str]] = []
    if call in ("poll", "ppoll"):
        if call == "poll" and _signed(args[2]) >= 0 or call == "ppoll" and _timespec_set(pid, args[2]) is not False:
            return None
        data = procfs.read_memory(pid, args[0], 8 * args[1])
        if data is None or args[1] > 4096:
            return None
        for index in range(args[1]):  # struct pollfd { int fd; short events; short revents; }
            fd = int.from_bytes(data[8 * index:8 * index + 4], "little", signed=True)
            events = int.from_bytes(data[8 * index + 4:8 * index + 6], "little")
            if fd >= 0 and events & (POLLIN | POLLPRI):
                fds.append((fd, "read"))
            if fd >= 0 and events & POLLOUT:
                fds.append((fd, "write"))
    elif call in ("select", "pselect6"):
        if _timespec_set(pid, args[4]) is not False:
            return None
        size = (args[0] + 63) // 64 * 8
        for address, want in ((args[1], "read"), (args[2], "write"), (args[3], "read")):
            if not address:
                continue
            bits = procfs.read_memory(pid, address, size)
            if bits is None:
                return None
            fds.extend((fd, want) for fd in range(args[0]) if bits[fd // 8] >> (fd % 8) & 1)
    else:  # epoll_wait, epoll_pwait, epoll_pwait2
        if call == "epoll_pwait2" and _timespec_set(pid, args[3]) is not False or call != "epoll_pwait2" and _signed(args[3]) >= 0:
            return None
        for fd, events in procfs.epoll_targets(pid, args[0]):
            if events & (POLLIN | POLLPRI):
                fds.append((fd, "read"))
            if events & POLLOUT:
                fds.append((fd, "write"))
    return fds


def _fifo_open(pid: int, thread: procfs.Thread) -> Optional[Wait]:
    """An open() that waits for the other side of a FIFO: its path and direction, from the process's memory."""
    if "fifo" not in thread.wchan and thread.wchan != "wait_for_partner":
        stack = procfs._read(f"/proc/{pid}/task/{thread.tid}/stack") or ""  # readable by root only
        if "fifo_open" not in stack:
            return None  # an open() that waits on something else (a slow disk, a device)
    args = thread.args
    if thread.call == "open":
        dirfd, address, flags = procfs.AT_FDCWD, args[0], args[1]
    else:
        dirfd, address, flags = args[0] & 0xFFFFFFFF, args[1], args[2]
        if thread.call == "openat2":  # the flags are the first field of struct open_how
            how = procfs.read_memory(pid, args[2], 8)
            flags = int.from_bytes(how, "little") if how else 0
    path = procfs.read_string(pid, address)
    if path is not None and not path.startswith("/"):
        base = procfs.cwd(pid) if dirfd == procfs.AT_FDCWD else procfs.fd_targets(pid).get(dirfd)
        path = os.path.join(base, path) if base else path
    direction = "write" if flags & procfs.O_ACCMODE == 1 else "read"
    return Wait(thread.call, thread.tid, "open-" + direction, path=path or "(a path it could not read)")


def analyse(pid: int, threads: list[procfs.Thread]) -> Optional[Blocked]:
    """What the process waits on, if it is blocked on IPC with no timeout; None if it can move by itself."""
    if not threads or any(thread.state not in ("S", "D") for thread in threads):
        return None
    waits: list[Wait] = []
    main: Optional[tuple[procfs.Thread, str]] = None
    for thread in threads:
        call, args = thread.call, thread.args
        found: list[Wait] = []
        shown = None
        if call in READS or call in WRITES:
            wait = _fd_wait(pid, thread, args[0], "read" if call in READS else "write")
            if wait is None:
                return None  # a terminal, a file, an eventfd: not a wait on another process
            found, shown = [wait], f"{call}(fd {args[0]})"
        elif call in ("splice", "tee", "sendfile"):
            ends = [(args[0], "read"), (args[2], "write")] if call == "splice" else [(args[1], "read"), (args[0], "write")]
            found = [w for w in (_fd_wait(pid, thread, fd, want) for fd, want in ends) if w]
            shown = f"{call}(fd {ends[0][0]} -> fd {ends[1][0]})"
        elif call in ("accept", "accept4", "connect"):
            wait = _fd_wait(pid, thread, args[0], "accept" if call != "connect" else "connect")
            if wait is None:
                return None
            found, shown = [wait], f"{call}(fd {args[0]})"
        elif call in OPENS:
            wait = _fifo_open(pid, thread)
            if wait is None:
                return None
            flags = "O_RDONLY" if wait.want == "open-read" else "O_WRONLY"
            found, shown = [wait], f'open("{wait.path}", {flags})'
        elif call in POLLS:
            polled = _poll_fds(pid, thread)
            if polled is None:
                return None  # a timeout: it wakes by itself
            for fd, want in polled:
                wait = _fd_wait(pid, thread, fd, want)
                if wait is None:
                    return None  # it also waits on something that is not another process (a terminal)
                found.append(wait)
            shown = f"{call}() on {', '.join(f'fd {fd} to {want}' for fd, want in polled)}, with no timeout"
        elif call in WAITS:
            target = _signed(args[0]) if call == "wait4" else (_signed(args[1]) if args[0] == 1 else -1)
            kids = tuple(_children(pid))
            kids = tuple(k for k in kids if k == target) if target > 0 else kids
            if not kids or (call == "wait4" and args[2] & 1) or (call == "waitid" and args[3] & 1):  # WNOHANG
                return None
            found = [Wait(call, thread.tid, "child", children=kids)]
            shown = f"{'waitpid' if call == 'wait4' else call}({target if target > 0 else 'any child'})"
        elif call in LOCKS:
            if call == "futex" and args[3] != 0 and args[1] & 0x7F in (0, 9):  # a timed wait wakes by itself
                return None
            continue  # waits for a sibling thread
        else:
            return None  # sleeping, a signal wait, or a call this module does not know: assume it can move
        waits.extend(found)
        if shown and (main is None or thread.tid == pid):
            main = (thread, shown)
    if not waits or main is None:
        return None
    return Blocked(pid, waits, main[1], main[0].call if main[0].call not in WAITS else "waitpid", main[0].tid)


# -- the wait-for graph -----------------------------------------------------


class _Graph:
    """Who holds the other ends: built once all the watched processes are blocked."""

    def __init__(self, blocked: dict[int, Blocked], name: Callable[[int], str], watched: set[int],
                 closed_world: bool = True):
        self.blocked, self.name, self.watched, self.closed_world = blocked, name, watched, closed_world
        self.could_not_see: list[str] = []
        self.sockets: dict[int, procfs.Socket] = {}
        holder = next((pid for pid, b in blocked.items() for w in b.waits if w.handle and w.handle.kind == "socket"), None)
        if holder is not None:
            self.sockets, peers = procfs.sockets(holder)  # in that process's network namespace
            if not peers:
                self.could_not_see.append("the other ends of Unix sockets (no sock_diag in this kernel)")
        targets = set()
        for b in blocked.values():
            for w in b.waits:
                if w.handle is not None:
                    targets.add(w.handle.target)
                    peer = self._peer(w.handle)
                    if peer is not None:
                        targets.add(f"socket:[{peer}]")
                if w.path:
                    targets.add(w.path)
        self.holders, unseen = procfs.holders(targets)
        if unseen:
            self.could_not_see.append(f"the fds of {unseen} processes of other users")

    def _peer(self, handle: procfs.Handle) -> Optional[int]:
        info = self.sockets.get(handle.ident[1]) if handle.kind == "socket" else None
        return info.peer if info else None

    def label(self, pid: int) -> str:
        return f"{self.name(pid)}[{pid}]" if pid in self.watched else f"{procfs.command(pid)}[{pid}] (not watched)"

    def _held(self, handles: list[procfs.Handle], waiter: int) -> str:
        by_pid: dict[int, list[int]] = {}
        for h in handles:
            by_pid.setdefault(h.pid, []).append(h.fd)
        parts = []
        for pid, fds in by_pid.items():
            where = ", ".join(f"fd {fd}" for fd in sorted(fds))
            parts.append(f"{self.label(pid)} itself ({where})" if pid == waiter else f"{self.label(pid)} ({where})")
        return _and(parts) if parts else "no process"

    def resolve(self, pid: int, wait: Wait) -> tuple[set[int], bool, list[str], dict[int, str]]:
        """Whom this wait waits for: (pids, whether someone outside the watched ones could end it,
        lines that explain it, pid -> why)."""
        others = sorted(self.watched - {pid})
        if wait.want == "child":
            kids = set(wait.children)
            names = _and([self.label(kid) for kid in sorted(kids)])
            text = f"it waits for its child {names} to exit" if len(kids) == 1 else f"it waits for any of its children, {names}, to exit"
            return kids, bool(kids - self.watched), [text], {
                kid: f"its child, which has not exited" for kid in kids}
        if wait.want.startswith("open-"):
            direction = wait.want[5:]
            other = "writing" if direction == "read" else "reading"
            others_text = _and([self.label(o) for o in others]) if others else "none"
            lines = [f"a FIFO's open() for {direction}ing waits until a process opens it for {other}; none has",
                     f"only the other watched processes know this path, and they are blocked too: {others_text}"]
            return set(others), False, lines, {o: f"could open {wait.path} for {other}" for o in others}
        handle = wait.handle
        assert handle is not None
        what = self.describe(handle)
        if handle.kind in ("pipe", "fifo"):
            ends = [h for h in self.holders.get(handle.target, []) if h.ident == handle.ident]
            other = [h for h in ends if (h.writes if wait.want == "read" else h.reads)]
            fill = procfs.pipe_fill(pid, handle.fd)
            state = ""
            if fill is not None:
                waiting, capacity = fill
                state = ", empty" if waiting == 0 else (f", full ({waiting} of {capacity} bytes)" if waiting >= capacity
                                                          else f", {waiting} bytes waiting")
            end_name = "write end" if wait.want == "read" else "read end"
            lines = [f"fd {handle.fd} is {what}{state}; its {end_name} is held by {self._held(other, pid)}"]
            if wait.want == "read" and any(h.pid == pid for h in other):
                lines.append("it holds a write end itself: until it closes it, read() cannot return end of file")
            targets = {h.pid for h in other}
            return targets, bool(targets - self.watched), lines, {
                t: f"holds the {end_name} of {_short(handle)}" for t in targets}
        info = self.sockets.get(handle.ident[1])
        if info is None:  # netlink, packet, a socket in a namespace out of sight: who could end this wait is unknown
            return set(), True, [f"fd {handle.fd} is {handle.target}, a socket this watcher cannot see into"], {}
        if wait.want in ("accept", "connect") or (not info.stream and info.peer is None):
            verb = {"accept": "a connection", "connect": "its connection to be accepted"}.get(wait.want, "a datagram")
            if not self.closed_world:  # anyone on this machine may connect or send
                return set(), True, [f"fd {handle.fd} is {what}; it waits for {verb}, which anyone may give it"], {}
            others_text = _and([self.label(o) for o in others]) if others else "none"
            lines = [f"fd {handle.fd} is {what}; it waits for {verb}",
                     f"only the other watched processes could send it, and they are blocked too: {others_text}"]
            return set(others), False, lines, {o: f"could give it {verb}" for o in others}
        ends = self.holders.get(f"socket:[{info.peer}]", []) if info.peer else []
        targets = {h.pid for h in ends}
        if wait.want == "read":
            state = ", nothing to read" if not info.recv_queue else f", {info.recv_queue} bytes to read"
        else:
            peer = self.sockets.get(info.peer) if info.peer else None
            unread = peer.recv_queue if peer and peer.recv_queue is not None else info.send_queue
            state = f", its buffers full: {unread} bytes sent and not read by the other end" if unread else ""
        lines = [f"fd {handle.fd} is {what}{state}; its other end is held by {self._held(ends, pid)}"]
        if not ends:
            lines[-1] = f"fd {handle.fd} is {what}{state}; its other end cannot be seen"
            return set(), True, lines, {}
        return targets, bool(targets - self.watched), lines, {
            t: f"holds the other end of {_short(handle)}" for t in targets}

    def describe(self, handle: procfs.Handle) -> str:
        """What an fd is, in words: "the read end of pipe:[123]", "a TCP socket 1.2.3.4:5 -> ..."."""
        if handle.kind == "pipe":
            return f"the {'read' if handle.access == 'r' else 'write'} end of {handle.target}"
        if handle.kind == "fifo":
            how = {"r": "for reading", "w": "for writing", "rw": "for reading and writing"}.get(handle.access, "")
            return f"the FIFO {handle.target}, opened {how}"
        info = self.sockets.get(handle.ident[1])
        if info is None:
            return f"{handle.target}, a socket"
        if info.state == "listening":
            return f"a {info.family} socket listening on {info.local or '(unnamed)'}"
        if info.family.startswith("Unix"):
            if info.peer is None:
                return f"a {info.family} socket {info.local or '(unnamed)'}, {handle.target} ({info.state})"
            if not info.local and not info.remote:
                return f"a {info.family} socket, {handle.target}, connected to socket:[{info.peer}] (both unnamed: a socketpair)"
            return f"a {info.family} socket {info.local or '(unnamed)'} -> {info.remote or '(unnamed)'}, {handle.target}"
        ends = f"{info.local} -> {info.remote}" if info.remote else info.local
        return f"a {info.family} socket {ends}" + ("" if info.state == "connected" else f" ({info.state})")


def _short(handle: procfs.Handle) -> str:
    return handle.target if handle.kind != "fifo" else f"the FIFO {handle.target}"


# -- the detector -----------------------------------------------------------


@dataclass
class _Seen:
    fingerprint: tuple
    since: float  # first sample with this fingerprint
    before: float  # the sample before that: it changed after this
    blocked: Optional[Blocked] = None
    analysed: bool = False


class Detector:
    """Samples the watched processes; returns a Diagnosis once they are deadlocked."""

    def __init__(self, use_proc: Optional[bool] = None, stacks=None, settle: float = SETTLE, quiet: float = QUIET,
                 closed_world: bool = True):
        self.use_proc = procfs.AVAILABLE if use_proc is None else use_proc
        self.closed_world = closed_world  # only the watched processes can connect to each other (see the module doc)
        self.stacks = stacks  # an ipc.stackdumps.StackDumps, to ask for Python lines
        self.settle = settle if self.use_proc else quiet
        self.started = time.monotonic()
        self._seen: dict[int, _Seen] = {}
        self._last: Optional[float] = None  # when the previous sample was taken
        self._checked: Optional[tuple[frozenset, float]] = None

    def sample(self, pids: Iterable[int], name: Callable[[int], str] = procfs.command,
               now: Optional[float] = None) -> Optional[Diagnosis]:
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
        if len(alive) == 1 and all(w.want in ("accept", "connect", "open-read", "open-write") for w in blocked[alive[0]].waits):
            return None  # alone, waiting for someone to arrive: only the world outside can end that
        graph = _Graph(blocked, name, watched, self.closed_world)
        stuck: dict[int, Stuck] = {}
        outside: set[int] = set()
        edges: dict[int, set[int]] = {}
        for pid, b in blocked.items():
            item = Stuck(pid, name(pid), b.call, b.shown, tid=b.tid)
            edges[pid] = set()
            for wait in b.waits:
                targets, escape, lines, why = graph.resolve(pid, wait)
                if escape or not targets:
                    outside.add(pid)
                edges[pid] |= targets
                item.details.extend(lines)
                for target, reason in sorted(why.items(), key=lambda pair: alive.index(pair[0]) if pair[0] in alive else 0):
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
        order = sorted(alive, key=lambda pid: (name(pid) != "client", alive.index(pid)))
        formed_after = max(self._seen[pid].before for pid in alive)
        return Diagnosis([stuck[pid] for pid in alive], _find_cycle(order, edges), "/proc",
                         now - max(self._seen[pid].since for pid in alive), formed_after, time.monotonic(),
                         graph.could_not_see)

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
                connections = process.net_connections(kind="all") if hasattr(process, "net_connections") \
                    else process.connections(kind="all")
            except psutil.Error:
                connections = []
            for conn in connections:
                local = _psutil_address(conn.laddr)
                remote = _psutil_address(conn.raddr)
                text = f"a socket {local}" + (f" -> {remote}" if remote else "") + (f" ({conn.status})" if conn.status and conn.status != "NONE" else "")
                item.fds[conn.fd] = text
                item.details.append(f"fd {conn.fd} is {text}")
            stuck[pid] = item
        self._add_python_lines(stuck)
        formed_after = max(self._seen[pid].before for pid in alive)
        return Diagnosis([stuck[pid] for pid in alive], [], "psutil", now - max(self._seen[pid].since for pid in alive),
                         formed_after, time.monotonic(),
                         ["without /proc, the system call each process is blocked in, its pipes, and who holds "
                          "the other ends are not visible; a process asleep in sleep() looks the same"])

    def _add_python_lines(self, stuck: dict[int, Stuck]) -> None:
        for pid, item in stuck.items():
            python = procfs.is_python(pid)
            item.note = ("its Python line is unknown: it was not started through ipc.program" if python is not False
                         else f"not a Python program: no source line to show")
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


# -- the processes to watch -------------------------------------------------


class Tree:
    """The processes under some roots: the roots, all they fork, and orphans once seen.

    A forked child whose parent has died is reparented (to init), but it is
    still one of ours: once seen, a process is kept until it ends. A pid is
    remembered with its start time, so a reused pid is not mistaken for it.
    """

    def __init__(self) -> None:
        self.known: dict[int, Optional[int]] = {}  # pid -> start time

    def update(self, roots: Iterable[int]) -> list[int]:
        """Every live process of the tree, roots first, then in the order they were found."""
        for pid in roots:
            self.known.setdefault(pid, _start_time(pid))
        queue = list(self.known)
        while queue:
            pid = queue.pop(0)
            for child in _children(pid):
                if child not in self.known:
                    self.known[child] = _start_time(child)
                    queue.append(child)
        for pid, started in list(self.known.items()):
            now = _start_time(pid)
            if now is None or (started is not None and now != started):
                del self.known[pid]  # it ended (or is a zombie, or its pid was reused)
        return list(self.known)


def _start_time(pid: int) -> Optional[int]:
    if procfs.AVAILABLE:
        return procfs.start_time(pid)
    import psutil

    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else int(process.create_time() * 1000)
    except psutil.Error:
        return None


def _children(pid: int) -> list[int]:
    found = procfs.children(pid) if procfs.AVAILABLE else None
    if found is not None:
        return found
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []
