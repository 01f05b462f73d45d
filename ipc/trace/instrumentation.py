"""What the watcher's own instruments leave in a trace, taken out again. Pure.

Under the harness and ``ipc watch`` a deadlock report names each process's
Python line: the watcher sends a blocked program DUMP_SIGNAL, faulthandler
writes the stack into a file of ipc.stacks' directory, and the blocked call
is restarted (SA_RESTART). strace sees all of it: the call returning
ERESTARTSYS, the signal, a few dozen writes, the same call again. None of it
is the program's: here the writes and the signal go, and the call and its
restart become the one wait they are to the program.

A program traced from its main() on (ipc.attach) stopped itself and was
continued once strace was attached: that SIGCONT, before any call of it, goes too.

A Python program's records of its own calls (ipc/inject, ipc.trace.sources)
go as well, once read: each tells which line made the calls that follow it.
"""

from __future__ import annotations

from typing import Optional

from ..stacks import DUMP_SIGNAL
from .sources import Join, on_records
from .strace import Data, Fd, Signal, Syscall

KERNEL_SIGRTMIN = 32  # strace names a real-time signal by its distance from the kernel's SIGRTMIN
DUMP_SIGNAL_NAME = f"SIGRT_{int(DUMP_SIGNAL) - KERNEL_SIGRTMIN}"
STACKS_DIRECTORY = "/ipc-stacks-"  # ipc.stackdumps makes its directory with this prefix
ATTACHED = "before strace attached"  # in the execve the harness writes for a program traced from main()
RESTARTED = {"ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK"}


def remove(records: list, join: Optional[Join] = None) -> list:
    """The records of one strace text, less the stack dumps a watcher asked for and the records a Python
    program kept of its calls, which ``join`` reads (and joins to the calls they announce) on the way."""
    join = join if join is not None else Join()
    kept: list = []
    interrupted: dict[int, Syscall] = {}  # task -> its call that the dump signal interrupted
    attached: set[int] = set()  # tasks whose trace began at main(), not yet seen in a call of their own
    for record in records:
        if isinstance(record, Signal) and record.name == DUMP_SIGNAL_NAME:
            continue
        if isinstance(record, Signal) and record.name == "SIGCONT" and record.pid in attached:
            attached.discard(record.pid)
            continue  # the harness letting an attached program go on
        if isinstance(record, Syscall):
            if record.name == "execve" and ATTACHED in record.text:
                attached.add(record.pid)
            else:
                attached.discard(record.pid)
        if isinstance(record, Syscall) and _on_stack_file(record):
            continue
        if isinstance(record, Syscall) and on_records(record):
            if record.name == "write" and record.ok:
                join.said(record)
            continue
        if isinstance(record, Syscall):
            first = interrupted.pop(record.pid, None)
            if first is not None and _same_call(first, record):
                kept.remove(first)  # the program only ever made one call: it began at the first one
                record.time, record.line, record.split = first.time, first.line, True
                if record.duration is not None and record.end_time is not None:
                    record.duration = record.end_time - record.time
                join.again(first, record)
            else:
                join.made(record)
            if record.errno in RESTARTED:
                interrupted[record.pid] = record  # restarted next, if a dump signal was all that came
        kept.append(record)
    return kept


def _on_stack_file(record: Syscall) -> bool:
    """A call on the dump file: its opening, the dup onto a high fd, writes, close."""
    fds = [arg for arg in record.args if isinstance(arg, Fd)] + ([record.result_fd] if record.result_fd else [])
    if any(fd.target is not None and STACKS_DIRECTORY in fd.target.text for fd in fds):
        return True
    marker = STACKS_DIRECTORY.encode()
    return any(isinstance(arg, Data) and marker in arg.value for arg in record.args)


def _same_call(first: Syscall, again: Syscall) -> bool:
    return first.name == again.name and first.args[:1] == again.args[:1]
