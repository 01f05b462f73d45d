"""The Python line a waiting process is on, asked for while it waits.

Under the harness or ``ipc watch`` (both set IPC_STACK_DIR), every program run
by ``ipc.program.run`` asks faulthandler to write its Python stack to a file of
its own when it gets DUMP_SIGNAL. faulthandler writes from inside the signal
handler, in C, so it answers even while the process is blocked in read() or
open(); the handler is installed with SA_RESTART, so the blocked call simply
goes on waiting. The file is kept open on a high fd (200 or above, closed on
exec) so that the fds a demo creates keep their usual numbers; a forked child
gets a file of its own.

A program that did not ask (any command under ``ipc watch``) is never sent the
signal: its line is reported as unknown. The watcher's side is ipc.stackdumps;
this module stays small because every demo imports it.
"""

from __future__ import annotations

import faulthandler
import fcntl
import os
import signal
import sys
from typing import Optional

ENV = "IPC_STACK_DIR"
DUMP_SIGNAL = signal.SIGRTMIN + 1 if hasattr(signal, "SIGRTMIN") else signal.SIGUSR2
FD_FLOOR = 200

_fd: Optional[int] = None


# -- in the program ----------------------------------------------------------


def enable() -> None:
    """Dump this process's stack on DUMP_SIGNAL, if a watcher asked for it (IPC_STACK_DIR)."""
    global _fd
    directory = os.environ.get(ENV)
    if not directory or _fd is not None or not os.path.isdir(directory) or _hooked():
        return
    try:
        _fd = _open(directory)
    except OSError:
        return
    faulthandler.register(DUMP_SIGNAL, file=_fd, all_threads=True, chain=False)
    os.register_at_fork(after_in_child=_after_fork)


def _hooked() -> bool:
    """Whether the start-up hook (ipc/inject, under ipc watch and ipc trace) already dumps this process's stacks:
    it loads this very file as ``_ipc_stacks``. One file per process, one fd."""
    other = sys.modules.get("_ipc_stacks")
    return other is not None and other is not sys.modules.get(__name__) and getattr(other, "_fd", None) is not None


def _open(directory: str, onto: Optional[int] = None) -> int:
    path = os.path.join(directory, str(os.getpid()))
    low = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        if onto is None:
            return fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, FD_FLOOR)
        return os.dup2(low, onto, inheritable=False)
    finally:
        os.close(low)


def _after_fork() -> None:
    """In a forked child: the same fd number, now on a file named after the child's pid."""
    global _fd
    try:
        _open(os.environ[ENV], onto=_fd)
    except (OSError, KeyError):  # never write into the parent's file, nor into an fd the child reuses
        faulthandler.unregister(DUMP_SIGNAL)
        os.close(_fd)
        _fd = None
