"""The lecture's names for the kernel's calls, and what counts as noise. Pure.

The kernel runs ``pipe2``, ``clone``, ``wait4`` and ``recvfrom`` where the
lecture (and a Python program) says ``pipe()``, ``fork()``, ``waitpid()`` and
``recv()``. Every call keeps the kernel's name, so that what a student reads
matches what strace prints, with the lecture's beside it.
"""

from __future__ import annotations

import re
from typing import Optional

from .. import syscalls
from ..syscalls import LECTURE_NAMES
from ..transcript import parse_label
from .strace import Data, Raw, Struct

# The lecture's names, where the kernel's differ (ipc.syscalls holds the table), and a few more a trace shows.
LECTURE = {**LECTURE_NAMES, "tgkill": "kill", "rt_sigaction": "sigaction"}

# The calls traced by default (strace -e trace=...): processes, fds and their I/O, sockets,
# waits. Not traced: memory (mmap, brk), stat, ioctl, futex, getdents... the bulk of start-up.
PROCESS_CALLS = (
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tgkill",
)
TRACED_CALLS = (
    *PROCESS_CALLS,
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "lseek",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "pipe",
    "pipe2",
    "open",
    "openat",
    "openat2",
    "creat",
    "mknod",
    "mknodat",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendfile",
    "splice",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd2",
    "rt_sigaction",
)

PROCESS = set(PROCESS_CALLS)  # a process's life: made, changed, ended, waited for, signalled
MAKERS = {
    "pipe",
    "pipe2",
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "setsockopt",
    "mknod",
    "mknodat",
}
PATHS = {"rename", "renameat", "renameat2", "unlink", "unlinkat", "open", "openat", "openat2", "creat"}
# The families are ipc.syscalls'. The model still takes a sendfile or splice for a write (of the
# bytes it moves into its output fd).
WRITES = syscalls.WRITES | {"sendfile", "splice"}
READS = syscalls.READS
FD_CALLS = {"close", "close_range", "dup", "dup2", "dup3", "fcntl", "lseek"}
POLLS = syscalls.POLLS
HIDDEN = {"getsockname", "getpeername", "lseek", "rt_sigaction", "epoll_create1", "epoll_ctl", "eventfd2"}


def lecture_name(name: str, args: list, result_text: str = "") -> Optional[str]:
    """The lecture's name for a call, or None where it is the same as the kernel's."""
    flags = " ".join(str(arg) for arg in args if isinstance(arg, (Raw, Struct)))
    if name in ("clone", "clone3") and "CLONE_THREAD" in flags:
        return "thread"
    if name in ("mknod", "mknodat"):
        return "mkfifo" if "S_IFIFO" in flags else None
    if name in ("recvfrom", "sendto") and len(args) >= 5 and args[4] != "NULL":
        return None  # with an address: recvfrom/sendto in the lecture too
    if name == "unlinkat" and "AT_REMOVEDIR" in flags:
        return "rmdir"
    if name == "fcntl" and len(args) >= 2 and str(args[1]).startswith("F_DUPFD"):
        return "dup"
    if name == "rt_sigaction" and args and isinstance(args[0], Raw):
        return f"signal({args[0]})"
    return LECTURE.get(name)


def labelled_lines(data: bytes) -> list:
    """The ``role[pid]: text`` lines in bytes a process wrote (a demo's log), as (role, pid, text)."""
    lines = data.decode("utf-8", "backslashreplace").splitlines()
    return [parsed for line in lines if (parsed := parse_label(line)) is not None]  # ipc.transcript's format


def program_name(path: bytes, argv: list) -> str:
    """What to call a process after execve: the script for an interpreter, else the program's name."""
    name = path.rsplit(b"/", 1)[-1].decode("utf-8", "backslashreplace")
    words = [a.value.decode("utf-8", "backslashreplace") for a in argv if isinstance(a, Data)]
    if re.match(r"^(python[\d.]*|pypy\d*|perl|ruby|node|bash|sh|dash)$", name):
        rest = words[1:]
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option == "-m" and rest:
                return rest[0]  # python -m module
            if option == "-c":
                return name
        if rest:
            return rest[0].rsplit("/", 1)[-1]
    return name


SYSTEM_PATHS = ("/usr/", "/lib", "/etc/", "/proc/", "/sys/", "/bin/", "/sbin/", "/opt/", "/var/lib/", "/nix/")


def boring_path(path: str) -> bool:
    """A file that start-up and housekeeping read: libraries, Python's modules, locale data, /dev/null."""
    if path.startswith(SYSTEM_PATHS) or "/__pycache__/" in path or "/site-packages/" in path:
        return True
    if path.startswith("/dev/"):
        return not (path.startswith("/dev/pts/") or path == "/dev/tty")
    return bool(re.search(r"/(python|pypy)[\d.]*/|\.(pyc|so[.\d]*|pth|cfg)$", path))


# Calls that only read or look at files: on a library, a module or locale data they are start-up and
# housekeeping, never the lesson. Their lines can go before parsing (most of an interpreter's trace).
FILE_HOUSEKEEPING = {"read", "pread64", "open", "openat", "close", "fstat", "newfstatat", "lseek", "mmap", "ioctl",
                     "getdents64", "readlink", "readlinkat", "statx", "fcntl", "access", "faccessat2"}  # fmt: skip
_CALL_LINE = re.compile(r"^(?:\[pid\s+)?\d+\]?\s+[\d.]+\s+(?:(?P<name>\w+)\(|<\.\.\. (?P<resumed>\w+) resumed>)")
_PATHS = re.compile(r'<(/[^<>]*)|"(/[^"]*)"')


def without_housekeeping(text: str) -> str:
    """strace's text less the lines of file housekeeping on system files (each line kept or dropped whole,
    an unfinished call's resumed half with it), so that the model has less to read. What is left is
    consistent: an fd opened on such a file is dropped with every call that names it."""
    kept, dropped = [], set()
    for line in text.splitlines(keepends=True):
        match = _CALL_LINE.match(line)
        if match is not None:
            pid = line.lstrip("[pid ").split(None, 1)[0].rstrip("]")
            if match["resumed"] and (pid, match["resumed"]) in dropped:
                dropped.discard((pid, match["resumed"]))
                continue
            name = match["name"]
            if name in FILE_HOUSEKEEPING and any(boring_path(a or b) for a, b in _PATHS.findall(line)):
                if line.rstrip().endswith("<unfinished ...>"):
                    dropped.add((pid, name))
                continue
        kept.append(line)
    return "".join(kept)
