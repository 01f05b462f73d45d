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
    "tee",
    "vmsplice",
    "copy_file_range",
    "preadv",
    "pwritev",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
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
# The families are ipc.syscalls'. A move (splice, tee, sendfile, copy_file_range) takes bytes out of one
# object and puts them into another, never through the program's memory; vmsplice puts the program's own
# pages into a pipe: a write.
WRITES = syscalls.WRITES
READS = syscalls.READS
MOVES = syscalls.MOVES
FD_CALLS = {"close", "close_range", "dup", "dup2", "dup3", "fcntl", "lseek"}
POLLS = syscalls.POLLS
HIDDEN = {"getsockname", "getpeername", "lseek", "rt_sigaction", "eventfd2"}


BY_FLAGS = {"clone", "clone3", "mknod", "mknodat", "unlinkat"}  # calls whose lecture name their flags tell


def lecture_name(name: str, args: list, result_text: str = "") -> Optional[str]:
    """The lecture's name for a call, or None where it is the same as the kernel's."""
    flags = " ".join(str(arg) for arg in args if isinstance(arg, (Raw, Struct))) if name in BY_FLAGS else ""
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
# What a program reads because it starts, whatever it then does: shared libraries and the loader's cache, an
# interpreter's modules, locale and character-set data, fonts.
STARTUP = re.compile(
    r"/(python|pypy)[\d.]*/|/(__pycache__|site-packages|dist-packages)/|\.(pyc|so[.\d]*|pth|cfg)$|^/etc/ld\.so\."
    r"|/locale|/gconv/|^/usr/share/(fonts|icons|mime|zoneinfo)/|^/etc/fonts/|^/etc/localtime$"
)


def startup_path(path: str) -> bool:
    """A file read by start-up itself: a library, a module, locale data. Such a file is never the lesson."""
    return STARTUP.search(path) is not None


def boring_path(path: str) -> bool:
    """A file that start-up and housekeeping read: the start-up's files, and every system file (/etc, /usr,
    /proc...) and device but a terminal, until a program passes its bytes on (ipc.trace.classify)."""
    if path.startswith(SYSTEM_PATHS) or startup_path(path):
        return True
    if path.startswith("/dev/"):
        return not (path.startswith("/dev/pts/") or path == "/dev/tty")
    return False


# Calls that only read or look at files: on a library, a module or locale data they are start-up, never the
# lesson. Their lines can go before parsing (most of an interpreter's trace). Each is judged by the file it is
# about (its fd, or its path argument), never by the bytes it read.
FILE_HOUSEKEEPING = {"read", "pread64", "open", "openat", "close", "fstat", "newfstatat", "lseek", "mmap", "ioctl",
                     "getdents64", "readlink", "readlinkat", "statx", "fcntl", "access", "faccessat2"}  # fmt: skip
BY_PATH = {"open", "openat", "newfstatat", "statx", "access", "faccessat2", "readlink", "readlinkat"}
_CALL_LINE = re.compile(r"^(?:\[pid\s+)?\d+\]?\s+[\d.]+\s+(?:(?P<name>\w+)\(|<\.\.\. (?P<resumed>\w+) resumed>)")
_FIRST_FD = re.compile(r"\(-?\d+<(/[^<>]*)>")  # the decoration of the first argument: read(3</usr/lib/x.so>, ...
_PATH_ARGUMENT = re.compile(
    r'\((?:AT_FDCWD|-?\d+)?(?:<[^<>]*>)?,? ?"(/[^"]*)"'
)  # open("/a", or openat(AT_FDCWD</d>, "/a"
_RESULT_FD = re.compile(r"\) += -?\d+<(/[^<>]*)>")
_DECORATION = re.compile(r"<(/[^<>]*)>")


def _about(name: str, line: str, at: int) -> list:
    """The paths of the files a housekeeping call is about, from its line (``at``: where its arguments begin)."""
    if name in BY_PATH:
        return [m.group(1) for m in (_PATH_ARGUMENT.match(line, at), _RESULT_FD.search(line, at)) if m is not None]
    if name == "mmap":  # its fd is its fifth argument; it has no string
        return _DECORATION.findall(line, at)
    first = _FIRST_FD.match(line, at)
    return [first.group(1)] if first is not None else []


def without_housekeeping(text: str) -> str:
    """strace's text less the lines of the start-up's own file reads (libraries, modules, locale data; each
    line kept or dropped whole, an unfinished call's resumed half and a hex dump with it), so that the model has
    less to read. What is left is consistent: an fd opened on such a file is dropped with every call on it.
    A dropped line leaves an empty line: every line left keeps its number in strace's text."""
    kept, dropped = [], set()
    dumping = False  # the line before was dropped: so is the hex dump that follows it
    for line in text.splitlines(keepends=True):
        if line.startswith((" | ", " * ")):
            kept.append("\n" if dumping else line)
            continue
        dumping = False
        match = _CALL_LINE.match(line)
        if match is not None:
            pid = line.lstrip("[pid ").split(None, 1)[0].rstrip("]")
            if match["resumed"] and (pid, match["resumed"]) in dropped:
                dropped.discard((pid, match["resumed"]))
                dumping = True
                kept.append("\n")
                continue
            name = match["name"]
            if name in FILE_HOUSEKEEPING and any(startup_path(path) for path in _about(name, line, match.end() - 1)):
                if line.rstrip().endswith("<unfinished ...>"):
                    dropped.add((pid, name))
                dumping = True
                kept.append("\n")
                continue
        kept.append(line)
    return "".join(kept)
