"""The terminal picture of a trace: lanes side by side, time down, an arrow per message. Pure (text out).

    time ms  client[5882]                              server[5893]
             pipe_fork.py                              pipe_fork.py
    ───────  ────────────────────────────────────────  ───────────────────────────
    151.529  ├ pipe2 (pipe) → fd 3 read, fd 4 write…
    152.322  ├ write fd 4 "hello\\n" = 6 (pipe #1)      │
    152.384  ├ read fd 5 (pipe #2) ⋯                    │
             ┆ ──────── "hello\\n" · pipe #1 ─────────▶│
    155.031  ┆                                          ├ read fd 3 = 6 "hello\\n" (pipe #1)

Each process is a lane (its role and pid, its program). A call is a row in
its lane; a call that blocked has two rows, where it began and where it
returned, and its lane is dotted between them, with how long it waited and
what ended it. A message is an arrow from the writer's lane to the reader's,
on the row where the reader got it; end of file is a dotted arrow from the
close that caused it. Times are milliseconds from the trace's first record.
With ``source``, a column beside the time says which line of the program made
each call (``pipe_fork.py:64  pid = os.fork()``; ipc.trace.sources), or that
no record of it answers for it ("source unknown").
Below the lanes, ipc.trace.picture_summary says what was matched, what was
left over, and who was blocked.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Optional

from .describe import describe, milliseconds, parts, show_bytes
from .model import Trace
from .picture_summary import channel_label, summary, wrap
from .scene import failed, thread_lanes
from .sources import unknown

COLOURS = ("36", "35", "33", "32", "34", "31")  # cyan, magenta, yellow, green, blue, red
TIME = 9  # the time column
SOURCE = 42  # the source column, at most (--source)
UNDER_TRACE = (
    "Times are milliseconds from the first call, measured under strace: every call is slowed by "
    "the tracing, so the order is exact and the durations are only relative."
)


@dataclass
class Row:
    pos: float
    order: int
    kind: str  # call | start | end | arrow | eof | fork | signal | exit | note
    pid: int
    time: Optional[float] = None
    text: list = field(default_factory=list)  # the lines of a call row
    source: Optional[int] = None  # arrows: the lane they come from
    label: str = ""
    style: str = ""
    code: str = ""  # the program's line that made the call (--source): "pipe_fork.py:64  pid = os.fork()"


class Canvas:
    def __init__(self, width: int):
        self.chars = [" "] * width
        self.styles = [""] * width

    def put(self, column: int, text: str, style: str = "", limit: Optional[int] = None) -> None:
        limit = len(self.chars) if limit is None else min(limit, len(self.chars))
        if column + len(text) > limit:
            text = text[: max(limit - column - 1, 0)] + "…" if limit > column else ""
        for offset, char in enumerate(text):
            if 0 <= column + offset < limit:
                self.chars[column + offset] = char
                self.styles[column + offset] = style

    def render(self, colour: bool) -> str:
        if not colour:
            return "".join(self.chars).rstrip()
        out, current = [], ""
        for char, style in zip(self.chars, self.styles):
            if style != current:
                out.append("\x1b[0m" if not style else f"\x1b[0;{style}m")
                current = style
            out.append(char)
        return ("".join(out).rstrip() + "\x1b[0m").replace("\x1b[0m\x1b[0m", "\x1b[0m")


def render(
    trace: Trace,
    width: int = 100,
    colour: bool = False,
    everything: bool = False,
    notes: bool = False,
    rows: Optional[int] = None,
    stopped: Optional[Trace] = None,
    source: bool = False,
) -> str:
    """The whole picture: a line saying times are under trace, the lanes, then what is left at the end.

    ``rows``: draw at most this many rows (the beginning and the end), saying how many were left out.
    ``stopped``: the model as it was when a deadlock was seen: its blocked calls are the ones named.
    ``source``: beside each call, the line of the program that made it."""
    threads = {tid: pid for tid, pid in _owners(trace).items() if tid in thread_lanes(trace)}
    limit, rows = rows, _rows(trace, everything, notes, threads)
    code = min(SOURCE, max(width // 3, 16)) if source else 0  # the source column's width
    if source:
        _code(trace, rows, code - 2)
    keys = {row.pid for row in rows} | {row.source for row in rows if row.source is not None}
    pids = [p.pid for p in sorted(trace.processes.values(), key=lambda p: p.seq) if p.pid in keys]
    pids += [pid for pid in dict.fromkeys(threads[key] for key in keys if key in threads) if pid not in pids]
    if not pids:
        return "Nothing to draw: the trace holds no process-to-process calls (try --all).\n"
    slot = _slots(trace, rows, pids)
    count = max(slot.values()) + 1
    left = TIME + code  # where the lanes begin
    lane = max((width - left - 1) // count, 12)
    sub = _subs(trace, rows, threads, keys)  # a thread's place beside its process, in its process's column
    subs = {number: 1 + max([sub[t] for t in sub if slot[threads[t]] == number], default=0) for number in range(count)}
    axis = {pid: left + 1 + slot[pid] * lane for pid in pids}
    axis.update({tid: axis[threads[tid]] + 2 * sub[tid] for tid in sub})
    text = {key: left + 1 + slot[threads.get(key, key)] * lane + 2 * subs[slot[threads.get(key, key)]] for key in axis}
    style = {pid: COLOURS[index % len(COLOURS)] for index, pid in enumerate(pids)}
    style.update({tid: style[threads[tid]] for tid in sub})
    firsts = [next(pid for pid in pids if slot[pid] == number) for number in range(count)]
    for pid in pids:
        if pid not in firsts:  # a later process in a lane freed by an earlier one: named where it begins
            process = trace.processes[pid]
            order = 4.5 if process.created_by is not None else 0  # after its fork arrow, or before its first call
            title = f"{process.label} {' → '.join(process.programs)}"
            rows.append(Row(process.seq, order, "begin", pid, None, [title]))
    for tid in sub:  # a thread is named where its lane begins
        process = trace.processes[threads[tid]]
        begins = min(row.pos for row in rows if tid in (row.pid, row.source))
        rows.append(Row(begins, 4.5, "begin", tid, None, [f"{process.role or process.program}[{process.pid}/{tid}]"
                                                          f" a thread of {process.label}"]))  # fmt: skip
    rows.sort(key=lambda row: (row.pos, row.order))
    left_out = 0
    if limit and len(rows) > limit:
        head = limit * 3 // 4
        left_out, rows = len(rows) - limit, rows[:head] + rows[len(rows) - (limit - head) :]
    keys_drawn = pids + list(sub)
    ends = {m.tid: m.seq for m in trace.marks if m.kind in ("exit", "killed", "thread-exit") and m.tid in sub}
    layout = _Layout(
        keys_drawn,
        axis,
        lane,
        width,
        style,
        colour,
        {**slot, **{t: slot[threads[t]] for t in sub}},
        count,
        _Blocked(trace, threads),
        text,
        {t: threads[t] for t in sub},
        ends,
        {t: min((row.pos for row in rows if t in (row.pid, row.source)), default=float("inf")) for t in sub},
        left,
    )  # fmt: skip  (a thread all of whose rows were left out: never drawn)
    lines = [wrap(UNDER_TRACE, width), ""]
    lines += _header(trace, firsts, axis, lane, width, style, colour, code)
    for number, row in enumerate(rows):
        if left_out and number == limit * 3 // 4:
            lines.append(f"{'':{TIME + code}} ⋮ {left_out} rows left out here (--rows 0 draws them all) ⋮")
        if row.pid not in axis or (row.source is not None and row.source not in axis):
            continue
        lines += _draw(trace, row, layout)
    lines += [""] + summary(trace, pids, width, stopped)
    return "\n".join(lines) + "\n"


@dataclass
class _Layout:
    pids: list
    axis: dict
    lane: int
    width: int
    style: dict
    colour: bool
    slot: dict
    count: int
    blocked: "_Blocked"
    text: dict = field(default_factory=dict)  # lane -> the column its words begin at (right of its threads)
    threads: dict = field(default_factory=dict)  # a thread's lane -> its process
    ends: dict = field(default_factory=dict)  # a thread's lane -> where it ended
    begins: dict = field(default_factory=dict)  # a thread's lane -> where it is first drawn
    left: int = TIME  # where the lanes begin: after the time column, and the source column (--source)


class _Blocked:
    """Is a process blocked at a place of the time line? (Its waits, looked up by bisection.)"""

    def __init__(self, trace: Trace, threads: Optional[dict] = None):
        self.starts: dict = {}
        self.waits: dict = {}
        for wait in sorted(trace.waits, key=lambda w: w.seq):
            if not trace.calls[wait.call].noise:
                key = wait.tid if wait.tid in (threads or {}) else wait.pid  # its lane
                self.starts.setdefault((key, wait.tid), []).append(wait.seq)
                self.waits.setdefault((key, wait.tid), []).append(wait)

    def __call__(self, pid: int, pos: float) -> bool:
        for (owner, tid), starts in self.starts.items():
            if owner == pid and (index := bisect_left(starts, pos) - 1) >= 0:
                wait = self.waits[(owner, tid)][index]
                if wait.end_seq is None or pos < wait.end_seq:
                    return True
        return False


def _slots(trace: Trace, rows: list, pids: list) -> dict:
    """A lane per process, reused once its process is gone: sequential children share one."""
    last: dict = {}
    for row in rows:
        for pid in (row.pid, row.source):
            if pid is not None:
                last[pid] = max(last.get(pid, row.pos), row.pos)
    busy: list = []  # per lane, the last place its process is drawn
    slot = {}
    for pid in pids:
        start = trace.processes[pid].seq
        free = next((number for number, until in enumerate(busy) if until < start), None)
        if free is None:
            busy.append(0.0)
            free = len(busy) - 1
        busy[free] = last.get(pid, start) if trace.processes[pid].end_seq is not None else float("inf")
        slot[pid] = free
    return slot


def _owners(trace: Trace) -> dict:
    """Each task that made a call -> its process."""
    return {call.tid: call.pid for call in trace.calls}


def _subs(trace: Trace, rows: list, threads: dict, keys: set) -> dict:
    """A thread's place beside its process (1, 2...), reused once the thread before it has ended."""
    first: dict = {}
    last: dict = {}
    for row in rows:
        for key in (row.pid, row.source):
            if key in threads and key in keys:
                first.setdefault(key, row.pos)
                last[key] = max(last.get(key, row.pos), row.pos)
    ended = {m.tid for m in trace.marks if m.kind in ("exit", "killed", "thread-exit")}
    busy: dict = {}  # process -> per place, where its thread was last drawn
    sub = {}
    for tid in sorted(first, key=first.get):
        places = busy.setdefault(threads[tid], [])
        free = next((n for n, until in enumerate(places) if until < first[tid]), None)
        if free is None:
            places.append(0.0)
            free = len(places) - 1
        places[free] = last[tid] if tid in ended else float("inf")
        sub[tid] = free + 1
    return sub


