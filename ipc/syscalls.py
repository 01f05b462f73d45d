"""System calls by the kernel's names, with the names a lecture gives them.

What a student reads in a report or a trace must match what ``strace``
prints, so every call keeps the kernel's name: ``recvfrom``, ``wait4``,
``pipe2``. Where the lecture (and the C library) calls it something else,
that name stands beside it: ``recvfrom (recv)``, ``wait4 (waitpid)``.
The numbers are the ones /proc/PID/syscall gives, per architecture.
"""

from __future__ import annotations

import platform

# kernel name -> the name in the lecture notes and the C library, where they differ
LECTURE_NAMES = {
    "pipe2": "pipe",
    "clone": "fork",
    "clone3": "fork",
    "vfork": "fork",
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
