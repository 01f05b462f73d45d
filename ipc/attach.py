"""Traced from main(), not from start-up: the program's half of ``ipc trace NAME`` and make demo's report.

A Python program's start-up makes hundreds of system calls of its own (an
open, reads, a close for every module it imports) before a demo's first call.
Under strace each costs a stop, and the start-up would be most of the trace,
only to be hidden as housekeeping. So the harness starts a demo untraced with
ENV set; ``program.run`` calls ``stop_for_tracer()`` just before main(): the
process stops itself (SIGSTOP), the harness attaches strace to it (``strace
-p``) and lets it go on (SIGCONT). Every call of main(), and of every process
it forks, is traced. The harness's half is ipc.trace.runner.Recording.

This module stays small because every demo imports it.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

ENV = "IPC_TRACE_ATTACH"
YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"
PR_SET_PTRACER = 0x59616D61
# What the standard library imports only once main() runs: argparse's help formatter (shutil, which
# brings bz2, lzma), gettext (locale), socket's name lookup of a str host (the idna codec).
PRELOAD = ("shutil", "locale", "encodings.idna")


def stop_for_tracer() -> None:
    """If the harness asked (ENV), stop until it has attached strace. Programs this one starts are not asked."""
    if os.environ.pop(ENV, None) is None:
        return
    for module in PRELOAD:  # more start-up, so it goes before the trace begins
        importlib.import_module(module)
    _allow_tracer()
    os.kill(os.getpid(), signal.SIGSTOP)  # the harness continues us (SIGCONT) once strace is attached
    calls = sys.modules.get("_ipc_calls")  # the start-up hook's records of each call's line (ipc/inject)
    if calls is not None:
        calls.start()  # from main() on, as the trace


def _allow_tracer() -> None:
    """Under Yama's scope 1 (Ubuntu's default) only an ancestor may trace a process, and strace -p is the
    harness's child, not ours: name the harness (our parent), whose children may then trace us."""
    if os.geteuid() == 0 or _yama_scope() != 1:
        return
    import ctypes  # only here: no demo pays for it otherwise

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PTRACER, os.getppid(), 0, 0, 0)


def _yama_scope() -> int:
    try:
        with open(YAMA_SCOPE) as file:
            return int(file.read())
    except (OSError, ValueError):
        return 0