def _rows(trace: Trace, everything: bool, notes: bool, threads: Optional[dict] = None) -> list:
    waits = {wait.call: wait for wait in trace.waits}
    rows: list = []
    shown = lambda call: everything or not call.noise  # noqa: E731
    threads = threads or {}

    def lane(pid: int, tid: int) -> int:
        return tid if tid in threads else pid

    for call in trace.calls:
        if call.kind == "log" and notes and not everything:
            rows.append(Row(call.seq, 3, "note", call.pid, None, [f"# {call.note}"], style="2"))
        if not shown(call):
            continue
        here = lane(call.pid, call.tid)
        wait = waits.get(call.index)
        text = describe(trace, call)
        dim = "2" if call.noise else "31" if failed(call) else ""
        if wait is not None and (wait.end_seq is None or wait.end_seq > call.seq):
            head, tail = parts(trace, call)
            rows.append(Row(call.seq, 3, "start", here, call.start, [f"{head} ⋯"], style=dim))
            if wait.end_seq is not None:
                said = wait.reason.startswith("until ") and wait.reason[6:] in tail  # wait4's "→ child exited 0"
                why = milliseconds(wait.duration) + ("" if said else f", {wait.reason}")
                rows.append(Row(wait.end_seq, 3, "end", here, call.end, [tail or "returned", why], style=dim))
            else:  # drawn where its process ended (killed inside the call), or at the very end
                process = trace.processes[call.pid]
                at = process.end_seq - 0.25 if process.end_seq is not None else float("inf")
                rows.append(Row(at, 1, "end", here, None, [f"still in {call.title}: {wait.reason}"], style="31"))
        else:
            rows.append(Row(call.seq, 3, "call", here, call.start, [text], style=dim))
        if call.name in ("clone", "clone3", "fork", "vfork") and call.result in trace.processes:
            if call.lecture != "thread":
                rows.append(Row(call.seq, 4, "fork", call.result, source=here, label=call.lecture or "fork"))
        elif call.name in ("clone", "clone3") and call.lecture == "thread" and call.result in threads:
            rows.append(Row(call.seq, 4, "fork", call.result, source=here, label="new thread"))
    part = trace.write_parts()
    for message in trace.messages:
        writer, reader = trace.calls[message.writer], trace.calls[message.reader]
        split = f" · part {part[message.id]}/{message.write_parts}" if message.write_parts > 1 else ""
        if not (shown(writer) and shown(reader)):
            continue
        wait = waits.get(reader.index)
        at = (
            reader.end_seq
            if wait is not None and reader.end_seq is not None and reader.end_seq > reader.seq
            else reader.seq
        )
        rows.append(
            Row(
                at,
                2,
                "arrow",
                lane(reader.pid, reader.tid),
                source=lane(writer.pid, writer.tid),
                label=f"{show_bytes(message.data, 18, message.complete)} · {channel_label(trace, message.channel)}"
                + split,
            )
        )
    for passed in trace.passes:  # an fd over a Unix socket: what travels is the fd itself, not bytes
        sender, receiver = trace.calls[passed.sender], trace.calls[passed.receiver]
        if not (shown(sender) and shown(receiver)):
            continue
        wait = waits.get(receiver.index)
        at = receiver.end_seq if wait is not None and receiver.end_seq is not None else receiver.seq
        label = trace.objects[passed.object].label if passed.object in trace.objects else passed.object
        end = f" {passed.end} end" if passed.end in ("read", "write") else ""
        words = f"fd {passed.sender_fd} → fd {passed.receiver_fd}: {label}{end} · SCM_RIGHTS"
        rows.append(Row(at, 2, "arrow", lane(receiver.pid, receiver.tid), source=lane(sender.pid, sender.tid),
                        label=words))  # fmt: skip
    for wait in trace.waits:
        call = trace.calls[wait.call]
        if wait.reason.startswith("end of file") and wait.cause_pid is not None and shown(call):
            rows.append(
                Row(
                    wait.end_seq,
                    2,
                    "eof",
                    lane(call.pid, call.tid),
                    source=wait.cause_pid if wait.cause is None else lane(wait.cause_pid, trace.calls[wait.cause].tid),
                    label=f"end of file · {wait.what.split('(')[-1].rstrip(')')}",
                )
            )
    for mark in trace.marks:
        if mark.kind == "signal" and mark.text != "SIGCHLD":
            sender = trace.processes.get(mark.sender) if mark.sender and mark.sender != mark.pid else None
            rows.append(
                Row(
                    mark.seq,
                    3,
                    "signal",
                    lane(mark.pid, mark.tid),
                    mark.time,
                    [f"signal {mark.text}" + (f" from {sender.label}" if sender else "")],
                    style="31",
                )
            )
        elif mark.kind in ("exit", "killed") and mark.tid == mark.pid:
            bad = mark.kind == "killed" or not mark.text.endswith(" 0")
            rows.append(Row(mark.seq, 5, "exit", mark.pid, mark.time, [mark.text], style="31" if bad else ""))
        elif mark.kind in ("exit", "killed", "thread-exit") and mark.tid in threads:  # a thread's end, in its lane
            rows.append(Row(mark.seq, 5, "exit", mark.tid, mark.time, [f"thread {mark.text}"]))
    return sorted(rows, key=lambda row: (row.pos, row.order))


