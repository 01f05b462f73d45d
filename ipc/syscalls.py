"""System calls by the kernel's names, with the names a lecture gives them.

What a student reads in a report or a trace must match what ``strace``
prints, so every call keeps the kernel's name: ``recvfrom``, ``wait4``,
``pipe2``. Where the lecture (and the C library) calls it something else,
that name stands beside it: ``recvfrom (recv)``, ``wait4 (waitpid)``.
The numbers are the ones /proc/PID/syscall gives, per architecture.
"""

from __future__ import annotations

import enum
import platform
from typing import Optional

# kernel name -> the name in the lecture notes and the C library, where they differ
LECTURE_NAMES = {
    "pipe2": "pipe",
    "clone": "fork",
    "clone3": "fork",
    "wait4": "waitpid",
    "waitid": "waitpid",
    "recvfrom": "recv",
    "sendto": "send",
    "recvmsg": "recv",
    "sendmsg": "send",
    "accept4": "accept",
    "openat": "open",
    "openat2": "open",
    "mknodat": "mkfifo",
    "mknod": "mkfifo",
    "dup3": "dup2",
    "pselect6": "select",
    "ppoll": "poll",
    "epoll_pwait": "epoll_wait",
    "renameat": "rename",
    "renameat2": "rename",
    "unlinkat": "unlink",
    "newfstatat": "stat",
    "exit_group": "exit",
    "pread64": "pread",
    "pwrite64": "pwrite",
}


def named(call: str) -> str:
    """The kernel's name, with the lecture's beside it where they differ: "recvfrom (recv)"."""
    lecture = LECTURE_NAMES.get(call)
    return f"{call} ({lecture})" if lecture else call


# -- the families: which calls do the same kind of thing -------------------
# Every part of the project that asks "is this a read?" or "can this call time out?" asks here:
# the live diagnosis (ipc.deadlock), the trace model (ipc.trace) and the core that judges them both
# (ipc.waitfor). A call not in any family is one this project does not reason about.


class Family(enum.Enum):
    READ = "read"  # takes bytes from one fd: waits for data, or end of file
    WRITE = "write"  # puts bytes into one fd: waits for room
    MOVE = "move"  # bytes from one fd to another inside the kernel (zero-copy): waits for either
    POLL = "poll"  # waits on a set of fds at once, for whichever is ready first
    ACCEPT = "accept"  # waits for a connection on a listening socket
    CONNECT = "connect"  # waits for its connection to be set up (or accepted)
    OPEN = "open"  # a FIFO's open() waits for a process to open the other side
    CHILD_WAIT = "child wait"  # waits for a child to change state (exit)
    LOCK = "lock"  # waits for a lock (a futex): for another thread
    SLEEP = "sleep"  # waits for a time to pass: wakes by itself
    SIGNAL_WAIT = "signal wait"  # waits for a signal, which anyone may send
    FORK = "fork"  # makes a process (or a thread)
    EXEC = "exec"  # replaces the program
    EXIT = "exit"  # ends the process (or the thread)


FAMILIES: dict[Family, frozenset[str]] = {
    Family.READ: frozenset({"read", "readv", "pread64", "preadv", "preadv2", "recv", "recvfrom", "recvmsg",
                            "recvmmsg"}),
    Family.WRITE: frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "send", "sendto", "sendmsg",
                             "sendmmsg"}),
    Family.MOVE: frozenset({"splice", "tee", "vmsplice", "sendfile", "copy_file_range"}),
    Family.POLL: frozenset({"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"}),
    Family.ACCEPT: frozenset({"accept", "accept4"}),
    Family.CONNECT: frozenset({"connect"}),
    Family.OPEN: frozenset({"open", "openat", "openat2"}),
    Family.CHILD_WAIT: frozenset({"wait4", "waitid", "waitpid"}),
    Family.LOCK: frozenset({"futex", "futex_waitv"}),
    Family.SLEEP: frozenset({"nanosleep", "clock_nanosleep"}),
    Family.SIGNAL_WAIT: frozenset({"pause", "rt_sigsuspend", "sigsuspend", "rt_sigtimedwait"}),
    Family.FORK: frozenset({"clone", "clone3", "fork", "vfork"}),
    Family.EXEC: frozenset({"execve", "execveat"}),
    Family.EXIT: frozenset({"exit", "exit_group"}),
}  # fmt: skip
FAMILY_OF: dict[str, Family] = {call: family for family, calls in FAMILIES.items() for call in calls}
READS, WRITES, MOVES, POLLS = (FAMILIES[f] for f in (Family.READ, Family.WRITE, Family.MOVE, Family.POLL))
ACCEPTS, OPENS, CHILD_WAITS, LOCKS = (FAMILIES[f] for f in (Family.ACCEPT, Family.OPEN, Family.CHILD_WAIT, Family.LOCK))
FORKS = FAMILIES[Family.FORK]


