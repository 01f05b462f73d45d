"""The step-through page (``ipc trace --html FILE``): the diagram beside the kernel's state, one step at a time.

One self-contained HTML file: the SVG inline, the state at every step as
JSON, the script and the style sheet (``page.js``, ``page.css``, beside this
module) inlined. Nothing is fetched: it opens from a file, offline, in any
browser with standard DOM (Chromium and Firefox are the ones tested).

At each step the page shows what Python Tutor leaves out: every live
process's fd table (fd 4 → "pipe #1 write end", "TCP 127.0.0.1:41234 →
127.0.0.1:53012", a FIFO's path, a file), who is blocked in which call, and
the bytes in flight in every pipe and socket (written, not yet read); the
step's row is lit in the diagram. And what Python Tutor shows, for every
process at once: where the traced programs' files are known (the model's
``files``, each call's ``source``), each process's code, the line that made
this step's call lit, and the line every other process last reached, dimmed,
marked where it is blocked; a call a library made for the program names the
library's frame too, one click away. Clicking a row selects its step and its
line; clicking a line that made calls selects the next step it made.
←/→ (or the buttons) step; ``FILE#step=12`` opens at step 12 (the model's
numbering, from 1). Pure: the model in, text out.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Optional

from .describe import describe, milliseconds, parts, show_bytes
from .model import FdEntry, Trace
from .scene import FORKS, ROWS, layout
from .sources import unknown
from .svg import PALETTE, page_parts

HERE = Path(__file__).resolve().parent
PAGE_WIDTH = 880  # the diagram's width in the page: the state sits beside it


def asset(name: str) -> str:
    """page.js or page.css, shipped beside this module (package data)."""
    return (HERE / name).read_text(encoding="utf-8")


def render(trace: Trace, *, title: Optional[str] = None, rows: Optional[int] = ROWS, links: tuple = ()) -> str:
    """The whole page. ``rows``: a long run keeps its first and last rows (and their steps) only; ``links``:
    (address, words) of pages to go back to (a report's contents, the demo's own page)."""
    title = title or "ipc trace"
    scene = layout(trace, rows)
    head, diagram = page_parts(scene, width=PAGE_WIDTH, ids="page-")
    data = states(trace, scene.steps)
    data.update(
        title=title,
        palette=list(PALETTE),
        total=len(trace.steps),
        colours={str(pid): lane.colour for pid, lane in scene.lanes.items()},
    )
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("</", "<\\/").replace("<!--", "<\\!--")  # nothing in it can end the script element
    back = (
        '<nav class="back">'
        + " · ".join(f'<a href="{escape(href)}">{escape(words)}</a>' for href, words in links)
        + "</nav>\n"
        if links
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}: step through</title>
<style>
{asset("page.css")}
</style>
</head>
<body{' class="with-code"' if trace.files else ""}>
<header>
{back}<h1>{escape(title)}</h1>
<nav class="controls" aria-label="steps">
<button type="button" id="first" title="first step (Home)">« first</button>
<button type="button" id="prev" title="previous step (←)">◀ previous</button>
<span id="position" aria-live="polite"></span>
<button type="button" id="next" title="next step (→)">next ▶</button>
<button type="button" id="last" title="last step (End)">last »</button>
<span class="hint">← → step · click a row · link a step: <code>#step=12</code></span>
</nav>
<p id="event"><span id="event-time"></span> <strong id="event-who"></strong> <span id="event-text"></span>
<span id="event-detail"></span> <span id="event-source"></span></p>
</header>
<main>
<section id="diagram" aria-label="sequence diagram">
<div class="lanes-head">
{head}</div>
{diagram}
</section>
<aside id="state">
<h2>{"Processes: their code and fd tables" if trace.files else "Processes and their fd tables"}</h2>
<div id="processes"></div>
<h2>Bytes in flight <small>written, not yet read</small></h2>
<div id="flight"></div>
<p class="fine">An fd open before the trace began (0, 1, 2) shows once a traced call uses it.
Times are under strace: the order is exact, durations only relative.</p>
</aside>
</main>
<script type="application/json" id="trace-data">{text}</script>
<script>
{asset("page.js")}
</script>
</body>
</html>
"""


