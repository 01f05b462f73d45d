"""``ipc trace``: the system calls that really ran, as processes, fds, objects, messages and waits.

strace is the witness. ``strace.parse`` reads its text; ``build`` turns one
or more texts into one ``Trace`` model (no I/O: tested on recorded text);
``picture.render`` draws it for a terminal and ``export.to_json`` writes it
for other tools; ``snapshot`` turns it, at any step, into what ipc.waitfor
judges (who waits for whom; ``finding`` is the judgement); ``runner`` runs
programs under strace (the only I/O here).

    from ipc.trace import build
    trace = build([open("server.txt").read(), open("client.txt").read()])
    for message in trace.messages:
        print(trace.processes[message.writer_pid].label, "->",
              trace.processes[message.reader_pid].label, message.data)
"""

from .build import build
from .model import (
    Call,
    FdChange,
    FdEntry,
    FdPass,
    KernelObject,
    Mark,
    Message,
    Process,
    State,
    Step,
    Trace,
    Unmatched,
    Wait,
)
from .snapshot import finding, snapshot

__all__ = [
    "build",
    "finding",
    "snapshot",
    "Call",
    "FdChange",
    "FdEntry",
    "FdPass",
    "KernelObject",
    "Mark",
    "Message",
    "Process",
    "State",
    "Step",
    "Trace",
    "Unmatched",
    "Wait",
]
