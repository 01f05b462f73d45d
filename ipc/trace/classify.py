"""Which calls are the lecture and which are noise (start-up, imports, housekeeping). Pure.

Shown by default: process life (fork, exec, exit, wait, signals), the calls
that make IPC objects (pipe, socket, bind, listen, accept, connect, mkfifo),
and every call on an IPC object: a pipe, a FIFO, a socket, a terminal, or a
file the traced programs wrote, made, renamed, redirected to, or read and
passed on (``cat /etc/hostname``). Noise (shown with --all): the interpreter's
start-up (libraries, modules, locale files), its probing of fds 0-2, a demo's
own log lines on stderr (kept as notes), a shell's housekeeping (a shell
saving its fds above 9 around a redirection: only a shell's, never a
program's own copies of its fds; said so with --all).
"""

from __future__ import annotations

from .model import Call, Trace
from .names import FD_CALLS, HIDDEN, MAKERS, MOVES, PATHS, POLLS, PROCESS, READS, WRITES, boring_path

SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "mksh", "busybox")
PROBES = ("F_GETFD", "F_SETFD", "F_GETFL", "F_SETFL", "F_GETPIPE_SZ", "F_SETPIPE_SZ")
SHELL_HOUSEKEEPING = "a shell saving its own fds"  # said with --all; a program's own copies of its fds show


def classify(call: Call, trace: Trace, waited: set) -> None:
    """``waited``: the indexes of the calls that waited (trace.waits)."""
    call.kind = _kind(call)
    call.noise = _noise(call, trace, call.index in waited)
    if call.noise and _shell_saving(call, trace):
        call.hidden = SHELL_HOUSEKEEPING


def mark_files(trace: Trace) -> None:
    """A file is part of the exchange once a traced program writes it or puts it on fd 0, 1 or 2.

    Not a scratch file that its writer deletes unread (Python's tempfile probes
    a directory that way).
    """
    readers: dict = {}
    unlinkers: dict = {}
    for call in trace.calls:
        for key in call.objects:
            if (call.name in READS or call.name in MOVES) and call.result:
                readers.setdefault(key, set()).add(call.pid)
            if call.name in ("unlink", "unlinkat"):
                unlinkers.setdefault(key, set()).add(call.pid)
    for call in trace.calls:
        for key in call.objects:
            obj = trace.objects[key]
            if obj.kind != "file" or boring_path(obj.path or ""):
                continue
            if ((call.name in WRITES or call.name in MOVES) and call.result and call.result > 0) or (
                call.name in ("dup2", "dup3") and call.result in (0, 1, 2)
            ):
                obj.interesting = True
    for obj in _passed_on(trace):
        obj.interesting = True
    for key, pids in unlinkers.items():
        obj = trace.objects[key]
        if (
            obj.kind == "file"
            and key not in readers
            and obj.created_by is not None
            and trace.calls[obj.created_by].pid in pids
        ):
            obj.interesting = False


def _passed_on(trace: Trace) -> list:
    """The files whose bytes a program passes on: it reads them and writes the same bytes (cat, a web server
    sending a page), or moves them out without reading them (sendfile, splice). Where they live does not
    matter (``cat /etc/hostname``): they are where its output comes from."""
    written: dict = {}  # pid -> every byte it wrote, joined (up to a bound), and its short writes
    short: dict = {}
    for call in trace.calls:
        if call.name in WRITES and call.data and call.result and call.result > 0:
            blob = written.setdefault(call.pid, bytearray())
            if len(blob) < PASSED_ON_BYTES:
                blob += call.data
            if len(call.data) < PROBE:
                short.setdefault(call.pid, set()).add(call.data)
    found = []
    for call in trace.calls:
        if not call.objects or not call.result or call.result <= 0:
            continue
        obj = trace.objects[call.objects[0]]
        if obj.kind != "file" or obj.interesting:
            continue
        if call.name in MOVES and call.fds and trace.objects.get(_source_object(call)) is obj:
            found.append(obj)
        elif call.name in READS and call.data:
            probe = call.data[:PROBE]  # (a short file, read whole, may be shorter: "vm\n")
            long_enough = len(probe) >= 4 or (probe == call.data and len(probe) >= 2)
            if (long_enough and probe in written.get(call.pid, b"")) or any(
                len(data) >= 4 and call.data.startswith(data) for data in short.get(call.pid, ())
            ):
                found.append(obj)
    return found


PROBE = 32  # bytes of a read looked for among its process's writes
PASSED_ON_BYTES = 1 << 20


def _source_object(call: Call) -> str:
    """The object a move took its bytes out of (sendfile's is its second fd, the others' their first)."""
    return call.objects[1] if call.name == "sendfile" and len(call.objects) > 1 else call.objects[0]


def _shell_saving(call: Call, trace: Trace) -> bool:
    """A shell saving and restoring its own fds (copies above 9) around a redirection."""
    if trace.processes[call.pid].program not in SHELLS or call.name in PROCESS:
        return False
    return any(fd >= 10 for fd in call.fds) or (call.result is not None and call.result >= 10 and call.name in (
        "dup", "dup2", "dup3", "fcntl"))  # fmt: skip


def _kind(call: Call) -> str:
    if call.kind == "log":
        return "log"
    name = call.name
    if name in PROCESS:
        return "process"
    if name in READS or name in WRITES or name in MOVES:
        return "io"
    if name in POLLS:
        return "wait"
    if name in MAKERS:
        return "socket" if name not in ("pipe", "pipe2", "mknod", "mknodat") else "fd"
    if name in FD_CALLS:
        return "fd"
    if name in PATHS:
        return "file"
    if name == "rt_sigaction":
        return "signal"
    return "other"


def _noise(call: Call, trace: Trace, waited: bool) -> bool:
    name, args = call.name, call.args
    objects = [trace.objects[key] for key in call.objects]
    interesting = any(obj.interesting for obj in objects)
    if call.kind == "log":
        return True
    if name == "rt_sigaction":  # shown: a program putting SIGPIPE back to its default (Python ignores it)
        handler = str(args[1]) if len(args) > 1 else ""
        return not (args and args[0] == "SIGPIPE" and "SIG_IGN" not in handler and handler != "NULL")
    if name in HIDDEN:
        return True
    if name in ("execve", "execveat"):
        return call.errno is not None  # a shell or env trying each directory of PATH
    if name in ("wait4", "waitid"):
        return not (call.result and call.result > 0) and call.end_seq is not None and not waited
    if name in ("kill", "tgkill"):
        return len(args) > 1 and args[-1] == 0
    if name in PROCESS:
        return False
    if _shell_saving(call, trace):
        return True  # a shell saving and restoring its own fds around a redirection (a program's own copies show)
    if name in MAKERS:
        return bool(call.name in ("mknod", "mknodat") and not objects)
    if name == "fcntl":
        command = str(args[1]) if len(args) > 1 else ""
        return command in PROBES or not interesting
    if name in ("dup", "dup2", "dup3"):
        return not interesting
    if name in POLLS and not waited:
        return True  # a poll that found its fd ready at once (a socket with a timeout polls before each call)
    if name in ("open", "openat", "openat2", "creat"):  # shown when it failed only if it was waiting (a FIFO)
        return not interesting or (call.errno is not None and not call.errno.startswith(("ERESTART", "EINTR")))
    return not interesting