def family(call: str) -> Optional[Family]:
    return FAMILY_OF.get(call)


# A non-blocking call that would have had to wait says so at once: it never waited.
WOULD_BLOCK = frozenset({"EAGAIN", "EWOULDBLOCK", "EINPROGRESS"})


class Unit(enum.Enum):
    MILLISECONDS = "ms"  # an int: negative waits for ever, 0 does not wait
    POINTER = "pointer"  # a struct timespec or timeval: NULL waits for ever


# Which argument holds a call's timeout, and how. A blocked call with a timeout wakes by itself.
TIMEOUT_ARGUMENT: dict[str, tuple[int, Unit]] = {
    "poll": (2, Unit.MILLISECONDS),
    "epoll_wait": (3, Unit.MILLISECONDS),  # (epfd, events, maxevents, timeout): not the third
    "epoll_pwait": (3, Unit.MILLISECONDS),
    "epoll_pwait2": (3, Unit.POINTER),
    "ppoll": (2, Unit.POINTER),
    "select": (4, Unit.POINTER),
    "pselect6": (4, Unit.POINTER),
    "futex": (3, Unit.POINTER),
    "futex_waitv": (3, Unit.POINTER),
    "recvmmsg": (4, Unit.POINTER),
    "rt_sigtimedwait": (2, Unit.POINTER),
    "semtimedop": (3, Unit.POINTER),
    "mq_timedreceive": (4, Unit.POINTER),
    "mq_timedsend": (4, Unit.POINTER),
}


def has_timeout(call: str, value: Optional[int]) -> Optional[bool]:
    """Whether ``call`` waits with a timeout, given its timeout argument as a number (milliseconds,
    signed; or a pointer, 0 for NULL). None when the value is not known (strace prints epoll_wait's
    timeout only when the call returns). A sleep always has one; a call with no such argument never."""
    if FAMILY_OF.get(call) is Family.SLEEP:
        return True
    if call not in TIMEOUT_ARGUMENT:
        return False
    if value is None:
        return None
    unit = TIMEOUT_ARGUMENT[call][1]
    return value >= 0 if unit is Unit.MILLISECONDS else value != 0


# The system calls a waiting process can be found in, by number, per architecture.
_X86_64 = {
    0: "read", 1: "write", 2: "open", 7: "poll", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev",
    23: "select", 34: "pause", 35: "nanosleep", 40: "sendfile", 42: "connect", 43: "accept", 44: "sendto",
    45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 61: "wait4", 65: "semop", 69: "msgsnd", 70: "msgrcv",
    128: "rt_sigtimedwait", 130: "rt_sigsuspend", 202: "futex", 220: "semtimedop", 230: "clock_nanosleep",
    232: "epoll_wait", 242: "mq_timedsend", 243: "mq_timedreceive", 247: "waitid", 257: "openat",
    270: "pselect6", 271: "ppoll", 275: "splice", 276: "tee", 281: "epoll_pwait", 288: "accept4",
    299: "recvmmsg", 307: "sendmmsg", 437: "openat2", 441: "epoll_pwait2", 449: "futex_waitv",
}  # fmt: skip
_AARCH64 = {
    22: "epoll_pwait", 56: "openat", 63: "read", 64: "write", 65: "readv", 66: "writev", 67: "pread64",
    68: "pwrite64", 71: "sendfile", 72: "pselect6", 73: "ppoll", 76: "splice", 77: "tee", 95: "waitid",
    98: "futex", 101: "nanosleep", 115: "clock_nanosleep", 133: "rt_sigsuspend", 137: "rt_sigtimedwait",
    182: "mq_timedsend", 183: "mq_timedreceive", 188: "msgrcv", 189: "msgsnd", 193: "semop",
    202: "accept", 203: "connect", 206: "sendto", 207: "recvfrom", 211: "sendmsg", 212: "recvmsg",
    242: "accept4", 243: "recvmmsg", 260: "wait4", 269: "sendmmsg", 437: "openat2", 441: "epoll_pwait2",
    449: "futex_waitv",
}  # fmt: skip
MACHINE = platform.machine()
BY_NUMBER = {"x86_64": _X86_64, "aarch64": _AARCH64}.get(MACHINE, {})
TGKILL = {"x86_64": 234, "aarch64": 131}.get(MACHINE)
PIDFD_GETFD = 438  # the same number on every architecture
