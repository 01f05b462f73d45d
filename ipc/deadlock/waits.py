"""What one live process waits on: each thread's system call, decoded from /proc into the core's terms.

The /proc half of the adapter that feeds ipc.waitfor (graph.py is the other
half: who holds what). A table maps each call family (ipc.syscalls) to its
decoder, as h11 dispatches on its state: a read waits for data on its fd, an
accept for a connection, an open of a FIFO for a partner, a poll for any of
its fds, a wait4 for a child. A decoder says how the thread moves
(ipc.waitfor.Motion) and, when it is blocked, what it needs; the rules of who
could meet those needs are the core's, not written here.

Some facts are in the process's memory, not in /proc's files: the path a
FIFO's open() names, the fds a poll() watches, whether a timeout was given.
They are read from /proc/PID/mem without stopping the process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import procfs
from ..processes import children
from ..syscalls import Family, family, has_timeout, named
from ..waitfor import End, Motion, Need, Thread, Want

POLLIN, POLLPRI, POLLOUT = 0x1, 0x2, 0x4
WNOHANG = 1
FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI2, FUTEX_PRIVATE_FLAG = 0, 6, 9, 13, 128
WAITED_ON = ("pipe", "fifo", "socket", "tty")  # fds another process (or a person) can act on


@dataclass
class Decoded:
    """One thread, decoded."""

    thread: Thread
    shown: str  # the call in words: "recvfrom (recv) on fd 5", 'openat (open) of "/tmp/x/f" for reading'
    handles: dict[str, procfs.Handle] = field(default_factory=dict)  # object id -> the waiter's fd on it


@dataclass
class Seen:
    """A process as sampled: its threads decoded, the main one first in the report."""

    pid: int
    decoded: list[Decoded]

    @property
    def blocked(self) -> bool:
        return bool(self.decoded) and all(d.thread.motion is Motion.BLOCKED for d in self.decoded)

    @property
    def main(self) -> Decoded:
        """The thread whose call tells the story: the main thread's, unless it only waits for a lock."""
        waiting = [d for d in self.decoded if any(n.want is not Want.LOCK for n in d.thread.needs)]
        return next((d for d in waiting if d.thread.tid == self.pid), waiting[0] if waiting else self.decoded[0])

    @property
    def handles(self) -> dict[str, procfs.Handle]:
        return {key: handle for d in self.decoded for key, handle in d.handles.items()}


Decoder = Callable[[int, procfs.Thread], Decoded]


def _signed(value: int, bits: int = 32) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _timeout_value(thread: procfs.Thread) -> Optional[int]:
    """The call's timeout argument as ipc.syscalls.has_timeout takes it (signed milliseconds, or a pointer)."""
    from ..syscalls import TIMEOUT_ARGUMENT, Unit

    index, unit = TIMEOUT_ARGUMENT[thread.call]
    raw = thread.args[index]
    return _signed(raw) if unit is Unit.MILLISECONDS else raw


def _moves(thread: procfs.Thread, motion: Motion, shown: str = "") -> Decoded:
    return Decoded(Thread(thread.tid, thread.call, motion), shown or named(thread.call))


def _blocked(thread: procfs.Thread, needs: list, shown: str, handles: Optional[dict] = None) -> Decoded:
    return Decoded(Thread(thread.tid, thread.call, Motion.BLOCKED, tuple(needs)), shown, handles or {})


def _on_fd(pid: int, fd: int, want: Want) -> Optional[tuple[Need, procfs.Handle]]:
    """A need on fd, if it is a pipe, a FIFO, a socket or a terminal; else None (a disk file, an eventfd:
    nothing another process is seen to end)."""
    seen = procfs.handle(pid, fd)
    if seen is None or seen.kind not in WAITED_ON:
        return None
    return Need(want, seen.target, fd), seen


