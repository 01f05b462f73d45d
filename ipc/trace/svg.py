"""The sequence diagram as a standalone SVG, for slides (``ipc trace --svg FILE``). Pure (text out).

Written directly, not with a drawing library: the picture is lines, rects and
texts, and what matters is the layout (``scene.layout``) and attributes a
library would not give us for free: ``data-step`` on every row, so that the
step-through page can light up the current event, one ``class`` per kind of
mark, ids prefixed so that several diagrams can live in one HTML page.

System fonts only (DejaVu Sans, Verdana, Arial, then any sans-serif), no
script, no external reference: the file opens the same in a browser, an
editor or a slide program. At its natural width (1280 px) the labels are
15 px and the lane names 18 px, on white, in dark colours.
"""

from __future__ import annotations

from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from .model import Trace
from .scene import ROWS, Scene, layout

WIDTH = 1280
PALETTE = ("#1d4ed8", "#7e22ce", "#0f766e", "#b45309", "#15803d", "#be185d", "#4338ca", "#334155")
RED = "#dc2626"
INK = "#111827"
GREY = "#4b5563"
SANS = "'DejaVu Sans', Verdana, Arial, sans-serif"
MONO = "'DejaVu Sans Mono', Menlo, Consolas, monospace"
SIZE = 15  # the labels' font size, px
LEFT = 100  # the first lane's x (the times sit left of it)
TOP = 124  # where the rows begin
HEIGHT = {"message": 32, "fork": 30, "eof": 30, "reap": 30, "wake": 30, "fold": 48, "begin": 30}
ROW = 28
UNDER_TRACE = (
    "Time runs down, one row per step, in the kernel's order. Times are ms from the first call, "
    "measured under strace: the order is exact, durations are only relative."
)
STYLE = f"""
.ipc-trace text {{ font-family: {SANS}; font-size: {SIZE}px; }}
.ipc-trace text, .ipc-trace tspan {{ white-space: pre; }}
.ipc-trace .halo {{ paint-order: stroke; stroke: #fff; stroke-width: 5px; stroke-linejoin: round; }}
.ipc-trace .bytes {{ font-family: {MONO}; font-weight: bold; }}
.ipc-trace .dim {{ fill: {GREY}; }}
.ipc-trace .time {{ font-size: 12px; fill: {GREY}; }}
.ipc-trace .error {{ fill: {RED}; }}
.ipc-trace .lane-name {{ font-size: 18px; font-weight: bold; }}
.ipc-trace .programs {{ font-size: 14px; fill: {GREY}; }}
.ipc-trace .title {{ font-size: 21px; font-weight: bold; }}
.ipc-trace .note {{ font-size: 13px; fill: {GREY}; }}
.ipc-trace .summary {{ font-size: 14px; fill: {GREY}; }}
.ipc-trace .fold text {{ font-size: 15px; fill: {GREY}; }}
.ipc-trace .deadlock-title {{ font-size: 17px; font-weight: bold; fill: {RED}; }}
.ipc-trace .cursor {{ fill: #fde68a; opacity: 0.55; }}
"""


def render(
    trace: Trace,
    *,
    title: Optional[str] = None,
    rows: Optional[int] = ROWS,
    width: int = WIDTH,
    ids: str = "ipc-",
    interactive: bool = False,
) -> str:
    """The whole diagram as an SVG document (no XML declaration needed, but valid XML).

    ``rows``: cut a long run to about this many rows (None: every one); ``ids``:
    a prefix for the ids inside (several diagrams in one page need different
    ones); ``interactive``: add the highlight the step-through page moves."""
    return draw(layout(trace, rows), title=title, width=width, ids=ids, interactive=interactive)