def _header(trace: Trace, pids: list, axis: dict, lane: int, width: int, style: dict, colour: bool,
            code: int = 0) -> list:  # fmt: skip
    """The first process of each lane, named at the top; later ones are named where they begin."""
    first, second, rule = Canvas(width), Canvas(width), Canvas(width)
    first.put(0, "time ms")
    rule.put(0, "─" * (TIME - 2))
    if code:
        first.put(TIME, "source")
        second.put(TIME, "(the line that made the call)", "2", TIME + code - 1)
        rule.put(TIME, "─" * (code - 2))
    for pid in pids:
        process = trace.processes[pid]
        limit = axis[pid] + lane - 1
        first.put(axis[pid], process.label, f"1;{style[pid]}", limit)
        programs = " → ".join(dict.fromkeys(process.programs)) or "?"
        second.put(axis[pid], programs, style[pid], limit)
        rule.put(axis[pid], "─" * (min(limit, width) - axis[pid]))
    return [c.render(colour) for c in (first, second, rule)]


def _alive(trace: Trace, pid: int, pos: float, layout: Optional["_Layout"] = None) -> bool:
    if layout is not None and pid in layout.threads:  # a thread: from its first row to its end, or its process's
        begun = layout.begins.get(pid, float("inf"))
        end = layout.ends.get(pid, trace.processes[layout.threads[pid]].end_seq)
        return begun <= pos and (end is None or pos <= end)
    process = trace.processes[pid]
    return process.seq <= pos and (process.end_seq is None or pos <= process.end_seq)


