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

from ..syscalls import MOVES, WOULD_BLOCK
from ..waitfor import Verdict
from .describe import describe, held, milliseconds, parts, show_bytes
from .model import Trace
from .snapshot import finding, moment
from .waits import SKEW

ROWS = 160  # rows drawn before a long run is cut in the middle
FORKS = ("clone", "clone3", "fork", "vfork")


@dataclass
class Lane:
    """A process's lane, or a thread's: a thread's sits beside its process's, in the same column."""

    slot: int  # which column (a column is reused once its process is gone)
    pid: int
    label: str  # server[5893], or a thread's server[5893/5901]
    programs: str  # pipe_fork.py → stdio_server.py; a thread's: "a thread of server[5893]"
    colour: int  # index into the renderer's palette (a thread has its process's)
    first: int  # the first row it is drawn at
    last: Optional[int]  # its exit's row; None: alive at the end
    tid: Optional[int] = None  # the task: the pid for a process's lane (its main thread), else a thread's id
    sub: int = 0  # its place in the column: 0 for the process, 1, 2... for its threads (reused as they end)

    @property
    def thread(self) -> bool:
        return self.tid is not None and self.tid != self.pid


@dataclass
class Row:
    # call | start | return | signal | exit | message | pass (an fd) | fork | eof | reap | wake | begin | fold | still
    kind: str
    pid: int  # the lane it is drawn in (an arrow's target): a process's pid, or a thread's tid
    text: str = ""
    detail: str = ""  # dimmer words after the text: how long it waited, and why it returned
    step: Optional[int] = None  # index into Trace.steps
    time: Optional[float] = None  # seconds from the trace's beginning
    source: Optional[int] = None  # an arrow's origin lane (a pid, or a thread's tid)
    channel: str = ""  # an arrow's channel label: "pipe #1"
    message: Optional[int] = None  # Message.id
    style: str = ""  # exec | error | noise
    code: str = ""  # a call's: the program's line that made it, "pipe_fork.py:64  pid = os.fork()" (ipc.trace.sources)


@dataclass
class Bar:
    """A blocked interval: from the row where the call began to the row where it returned."""

    pid: int  # its lane (a thread's tid, where the thread has a lane of its own)
    tid: int
    top: int
    bottom: Optional[int]  # None: it never returned (drawn to the end)
    text: str  # its length: "0.05 ms"
    stuck: bool = False
    thread: int = 0  # unused since threads have lanes of their own; kept for readers of older scenes


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
    lanes: dict  # lane key (a pid, or a thread's tid) -> Lane
    slots: int
    rows: list
    bars: list
    edges: list = field(default_factory=list)
    deadlock: bool = False
    left_out: int = 0  # steps not drawn (a long run cut in the middle, or outside the steps asked for)
    left_out_messages: int = 0
    steps: list = field(default_factory=list)  # the indexes of Trace.steps that have a row, in order
    summary: list = field(default_factory=list)  # lines under the picture
    total: int = 0  # how many steps the trace has

    def lane(self, pid: int, tid: Optional[int] = None) -> Optional[int]:
        """The key of the lane a task is drawn in: its own, where a thread has one, else its process's."""
        if tid is not None and tid in self.lanes and self.lanes[tid].pid == pid:
            return tid
        return pid if pid in self.lanes else None

    def subs(self, slot: int) -> int:
        """How many lanes side by side a column holds (a process and its threads at one time)."""
        return 1 + max((lane.sub for lane in self.lanes.values() if lane.slot == slot), default=0)


