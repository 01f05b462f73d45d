"""What one process waits on, read from the system call each of its threads is blocked in.

A table maps each system call to its decoder, as h11 dispatches on its
state: ``read`` waits for a writer of that fd, ``accept`` for a connection,
``open`` of a FIFO for the other side, ``wait4`` for a child, ``poll`` for
any of its fds, ``read`` on a terminal for someone to type. A decoder
returns the waits it found, a lock wait (the thread waits for another
thread), or None when the thread can move by itself (a timeout, a file, a sleep).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import procfs
from ..processes import children
from ..syscalls import named

READS = {"read", "readv", "pread64", "recvfrom", "recvmsg", "recvmmsg"}
WRITES = {"write", "writev", "pwrite64", "sendto", "sendmsg", "sendmmsg"}
OPENS = {"open", "openat", "openat2"}
POLLS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}
WAITS = {"wait4", "waitid"}
LOCKS = {"futex", "futex_waitv"}
POLLIN, POLLPRI, POLLOUT = 0x1, 0x2, 0x4
WNOHANG = 1
FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI2, FUTEX_PRIVATE_FLAG = 0, 6, 9, 13, 128


@dataclass
class Wait:
    """One thing one thread waits for."""

    call: str
    tid: int
    want: str  # "read", "write", "open-read", "open-write", "accept", "connect", "child"
    fd: Optional[int] = None
    handle: Optional[procfs.Handle] = None
    path: Optional[str] = None  # a FIFO being opened
    children: tuple[int, ...] = ()


@dataclass
class Blocked:
    """A process blocked on other processes: everything its threads wait for, and its main call."""

    pid: int
    waits: list[Wait]
    shown: str  # the main call in words: "recvfrom (recv) on fd 5", 'openat (open) of "/tmp/x/f" for reading'
    call: str
    tid: int  # the thread in that call
    threads: list[tuple[int, str]] = field(default_factory=list)  # every thread: its tid, and what it waits on
    locked: bool = False  # every thread waits for a lock no other process can release: they wait for each other


@dataclass
class Decoded:
    waits: list[Wait]
    shown: str
    lock: str = ""  # for a lock: "private" (only threads of this process can release it) or "shared"


Decoder = Callable[[int, procfs.Thread], Optional[Decoded]]


def _signed(value: int, bits: int = 32) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _timespec_set(pid: int, address: int) -> Optional[bool]:
    """Whether a timeout pointer gives a timeout: None if unreadable, False for NULL (wait forever)."""
    if address == 0:
        return False
    return True if procfs.read_memory(pid, address, 16) is not None else None


def _fd_wait(pid: int, thread: procfs.Thread, fd: int, want: str) -> Optional[Wait]:
    """A wait on fd, if it is a pipe, a FIFO or a socket (another process could end it); else None."""
    seen = procfs.handle(pid, fd)
    if seen is None or seen.kind not in ("pipe", "fifo", "socket", "tty"):
        return None
    return Wait(thread.call, thread.tid, want, fd, seen)


def _on_fd(want: str) -> Decoder:
    """read/recv (want "read"), write/send ("write"), accept ("accept"), connect ("connect") on args[0]."""

    def decode(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
        wait = _fd_wait(pid, thread, thread.args[0], want)
        return Decoded([wait], f"{named(thread.call)} on fd {thread.args[0]}") if wait else None

    return decode


def _splice(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
    args = thread.args
    ends = (
        [(args[0], "read"), (args[2], "write")] if thread.call == "splice" else [(args[1], "read"), (args[0], "write")]
    )
    found = [wait for wait in (_fd_wait(pid, thread, fd, want) for fd, want in ends) if wait]
    return Decoded(found, f"{named(thread.call)} from fd {ends[0][0]} to fd {ends[1][0]}")


def _open(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
    """An open() that waits for the other side of a FIFO: its path and direction, from the process's memory."""
    if "fifo" not in thread.wchan and thread.wchan != "wait_for_partner":
        if "fifo_open" not in (procfs.kernel_stack(pid, thread.tid) or ""):  # readable by root only
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
    path = path or "(a path it could not read)"
    wait = Wait(thread.call, thread.tid, "open-" + direction, path=path)
    how = "for writing (O_WRONLY)" if direction == "write" else "for reading (O_RDONLY)"
    return Decoded([wait], f'{named(thread.call)} of "{path}" {how}')