def _axes(trace: Trace, canvas: Canvas, layout: "_Layout", pos: float) -> None:
    for pid in layout.pids:
        if _alive(trace, pid, pos, layout):
            canvas.put(layout.axis[pid], "┆" if layout.blocked(pid, pos) else "│", layout.style[pid])


def _draw(trace: Trace, row: Row, layout: _Layout) -> list:
    axis, lane, width, style, colour = layout.axis, layout.lane, layout.width, layout.style, layout.colour
    column = layout.left + 1 + layout.slot[row.pid] * lane
    limit = width if layout.slot[row.pid] == layout.count - 1 else column + lane - 1
    canvas = Canvas(width)
    pos = row.pos if row.pos != float("inf") else (trace.steps[-1].seq if trace.steps else 0.0)
    _axes(trace, canvas, layout, pos)
    if row.time is not None:
        canvas.put(0, f"{row.time * 1000:{TIME - 2}.3f}", "2")
    if row.code:
        canvas.put(TIME, row.code, "2" if row.code == UNKNOWN else "", layout.left - 1)
    x = axis[row.pid]
    if row.kind in ("arrow", "eof", "fork"):
        _arrow(canvas, axis[row.source], x, row, style[row.source])
        return [canvas.render(colour)]
    mark = {"start": "├", "end": "╰", "exit": "┴", "signal": "!", "note": "│", "begin": "│"}.get(row.kind, "├")
    if row.kind == "end" and row.time is None:
        mark = "┆"
    canvas.put(x, mark, style[row.pid])
    start = layout.text.get(row.pid, x + 2)  # right of its process's threads' lanes
    room = max(limit - start, 8)
    text = row.text
    if row.kind == "end" and len(text) == 2 and len(text[0]) + 3 + len(text[1]) <= room:
        text = [f"{text[0]} · {text[1]}"]
    pieces = [
        (piece, index > 0 and row.kind == "end") for index, line in enumerate(text) for piece in _fold(line, room)
    ]
    lines = []
    for number, (piece, dim) in enumerate(pieces[:4]):
        target = canvas if number == 0 else Canvas(width)
        if number:
            _axes(trace, target, layout, pos + 0.25)
        look = "2" if dim or row.kind == "note" else f"1;{style[row.pid]}" if row.kind == "begin" else row.style
        target.put(start, piece, look, limit)
        if " · " in piece and row.kind == "end":  # the wait's length and cause, dimmed
            target.put(start + piece.index(" · "), piece[piece.index(" · ") :], "2", limit)
        lines.append(target.render(colour))
    return lines


