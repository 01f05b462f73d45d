"""What the pictures draw, laid out once: lanes, one row per step, arrows, blocked bars, a deadlock's cycle. Pure.

The SVG, the step-through page and the report all draw a ``Scene``; it reads
only the model. Time runs down: every step of ``Trace.steps`` (a call began,
a blocked call returned, a signal, an exit) is a row of its own, in the
kernel's order, so the order is exact and durations are not to scale (they are
written beside the bars, measured under strace). A message is an arrow row
just before the row where its reader got the bytes; end of file (a read that
returned 0), a connect that an accept took, the open of a FIFO's other end and
an exit collected by wait4 are dotted arrows from the process that caused them.

A long run keeps its first and last rows and says how many were left out
(``rows``); a deadlock (every blocked call waits for another process that is
itself blocked) ends the picture with a row per "waits for" arrow, the cycle
marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..waitfor import Verdict
from .describe import describe, held, milliseconds, parts, show_bytes
from .model import Trace
from .snapshot import NEVER_WAITED, finding, moment
from .waits import SKEW

ROWS = 160  # rows drawn before a long run is cut in the middle
FORKS = ("clone", "clone3", "fork", "vfork")


@dataclass
class Lane:
    slot: int  # which column (a lane is reused once its process is gone)
    pid: int
    label: str  # server[5893]
    programs: str  # pipe_fork.py → stdio_server.py
    colour: int  # index into the renderer's palette
    first: int  # the first row it is drawn at
    last: Optional[int]  # its exit's row; None: alive at the end


@dataclass
class Row:
    kind: str  # call | start | return | signal | exit | message | fork | eof | reap | wake | begin | fold
    pid: int  # the lane it is drawn in (an arrow's target)
    text: str = ""
    detail: str = ""  # dimmer words after the text: how long it waited, and why it returned
    step: Optional[int] = None  # index into Trace.steps
    time: Optional[float] = None  # seconds from the trace's beginning
    source: Optional[int] = None  # an arrow's origin lane (a pid)
    channel: str = ""  # an arrow's channel label: "pipe #1"
    message: Optional[int] = None  # Message.id
    style: str = ""  # exec | error | noise


@dataclass
class Bar:
    """A blocked interval: from the row where the call began to the row where it returned."""

    pid: int
    tid: int
    top: int
    bottom: Optional[int]  # None: it never returned (drawn to the end)
    text: str  # its length: "0.05 ms"
    stuck: bool = False
    thread: int = 0  # which of its process's threads (bars of threads sit side by side)


@dataclass
class Edge:
    """A deadlock's "waits for": ``waiter`` blocked in ``what``, which only ``holder`` could end."""

    waiter: int
    holder: int
    what: str  # "read fd 5 (pipe #2)"
    held: str  # "fd 6, pipe #2's write end"
    in_cycle: bool = False
    tid: Optional[int] = None  # the waiter's thread that is blocked (None: its main thread)


@dataclass
class Scene:
    lanes: dict  # pid -> Lane
    slots: int
    rows: list
    bars: list
    edges: list = field(default_factory=list)
    deadlock: bool = False
    left_out: int = 0  # steps not drawn (a long run cut in the middle)
    left_out_messages: int = 0
    steps: list = field(default_factory=list)  # the indexes of Trace.steps that have a row, in order
    summary: list = field(default_factory=list)  # lines under the picture