def states(trace: Trace, steps: list) -> dict:
    """What the page shows at each of ``steps`` (indexes of trace.steps): JSON-ready, fd tables shared."""
    waits = {wait.call: wait for wait in trace.waits}
    tables: dict = {}
    out = []
    seen: dict = {}  # pid -> its process, once it has appeared
    files = list(trace.files)
    reached = _reached(trace, set(steps), {path: number for number, path in enumerate(files)})
    missing = set(unknown(trace))
    for index in steps:
        step, state = trace.steps[index], trace.state_at(index)
        for pid in state.processes:
            seen.setdefault(pid, trace.processes[pid])
        blocked = {}
        for tid, call in state.blocked.items():
            wait = waits.get(call.index)
            what = wait.what if wait is not None else call.title
            so_far = step.time - call.start
            blocked.setdefault(call.pid, []).append(
                f"blocked in {what}"
                + (f" (thread {tid})" if tid != call.pid else "")
                + (f" for {milliseconds(so_far)} so far" if so_far > 0 else "")
            )
        procs = []
        for pid in state.processes:
            rows = tuple((fd, *fd_text(trace, entry)) for fd, entry in sorted(state.fd_tables.get(pid, {}).items()))
            where = reached[index].get(pid)
            if where is not None:
                *where, got_there = where
                kind = " ".join(word for word, yes in (("here", pid == step.pid), ("blocked", bool(blocked.get(pid))))
                                if yes) or "last"  # fmt: skip
                where = [*where, kind if got_there else "ahead"]
            procs.append([pid, tables.setdefault(rows, len(tables)), blocked.get(pid, []), where])
        ended = [[p.label, p.ending] for pid, p in seen.items() if pid not in state.processes]
        who = trace.processes[step.pid]
        text, detail = event(trace, step, waits)
        out.append(
            {
                "n": index + 1,
                "t": f"{step.time * 1000:.3f} ms",
                "pid": step.pid,
                "who": who.label,
                "text": text,
                "detail": detail,
                "procs": procs,
                "ended": ended,
                "flight": flight(trace, state.in_flight, step.seq),
                **({"source": said} if (said := step_source(trace, step, missing)) else {}),
            }
        )
    labels = {str(pid): [p.label, " → ".join(dict.fromkeys(p.programs))] for pid, p in trace.processes.items()}
    return {
        "steps": out,
        "tables": [list(map(list, rows)) for rows in tables],
        "processes": labels,
        "files": [[_shown(path), trace.files[path], _made_at(trace, path, steps)] for path in files],
    }


def _reached(trace: Trace, wanted: set, files: dict) -> dict:
    """step index -> {pid: [file number, line, the library's frame or None, reached]}: the line each process last
    reached, in a file the page shows (the line of its latest call that has a source, up to that step); before
    its first such call, that call's line, not reached yet (``reached`` false): its file is there from the start."""
    last: dict = {}
    for call in reversed(trace.calls):  # each process's first line, until it gets there
        if call.source is not None and call.source.file in files:
            last[call.pid] = [files[call.source.file], call.source.line, None, False]
    out: dict = {}
    for index, step in enumerate(trace.steps):
        call = trace.calls[step.call] if step.call is not None else None
        if call is not None and call.source is not None and call.source.file in files:
            last[call.pid] = [files[call.source.file], call.source.line, _library(call.source), True]
        if call is not None and step.kind == "call" and _forked(trace, call) and last.get(call.pid, [0] * 4)[3]:
            last[call.result] = last[call.pid]  # a forked child begins where its parent forked it: fork() returns
        if index in wanted:
            out[index] = dict(last)
    return out


def _forked(trace: Trace, call) -> bool:
    return call.name in FORKS and call.lecture != "thread" and call.result in trace.processes


def _made_at(trace: Trace, path: str, steps: list) -> dict:
    """line -> [[pid, step number], ...]: the steps on the page whose call that line of ``path`` made."""
    made: dict = {}
    for index in steps:
        step = trace.steps[index]
        if step.kind == "call" and step.call is not None:
            source = trace.calls[step.call].source
            if source is not None and source.file == path and source.line is not None:
                made.setdefault(str(source.line), []).append([step.pid, index + 1])
    return made


def step_source(trace: Trace, step, missing: set) -> Optional[dict]:
    """What the line above the panels says of the step's code: where and what (and the library's frame), or that
    no record of the program answers for its call ("source unknown")."""
    if step.call is None:
        return None
    call = trace.calls[step.call]
    if call.source is None:
        return {"unknown": True} if call.index in missing else None
    source = call.source
    return {
        "where": source.short,
        "text": source.text,
        "library": _library(source),
        "child": source.child,
    }


def _library(source) -> Optional[list]:
    """``["MessageReader.receive (stream.py:42)", "self._decoder.feed(...)"]``: the library's frame that made the
    call for the program, and its line; None where the program's line made it itself."""
    library = source.library
    if library is None:
        return None
    return [f"{library.function} ({library.short})", library.text]


