"""The trace model as JSON (``ipc trace --json FILE``): the same facts for any other tool. Pure.

Times are seconds from the trace's first record (``origin``, seconds since
the epoch), measured under strace. Bytes are given twice: ``data`` as text
(UTF-8, undecodable bytes as \\xNN) and ``hex``; ``complete`` is false where
strace cut them at -s. Calls refer to processes by pid, messages and waits
to calls by ``index``, fd tables to objects by ``id``; a call's ``strace_line`` is
where it began in strace's text number ``strace_text``. A call's ``source`` is the
line of the program that made it (``file``, ``line``, ``function``, ``text``; and
``library``, the frame of the library that made it for the program, where one
did), null where no record of the program answers for it (ipc.trace.sources);
``python_calls`` are those records, each with the calls it made, and
``sources`` counts the calls of the lesson with and without one. A message that is not
``certain`` may be another concurrent write's (the bytes shown cannot tell);
``passes`` are fds sent over Unix sockets (SCM_RIGHTS). ``deadlock`` is
ipc.waitfor's finding at the trace's end: the verdict, the cycle (pids),
and every "waits for" with its reason.
"""

from __future__ import annotations

from typing import Optional

from ..waitfor import finding_to_json
from .model import Trace
from .snapshot import finding
from .sources import coverage, unknown

VERSION = 2  # 2: calls[].source is the program's line; strace's place is strace_text, strace_line


def _bytes(data: Optional[bytes]) -> dict:
    data = data or b""
    return {"data": data.decode("utf-8", "backslashreplace"), "hex": data.hex()}


def _sources(trace: Trace) -> dict:
    """How far the records answer: the lesson's calls with a source, those without ("source unknown"), and the
    Python calls that should have made a system call and made none."""
    known, counted = coverage(trace)
    return {
        "lesson_calls": counted,
        "with_source": known,
        "unknown": unknown(trace),
        "made_none": [n for n, record in enumerate(trace.python_calls) if record.made_none],
    }


def to_json(trace: Trace) -> dict:
    """A plain dict (json.dump it) with every process, call, object, fd change, message, wait and mark."""
    calls = trace.calls
    return {
        "version": VERSION,
        "note": "times in seconds from origin, measured under strace: the order is exact, durations are relative",
        "origin": trace.origin,
        "processes": [
            {
                "pid": p.pid,
                "label": p.label,
                "role": p.role,
                "parent": p.parent,
                "programs": p.programs,
                "commands": p.commands,
                "threads": p.threads,
                "created_by": p.created_by,
                "start": p.start,
                "end": p.end,
                "exit_code": p.exit_code,
                "killed_by": p.killed_by,
                "reaped_by": p.reaped_by,
            }
            for p in sorted(trace.processes.values(), key=lambda p: p.seq)
        ],
        "calls": [
            {
                "index": c.index,
                "pid": c.pid,
                "tid": c.tid,
                "name": c.name,
                "lecture": c.lecture,
                "start": c.start,
                "end": c.end,
                "result": c.result,
                "errno": c.errno,
                "fds": c.fds,
                "objects": c.objects,
                "kind": c.kind,
                "noise": c.noise,
                "text": c.text,
                "strace_text": c.strace_text,
                "strace_line": c.strace_line,
                "source": None if c.source is None else c.source.to_json(),
                **({"bytes": {**_bytes(c.data), "complete": c.data_complete}} if c.data is not None else {}),
                **({"note": c.note} if c.note else {}),
                **({"hidden": c.hidden} if c.hidden else {}),
                **({"watched": [list(w) for w in c.watched], "ready": c.ready} if c.watched is not None else {}),
            }
            for c in calls
        ],
        "objects": [
            {
                "id": o.id,
                "kind": o.kind,
                "label": o.label,
                "inode": o.inode,
                "path": o.path,
                "local": o.local,
                "remote": o.remote,
                "peer": o.peer,
                "listening": o.listening,
                "created_by": o.created_by,
                "lecture": o.interesting,
            }
            for o in trace.objects.values()
        ],
        "fd_changes": [
            {
                "time": change.time,
                "pid": change.pid,
                "fd": change.fd,
                "call": change.call,
                "why": change.why,
                "entry": None
                if change.entry is None
                else {
                    "object": change.entry.object,
                    "end": change.entry.end,
                    "cloexec": change.entry.cloexec,
                    "open_file": change.entry.open_file,
                },
            }
            for change in trace.fd_changes
        ],
        "messages": [
            {
                "id": m.id,
                "channel": m.channel,
                "kind": m.kind,
                "offset": m.offset,
                "length": m.length,
                **_bytes(m.data),
                "complete": m.complete,
                "writer": {"pid": m.writer_pid, "call": m.writer, "time": m.write_time, "name": calls[m.writer].name},
                "reader": {"pid": m.reader_pid, "call": m.reader, "time": m.read_time, "name": calls[m.reader].name},
                "write_parts": m.write_parts,
                "read_parts": m.read_parts,
                "source": m.source_address,
                "destination": m.destination,
                "certain": m.certain,
            }
            for m in trace.messages
        ],
        "unmatched": [
            {
                "channel": u.channel,
                "call": u.call,
                "pid": u.pid,
                "offset": u.offset,
                "length": u.length,
                **_bytes(u.data),
                "reason": u.reason,
                "side": u.side,
            }
            for u in trace.unmatched
        ],
        "passes": [
            {
                "sender": {"pid": p.sender_pid, "call": p.sender, "fd": p.sender_fd},
                "receiver": {"pid": p.receiver_pid, "call": p.receiver, "fd": p.receiver_fd},
                "object": p.object,
                "end": p.end,
            }
            for p in trace.passes
        ],
        "waits": [
            {
                "call": w.call,
                "pid": w.pid,
                "tid": w.tid,
                "start": w.start,
                "end": w.end,
                "duration": w.duration,
                "what": w.what,
                "reason": w.reason,
                "cause": w.cause,
                "cause_pid": w.cause_pid,
                "cause_tid": w.cause_tid,
                "signal": w.signal,
            }
            for w in trace.waits
        ],
        "marks": [
            {"time": m.time, "pid": m.pid, "tid": m.tid, "kind": m.kind, "text": m.text, "sender": m.sender}
            for m in trace.marks
        ],
        "python_calls": [
            {
                "pid": r.pid,
                "tid": r.tid,
                "time": r.time,
                "what": r.what,
                "fd": r.fd if r.fd >= 0 else None,
                "source": r.source.to_json(),
                "calls": r.calls,
            }  # fmt: skip
            for r in trace.python_calls
        ],
        "sources": _sources(trace),
        "steps": [
            {"time": s.time, "kind": s.kind, "pid": s.pid, "tid": s.tid, "call": s.call, "mark": s.mark}
            for s in trace.steps
        ],
        # who waited for whom at the end (before any ending signal from outside), judged by ipc.waitfor
        "deadlock": finding_to_json(finding(trace)),
    }