def layout(trace: Trace, rows: Optional[int] = ROWS) -> Scene:
    """The scene of a trace; ``rows``: at most about this many rows (None or 0: every one)."""
    waits = {w.call: w for w in trace.waits if not trace.calls[w.call].noise}
    returns = {s.call for s in trace.steps if s.kind == "return"}
    arrive = _arrivals(trace, waits)
    all_rows: list = []
    for index, step in enumerate(trace.steps):
        call = trace.calls[step.call] if step.call is not None else None
        if step.kind == "call" and call is not None:
            all_rows += arrive.get(("call", call.index), [])
            if call.index in waits and (call.index in returns or waits[call.index].end_seq is None):
                head, _ = parts(trace, call)
                all_rows.append(Row("start", call.pid, f"{head} ⋯", step=index, time=call.start))
            else:
                style = "exec" if call.name in ("execve", "execveat") else "error" if failed(call) else ""
                all_rows.append(Row("call", call.pid, describe(trace, call), step=index, time=call.start, style=style))
            if call.name in FORKS and call.lecture != "thread" and call.result in trace.processes:
                all_rows.append(Row("fork", call.result, call.lecture or "fork", source=call.pid))
        elif step.kind == "return" and call is not None:
            all_rows += arrive.get(("return", call.index), [])
            wait = waits[call.index]
            _, tail = parts(trace, call)
            said = wait.reason.startswith("until ") and wait.reason[6:] in tail
            detail = milliseconds(wait.duration or 0.0) + ("" if said else f", {wait.reason}")
            all_rows.append(
                Row(
                    "return",
                    call.pid,
                    tail or "returned",
                    detail,
                    step=index,
                    time=call.end,
                    style="error" if failed(call) else "",
                )
            )
        elif step.mark is not None:
            mark = trace.marks[step.mark]
            if mark.kind == "signal":
                sender = trace.processes.get(mark.sender) if mark.sender and mark.sender != mark.pid else None
                text = f"signal {mark.text}" + (f" from {sender.label}" if sender else "")
                all_rows.append(Row("signal", mark.pid, text, step=index, time=mark.time, style="error"))
            else:
                text = mark.text if mark.tid == mark.pid else f"thread {mark.tid} {mark.text}"
                bad = mark.kind == "killed" or not mark.text.endswith(" 0")
                all_rows.append(
                    Row(
                        "exit",
                        mark.pid,
                        text,
                        step=index,
                        time=mark.time,
                        style="error" if bad and mark.tid == mark.pid else "",
                    )
                )
    all_rows, left_out, left_messages = _fold(all_rows, rows)
    lanes, slots = _lanes(trace, all_rows)
    all_rows = _begins(trace, all_rows, lanes)
    bars = [bar for bar in _bars(trace, waits, all_rows) if bar.pid in lanes]  # not a process cut out whole
    scene = Scene(
        lanes,
        slots,
        all_rows,
        bars,
        left_out=left_out,
        left_out_messages=left_messages,
        steps=[r.step for r in all_rows if r.step is not None],
    )
    scene.edges, scene.deadlock = cycle(trace)
    scene.edges = [e for e in scene.edges if e.waiter in lanes and e.holder in lanes]
    scene.summary = _summary(trace, scene)
    return scene


def failed(call) -> bool:
    """Drawn as a failure: not an interrupted call, nor a non-blocking one saying it would wait (a connect's
    EINPROGRESS is how a non-blocking connect starts)."""
    return bool(call.errno) and not call.errno.startswith("ERESTART") and call.errno not in ("EINTR", *NEVER_WAITED)