def _shown(path: str) -> str:
    """A program's file as the page names it: its name, and its directory's (demos/pipe_fork.py)."""
    parent = Path(path).parent.name
    return f"{parent}/{Path(path).name}" if parent else Path(path).name


def event(trace: Trace, step, waits: dict) -> tuple:
    """(what happened at this step, a dimmer second part): for the line above the panels."""
    if step.mark is not None:
        mark = trace.marks[step.mark]
        if mark.kind == "signal":
            sender = trace.processes.get(mark.sender) if mark.sender and mark.sender != mark.pid else None
            return f"receives signal {mark.text}", f"from {sender.label}" if sender else ""
        return mark.text if mark.tid == mark.pid else f"thread {mark.tid} {mark.text}", ""
    call = trace.calls[step.call]
    wait = waits.get(call.index)
    if step.kind == "return" and wait is not None:
        _, tail = parts(trace, call)
        return f"{call.title} returns {tail}".rstrip(), f"after {milliseconds(wait.duration or 0.0)}: {wait.reason}"
    if wait is not None:  # it waits: its return is a step of its own
        head, _ = parts(trace, call)
        return f"{head} …", "blocks" if wait.end_seq is not None else f"blocks: {wait.reason}"
    return describe(trace, call), ""


def fd_text(trace: Trace, entry: FdEntry) -> tuple:
    """(what an fd is, a note): ``("pipe #1 read end", "")``, ``("TCP 127.0.0.1:41234 → 127.0.0.1:53012",
    "TCP #1")``."""
    obj = trace.objects.get(entry.object)
    note = "close-on-exec" if entry.cloexec else ""
    if obj is None:
        return entry.object, note
    if obj.kind == "pipe":
        return f"{obj.label} {entry.end} end", note
    if obj.kind == "fifo":
        return f"FIFO {obj.path or obj.label}" + (f", {entry.end} end" if entry.end != "both" else ""), note
    if obj.kind in ("tcp", "udp"):
        name = obj.kind.upper()
        if obj.listening:
            return f"{name} listening on {obj.local}", note
        where = f"{obj.local or '?'} → {obj.remote}" if obj.remote else f"{obj.local or '(not bound yet)'}"
        return f"{name} {where}", _join(note, obj.label)
    if obj.kind.startswith("unix"):
        kind = "stream" if obj.kind == "unix-stream" else "datagram"
        where = f" {obj.local}" if obj.local else ""
        peer = f" ↔ {obj.remote}" if obj.remote else ""
        return f"Unix {kind} socket {obj.label}{where}{peer}", note
    if obj.kind in ("file", "terminal") and obj.path:
        return f"{obj.kind} {obj.path}", note
    return obj.description, note


def _join(*words: str) -> str:
    return ", ".join(word for word in words if word)


def flight(trace: Trace, in_flight: dict, seq: float = float("inf")) -> list:
    """[where, the bytes as text, how many]: each channel's bytes written and not yet read at ``seq``, with who
    wrote them and who reads that channel. Only bytes strace recorded are shown, and the count says so."""
    out = []
    for name, queued in sorted(in_flight.items()):
        channel = trace.channels.get(name)
        label = channel.label if channel is not None and channel.label else name
        items = queued if isinstance(queued, list) else [queued]
        writers = [trace.processes[p].label for p in dict.fromkeys(w for q in items for w in q.writers)
                   if p in trace.processes]  # fmt: skip
        readers = [] if channel is None else [
            trace.processes[p].label for p in dict.fromkeys(op.pid for op in channel.reads)
            if p in trace.processes and trace.processes[p].seq <= seq
        ]  # fmt: skip
        if writers or readers:
            label += f": {', '.join(writers) or '?'} → {', '.join(readers) or 'no traced reader'}"
        if isinstance(queued, list):
            shown = ", ".join(show_bytes(q.recorded, 40, q.complete) for q in items[:6]) + (
                " …" if len(items) > 6 else ""
            )
            total = sum(q.length for q in items)
            count = f"{len(items)} datagram{'s' if len(items) != 1 else ''}, {total:,} bytes"
        else:
            shown, count = show_bytes(queued.recorded, 120, queued.complete), amount(queued)
        out.append([label, shown, count])
    return out


def amount(queued) -> str:
    """``44,957 bytes (the first 4,096 recorded)``: how many, and how many of them strace showed."""
    count = f"{queued.length:,} byte{'s' if queued.length != 1 else ''}"
    if queued.complete:
        return count
    return count + (f" (the first {len(queued.recorded):,} recorded)" if queued.recorded else " (none recorded)")