def _fd_call(want: Want) -> Decoder:
    """read/recv (data), write/send (room), accept (a connection), connect (its acceptance) on args[0]."""

    def decode(pid: int, thread: procfs.Thread) -> Decoded:
        found = _on_fd(pid, thread.args[0], want)
        if found is None:
            return _moves(thread, Motion.UNSEEN)
        need, handle = found
        return _blocked(thread, [need], f"{named(thread.call)} on fd {need.fd}", {handle.target: handle})

    return decode


def _move(pid: int, thread: procfs.Thread) -> Decoded:
    """splice, tee, sendfile: bytes from one fd to another, waiting on either."""
    args = thread.args
    source, sink = (args[1], args[0]) if thread.call == "sendfile" else (args[0], args[2])
    found = [f for f in (_on_fd(pid, source, Want.DATA), _on_fd(pid, sink, Want.ROOM)) if f is not None]
    if not found:
        return _moves(thread, Motion.UNSEEN)
    shown = f"{named(thread.call)} from fd {source} to fd {sink}"
    return _blocked(thread, [need for need, _ in found], shown, {h.target: h for _, h in found})


def _open(pid: int, thread: procfs.Thread) -> Decoded:
    """An open() that waits for the other side of a FIFO: its path and direction, from the process's memory."""
    if "fifo" not in thread.wchan and thread.wchan != "wait_for_partner":
        if "fifo_open" not in (procfs.kernel_stack(pid, thread.tid) or ""):  # readable by root only
            return _moves(thread, Motion.UNSEEN)  # an open() that waits on something else (a slow disk, a device)
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
    writing = flags & procfs.O_ACCMODE == 1
    path = path or "(a path it could not read)"
    how = "for writing (O_WRONLY)" if writing else "for reading (O_RDONLY)"
    need = Need(Want.PARTNER, path, opening=End.WRITE if writing else End.READ)
    return _blocked(thread, [need], f'{named(thread.call)} of "{path}" {how}')