def _arrivals(trace: Trace, waits: dict) -> dict:
    """The arrow rows to draw just before a step's row: ("call" | "return", reader call) -> rows."""
    found: dict = {}
    part = trace.write_parts()
    for message in trace.messages:
        writer, reader = trace.calls[message.writer], trace.calls[message.reader]
        if writer.noise or reader.noise:
            continue
        wait = waits.get(reader.index)
        key = ("return" if wait is not None and wait.end_seq is not None else "call", reader.index)
        split = f" (part {part[message.id]} of {message.write_parts})" if message.write_parts > 1 else ""
        text = show_bytes(message.data, 28, message.complete) + split
        found.setdefault(key, []).append(
            Row(
                "message",
                reader.pid,
                text,
                source=writer.pid,
                channel=_channel(trace, message.channel),
                message=message.id,
            )
        )
    for call_index, wait in waits.items():
        if wait.end_seq is None or wait.cause_pid is None or wait.cause_pid not in trace.processes:
            continue
        call = trace.calls[call_index]
        if (
            call.name in ("accept", "accept4", "open", "openat", "openat2")
            and wait.cause is not None
            and wait.cause_pid != call.pid
        ):  # a connect, or the open of a FIFO's other end
            cause = trace.calls[wait.cause]
            what = trace.objects[call.objects[0]].label if call.objects else ""
            found.setdefault(("return", call_index), []).append(
                Row("wake", call.pid, cause.lecture or cause.name, source=wait.cause_pid, channel=what)
            )
    for child in trace.processes.values():  # an exit collected by wait4, whether or not it had to wait
        reaper = trace.calls[child.reaped_by] if child.reaped_by is not None else None
        if reaper is not None and not reaper.noise and reaper.pid != child.pid:
            wait = waits.get(reaper.index)
            key = ("return" if wait is not None and wait.end_seq is not None else "call", reaper.index)
            found.setdefault(key, []).append(
                Row("reap", reaper.pid, child.ending, source=child.pid, channel=reaper.lecture or reaper.name)
            )
    for channel in trace.channels.values():  # a read that returned 0: end of file, from the last writer's close
        for op in channel.reads if channel.kind == "stream" and channel.eofs else ():
            reader = trace.calls[op.call]
            if op.length or reader.result != 0 or reader.noise:
                continue
            at = reader.end_seq if reader.end_seq is not None else reader.seq
            moment = (reader.end if reader.end is not None else reader.start) + SKEW  # two straces' clocks
            closes = [
                (seq, pid)
                for seq, closer, pid in channel.eofs
                if pid in trace.processes
                and (seq <= at or (closer is not None and trace.calls[closer].start <= moment))
            ]
            if closes:
                wait = waits.get(reader.index)
                key = ("return" if wait is not None and wait.end_seq is not None else "call", reader.index)
                found.setdefault(key, []).append(
                    Row("eof", reader.pid, "end of file", source=max(closes)[1], channel=channel.label or channel.name)
                )
    for rows in found.values():
        rows.sort(key=lambda row: (row.kind != "message", row.message or 0))
    return found


def _channel(trace: Trace, name: str) -> str:
    channel = trace.channels.get(name)
    return channel.label if channel is not None and channel.label else name


def _fold(rows: list, limit: Optional[int]) -> tuple:
    """Keep the first three quarters and the last quarter of ``limit`` rows; one row says what was left out."""
    if not limit or len(rows) <= limit:
        return rows, 0, 0
    head, tail = limit * 3 // 4, limit - limit * 3 // 4
    middle = rows[head : len(rows) - tail]
    steps = sum(1 for row in middle if row.step is not None)
    messages = sum(1 for row in middle if row.kind == "message")
    text = f"{steps:,} steps left out here ({messages:,} messages)" if messages else f"{steps:,} steps left out here"
    times = [row.time for row in middle if row.time is not None]
    detail = (
        f"from {times[0] * 1000:,.1f} ms to {times[-1] * 1000:,.1f} ms; ipc trace --json FILE holds every one"
        if times
        else ""
    )
    return rows[:head] + [Row("fold", -1, text, detail)] + rows[len(rows) - tail :], steps, messages


def _lanes(trace: Trace, rows: list) -> tuple:
    """A lane per process, reused once its process has exited: sequential children share one."""
    first: dict = {}
    last: dict = {}
    for number, row in enumerate(rows):
        for pid in (row.pid, row.source):
            if pid is not None and pid in trace.processes:
                first.setdefault(pid, number)
                last[pid] = number
    order = sorted(first, key=lambda pid: (first[pid], trace.processes[pid].seq))
    busy: list = []  # per slot, the last row its process is drawn at
    lanes = {}
    for colour, pid in enumerate(order):
        process = trace.processes[pid]
        ended = process.end_seq is not None and any(r.kind == "exit" and r.pid == pid for r in rows)
        free = next((slot for slot, until in enumerate(busy) if until < first[pid]), None)
        if free is None:
            busy.append(0)
            free = len(busy) - 1
        busy[free] = last[pid] if ended else len(rows) + 1_000_000
        programs = " → ".join(dict.fromkeys(process.programs)) or "?"
        lanes[pid] = Lane(free, pid, process.label, programs, colour, first[pid], last[pid] if ended else None)
    return lanes, len(busy)


