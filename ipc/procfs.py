"""What Linux's /proc says about a waiting process, read without disturbing it.

For each thread: the system call it is in and that call's arguments
(``/proc/PID/task/TID/syscall``), its state and the kernel function it sleeps
in (``stat``, ``wchan``), and counters that change whenever it runs
(``schedstat``, ``io``). For each file descriptor: what it is (``fd``), how it
was opened (``fdinfo``), and for a pipe how full it is. Sockets' addresses,
queues and other ends are ipc.procnet's.

This module only reads. Where a file cannot be read (the process ended, or
belongs to someone else) it returns None or leaves the entry out; the caller
says what it could not see. Other systems have no /proc: ``AVAILABLE`` is
False there, and ipc.deadlock falls back to psutil.
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
import termios
from dataclasses import dataclass
from typing import Iterable, Optional

from . import syscalls

AVAILABLE = os.path.exists("/proc/self/syscall") and os.path.exists("/proc/self/fdinfo")

AT_FDCWD = 0xFFFFFF9C  # -100, as the kernel prints it
O_ACCMODE = 0o3
F_GETPIPE_SZ = 1032


@dataclass(frozen=True)
class Thread:
    """One thread as /proc shows it at one moment."""

    pid: int
    tid: int
    state: str  # R running, S sleeping, D uninterruptible, T stopped, Z zombie
    call: str  # the system call's name, "running", or "syscall N" for one not in the table
    args: tuple[int, ...]  # its six arguments
    wchan: str  # the kernel function it sleeps in
    raw: str  # the whole syscall line: the same line means the same call, same arguments, same place


def read_text(path: str) -> Optional[str]:
    """A file of /proc as text; None if it cannot be read (the process ended, or is not ours to see)."""
    try:
        with open(path, "rb") as file:
            return file.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def threads(pid: int) -> list[Thread]:
    """Every thread of the process; empty when it has ended or cannot be read."""
    try:
        tids = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []
    found = []
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        stat_line, syscall_line = read_text(f"{base}/stat"), read_text(f"{base}/syscall")
        if stat_line is None or syscall_line is None:
            continue
        state = stat_line[stat_line.rfind(")") + 2 :].split(" ", 1)[0]
        parts = syscall_line.split()
        if not parts or parts[0] == "running":
            call, args = "running", ()
        elif parts[0] == "-1":  # blocked, but not in a system call (a page fault, say)
            call, args = "none", ()
        else:
            number = int(parts[0])
            call = syscalls.BY_NUMBER.get(number, f"syscall {number}")
            args = tuple(int(arg, 16) for arg in parts[1:7])
        found.append(Thread(pid, tid, state, call, args, read_text(f"{base}/wchan") or "", syscall_line.strip()))
    return found


def progress(pid: int) -> Optional[tuple]:
    """Counters that change whenever any thread of the process runs or does I/O; None if it ended."""
    counters: list[str] = []
    try:
        tids = sorted(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None
    for tid in tids:
        schedstat = read_text(f"/proc/{pid}/task/{tid}/schedstat")  # time on cpu, time waiting, times scheduled
        if schedstat is None:
            stat_line = read_text(f"/proc/{pid}/task/{tid}/stat") or ""
            schedstat = " ".join(stat_line[stat_line.rfind(")") + 2 :].split()[11:13])  # utime, stime
        counters.append(schedstat.strip())
    io = read_text(f"/proc/{pid}/io")
    if io:
        counters.append(" ".join(line for line in io.splitlines() if line.startswith(("rchar", "wchar"))))
    return tuple(counters)


def children(pid: int) -> Optional[list[int]]:
    """The process's children (every thread's), from /proc/PID/task/TID/children; None if the
    kernel does not keep that file (CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        text = read_text(f"/proc/{pid}/task/{tid}/children")
        if text is None:
            return None if not os.path.exists(f"/proc/{pid}/task/{tid}/children") else found
        found.extend(int(child) for child in text.split())
    return found


def start_time(pid: int) -> Optional[int]:
    """When the process started (clock ticks since boot): with the pid, names one process for good."""
    text = read_text(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[19]) if fields[0] != "Z" else None


def boot_time() -> Optional[float]:
    """When the machine booted, in seconds since the epoch (to within the 10 ms of /proc/uptime)."""
    import time

    text = read_text("/proc/uptime")
    return time.time() - float(text.split()[0]) if text else None


def kernel_stack(pid: int, tid: int) -> Optional[str]:
    """The kernel functions a thread sleeps in (/proc/PID/task/TID/stack, readable by root only)."""
    return read_text(f"/proc/{pid}/task/{tid}/stack")


def command(pid: int) -> str:
    """A short name for a process: the script for a Python program, else the command's name."""
    if not AVAILABLE:  # macOS and others: ask psutil
        import psutil

        try:
            argv, name = psutil.Process(pid).cmdline(), psutil.Process(pid).name()
        except psutil.Error:
            return "?"
    else:
        argv = (read_text(f"/proc/{pid}/cmdline") or "").split("\0")
        name = (read_text(f"/proc/{pid}/comm") or "?").strip()
    if name.startswith("python") and len(argv) > 1:
        script = next((arg for arg in argv[1:] if arg.endswith(".py")), None)
        if script:
            return os.path.basename(script)
    return name


def environment(pid: int) -> dict[str, str]:
    """The environment the process was started with (empty if it cannot be read, or it is a zombie)."""
    text = read_text(f"/proc/{pid}/environ") if AVAILABLE else None
    if text is None:
        import psutil

        try:
            return psutil.Process(pid).environ()
        except psutil.Error:  # another user's, or ended: nothing to tell
            return {}
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def command_line(pid: int) -> str:
    """The process's whole command line, as a shell would show it ("?" if it cannot be read)."""
    if not AVAILABLE:
        import psutil

        try:
            return " ".join(psutil.Process(pid).cmdline()) or "?"
        except psutil.Error:
            return "?"
    argv = (read_text(f"/proc/{pid}/cmdline") or "").rstrip("\0").split("\0")
    return " ".join(argv) or "?"


def is_python(pid: int) -> Optional[bool]:
    """Whether the process runs a Python interpreter; None if it cannot be told."""
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("python")
    except OSError:
        comm = read_text(f"/proc/{pid}/comm")
        return comm.startswith("python") if comm else None


def catches(pid: int, signum: int) -> Optional[bool]:
    """Whether the process has a handler for this signal (SigCgt in /proc/PID/status); None: cannot tell."""
    for line in (read_text(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return None


# -- file descriptors -------------------------------------------------------


@dataclass(frozen=True)
class Handle:
    """One file descriptor of one process."""

    pid: int
    fd: int
    target: str  # what /proc/PID/fd/N points at: "pipe:[123]", "socket:[456]", a path
    kind: str  # "pipe", "fifo", "socket", "tty", "file", "other"
    ident: tuple  # the open object: the same ident in two processes is the same pipe or socket
    access: str  # "r", "w" or "rw"

    @property
    def reads(self) -> bool:
        return "r" in self.access

    @property
    def writes(self) -> bool:
        return "w" in self.access


def _access(pid: int, fd: int) -> Optional[str]:
    info = read_text(f"/proc/{pid}/fdinfo/{fd}")
    if info is None:
        return None
    for line in info.splitlines():
        if line.startswith("flags:"):
            return {0: "r", 1: "w", 2: "rw"}.get(int(line.split()[1], 8) & O_ACCMODE, "?")
    return "?"


def handle(pid: int, fd: int, target: Optional[str] = None) -> Optional[Handle]:
    """What one fd of a process is; None if it is closed or cannot be seen."""
    try:
        target = target or os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    access = _access(pid, fd)
    if access is None:
        return None
    if target.startswith("pipe:["):
        return Handle(pid, fd, target, "pipe", ("pipe", int(target[6:-1])), access)
    if target.startswith("socket:["):
        return Handle(pid, fd, target, "socket", ("socket", int(target[8:-1])), access)
    if not target.startswith("/"):
        return Handle(pid, fd, target, "other", ("other", target), access)
    try:
        info = os.stat(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return Handle(pid, fd, target, "file", ("file", target), access)
    if stat.S_ISFIFO(info.st_mode):
        return Handle(pid, fd, target, "fifo", ("fifo", info.st_dev, info.st_ino), access)
    kind = "tty" if stat.S_ISCHR(info.st_mode) and target.startswith(("/dev/pts/", "/dev/tty")) else "file"
    return Handle(pid, fd, target, kind, ("file", info.st_dev, info.st_ino), access)


def fd_targets(pid: int) -> dict[int, str]:
    """fd -> what it points at, for every fd of the process (empty if it cannot be read)."""
    found = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for name in names:
        try:
            found[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
    return found


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def holders(targets: Iterable[str], skip: int = -1) -> tuple[dict[str, list[Handle]], int]:
    """Every fd, in every process on the machine, that points at one of these targets.

    Returns target -> handles, and how many processes could not be looked at
    (another user's, without the rights to see their fds).
    """
    wanted = set(targets)
    found: dict[str, list[Handle]] = {target: [] for target in wanted}
    unseen = 0
    for pid in all_pids():
        if pid == skip:
            continue
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except PermissionError:
            unseen += 1
            continue
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target in wanted:
                seen = handle(pid, int(name), target)
                if seen is not None:
                    found[target].append(seen)
    return found, unseen


def epoll_targets(pid: int, epfd: int) -> list[tuple[int, int]]:
    """(fd, events) for every fd an epoll instance watches (fdinfo's tfd lines)."""
    found = []
    for line in (read_text(f"/proc/{pid}/fdinfo/{epfd}") or "").splitlines():
        parts = line.split()
        if parts[:1] == ["tfd:"] and "events:" in parts:
            found.append((int(parts[1]), int(parts[parts.index("events:") + 1], 16)))
    return found


# -- the process's memory: a pathname, a pollfd array, a timeout ------------


def read_memory(pid: int, address: int, size: int) -> Optional[bytes]:
    try:
        fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.pread(fd, size, address)
    except (OSError, OverflowError):
        return None
    finally:
        os.close(fd)


def read_string(pid: int, address: int, limit: int = 4096) -> Optional[str]:
    data = read_memory(pid, address, limit)
    if data is None:
        return None
    return data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def cwd(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


# -- a look inside a pipe, through a copy of another process's fd ---------

_libc = None


def pipe_fill(pid: int, fd: int) -> Optional[tuple[int, int]]:
    """(bytes waiting in the pipe, its capacity), or None if it cannot be seen.

    Uses pidfd_getfd() (Linux 5.6) to borrow a copy of the fd for an instant,
    then FIONREAD and F_GETPIPE_SZ on the copy, which is closed at once.
    """
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        libc = _c_library()
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        copy = libc.syscall(syscalls.PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            return None
        try:
            waiting = struct.unpack("i", fcntl.ioctl(copy, termios.FIONREAD, b"\0\0\0\0"))[0]
            return waiting, fcntl.fcntl(copy, F_GETPIPE_SZ)
        except OSError:
            return None
        finally:
            os.close(copy)
    finally:
        os.close(pidfd)


def signal_thread(pid: int, tid: int, signum: int) -> bool:
    """Send a signal to one thread (tgkill), so that thread is the one that handles it."""
    try:
        if syscalls.TGKILL is None:
            os.kill(pid, signum)
            return True
        return _c_library().syscall(syscalls.TGKILL, pid, tid, signum) == 0
    except OSError:
        return False


def _c_library():
    global _libc
    if _libc is None:
        import ctypes  # only the watcher needs it, not every demo that imports ipc

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
        _libc.syscall.argtypes = [ctypes.c_long] * 4
    return _libc
