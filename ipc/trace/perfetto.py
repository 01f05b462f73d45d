"""The trace as Chrome trace-event JSON (``ipc trace --perfetto FILE``): opens in ui.perfetto.dev and chrome://tracing.

Pure (a dict out; json.dump it). What each event is, in that format's terms:

- ``M`` metadata: ``process_name`` for every traced process (its role and
  pid), ``thread_name`` for each of its threads;
- ``X`` complete slices, with ``ts`` and ``dur`` in µs: every lecture call,
  as long as it took under strace; a call that blocked has ``cat`` "blocked"
  and says in its args what ended the wait (one still blocked at the end
  lasts to the end of the trace); the args name the line of the program that
  made the call (``source``, and ``library`` where a library made it for it);
- ``i`` instants: fork, exec, exit, signals;
- flows ``s`` → ``f`` (same numeric ``id``, ``cat`` and ``name``; ``"bp": "e"``
  on the ``f``): one per message, from the write's slice to the read's; and,
  for a deadlock, one per "waits for" from each blocked call to the blocked
  call of the process it waits for. Ids are numbers: a string id is read as hex.

Times count from the trace's first record, measured under strace: the order
is exact, durations are only relative.
"""

from __future__ import annotations

from .describe import describe, show_bytes
from .model import Trace
from .scene import cycle

US = 1_000_000


def to_perfetto(trace: Trace, everything: bool = False) -> dict:
    """Every traced process, its calls (the lecture's; ``everything``: all), messages as flows, and marks."""
    end = max([c.end or c.start for c in trace.calls] + [m.time for m in trace.marks] + [trace.end or 0.0])
    waits = {wait.call: wait for wait in trace.waits}
    events: list = []
    for process in sorted(trace.processes.values(), key=lambda p: p.seq):
        events.append(
            {
                "ph": "M",
                "name": "process_name",
                "pid": process.pid,
                "tid": process.pid,
                "args": {"name": f"{process.label} {' → '.join(dict.fromkeys(process.programs))}".strip()},
            }
        )
        for tid in process.threads or [process.pid]:
            name = process.label if tid == process.pid else f"{process.role or process.program}[{process.pid}/{tid}]"
            events.append({"ph": "M", "name": "thread_name", "pid": process.pid, "tid": tid, "args": {"name": name}})
    slices: dict = {}  # call index -> (ts, dur)
    for call in trace.calls:
        if call.noise and not everything:
            continue
        ts = call.start * US
        dur = max(((call.end if call.end is not None else _until(trace, call, end)) - call.start) * US, 1.0)
        wait = waits.get(call.index)
        args = {"call": describe(trace, call, 60), "strace": call.text[:300]}
        if call.source is not None:  # the line of the program that made it (and the library's frame, if one did)
            args["source"] = f"{call.source.where}  {call.source.text}".rstrip()
            if call.source.library is not None:
                args["library"] = f"{call.source.library.function} ({call.source.library.where})"
        if wait is not None:
            args["waited for"] = wait.what
            args["ended by"] = wait.reason
        events.append(
            {
                "ph": "X",
                "name": call.title,
                "cat": "blocked" if wait is not None else call.kind,
                "pid": call.pid,
                "tid": call.tid,
                "ts": ts,
                "dur": dur,
                "args": args,
            }
        )
        slices[call.index] = (ts, dur)
        if call.name in ("clone", "clone3", "fork", "vfork") and call.result in trace.processes:
            child = trace.processes[call.result]
            what = "thread" if call.lecture == "thread" else "fork"
            events.append(_instant(f"{what} → {child.label}", "process", call.pid, call.tid, ts))
        elif call.name in ("execve", "execveat") and call.errno is None:
            events.append(_instant(describe(trace, call, 40), "process", call.pid, call.tid, ts))
    for mark in trace.marks:
        if mark.kind == "signal" and mark.text == "SIGCHLD" and not everything:
            continue
        name = f"signal {mark.text}" if mark.kind == "signal" else mark.text
        events.append(
            _instant(name, "signal" if mark.kind == "signal" else "process", mark.pid, mark.tid, mark.time * US)
        )
    number = 0
    for message in trace.messages:
        if message.writer not in slices or message.reader not in slices:
            continue
        number += 1
        name = f"{show_bytes(message.data, 30, message.complete)} · {message.length} bytes"
        events += _flow(number, name, "message", trace, message.writer, message.reader, slices)
    edges, deadlock = cycle(trace)
    stuck = {w.pid: w.call for w in trace.blocked_at_end() if w.call in slices}
    for edge in edges:
        if edge.waiter in stuck and edge.holder in stuck and edge.waiter != edge.holder:
            number += 1
            events += _flow(
                number,
                f"waits for {trace.processes[edge.holder].label}: {edge.held}",
                "waits-for",
                trace,
                stuck[edge.waiter],
                stuck[edge.holder],
                slices,
            )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "source": "ipc trace",
            "note": "times from the first traced call, measured under "
            "strace: the order is exact, durations only relative",
            "deadlock": {"cycle": [e.waiter for e in edges if e.in_cycle]} if deadlock else None,
        },
    }


def _until(trace: Trace, call, end: float) -> float:
    """Where a call that never returned ends: where its process ended (killed inside it), else at the end of
    the trace (still blocked when strace stopped: a deadlock lasts until it was seen and ended)."""
    process = trace.processes.get(call.pid)
    return process.end if process is not None and process.end is not None else end


def _instant(name: str, category: str, pid: int, tid: int, ts: float) -> dict:
    return {"ph": "i", "name": name, "cat": category, "pid": pid, "tid": tid, "ts": ts, "s": "t"}


def _flow(number: int, name: str, category: str, trace: Trace, source: int, target: int, slices: dict) -> list:
    """An arrow from inside one call's slice to inside another's (the ``f`` binds to its enclosing slice)."""
    (start, _), (ts, dur) = slices[source], slices[target]
    at = ts + dur - min(0.5, dur / 2)  # inside the read's slice, near its end: after the bytes went in
    if at < start:  # never backwards in time: as late as the target's slice allows, or no arrow at all
        if ts + dur < start:
            return []
        at = start
    first, second = trace.calls[source], trace.calls[target]
    return [
        {"ph": "s", "id": number, "name": name, "cat": category, "pid": first.pid, "tid": first.tid, "ts": start},
        {
            "ph": "f",
            "bp": "e",
            "id": number,
            "name": name,
            "cat": category,
            "pid": second.pid,
            "tid": second.tid,
            "ts": at,
        },
    ]