def layout(trace: Trace, rows: Optional[int] = ROWS, steps: Optional[tuple] = None) -> Scene:
    """The scene of a trace; ``rows``: at most about this many rows (None or 0: every one); ``steps``:
    (first, last), numbered from 1 as the page numbers them: only the rows of those steps, with a mark
    saying what was left out before and after."""
    waits = {w.call: w for w in trace.waits if not trace.calls[w.call].noise}
    returns = {s.call for s in trace.steps if s.kind == "return"}
    threads = thread_lanes(trace)

    def lane(pid: int, tid: Optional[int]) -> int:
        return tid if tid in threads else pid

    arrive = _arrivals(trace, waits, lane)
    all_rows: list = []
    for index, step in enumerate(trace.steps):
        call = trace.calls[step.call] if step.call is not None else None
        if step.kind == "call" and call is not None:
            here = lane(call.pid, call.tid)
            all_rows += arrive.get(("call", call.index), [])
            code = f"{call.source.short}  {call.source.text}".rstrip() if call.source is not None else ""
            if call.index in waits and (call.index in returns or waits[call.index].end_seq is None):
                head, _ = parts(trace, call)
                all_rows.append(Row("start", here, f"{head} ⋯", step=index, time=call.start, code=code))
            else:
                style = "exec" if call.name in ("execve", "execveat") else "error" if failed(call) else ""
                all_rows.append(Row("call", here, describe(trace, call), step=index, time=call.start, style=style,
                                    code=code))  # fmt: skip
            if call.name in FORKS and call.lecture != "thread" and call.result in trace.processes:
                all_rows.append(Row("fork", call.result, call.lecture or "fork", source=here))
            elif call.name in FORKS and call.lecture == "thread" and call.result in threads:
                all_rows.append(Row("fork", call.result, "new thread", source=here))
        elif step.kind == "return" and call is not None:
            all_rows += arrive.get(("return", call.index), [])
            wait = waits[call.index]
            _, tail = parts(trace, call)
            said = wait.reason.startswith("until ") and wait.reason[6:] in tail
            detail = milliseconds(wait.duration or 0.0) + ("" if said else f", {wait.reason}")
            style = "error" if failed(call) else ""
            all_rows.append(
                Row("return", lane(call.pid, call.tid), tail or "returned", detail, index, call.end, style=style)
            )
        elif step.mark is not None:
            mark = trace.marks[step.mark]
            here = lane(mark.pid, mark.tid)
            if mark.kind == "signal":
                sender = trace.processes.get(mark.sender) if mark.sender and mark.sender != mark.pid else None
                text = f"signal {mark.text}" + (f" from {sender.label}" if sender else "")
                all_rows.append(Row("signal", here, text, step=index, time=mark.time, style="error"))
            else:
                own = mark.tid == mark.pid or here == mark.tid  # a process's end, or a thread's in its own lane
                text = mark.text if mark.tid == mark.pid else f"thread {mark.tid} {mark.text}"
                bad = mark.kind == "killed" or not mark.text.endswith(" 0")
                style = "error" if bad and mark.tid == mark.pid else ""
                all_rows.append(Row("exit" if own else "call", here, text, step=index, time=mark.time, style=style))
    total = len(trace.steps)
    all_rows, before, after = _range(all_rows, steps, total)
    all_rows, left_out, left_messages = _fold(all_rows, rows)
    if not after:
        all_rows += _still(trace, waits, lane)
    lanes, slots = _lanes(trace, all_rows, threads)
    all_rows = _begins(trace, all_rows, lanes)
    bars = [bar for bar in _bars(trace, waits, all_rows, lane) if bar.pid in lanes]  # not a lane cut out whole
    for bar in bars:
        if bar.bottom is None and lanes[bar.pid].last is not None:
            bar.bottom = lanes[bar.pid].last  # never returned, but its lane ended: killed inside the call
    scene = Scene(
        lanes,
        slots,
        all_rows,
        bars,
        left_out=left_out + before + after,
        left_out_messages=left_messages,
        steps=[r.step for r in all_rows if r.step is not None],
        total=total,
    )
    if not after:  # the end is drawn: who is left blocked, and whether it is a deadlock
        scene.edges, scene.deadlock = cycle(trace)
        scene.edges = [e for e in scene.edges if scene.lane(e.waiter, e.tid) is not None and e.holder in lanes]
    scene.summary = _summary(trace, scene)
    return scene


def thread_lanes(trace: Trace) -> set:
    """The threads drawn in lanes of their own: every one (but a process's main thread) that made a call
    of the lecture."""
    return {call.tid for call in trace.calls if not call.noise and call.tid != call.pid}


def failed(call) -> bool:
    """Drawn as a failure: not an interrupted call, nor a non-blocking one saying it would wait (a connect's
    EINPROGRESS is how a non-blocking connect starts)."""
    return bool(call.errno) and not call.errno.startswith("ERESTART") and call.errno not in ("EINTR", *WOULD_BLOCK)


def _still(trace: Trace, waits: dict, lane) -> list:
    """A last row for each call still blocked when the trace ended: how long it had waited by then."""
    out = []
    for wait in sorted(waits.values(), key=lambda w: w.seq):
        if wait.end_seq is None and trace.processes[wait.pid].end_seq is None:
            so_far = f", {milliseconds(trace.end - wait.start)} so far" if trace.end is not None else ""
            out.append(Row("still", lane(wait.pid, wait.tid), f"⋯ still blocked in {wait.what}{so_far}"))
    return out