def _begins(trace: Trace, rows: list, lanes: dict) -> list:
    """A process that takes over a lane is named where it begins."""
    firsts = {}
    for lane in lanes.values():
        firsts.setdefault(lane.slot, lane.pid)
    out = []
    for number, row in enumerate(rows):
        for lane in lanes.values():
            if lane.first == number and firsts[lane.slot] != lane.pid and row.kind != "fork":
                out.append(Row("begin", lane.pid, lane.label, lane.programs))
        out.append(row)
        if row.kind == "fork" and row.pid in lanes and firsts[lanes[row.pid].slot] != row.pid:
            out.append(Row("begin", row.pid, lanes[row.pid].label, lanes[row.pid].programs))
    for lane in lanes.values():  # the rows moved: find them again
        lane.first = next(n for n, r in enumerate(out) if lane.pid in (r.pid, r.source))
        if lane.last is not None:
            lane.last = max(n for n, r in enumerate(out) if r.pid == lane.pid and r.kind == "exit")
    return out


def _bars(trace: Trace, waits: dict, rows: list) -> list:
    where = {row.step: number for number, row in enumerate(rows) if row.step is not None}
    fold = next((number for number, row in enumerate(rows) if row.kind == "fold"), None)
    began, returned = {}, {}
    for index, step in enumerate(trace.steps):
        if step.call in waits:
            (began if step.kind == "call" else returned)[step.call] = index
    bars = []
    for call, wait in waits.items():
        if call not in began:
            continue
        top, back = where.get(began[call], fold), returned.get(call)
        bottom = None if back is None else where.get(back, fold)  # returned in the rows left out: to the fold
        if top is None or (top == fold and bottom == fold):
            continue
        process = trace.processes[wait.pid]
        thread = process.threads.index(wait.tid) if wait.tid in process.threads else 0
        length = milliseconds(wait.duration) if wait.duration is not None else "still blocked"
        bars.append(Bar(wait.pid, wait.tid, top, bottom, length, stuck=wait.end_seq is None, thread=thread))
    return bars


def cycle(trace: Trace) -> tuple:
    """The "waits for" edges of the calls blocked at the end, and whether they make a deadlock: judged by
    ipc.waitfor from the trace (ipc.trace.snapshot), by the same rules as ``ipc run`` and ``ipc watch``.
    The edges of the cycle those name are marked."""
    found = finding(trace)
    at = moment(trace)
    what = {w.tid: w.what for w in trace.waits if w.seq <= at and (w.end_seq is None or w.end_seq > at)}
    edges = []
    for edge in found.edges:
        if edge.waiter not in trace.processes or edge.holder not in trace.processes:
            continue
        drawn = Edge(edge.waiter, edge.holder, what.get(edge.tid, edge.need.want.value), held(trace, edge))
        drawn.in_cycle, drawn.tid = found.in_cycle(edge), edge.tid
        if not any((e.waiter, e.tid, e.holder, e.held) == (drawn.waiter, drawn.tid, drawn.holder, drawn.held)
                   for e in edges):  # fmt: skip
            edges.append(drawn)
    return edges, found.verdict is Verdict.DEADLOCK


def _summary(trace: Trace, scene: Scene) -> list:
    shown = [m for m in trace.messages if not trace.calls[m.writer].noise and not trace.calls[m.reader].noise]
    lines = [
        f"{len(shown):,} message{'s' if len(shown) != 1 else ''} matched writer → reader "
        f"({sum(m.length for m in shown):,} bytes)"
        + (f"; {scene.left_out_messages:,} of them in the rows left out" if scene.left_out_messages else "")
        + "."
    ]
    groups: dict = {}
    for item in trace.unmatched:
        groups.setdefault((_channel(trace, item.channel), item.pid, item.reason), []).append(item)
    for (channel, pid, reason), items in groups.items():
        who = trace.processes[pid].label if pid in trace.processes else f"process {pid}"
        lines.append(f"{sum(i.length for i in items):,} bytes of {who} on {channel}: {reason}")
    used = sorted(
        {
            key
            for call in trace.calls
            if not call.noise
            for key in call.objects
            if trace.objects[key].interesting and trace.objects[key].kind != "file"
        }
    )
    legend = list({trace.objects[key].label: trace.objects[key].description for key in reversed(used)}.values())
    if legend:
        lines.append("Objects: " + "; ".join(sorted(legend)) + ".")
    return lines
