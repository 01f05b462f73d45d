"""What the terminal picture says below its lanes. Pure (text out).

    0 messages matched writer → reader (0 bytes).
    Blocked at the end:
      client[5882] in read fd 5 (pipe #2) for 197 ms: interrupted by SIGTERM; it waits for
        server[5893] (fd 6, pipe #2's write end)
      server[5893] in read fd 3 (pipe #1) for 196 ms: interrupted by SIGTERM; it waits for
        client[5882] (fd 4, pipe #1's write end)
    Objects: pipe #1 (pipe:[2062916]); pipe #2 (pipe:[2062917]).

How many messages were matched and their bytes; a line per channel, process and
reason for bytes no read took (or no write gave); who was blocked, when the
deadlock was seen or at the end, and for whom; then a legend of the objects
the lanes name. Each line is wrapped to the picture's width.
"""

from __future__ import annotations

import re
from typing import Optional

from .describe import held, milliseconds, show_bytes
from .model import Trace, Unmatched
from .snapshot import finding


def summary(trace: Trace, pids: list, width: int, stopped: Optional[Trace] = None) -> list:
    """The lines below the lanes, for the processes ``pids``; ``stopped``: the model when a deadlock was seen."""
    lines = []
    shown = [m for m in trace.messages if not trace.calls[m.writer].noise and not trace.calls[m.reader].noise]
    total = sum(m.length for m in shown)
    lines.append(f"{len(shown)} message{'s' if len(shown) != 1 else ''} matched writer → reader ({total} bytes).")
    groups: dict = {}
    for item in trace.unmatched:  # one line per channel, process and reason
        groups.setdefault((channel_label(trace, item.channel), item.pid, item.reason), []).append(item)
    for items in groups.values():
        lines.append(wrap("! " + _unmatched(trace, items), width))
    if stopped is not None and stopped.blocked_at_end():  # the deadlock as it stood, before anything was ended
        lines.append("Blocked when the deadlock was seen:")
        ended = {(w.tid, round(w.start + trace.origin, 6)): w for w in trace.waits}
        found = finding(stopped)
        for wait in stopped.blocked_at_end():
            final = ended.get((wait.tid, round(wait.start + stopped.origin, 6)))
            then = f"; then {final.reason}" if final is not None else ""
            lines.append(wrap(f"  {_blocked_line(stopped, wait, False, found)}{then}", width))
    elif stuck := [w for w in trace.blocked_at_end() if w.pid in pids]:
        lines.append("Blocked at the end:")
        found = finding(trace)
        lines += [wrap(f"  {_blocked_line(trace, wait, True, found)}", width) for wait in stuck]
    used = sorted(
        {
            key
            for call in trace.calls
            if not call.noise and call.pid in pids
            for key in call.objects
            if trace.objects[key].interesting and trace.objects[key].kind != "file"
        }
    )
    legend = sorted(
        {trace.objects[key].label: trace.objects[key].description for key in reversed(used)}.values(),
        key=lambda text: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)],
    )
    if legend:
        lines.append(wrap("Objects: " + "; ".join(dict.fromkeys(legend)) + ".", width))
    return lines


def _blocked_line(trace: Trace, wait, with_reason: bool = True, found=None) -> str:
    since = f" for {milliseconds(wait.duration)}" if wait.duration is not None else ""
    edges = [edge for edge in (found.edges if found else ()) if edge.tid == wait.tid and edge.holder in trace.processes]
    whom = [
        f"{'itself' if edge.holder == wait.pid else trace.processes[edge.holder].label} ({held(trace, edge)})"
        for edge in edges
    ]
    who = f"; it waits for {', '.join(dict.fromkeys(whom))}" if whom else ""
    return f"{trace.processes[wait.pid].label} in {wait.what}{since}{': ' + wait.reason if with_reason else ''}{who}"


def _unmatched(trace: Trace, items: list) -> str:
    item = items[0]
    who, where = trace.processes[item.pid].label, channel_label(trace, item.channel)
    length = sum(i.length for i in items)
    calls = f" ({len(items)} calls)" if len(items) > 1 else ""
    data = show_bytes(item.data, 30, len(item.data) >= item.length and len(items) == 1)
    item = Unmatched(item.channel, item.call, item.pid, item.offset, length, item.data, item.reason)
    return {
        "left unread": f"{item.length} bytes written by {who}{calls} into {where} were never read (left in the "
        f"buffer): {data}",
        "no traced reader": f"{item.length} bytes written by {who} to {where} left the trace (no traced process "
        f"read them): {data}",
        "never read": f"{item.length} bytes written by {who} to {where} were never read: {data}",
        "lost: never received": (
            f"{len(items)} datagrams ({item.length} bytes) sent by {who} to {where} were lost (never received): {data}"
            if len(items) > 1
            else f"a datagram of {item.length} bytes sent by {who} to {where} was lost (never received): {data}"
        ),
        "truncated": f"{item.length} bytes of a datagram sent by {who} were cut off: the receiver's buffer was "
        f"shorter: {data}",
        "no traced writer": f"{item.length} bytes read by {who} from {where} came from outside the trace: {data}",
    }.get(item.reason, f"{item.length} bytes by {who} on {where}: {item.reason}: {data}")


def wrap(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of ``width``; a continued line keeps its indent, two columns further."""
    indent = text[: len(text) - len(text.lstrip(" "))]
    words, lines, current = text.lstrip(" ").split(" "), [], indent
    for word in words:
        if current.strip() and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = indent + "  " + word
        else:
            current = f"{current} {word}" if current.strip() else current + word
    return "\n".join(lines + [current])


def channel_label(trace: Trace, name: str) -> str:
    """How a channel is named in the picture: the label of its object, else its own name."""
    channel = trace.channels.get(name)
    return channel.label if channel is not None and channel.label else name
