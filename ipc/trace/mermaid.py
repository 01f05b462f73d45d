"""The trace as a Mermaid ``sequenceDiagram`` (``ipc trace --mermaid FILE``), to paste into Markdown or slides. Pure.

Participants are every traced process (role and pid), and each thread of
one that made a call of the lecture (``server[5893/5901]``); each message is one
``->>`` line from its writer to its reader, labelled with its bytes and its
channel; a fork, an end of file and an exit collected by wait are dotted
``-->>`` lines; a call that blocked is a note over its process (how long,
and what ended it), as is a call still blocked at the end. A deadlock ends
with a note over the processes of the cycle and a line per "waits for",
from ipc.waitfor's finding. Mermaid has no time axis: this shows
the order, not durations. Mermaid refuses long texts, so a long run keeps its
first and last messages and says how many were left out.
"""

from __future__ import annotations

from typing import Optional

from .describe import milliseconds, show_bytes
from .model import Trace
from .scene import cycle

MESSAGES = 200  # messages drawn before a long run is cut in the middle


def render(trace: Trace, *, title: str = "", messages: int = MESSAGES) -> str:
    """The diagram's text. ``messages``: at most this many message lines (0: every one)."""
    waits = {w.call: w for w in trace.waits if not trace.calls[w.call].noise}
    lanes = participants(trace)
    names = {lane: f"P{n}" for n, lane in enumerate(lanes, 1)}
    events: list = []  # (place on the time line, order, kind, line)

    def who(pid: int, tid: Optional[int] = None) -> str:
        return names.get((pid, tid if tid is not None else pid)) or names[(pid, pid)]

    def arrow(at: float, order: int, kind: str, source: str, target: str, arrowhead: str, text: str) -> None:
        events.append((at, order, kind, f"{source}{arrowhead}{target}: {_safe(text)}"))

    def note(at: float, over: str, text: str) -> None:
        events.append((at, 2, "note", f"Note over {over}: {_safe(text)}"))

    for message in trace.messages:
        writer, reader = trace.calls[message.writer], trace.calls[message.reader]
        if not (writer.noise or reader.noise):
            at = reader.end_seq if reader.end_seq is not None else reader.seq
            text = f"{_quote(message.data, message.complete)} · {_channel(trace, message.channel)}"
            arrow(at, 1, "message", who(writer.pid, writer.tid), who(reader.pid, reader.tid), "->>", text)
    for call in trace.calls:
        if call.noise:
            continue
        if call.name in ("clone", "clone3", "fork", "vfork") and call.result in trace.processes:
            arrow(call.seq, 0, "fork", who(call.pid, call.tid), who(call.result), "-->>", call.lecture or "fork")
        elif call.lecture == "thread" and (call.pid, call.result) in names:
            arrow(call.seq, 0, "fork", who(call.pid, call.tid), who(call.pid, call.result), "-->>", "new thread")
        wait = waits.get(call.index)
        if wait is None:
            continue
        here = who(call.pid, call.tid)
        if wait.end_seq is None:  # still blocked when the trace ended: the wait a deadlock is made of
            so_far = f"blocked {milliseconds(trace.end - call.start)}, " if trace.end is not None else ""
            note(call.seq, here, f"{wait.what}: {so_far}{wait.reason}")
            continue
        if wait.reason.startswith("end of file") and wait.cause_pid in trace.processes:
            arrow(wait.end_seq, 0, "eof", who(wait.cause_pid), here, "-->>", "end of file")
        elif call.name in ("wait4", "waitid") and wait.cause_pid in trace.processes:
            child = trace.processes[wait.cause_pid]
            text = f"{child.ending} ({call.lecture or call.name})"
            arrow(wait.end_seq, 0, "reap", who(child.pid), here, "-->>", text)
        note(wait.end_seq, here, f"{wait.what}: blocked {milliseconds(wait.duration or 0.0)}, {wait.reason}")
    for mark in trace.marks:
        if mark.kind == "signal" and mark.text != "SIGCHLD":
            note(mark.seq, who(mark.pid, mark.tid), f"signal {mark.text}")
        elif mark.kind in ("exit", "killed", "thread-exit"):
            note(mark.seq, who(mark.pid, mark.tid), mark.text if mark.tid == mark.pid else f"thread {mark.text}")
    events.sort(key=lambda e: (e[0], e[1]))
    lines = [event[3] for event in _cut(events, messages)]
    head = ["sequenceDiagram"] + ([f"    title {_safe(title)}"] if title else [])
    head += [f"    participant {names[lane]} as {_safe(label)}" for lane, label in lanes.items()]
    return "\n".join(head + [f"    {line}" for line in lines] + _deadlock(trace, who)) + "\n"


