"""The trace as a Mermaid ``sequenceDiagram`` (``ipc trace --mermaid FILE``), to paste into Markdown or slides. Pure.

Participants are the processes (role and pid); each message is one
``->>`` line from its writer to its reader, labelled with its bytes and its
channel; a fork, an end of file and an exit collected by wait are dotted
``-->>`` lines; a call that blocked is a note over its process (how long,
and what ended it). A deadlock ends with a note over the processes of the
cycle and a dotted line per "waits for". Mermaid has no time axis: this shows
the order, not durations. Mermaid refuses long texts, so a long run keeps its
first and last messages and says how many were left out.
"""

from __future__ import annotations

from .describe import milliseconds, show_bytes
from .model import Trace
from .scene import cycle

MESSAGES = 200  # messages drawn before a long run is cut in the middle


def render(trace: Trace, *, title: str = "", messages: int = MESSAGES) -> str:
    """The diagram's text. ``messages``: at most this many message lines (0: every one)."""
    waits = {w.call: w for w in trace.waits if not trace.calls[w.call].noise}
    names = {p.pid: f"P{n}" for n, p in enumerate(sorted(trace.processes.values(), key=lambda p: p.seq), 1)}
    events: list = []  # (place on the time line, order, kind, line, the pids it names)

    def arrow(at: float, order: int, kind: str, source: int, target: int, arrowhead: str, text: str) -> None:
        events.append((at, order, kind, f"{names[source]}{arrowhead}{names[target]}: {_safe(text)}", (source, target)))

    def note(at: float, pid: int, text: str) -> None:
        events.append((at, 2, "note", f"Note over {names[pid]}: {_safe(text)}", (pid,)))

    for message in trace.messages:
        writer, reader = trace.calls[message.writer], trace.calls[message.reader]
        if not (writer.noise or reader.noise):
            at = reader.end_seq if reader.end_seq is not None else reader.seq
            arrow(
                at,
                1,
                "message",
                message.writer_pid,
                message.reader_pid,
                "->>",
                f"{_quote(message.data, message.complete)} · {_channel(trace, message.channel)}",
            )
    for call in trace.calls:
        if call.noise:
            continue
        if (
            call.name in ("clone", "clone3", "fork", "vfork")
            and call.lecture != "thread"
            and call.result in trace.processes
        ):
            arrow(call.seq, 0, "fork", call.pid, call.result, "-->>", call.lecture or "fork")
        wait = waits.get(call.index)
        if wait is None or wait.end_seq is None:
            continue
        if wait.reason.startswith("end of file") and wait.cause_pid in trace.processes:
            arrow(wait.end_seq, 0, "eof", wait.cause_pid, call.pid, "-->>", "end of file")
        elif call.name in ("wait4", "waitid") and wait.cause_pid in trace.processes:
            child = trace.processes[wait.cause_pid]
            arrow(wait.end_seq, 0, "reap", child.pid, call.pid, "-->>", f"{child.ending} ({call.lecture or call.name})")
        note(wait.end_seq, call.pid, f"{wait.what}: blocked {milliseconds(wait.duration or 0.0)}, {wait.reason}")
    for mark in trace.marks:
        if mark.kind == "signal" and mark.text != "SIGCHLD":
            note(mark.seq, mark.pid, f"signal {mark.text}")
        elif mark.kind in ("exit", "killed") and mark.tid == mark.pid:
            note(mark.seq, mark.pid, mark.text)
    events.sort(key=lambda e: (e[0], e[1]))
    kept = _cut(events, messages)
    used = {pid for event in kept for pid in event[4]}
    lines = [event[3] for event in kept]
    head = ["sequenceDiagram"] + ([f"    title {_safe(title)}"] if title else [])
    head += [f"    participant {names[pid]} as {_safe(trace.processes[pid].label)}" for pid in names if pid in used]
    return "\n".join(head + [f"    {line}" for line in lines] + _deadlock(trace, names, used)) + "\n"


def _cut(events: list, limit: int) -> list:
    """Keep the events up to the first ``limit*3/4`` messages and from the last ``limit/4``; one note between."""
    places = [number for number, event in enumerate(events) if event[2] == "message"]
    if not limit or len(places) <= limit:
        return events
    head, tail = places[limit * 3 // 4], places[len(places) - limit // 4]
    left = sum(1 for event in events[head:tail] if event[2] == "message")
    first = events[places[0]]
    note = (
        0,
        0,
        "note",
        f"Note over {first[3].split('->>')[0]}: {left:,} messages left out here "
        f"(ipc trace --json FILE holds every one)",
        first[4][:1],
    )
    return events[:head] + [note] + events[tail:]


def _deadlock(trace: Trace, names: dict, used: set) -> list:
    edges, deadlock = cycle(trace)
    edges = [e for e in edges if e.waiter in used and e.holder in used]
    if not edges:
        return []
    pids = list(dict.fromkeys(pid for e in edges for pid in (e.waiter, e.holder)))
    over = ",".join(names[pid] for pid in pids[:2])
    title = (
        "deadlock: each blocked call waits for a process that is blocked itself" if deadlock else "blocked at the end"
    )
    lines = [f"    Note over {over}: {title}"]
    cycle_names = [names[e.waiter] for e in edges if e.in_cycle]
    if cycle_names:  # a comment, for a program that reads the diagram: the cycle's processes in order
        lines.append(f"    %% cycle: {' '.join(cycle_names)}")
    for edge in edges:
        who = "itself" if edge.waiter == edge.holder else trace.processes[edge.holder].label
        lines.append(
            f"    {names[edge.waiter]}--x{names[edge.holder]}: {_safe(f'in {edge.what}, waits for {who}: {edge.held}')}"
        )
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