UNKNOWN = "source unknown"


def _code(trace: Trace, rows: list, room: int) -> None:
    """Each call row's source (--source): ``pipe_fork.py:64  pid = os.fork()``, cut to ``room``; "source
    unknown" where the program kept records and none answers for the call."""
    missing = set(unknown(trace))
    calls = {call.seq: call for call in trace.calls}
    for row in rows:
        call = calls.get(row.pos) if row.kind in ("call", "start") else None
        if call is None:
            continue
        if call.source is not None:
            said = f"{call.source.short}  {_code_only(call.source.text)}".rstrip()
            row.code = said if len(said) <= room else said[: room - 1] + "…"
        elif call.index in missing:
            row.code = UNKNOWN


def _code_only(text: str) -> str:
    """A line without its trailing comment (``os.close(r)  # the parent never reads``): room is short here."""
    return text.split("  # ", 1)[0] if "  # " in text and text.count('"') % 2 == 0 else text


def _fold(text: str, room: int) -> list:
    """Break a lane's text at spaces to fit its room (a long word is cut with an ellipsis by the canvas)."""
    lines, current = [], ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > room:
            lines.append(current)
            current = "  " + word
        else:
            current = f"{current} {word}" if current else word
    return lines + [current]


def _arrow(canvas: Canvas, start: int, end: int, row: Row, colour: str) -> None:
    dotted = row.kind in ("eof", "fork")
    shaft = "┄" if dotted else "─"
    if start == end:  # a process writing to itself
        canvas.put(start + 2, f"↺ {row.label}", colour)
        return
    low, high = min(start, end), max(start, end)
    for column in range(low + 1, high):
        canvas.put(column, shaft, colour)
    canvas.put(start, "├" if start < end else "┤", colour)
    if start < end:
        canvas.put(end - 1, "▶", colour)
    else:
        canvas.put(end + 1, "◀", colour)
    if row.kind == "fork":
        canvas.put(end, "┬", colour)
    label = f" {row.label} "
    room = high - low - 4
    if room > 6:
        if len(label) > room:
            label = label[: room - 2] + "… "
        canvas.put(low + 2 + (room - len(label)) // 2, label, colour)