def _polled_fds(pid: int, thread: procfs.Thread) -> Optional[list[tuple[int, str]]]:
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
            fd = int.from_bytes(data[8 * index : 8 * index + 4], "little", signed=True)
            events = int.from_bytes(data[8 * index + 4 : 8 * index + 6], "little")
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
        timeout_given = _timespec_set(pid, args[3]) is not False if call == "epoll_pwait2" else _signed(args[3]) >= 0
        if timeout_given:
            return None
        for fd, events in procfs.epoll_targets(pid, args[0]):
            if events & (POLLIN | POLLPRI):
                fds.append((fd, "read"))
            if events & POLLOUT:
                fds.append((fd, "write"))
    return fds


def _poll(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
    polled = _polled_fds(pid, thread)
    if polled is None:
        return None  # a timeout: it wakes by itself
    found = []
    for fd, want in polled:
        wait = _fd_wait(pid, thread, fd, want)
        if wait is None:
            return None  # it also waits on something that is not another process (a terminal)
        found.append(wait)
    on = ", ".join(f"fd {fd} to {want}" for fd, want in polled)
    return Decoded(found, f"{named(thread.call)} on {on}, with no timeout")


def _wait_child(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
    call, args = thread.call, thread.args
    target = _signed(args[0]) if call == "wait4" else (_signed(args[1]) if args[0] == 1 else -1)  # waitid: P_PID
    kids = tuple(children(pid))
    kids = tuple(kid for kid in kids if kid == target) if target > 0 else kids
    options = args[2] if call == "wait4" else args[3]
    if not kids or options & WNOHANG:
        return None
    shown = f"{named(call)} for {f'its child {target}' if target > 0 else 'any child'}"
    return Decoded([Wait(call, thread.tid, "child", children=kids)], shown)


def _lock(pid: int, thread: procfs.Thread) -> Optional[Decoded]:
    if thread.call == "futex":
        operation = thread.args[1]
        if operation & 0x7F not in (FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_LOCK_PI2):
            return None
        if thread.args[3] != 0:
            return None  # a timed wait wakes by itself
        private = operation & FUTEX_PRIVATE_FLAG
    else:  # futex_waitv: a vector of futexes, each with its own flags; take it as shared
        if thread.args[3] != 0:
            return None
        private = False
    return Decoded([], f"{thread.call} (a lock)", lock="private" if private else "shared")


DECODERS: dict[str, Decoder] = {
    **{call: _on_fd("read") for call in READS},
    **{call: _on_fd("write") for call in WRITES},
    "accept": _on_fd("accept"),
    "accept4": _on_fd("accept"),
    "connect": _on_fd("connect"),
    "splice": _splice,
    "tee": _splice,
    "sendfile": _splice,
    **{call: _open for call in OPENS},
    **{call: _poll for call in POLLS},
    **{call: _wait_child for call in WAITS},
    **{call: _lock for call in LOCKS},
}


def analyse(pid: int, threads: list[procfs.Thread]) -> Optional[Blocked]:
    """What the process waits on, if it is blocked with no timeout on other processes, on the outside
    world (a terminal), or on locks only its own threads could release; None if it can move by itself.

    A thread in a call the table does not know (sleeping, a signal wait) is taken to be able to move."""
    if not threads or any(thread.state not in ("S", "D") for thread in threads):
        return None
    waits: list[Wait] = []
    main: Optional[tuple[procfs.Thread, str]] = None
    described: list[tuple[int, str]] = []
    locks = set()
    for thread in threads:
        decode = DECODERS.get(thread.call)
        decoded = decode(pid, thread) if decode else None
        if decoded is None:
            return None
        described.append((thread.tid, decoded.shown))
        if decoded.lock:
            locks.add(decoded.lock)
            continue  # it waits for another thread of this process
        waits.extend(decoded.waits)
        if main is None or thread.tid == pid:
            main = (thread, decoded.shown)
    if main is not None and waits:
        thread, shown = main
        return Blocked(pid, waits, shown, thread.call, thread.tid, described)
    if locks == {"private"}:  # every thread waits for a lock that only another of its threads could release
        first = threads[0]
        return Blocked(pid, [], "futex: every thread waits for a lock", first.call, first.tid, described, locked=True)
    return None