def _polled_fds(pid: int, thread: procfs.Thread) -> Optional[list[tuple[int, Want]]]:
    """(fd, data or room) for each fd a poll-like call waits on; None if they cannot be read."""
    call, args = thread.call, thread.args
    fds: list[tuple[int, Want]] = []
    if call in ("poll", "ppoll"):
        data = procfs.read_memory(pid, args[0], 8 * args[1])
        if data is None or args[1] > 4096:
            return None
        for index in range(args[1]):  # struct pollfd { int fd; short events; short revents; }
            fd = int.from_bytes(data[8 * index : 8 * index + 4], "little", signed=True)
            events = int.from_bytes(data[8 * index + 4 : 8 * index + 6], "little")
            if fd >= 0 and events & (POLLIN | POLLPRI):
                fds.append((fd, Want.DATA))
            if fd >= 0 and events & POLLOUT:
                fds.append((fd, Want.ROOM))
    elif call in ("select", "pselect6"):
        size = (args[0] + 63) // 64 * 8
        for address, want in ((args[1], Want.DATA), (args[2], Want.ROOM), (args[3], Want.DATA)):
            if not address:
                continue
            bits = procfs.read_memory(pid, address, size)
            if bits is None:
                return None
            fds.extend((fd, want) for fd in range(args[0]) if bits[fd // 8] >> (fd % 8) & 1)
    else:  # epoll_wait, epoll_pwait, epoll_pwait2: the fds the epoll instance watches
        for fd, events in procfs.epoll_targets(pid, args[0]):
            if events & (POLLIN | POLLPRI):
                fds.append((fd, Want.DATA))
            if events & POLLOUT:
                fds.append((fd, Want.ROOM))
    return fds


def _poll(pid: int, thread: procfs.Thread) -> Decoded:
    if has_timeout(thread.call, _timeout_value(thread)):
        return _moves(thread, Motion.TIMED, f"{named(thread.call)}, with a timeout")
    polled = _polled_fds(pid, thread)
    if polled is None:
        return _moves(thread, Motion.UNSEEN)
    needs, handles = [], {}
    for fd, want in polled:
        found = _on_fd(pid, fd, want)
        if found is None:
            return _moves(thread, Motion.UNSEEN)  # it also waits on something no process is seen to end
        needs.append(found[0])
        handles[found[1].target] = found[1]
    on = ", ".join(f"fd {fd} to {'read' if want is Want.DATA else 'write'}" for fd, want in polled)
    return _blocked(thread, needs, f"{named(thread.call)} on {on}, with no timeout", handles)


def _wait_child(pid: int, thread: procfs.Thread) -> Decoded:
    call, args = thread.call, thread.args
    target = _signed(args[0]) if call == "wait4" else (_signed(args[1]) if args[0] == 1 else -1)  # waitid: P_PID
    kids = tuple(children(pid))
    kids = tuple(kid for kid in kids if kid == target) if target > 0 else kids
    options = args[2] if call == "wait4" else args[3]
    if not kids or options & WNOHANG:
        return _moves(thread, Motion.UNSEEN)
    shown = f"{named(call)} for {f'its child {target}' if target > 0 else 'any child'}"
    return _blocked(thread, [Need(Want.CHILD, children=kids)], shown)


def _lock(pid: int, thread: procfs.Thread) -> Decoded:
    if has_timeout(thread.call, _timeout_value(thread)):
        return _moves(thread, Motion.TIMED, f"{thread.call} (a lock), with a timeout")
    if thread.call == "futex":
        operation = thread.args[1]
        if operation & 0x7F not in (FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_LOCK_PI, FUTEX_LOCK_PI2):
            return _moves(thread, Motion.UNSEEN)
        private = operation & FUTEX_PRIVATE_FLAG
    else:  # futex_waitv: a vector of futexes, each with its own flags; take it as shared
        private = False
    if not private:
        return _moves(thread, Motion.UNSEEN, f"{thread.call} (a lock another process could release)")
    return _blocked(thread, [Need(Want.LOCK)], f"{thread.call} (a lock)")


def _signal_wait(pid: int, thread: procfs.Thread) -> Decoded:
    if thread.call in ("rt_sigtimedwait",) and has_timeout(thread.call, _timeout_value(thread)):
        return _moves(thread, Motion.TIMED)
    return _blocked(thread, [Need(Want.SIGNAL)], f"{named(thread.call)}, waiting for a signal")


DECODERS: dict[Family, Decoder] = {
    Family.READ: _fd_call(Want.DATA),
    Family.WRITE: _fd_call(Want.ROOM),
    Family.ACCEPT: _fd_call(Want.CONNECTION),
    Family.CONNECT: _fd_call(Want.ACCEPTED),
    Family.MOVE: _move,
    Family.OPEN: _open,
    Family.POLL: _poll,
    Family.CHILD_WAIT: _wait_child,
    Family.LOCK: _lock,
    Family.SIGNAL_WAIT: _signal_wait,
    Family.SLEEP: lambda pid, thread: _moves(thread, Motion.TIMED, f"{named(thread.call)} (a sleep)"),
}


def decode(pid: int, thread: procfs.Thread) -> Decoded:
    """One thread: running, waiting with a timeout, in a call whose waker cannot be seen, or blocked on needs."""
    if thread.state not in ("S", "D"):  # running, or stopped (a debugger, SIGSTOP): anyone may continue it
        return _moves(thread, Motion.RUNNING if thread.state == "R" else Motion.UNSEEN, thread.call)
    decoder = DECODERS.get(family(thread.call))
    if decoder is None:  # a call this project does not reason about (SysV IPC, a page fault...)
        return _moves(thread, Motion.UNSEEN)
    return decoder(pid, thread)


def analyse(pid: int, threads: list[procfs.Thread]) -> Seen:
    """Every thread of the process, decoded."""
    return Seen(pid, [decode(pid, thread) for thread in threads])