def participants(trace: Trace) -> dict:
    """(pid, tid) -> its name, for every traced process (``client[5882]``) and, after it, each of its threads
    that made a call of the lecture (``server[5893/5901]``): every one of them is declared."""
    threads: dict = {}
    for call in trace.calls:
        if not call.noise and call.tid != call.pid:
            threads.setdefault(call.pid, {})[call.tid] = None
    out: dict = {}
    for process in sorted(trace.processes.values(), key=lambda p: p.seq):
        out[(process.pid, process.pid)] = process.label
        for tid in threads.get(process.pid, ()):
            out[(process.pid, tid)] = f"{process.role or process.program}[{process.pid}/{tid}]"
    return out


def _cut(events: list, limit: int) -> list:
    """Keep the events up to the first ``limit*3/4`` messages and from the last ``limit/4``; one note between."""
    places = [number for number, event in enumerate(events) if event[2] == "message"]
    if not limit or len(places) <= limit:
        return events
    head, tail = places[limit * 3 // 4], places[len(places) - limit // 4]
    left = sum(1 for event in events[head:tail] if event[2] == "message")
    first = events[places[0]][3].split("->>")[0]
    note = (0, 0, "note", f"Note over {first}: {left:,} messages left out here (ipc trace --json FILE holds every one)")
    return events[:head] + [note] + events[tail:]


def _deadlock(trace: Trace, who) -> list:
    """The calls blocked at the end, each with a line to the process it waits for (ipc.waitfor's finding);
    a deadlock's cycle is said in words and named in a comment."""
    edges, deadlock = cycle(trace)
    if not edges:
        return []
    ends = list(dict.fromkeys(name for e in edges for name in (who(e.waiter, e.tid), who(e.holder))))
    title = (
        "deadlock: each blocked call waits for a process that is blocked itself" if deadlock else "blocked at the end"
    )
    lines = [f"    Note over {','.join(ends[:2])}: {title}"]
    cycle_names = [who(e.waiter, e.tid) for e in edges if e.in_cycle]
    if cycle_names:  # a comment, for a program that reads the diagram: the cycle's processes in order
        lines.append(f"    %% cycle: {' '.join(cycle_names)}")
    for edge in edges:
        whom = "itself" if edge.waiter == edge.holder else trace.processes[edge.holder].label
        text = _safe(f"in {edge.what}, waits for {whom}: {edge.held}")
        lines.append(f"    {who(edge.waiter, edge.tid)}--x{who(edge.holder)}: {text}")
    return lines


def _channel(trace: Trace, name: str) -> str:
    channel = trace.channels.get(name)
    return channel.label if channel is not None and channel.label else name


def _quote(data: bytes, complete: bool) -> str:
    """Bytes between typographic quotes: Mermaid's own quote would need an entity code."""
    shown = show_bytes(data, 30, complete)
    close = shown.rfind('"')
    return f"“{shown[1:close]}”{shown[close + 1 :]}" if shown.startswith('"') and close > 0 else shown


# Mermaid 11 drops a message's text from a "#" on ("pipe #1" showed as "pipe"): # and ; become its entity codes.
SAFE = str.maketrans({"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", '"': "#quot;", "\n": " ", "\r": " "})


def _safe(text: str) -> str:
    """Text Mermaid reads as text: # ; < > and " as its entity codes (in one pass), no line breaks."""
    return text.translate(SAFE)