def _arrivals(trace: Trace, waits: dict, lane) -> dict:
    """The arrow rows to draw just before a step's row: ("call" | "return", reader call) -> rows.
    ``lane(pid, tid)``: the lane a task is drawn in."""
    found: dict = {}
    part = trace.write_parts()
    for message in trace.messages:
        writer, reader = trace.calls[message.writer], trace.calls[message.reader]
        if writer.noise or reader.noise:
            continue
        wait = waits.get(reader.index)
        key = ("return" if wait is not None and wait.end_seq is not None else "call", reader.index)
        split = f"(part {part[message.id]} of {message.write_parts})" if message.write_parts > 1 else ""
        if writer.name in MOVES or reader.name in MOVES:  # the kernel moved them: they never were in user memory
            split = f"{split} zero-copy".strip()
        found.setdefault(key, []).append(
            Row(
                "message",
                lane(reader.pid, reader.tid),
                show_bytes(message.data, 28, message.complete),
                split,
                source=lane(writer.pid, writer.tid),
                channel=_channel(trace, message.channel),
                message=message.id,
            )
        )
    for passed in trace.passes:  # an fd over a Unix socket (SCM_RIGHTS): what travels is the fd, not bytes
        sender, receiver = trace.calls[passed.sender], trace.calls[passed.receiver]
        wait = waits.get(receiver.index)
        key = ("return" if wait is not None and wait.end_seq is not None else "call", receiver.index)
        label = trace.objects[passed.object].label if passed.object in trace.objects else passed.object
        end = f" {passed.end} end" if passed.end in ("read", "write") else ""
        found.setdefault(key, []).append(
            Row(
                "pass",
                lane(receiver.pid, receiver.tid),
                f"fd {passed.sender_fd} → fd {passed.receiver_fd}: {label}{end}",
                source=lane(sender.pid, sender.tid),
                channel="SCM_RIGHTS",
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
                Row(
                    "wake",
                    lane(call.pid, call.tid),
                    cause.lecture or cause.name,
                    source=lane(cause.pid, cause.tid),
                    channel=what,
                )
            )
    for child in trace.processes.values():  # an exit collected by wait4, whether or not it had to wait
        reaper = trace.calls[child.reaped_by] if child.reaped_by is not None else None
        if reaper is not None and not reaper.noise and reaper.pid != child.pid:
            wait = waits.get(reaper.index)
            key = ("return" if wait is not None and wait.end_seq is not None else "call", reaper.index)
            found.setdefault(key, []).append(
                Row(
                    "reap",
                    lane(reaper.pid, reaper.tid),
                    child.ending,
                    source=child.pid,
                    channel=reaper.lecture or reaper.name,
                )
            )
    for channel in trace.channels.values():  # a read that returned 0: end of file, from the last writer's close
        for op in channel.reads if channel.kind == "stream" and channel.eofs else ():
            reader = trace.calls[op.call]
            if op.length or reader.result != 0 or reader.noise:
                continue
            at = reader.end_seq if reader.end_seq is not None else reader.seq
            moment = (reader.end if reader.end is not None else reader.start) + SKEW  # two straces' clocks
            closes = [
                (seq, pid if closer is None else lane(pid, trace.calls[closer].tid))
                for seq, closer, pid in channel.eofs
                if pid in trace.processes
                and (seq <= at or (closer is not None and trace.calls[closer].start <= moment))
            ]
            if closes:
                wait = waits.get(reader.index)
                key = ("return" if wait is not None and wait.end_seq is not None else "call", reader.index)
                found.setdefault(key, []).append(
                    Row(
                        "eof",
                        lane(reader.pid, reader.tid),
                        "end of file",
                        source=max(closes)[1],
                        channel=channel.label or channel.name,
                    )
                )
    for rows in found.values():
        rows.sort(key=lambda row: (row.kind != "message", row.message or 0))
    return found


def _channel(trace: Trace, name: str) -> str:
    channel = trace.channels.get(name)
    return channel.label if channel is not None and channel.label else name


def _range(rows: list, steps: Optional[tuple], total: int) -> tuple:
    """Only the rows of steps ``first``..``last`` (from 1), and the arrows that come just before them; a mark
    at each end says what was left out. (rows, steps left out before, steps left out after)."""
    if not steps:
        return rows, 0, 0
    first, last = max(1, steps[0]), min(total, steps[1])
    kept, pending, previous = [], [], False  # arrows wait for the step they come before; a fork follows its call
    for row in rows:
        if row.step is None:
            if row.kind == "fork":
                kept += [row] if previous else []
            else:
                pending.append(row)
            continue
        previous = first <= row.step + 1 <= last
        kept += pending + [row] if previous else []
        pending = []
    before, after = first - 1, total - last
    out = []
    if before:
        out.append(Row("fold", -1, f"steps 1 to {before:,} left out", "before the steps drawn here"))
    out += kept
    if after:
        out.append(Row("fold", -1, f"steps {last + 1:,} to {total:,} left out", "after the steps drawn here"))
    return out, before, after


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


def _lanes(trace: Trace, rows: list, threads: set) -> tuple:
    """A column per process, reused once its process has exited (sequential children share one); in it, a
    lane for the process and one beside it for each of its threads, reused as they end."""
    owner = {call.tid: call.pid for call in trace.calls if call.tid in threads}
    first: dict = {}
    last: dict = {}
    for number, row in enumerate(rows):
        for key in (row.pid, row.source):
            if key is not None and (key in trace.processes or key in owner):
                first.setdefault(key, number)
                last[key] = number
    for tid in [key for key in first if key in owner]:  # a thread's process has a lane, even if idle itself
        first[owner[tid]] = min(first.get(owner[tid], first[tid]), first[tid])
        last[owner[tid]] = max(last.get(owner[tid], last[tid]), last[tid])
    exits = {row.pid: number for number, row in enumerate(rows) if row.kind == "exit"}
    processes = sorted((key for key in first if key not in owner), key=lambda p: (first[p], trace.processes[p].seq))
    busy: list = []  # per column, the last row its process (or one of its threads) is drawn at
    lanes: dict = {}
    for colour, pid in enumerate(processes):
        process = trace.processes[pid]
        ended = process.end_seq is not None and pid in exits
        free = next((slot for slot, until in enumerate(busy) if until < first[pid]), None)
        if free is None:
            busy.append(0)
            free = len(busy) - 1
        busy[free] = last[pid] if ended else len(rows) + 1_000_000
        programs = " → ".join(dict.fromkeys(process.programs)) or "?"
        lanes[pid] = Lane(free, pid, process.label, programs, colour, first[pid], exits.get(pid), pid)
        subs: list = []  # per place beside the process, the last row its thread is drawn at
        for tid in sorted((t for t in first if owner.get(t) == pid), key=lambda t: first[t]):
            place = next((n for n, until in enumerate(subs) if until < first[tid]), None)
            if place is None:
                subs.append(0)
                place = len(subs) - 1
            subs[place] = last[tid] if tid in exits else len(rows) + 1_000_000
            name = f"{process.role or process.program}[{pid}/{tid}]"
            end = exits.get(tid, exits.get(pid))
            lanes[tid] = Lane(free, pid, name, f"a thread of {process.label}", colour, first[tid], end, tid, place + 1)
    return lanes, len(busy)


def _begins(trace: Trace, rows: list, lanes: dict) -> list:
    """A process that takes over a column, and every thread, is named where its lane begins."""
    firsts: dict = {}
    for key, lane in sorted(lanes.items(), key=lambda item: item[1].first):
        if not lane.thread:
            firsts.setdefault(lane.slot, key)

    def named(key: int) -> bool:
        return key in lanes and (lanes[key].thread or firsts[lanes[key].slot] != key)

    out = []
    for number, row in enumerate(rows):
        for key, lane in lanes.items():
            if lane.first == number and named(key) and row.kind != "fork":
                out.append(Row("begin", key, lane.label, lane.programs))
        out.append(row)
        if row.kind == "fork" and named(row.pid):
            out.append(Row("begin", row.pid, lanes[row.pid].label, lanes[row.pid].programs))
    for key, lane in lanes.items():  # the rows moved: find them again
        lane.first = next(n for n, r in enumerate(out) if key in (r.pid, r.source))
        if lane.last is not None:  # its own end, or (a thread's) its process's
            own = [n for n, r in enumerate(out) if r.kind == "exit" and r.pid == key]
            lane.last = max(own or [n for n, r in enumerate(out) if r.kind == "exit" and r.pid == lane.pid])
    return out


def _bars(trace: Trace, waits: dict, rows: list, lane) -> list:
    where = {row.step: number for number, row in enumerate(rows) if row.step is not None}
    folds = [number for number, row in enumerate(rows) if row.kind == "fold"]

    def place(step: int) -> Optional[int]:
        """A step's row; for a step left out, the fold that stands for it."""
        if step in where:
            return where[step]
        after = max((number for kept, number in where.items() if kept < step), default=-1)
        return next((fold for fold in folds if fold > after), None)

    began, returned = {}, {}
    for index, step in enumerate(trace.steps):
        if step.call in waits:
            (began if step.kind == "call" else returned)[step.call] = index
    bars = []
    for call, wait in waits.items():
        if call not in began:
            continue
        top = place(began[call])
        bottom = None if returned.get(call) is None else place(returned[call])
        if top is None or (top == bottom and rows[top].kind == "fold"):
            continue  # wholly in a part left out
        if bottom is None and not any(row.step is not None for row in rows[top:]):
            continue  # it began after the last step drawn
        process = trace.processes[wait.pid]
        if wait.end_seq is None and process.end is not None:  # its process ended inside it (killed)
            length = f"{milliseconds(process.end - wait.start)}, until {process.label} ended"
        elif wait.end_seq is None:
            length = f"{milliseconds(trace.end - wait.start)} so far" if trace.end is not None else "still blocked"
        else:
            length = milliseconds(wait.duration)
        bars.append(Bar(lane(wait.pid, wait.tid), wait.tid, top, bottom, length, stuck=wait.end_seq is None))
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