def draw(
    scene: Scene, *, title: Optional[str] = None, width: int = WIDTH, ids: str = "ipc-", interactive: bool = False
) -> str:
    """Draw a scene; ``title=""``: no title line (a page that has its own)."""
    shift = 0 if title != "" else -28
    spacing = (width - LEFT - 40) / max(scene.slots, 1)
    x = {pid: LEFT + lane.slot * spacing for pid, lane in scene.lanes.items()}
    ys, y = [], TOP + shift
    for row in scene.rows:
        height = HEIGHT.get(row.kind, ROW)
        ys.append(y + height / 2)
        y += height
    band_top = y
    edges_y = []
    if scene.edges:
        y += 40
        for edge in scene.edges:
            height = 40 if edge.waiter == edge.holder else 52
            edges_y.append(y + height - 12)
            y += height
    bottom = y + 8
    summary = [line for text in scene.summary for line in _wrap(text, width - 40, 14)]
    height = int(bottom + 24 + 20 * len(summary) + 12)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" class="ipc-trace" font-family={quoteattr(SANS)} fill="{INK}">',
        f"<title>{_x(title or 'ipc trace')}</title>",
        f"<style>{STYLE}</style>",
        _defs(ids, len(PALETTE)),
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    if interactive:
        out.append(f'<rect id="{ids}cursor" class="cursor" x="0" y="-100" width="{width}" height="{ROW}"/>')
    if title != "":
        out.append(_text(24, 32, title or "ipc trace", "title"))
    out += [
        _text(24, 56 + shift + 17 * n, line, "note")
        for n, line in enumerate(_wrap(UNDER_TRACE, width - 48, 13, indent=""))
    ]
    lane_end = bottom - 8
    firsts: dict = {}
    for lane in sorted(scene.lanes.values(), key=lambda lane: lane.first):
        colour = PALETTE[lane.colour % len(PALETTE)]
        first = firsts.setdefault(lane.slot, lane.pid) == lane.pid
        top = TOP + shift - 8 if first and scene.lanes[lane.pid].first == 0 else ys[lane.first] - 10
        end = ys[lane.last] if lane.last is not None else lane_end
        out.append(
            f'<line class="lane" x1="{x[lane.pid]:.1f}" y1="{top:.1f}" x2="{x[lane.pid]:.1f}" y2="{end:.1f}" '
            f'stroke="{colour}" stroke-width="2" stroke-opacity="0.45"/>'
        )
        if first:
            room = (spacing if lane.slot < scene.slots - 1 else width - x[lane.pid]) - 16
            out.append(_text(x[lane.pid] - 6, TOP + shift - 36, _fit(lane.label, room, 18), "lane-name", fill=colour))
            out.append(_text(x[lane.pid] - 6, TOP + shift - 16, _fit(lane.programs, room, 14), "programs"))
    frozen = {edge.waiter for edge in scene.edges if edge.in_cycle}  # red: a call of the deadlock's cycle
    for bar in scene.bars:
        colour = RED if bar.stuck and bar.pid in frozen else PALETTE[scene.lanes[bar.pid].colour % len(PALETTE)]
        left = x[bar.pid] - 6 + 8 * bar.thread
        top = ys[bar.top]
        end = ys[bar.bottom] if bar.bottom is not None else lane_end
        out.append(
            f'<rect class="bar{" stuck" if bar.stuck else ""}" x="{left:.1f}" y="{top:.1f}" width="12" '
            f'height="{max(end - top, 4):.1f}" rx="3" fill="{colour}" fill-opacity="0.22" stroke="{colour}" '
            f'stroke-width="1.5"><title>{_x("blocked " + bar.text)}</title></rect>'
        )
    for number, row in enumerate(scene.rows):
        out.append(_row(scene, row, ys[number], x, width, spacing, ids))
    if scene.edges:
        out.append(_deadlock(scene, band_top, edges_y, x, width, ids))
    for number, line in enumerate(summary):
        out.append(_text(24, bottom + 24 + 20 * number, line, "summary"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _defs(ids: str, count: int) -> str:
    def marker(name: str, colour: str) -> str:
        return (
            f'<marker id="{ids}{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="13" markerHeight="13" '
            f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )

    markers = [marker(f"arrow-{n}", PALETTE[n]) for n in range(count)]
    return "<defs>" + "".join(markers + [marker("arrow-red", RED), marker("arrow-grey", GREY)]) + "</defs>"


def _row(scene: Scene, row, y: float, x: dict, width: int, spacing: float, ids: str) -> str:
    step = f' data-step="{row.step + 1}"' if row.step is not None else ""
    attrs = f'class="row {row.kind}"{step} data-y="{y:.1f}"'
    if row.kind == "fold":
        return (
            f'<g {attrs}><rect class="fold" x="8" y="{y - 20:.1f}" width="{width - 16}" height="40" fill="#f3f4f6" '
            f'rx="6"/>{_text(width / 2, y - 2, "⋮  " + row.text + "  ⋮", anchor="middle")}'
            f"{_text(width / 2, y + 15, row.detail, 'note', anchor='middle')}</g>"
        )
    lane = scene.lanes.get(row.pid)
    if lane is None:
        return ""
    colour = PALETTE[lane.colour % len(PALETTE)]
    here = x[row.pid]
    if row.kind in ("message", "fork", "eof", "reap", "wake"):
        return f"<g {attrs}>{_arrow(scene, row, y, x, width, ids)}</g>"
    parts = [f"<g {attrs}>"]
    if row.time is not None:
        parts.append(_text(LEFT - 22, y + 4, f"{row.time * 1000:.3f}", "time", anchor="end"))
    look = "error" if row.style == "error" else ""
    if row.kind == "exit":
        parts.append(
            f'<line x1="{here - 11:.1f}" y1="{y:.1f}" x2="{here + 11:.1f}" y2="{y:.1f}" '
            f'stroke="{RED if row.style == "error" else colour}" stroke-width="4"/>'
        )
    elif row.kind == "signal":
        parts.append(f'<path d="M{here:.1f},{y - 7:.1f} l7,7 l-7,7 l-7,-7 z" fill="{RED}"/>')
    elif row.style == "exec":
        parts.append(f'<rect x="{here - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="{colour}"/>')
    elif row.kind == "begin":
        parts.append(f'<circle cx="{here:.1f}" cy="{y:.1f}" r="6" fill="#fff" stroke="{colour}" stroke-width="3"/>')
    else:
        parts.append(f'<circle cx="{here:.1f}" cy="{y:.1f}" r="{4 if row.kind == "return" else 5}" fill="{colour}"/>')
    room = width - here - 30
    if row.kind == "begin":
        label = _fit(row.text, room, 17)
        parts.append(_text(here + 16, y + 5, label, "lane-name halo", fill=colour))
        rest = room - _width(label, 18, bold=True) - 16
        if rest > 60:
            parts.append(
                _text(here + 28 + _width(label, 18, bold=True), y + 5, _fit(row.detail, rest, 14), "programs halo")
            )
    else:
        text = _fit(row.text, room, SIZE)
        detail = _fit(row.detail, room - _width(text, SIZE) - 20, 14) if row.detail else ""
        spans = f'<tspan class="{look}">{_x(text)}</tspan>' if look else _x(text)
        if detail:
            spans += f'<tspan class="dim" font-size="14">  {_x(detail)}</tspan>'
        parts.append(f'<text class="halo" x="{here + 16:.1f}" y="{y + 5:.1f}">{spans}</text>')
    parts.append("</g>")
    return "".join(parts)


def _arrow(scene: Scene, row, y: float, x: dict, width: int, ids: str) -> str:
    source = scene.lanes.get(row.source)
    if source is None:
        return ""
    start, end = x[row.source], x[row.pid]
    colour_index = source.colour % len(PALETTE)
    if row.kind == "message":
        colour, marker, dash, line_y = PALETTE[colour_index], f"arrow-{colour_index}", "", y + 8
        label = (
            f'<tspan class="bytes" fill="{colour}">{_x(row.text)}</tspan>'
            f'<tspan class="dim" font-size="14"> · {_x(row.channel)}</tspan>'
        )
        size = _width(row.text, SIZE, mono=True) + _width(" · " + row.channel, 14)
    else:
        colour = GREY if row.kind == "fork" else PALETTE[colour_index]
        marker = "arrow-grey" if row.kind == "fork" else f"arrow-{colour_index}"
        dash, line_y = ' stroke-dasharray="6 5"', y + 6
        words = {
            "fork": row.text,
            "eof": f"end of file · {row.channel}",
            "reap": f"{row.text} → {row.channel}",
            "wake": f"{row.text} · {row.channel}",
        }
        text = words[row.kind]
        label, size = f'<tspan fill="{colour}">{_x(text)}</tspan>', _width(text, SIZE)
    if start == end:  # a process that writes to itself (one socket to another of its own)
        path = (
            f'<path d="M{start + 2:.1f},{line_y - 14:.1f} C{start + 60:.1f},{line_y - 16:.1f} '
            f'{start + 60:.1f},{line_y + 2:.1f} {start + 8:.1f},{line_y:.1f}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash} marker-end="url(#{ids}{marker})"/>'
        )
        return path + f'<text class="halo" x="{start + 68:.1f}" y="{line_y - 2:.1f}">{label}</text>'
    tip = end - 7 if end > start else end + 7
    line = (
        f'<line x1="{start:.1f}" y1="{line_y:.1f}" x2="{tip:.1f}" y2="{line_y:.1f}" stroke="{colour}" '
        f'stroke-width="2.2"{dash} marker-end="url(#{ids}{marker})"/>'
    )
    middle = (start + end) / 2
    middle = min(max(middle, 8 + size / 2), width - 8 - size / 2)  # kept inside the picture
    return line + f'<text class="halo" x="{middle:.1f}" y="{line_y - 7:.1f}" text-anchor="middle">{label}</text>'


def _deadlock(scene: Scene, top: float, ys: list, x: dict, width: int, ids: str) -> str:
    title = (
        "Deadlock: each blocked call waits for a process that is blocked itself (the cycle in red)"
        if scene.deadlock
        else "Blocked at the end, and who could end each wait"
    )
    parts = [
        f'<g class="deadlock"><rect x="8" y="{top + 4:.1f}" width="{width - 16}" height="{ys[-1] - top + 14:.1f}" '
        f'rx="8" fill="{RED if scene.deadlock else GREY}" fill-opacity="0.05" '
        f'stroke="{RED if scene.deadlock else GREY}" stroke-opacity="0.5"/>',
        _text(24, top + 28, title, "deadlock-title" if scene.deadlock else "deadlock-title dim"),
    ]
    for edge, y in zip(scene.edges, ys):
        colour, marker = (RED, "arrow-red") if edge.in_cycle else (GREY, "arrow-grey")
        waiter, holder = scene.lanes[edge.waiter], scene.lanes[edge.holder]
        start, end = x[edge.waiter], x[edge.holder]
        cls = "waits-for in-cycle" if edge.in_cycle else "waits-for"
        cls += f'" data-waiter="{edge.waiter}" data-holder="{edge.holder}'  # for a program that reads the picture
        head = f"{waiter.label} waits for " + ("itself" if edge.waiter == edge.holder else holder.label)
        words = f"{edge.what} — {edge.held}"
        if start == end:
            parts.append(
                f'<g class="{cls}"><path d="M{start + 6:.1f},{y - 12:.1f} C{start + 70:.1f},{y - 22:.1f} '
                f'{start + 70:.1f},{y + 10:.1f} {start + 8:.1f},{y + 2:.1f}" fill="none" stroke="{colour}" '
                f'stroke-width="3" stroke-dasharray="8 5" marker-end="url(#{ids}{marker})"/>'
                f"{_text(start + 78, y - 8, head, 'halo', fill=colour, weight='bold')}"
                f"{_text(start + 78, y + 10, _fit(words, width - start - 100, 14), 'halo dim')}</g>"
            )
            continue
        tip = end - 8 if end > start else end + 8
        middle = (start + end) / 2
        room = width - 40
        parts.append(
            f'<g class="{cls}"><line x1="{start:.1f}" y1="{y:.1f}" x2="{tip:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="3" stroke-dasharray="8 5" marker-end="url(#{ids}{marker})"/>'
            + _text(_inside(middle, head, 15, width), y - 26, head, "halo", fill=colour, anchor="middle", weight="bold")
            + _text(_inside(middle, words, 14, width), y - 8, _fit(words, room, 14), "halo dim", anchor="middle")
            + "</g>"
        )
    parts.append("</g>")
    return "".join(parts)


def _inside(middle: float, text: str, size: int, width: int) -> float:
    half = min(_width(text, size), width - 40) / 2
    return min(max(middle, 20 + half), width - 20 - half)


def _text(x: float, y: float, text: str, cls: str = "", *, anchor: str = "", fill: str = "", weight: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor else ""
    attrs += f' fill="{fill}"' if fill else ""
    attrs += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{_x(text)}</text>'


def _x(text: str) -> str:
    """Text as XML: escaped, and without the characters XML 1.0 cannot hold (a lone surrogate, a control)."""
    clean = "".join(
        ch for ch in text if ch in "\t\n" or (" " <= ch and not "\ud800" <= ch <= "\udfff" and ch not in "\ufffe\uffff")
    )
    return escape(clean)


def _width(text: str, size: float, mono: bool = False, bold: bool = False) -> float:
    """About how wide a text is drawn (no font metrics at hand: an average glyph, a little generous)."""
    return len(text) * size * (0.61 if mono else 0.66 if bold else 0.58)


def _fit(text: str, room: float, size: float, mono: bool = False) -> str:
    if _width(text, size, mono) <= room:
        return text
    keep = max(int(room / (size * (0.61 if mono else 0.58))) - 1, 1)
    return text[:keep] + "…"


def _wrap(text: str, room: float, size: float, indent: str = "  ") -> list:
    chars = max(int(room / (size * 0.58)), 20)
    lines, current = [], ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > chars:
            lines.append(current)
            current = indent + word
        else:
            current = f"{current} {word}" if current else word
    return lines + [current] if current else lines
