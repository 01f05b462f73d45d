"""The sequence diagram as a standalone SVG, for slides (``ipc trace --svg FILE``). Pure (text out).

Written directly, not with a drawing library: the picture is lines, rects and
texts, and what matters is the layout (``scene.layout``) and attributes a
library would not give us for free: ``data-step`` on every row, so that the
step-through page can light up the current event, one ``class`` per kind of
mark, ids prefixed so that several diagrams can live in one HTML page, and
a ``<title>`` on each call's row naming the line of the program that made it
(a tooltip: ``pipe_fork.py:64  pid = os.fork()``), where that is known.

A layout that cannot overlap: every text is measured (ipc.trace.textwidth,
the font's own widths) and given a box of its own before anything is drawn.
A row's words stay between its lane and the next lane alive at that row,
wrapping onto more lines where they need to; a message's label sits in the
widest gap between the lifelines its arrow crosses; no lifeline and no
blocked bar runs under a text (they stop at a fold and at the deadlock's
band). ``text_boxes`` gives the box of every text of a drawn SVG, for a test.

System fonts only (DejaVu Sans, Verdana, Arial, then any sans-serif), no
script, no external reference: the file opens the same in a browser, an
editor or a slide program; its text stays text (selectable, searchable). At
its natural width (1280 px) the labels are 15 px and the lane names 18 px.
Two themes: light (dark ink on white) and dark (for a dark slide).
``slides`` fits a scene to a slide's size: smaller type down to three
quarters, else several slides, each with the lanes named again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional
from xml.sax.saxutils import escape, quoteattr

from . import textwidth
from .model import Trace
from .scene import ROWS, Bar, Row, Scene, layout

WIDTH = 1280
SANS = "'DejaVu Sans', Verdana, Arial, sans-serif"
MONO = "'DejaVu Sans Mono', Menlo, Consolas, monospace"
SIZE = 15  # the labels' font size, px
LINE = 19  # from one line of a label to the next
LEFT = 100  # the first lane's x (the times sit left of it)
RIGHT = 16  # the margin on the right
SUB = 16  # from a process's lane to its first thread's, and between threads
GAP = 14  # from a lifeline to the nearest text
ROW = 28  # a row of one line
SMALLEST = 0.8  # the smallest scale a slide is drawn at before it is split into several
UNDER_TRACE = (
    "Time runs down, one row per step, in the kernel's order. Times are ms from the first call, "
    "measured under strace: the order is exact, durations are only relative."
)
# Each class of text and its font: (size px, bold, monospaced). ``text_boxes`` measures with these.
FONTS = {
    "": (SIZE, False, False),
    "time": (12, False, False),
    "lane-name": (18, True, False),
    "programs": (14, False, False),
    "title": (21, True, False),
    "note": (13, False, False),
    "summary": (14, False, False),
    "deadlock-title": (17, True, False),
    "bytes": (SIZE, True, True),
    "dim": (14, False, False),
    "head": (SIZE, True, False),
    "fold-note": (13, False, False),
}


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    ink: str
    grey: str
    red: str
    palette: tuple
    panel: str  # a fold's band
    cursor: str  # the step-through page's highlight


LIGHT = Theme(
    "light",
    "#ffffff",
    "#111827",
    "#4b5563",
    "#dc2626",
    ("#1d4ed8", "#7e22ce", "#0f766e", "#b45309", "#15803d", "#be185d", "#4338ca", "#334155"),
    "#f3f4f6",
    "#fde68a",
)
DARK = Theme(
    "dark",
    "#0f172a",
    "#f1f5f9",
    "#a3acb9",
    "#f87171",
    ("#60a5fa", "#c084fc", "#2dd4bf", "#fbbf24", "#4ade80", "#f472b6", "#a5b4fc", "#cbd5e1"),
    "#1e293b",
    "#854d0e",
)
THEMES = {theme.name: theme for theme in (LIGHT, DARK)}
PALETTE = LIGHT.palette
RED, INK, GREY = LIGHT.red, LIGHT.ink, LIGHT.grey


def style(theme: Theme) -> str:
    return f"""
.ipc-trace text {{ font-family: {SANS}; font-size: {SIZE}px; }}
.ipc-trace text, .ipc-trace tspan {{ white-space: pre; }}
.ipc-trace .bytes {{ font-family: {MONO}; font-weight: bold; }}
.ipc-trace .head {{ font-weight: bold; }}
.ipc-trace .dim {{ fill: {theme.grey}; font-size: 14px; }}
.ipc-trace .time {{ font-size: 12px; fill: {theme.grey}; }}
.ipc-trace .error {{ fill: {theme.red}; }}
.ipc-trace .lane-name {{ font-size: 18px; font-weight: bold; }}
.ipc-trace .programs {{ font-size: 14px; fill: {theme.grey}; }}
.ipc-trace .title {{ font-size: 21px; font-weight: bold; }}
.ipc-trace .note, .ipc-trace .fold-note {{ font-size: 13px; fill: {theme.grey}; }}
.ipc-trace .summary {{ font-size: 14px; fill: {theme.grey}; }}
.ipc-trace .fold text {{ fill: {theme.grey}; }}
.ipc-trace .deadlock-title {{ font-size: 17px; font-weight: bold; fill: {theme.red}; }}
.ipc-trace .cursor {{ fill: {theme.cursor}; opacity: 0.55; }}
"""


STYLE = style(LIGHT)


def render(
    trace: Trace,
    *,
    title: Optional[str] = None,
    rows: Optional[int] = ROWS,
    width: int = WIDTH,
    ids: str = "ipc-",
    interactive: bool = False,
    steps: Optional[tuple] = None,
    theme: Theme = LIGHT,
) -> str:
    """The whole diagram as an SVG document (no XML declaration needed, but valid XML).

    ``rows``: cut a long run to about this many rows (None: every one); ``ids``:
    a prefix for the ids inside (several diagrams in one page need different
    ones); ``interactive``: add the highlight the step-through page moves;
    ``steps``: (first, last) only those steps (from 1)."""
    scene = layout(trace, rows, steps)
    return draw(scene, title=title, width=width, ids=ids, interactive=interactive, theme=theme)


def draw(
    scene: Scene,
    *,
    title: Optional[str] = None,
    width: int = WIDTH,
    ids: str = "ipc-",
    interactive: bool = False,
    theme: Theme = LIGHT,
    size: Optional[tuple] = None,
) -> str:
    """Draw a scene; ``title=""``: no title line (a page that has its own). ``size``: (width, height) of the
    canvas, when it differs from the picture's own (a slide: the picture scaled into it, at its top)."""
    plan = Plan(scene, width, title)
    return plan.svg(ids, interactive, theme, size)


def thumbnail(scene: Scene, *, width: int = 120, height: int = 80, ids: str = "t-", theme: Theme = LIGHT) -> str:
    """A small picture of a scene, without words: its lanes, messages, forks, blocked calls (red where they
    are a deadlock's cycle), for a list of many."""
    rows = max(len(scene.rows), 1)
    step = (height - 10) / rows
    columns = max(scene.slots - 1, 1)
    x = {
        key: 10 + lane.slot * (width - 20) / columns + 3 * lane.sub if scene.slots > 1 else width / 2 + 3 * lane.sub
        for key, lane in scene.lanes.items()
    }

    def y(number: int) -> float:
        return 5 + step * (number + 0.5)

    colour = {key: theme.palette[lane.colour % len(theme.palette)] for key, lane in scene.lanes.items()}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'class="thumbnail" aria-hidden="true"><rect width="{width}" height="{height}" fill="{theme.background}"/>'
    ]
    for key, lane in scene.lanes.items():
        end = y(lane.last) if lane.last is not None else height - 4
        out.append(
            f'<line x1="{x[key]:.1f}" y1="{y(lane.first):.1f}" x2="{x[key]:.1f}" y2="{end:.1f}" '
            f'stroke="{colour[key]}" stroke-opacity="0.5"/>'
        )
    frozen = {scene.lane(edge.waiter, edge.tid) for edge in scene.edges if edge.in_cycle}
    for bar in scene.bars:
        if bar.pid in x:
            top, end = y(bar.top), y(bar.bottom) if bar.bottom is not None else height - 4
            paint = theme.red if bar.stuck and bar.pid in frozen else colour[bar.pid]
            out.append(
                f'<rect x="{x[bar.pid] - 1.5:.1f}" y="{top:.1f}" width="3" height="{max(end - top, 1):.1f}"'
                f' fill="{paint}" fill-opacity="0.6"/>'
            )
    for number, row in enumerate(scene.rows):
        if row.source in x and row.pid in x and row.source != row.pid:
            dash = "" if row.kind == "message" else ' stroke-dasharray="2 2"'
            paint = theme.grey if row.kind == "fork" else colour[row.source]
            out.append(
                f'<line x1="{x[row.source]:.1f}" y1="{y(number):.1f}" x2="{x[row.pid]:.1f}" y2="{y(number):.1f}" '
                f'stroke="{paint}" stroke-width="1.2"{dash}/>'
            )
    return "".join(out) + "</svg>"


def page_parts(scene: Scene, *, width: int, ids: str) -> tuple:
    """(the lanes' names, the picture below them): the step-through page keeps the first in sight."""
    plan = Plan(scene, width, "", note=False)  # the page says it beside the picture
    return plan.head_svg(), plan.svg(ids, True, LIGHT, headless=True)


def slides(
    scene: Scene, *, width: int, height: int, title: Optional[str] = None, ids: str = "ipc-", theme: Theme = LIGHT
) -> list:
    """The scene on slides of ``width`` x ``height`` px: one, at a smaller type if need be (down to
    ``SMALLEST``), else several, each naming the lanes again and saying what it continues."""
    for scale in (1.0, 0.95, 0.9, 0.85, SMALLEST):
        plan = Plan(scene, round(width / scale), title)
        if plan.height * scale <= height:
            return [plan.svg(ids, False, theme, (width, height))]
    parts = _split(scene, width, height, title)
    out = []
    for number, part in enumerate(parts, 1):
        named = f"{title or 'ipc trace'} ({number} of {len(parts)})"
        plan = Plan(part, width, named)
        scale = min(1.0, height / plan.height)
        if scale < 1.0:  # a part that cannot be split further: drawn smaller
            plan = Plan(part, round(width / scale), named)
        out.append(plan.svg(f"{ids}{number}-", False, theme, (width, height)))
    return out


# -- the layout ---------------------------------------------------------------------------------------------


@dataclass
class Text:
    """One line of text: where, and its pieces ([(words, class, fill)])."""

    x: float
    y: float  # its baseline
    spans: list
    anchor: str = ""
    cls: str = ""
    fill: str = ""  # a colour for the whole line; "lane": its lane's

    def width(self) -> float:
        return sum(measure(words, cls or self.cls) for words, cls, _ in self.spans)


@dataclass
class Placed:
    """A row, placed: its top, its height, the y of its mark or arrow, and its lines of text."""

    row: Row
    top: float
    height: float
    anchor: float  # the y of its dot, or of its arrow
    texts: list = field(default_factory=list)
    arrow: Optional[tuple] = None  # (from x, to x)


def measure(words: str, cls: str) -> float:
    size, bold, mono = font(cls)
    return textwidth.width(words, size, bold, mono)


def font(classes: str) -> tuple:
    """(size, bold, mono) of a text or a span with these classes (the last class that names a font)."""
    found = FONTS[""]
    for cls in classes.split():
        found = FONTS.get(cls, found)
    return found


class Plan:
    """Where everything of a scene goes at a width: computed before anything is drawn."""

    def __init__(self, scene: Scene, width: int, title: Optional[str], note: bool = True):
        self.scene, self.width, self.title = scene, width, title
        self.head: list = []  # the texts above the rows
        y = 8.0
        if title != "":
            y = 32.0
            self.head.append(
                Text(24, y, [(textwidth.fit(title or "ipc trace", width - 48, 21, True), "title", "")], cls="title")
            )
        for line in textwidth.wrap(UNDER_TRACE, width - 48, 13, indent="  ") if note else ():
            y += 24 if len(self.head) < 2 else 17
            self.head.append(Text(24, y, [(line, "note", "")], cls="note"))
        self.names_y = y + 32
        self.top = self.names_y + 34  # the first row's top
        self.x = self._columns()
        self.first = {key: lane.first for key, lane in scene.lanes.items()}  # a bar may begin before its lane's
        for bar in scene.bars:  # first row kept (in a fold): its lane is drawn from there
            if bar.pid in self.first:
                self.first[bar.pid] = min(self.first[bar.pid], bar.top)
        self.rows: list = []
        y = self.top
        for number, row in enumerate(scene.rows):
            placed = self._place(number, row, y)
            self.rows.append(placed)
            y += placed.height
        self.rows_end = y
        self.band: list = []  # the deadlock's texts and arrows: (texts, arrow y, edge)
        self.band_top = y + 10
        if scene.edges:
            self._band()
            y = self.band_bottom + 8
        self.summary = []
        for line in (part for text in scene.summary for part in textwidth.wrap(text, width - 48, 14, indent="  ")):
            y += 20
            self.summary.append(Text(24, y + 4, [(line, "summary", "")], cls="summary"))
        self.height = int(y + 24)

    # columns: a width for each, from what its rows say

    def _columns(self) -> dict:
        """Each lane's x: columns as wide as their rows' words ask, within the picture's width."""
        scene = self.scene
        want = []
        for slot in range(scene.slots):
            keys = {key for key, lane in scene.lanes.items() if lane.slot == slot}
            words = sorted(
                measure(row.text, "") + (measure("  " + row.detail, "dim") if row.detail else 0)
                for row in scene.rows
                if row.pid in keys and row.kind not in ("message", "pass", "fold")
            )
            typical = words[len(words) * 9 // 10] if words else 160.0  # most rows on one line
            names = [measure(lane.label, "lane-name") for lane in scene.lanes.values() if lane.slot == slot]
            want.append(min(max(typical, max(names, default=0), 150.0), 600.0) + (scene.subs(slot) - 1) * SUB + 44)
        room = self.width - LEFT - RIGHT
        if want and sum(want) <= room:  # room to spare: shared
            widths = [wanted + (room - sum(want)) / len(want) for wanted in want]
        else:
            widths = [wanted * room / sum(want) for wanted in want]
        starts, x = [], float(LEFT)
        for wide in widths:
            starts.append(x)
            x += wide
        return {key: starts[lane.slot] + lane.sub * SUB for key, lane in scene.lanes.items()}

    def alive(self, number: int) -> list:
        """The x of every lifeline at row ``number``."""
        return sorted(
            self.x[key]
            for key, lane in self.scene.lanes.items()
            if self.first[key] <= number and (lane.last is None or number <= lane.last)
        )

    def text_x(self, key: int) -> float:
        lane = self.scene.lanes[key]
        return self.x[key] - lane.sub * SUB + (self.scene.subs(lane.slot) - 1) * SUB + 16

    def room(self, number: int, start: float) -> float:
        """From ``start`` to the next lifeline alive at that row (or the picture's edge), less a margin."""
        nxt = min((x for x in self.alive(number) if x > start), default=self.width - RIGHT + GAP)
        return nxt - GAP - start

    # rows

    def _place(self, number: int, row: Row, top: float) -> Placed:
        scene = self.scene
        if row.kind == "fold":
            texts = [
                Text(self.width / 2, top + 22, [(f"⋮  {row.text}  ⋮", "", "")], anchor="middle"),
                Text(self.width / 2, top + 38, [(row.detail, "fold-note", "")], anchor="middle", cls="fold-note"),
            ]
            return Placed(row, top, 50, top + 25, [t for t in texts if t.spans[0][0]])
        if row.pid not in scene.lanes:
            return Placed(row, top, 0, top)
        if row.kind in ("message", "pass", "fork", "eof", "reap", "wake"):
            return self._arrow(number, row, top)
        x = self.text_x(row.pid)
        room = self.room(number, x)
        if row.kind == "begin":
            name = textwidth.fit(row.text, room, 18, bold=True)
            rest = room - measure(name, "lane-name") - 12
            texts = [Text(x, top + 20, [(name, "lane-name", "lane")], cls="lane-name")]
            if rest > 80:
                detail = [(textwidth.fit(row.detail, rest, 14), "programs", "")]
                texts.append(Text(x + room - rest, top + 20, detail, cls="programs"))
                return Placed(row, top, 30, top + 14, texts)
            texts.append(Text(x, top + 42, [(textwidth.fit(row.detail, room, 14), "programs", "")], cls="programs"))
            return Placed(row, top, 50, top + 14, texts)
        look = "error" if row.style == "error" else ""
        lines = textwidth.wrap(row.text, room, SIZE, indent="  ")
        texts = [Text(x, top + 19 + LINE * n, [(line, look, "")]) for n, line in enumerate(lines)]
        if row.detail:
            last = texts[-1]
            tail = "  " + row.detail
            if last.width() + measure(tail, "dim") <= room:
                last.spans.append((tail, "dim", ""))
            else:
                for line in textwidth.wrap(row.detail, room - 16, 14, indent="  "):
                    texts.append(Text(x + 16, top + 19 + LINE * len(texts), [(line, "dim", "")], cls="dim"))
        height = ROW + LINE * (len(texts) - 1)
        if row.time is not None:
            texts.insert(0, Text(LEFT - 22, top + 18, [(f"{row.time * 1000:.3f}", "time", "")], "end", "time"))
        return Placed(row, top, height, top + 14, texts)

    def _arrow(self, number: int, row: Row, top: float) -> Placed:
        start, end = self.x[row.source], self.x[row.pid]
        if row.kind == "message":
            pieces = [(row.text, "bytes", "source"), (f" {row.detail} · {row.channel}".replace("  ", " "), "dim", "")]
        else:
            words = {
                "fork": row.text,
                "eof": f"end of file · {row.channel}",
                "reap": f"{row.text} → {row.channel}",
                "wake": f"{row.text} · {row.channel}",
                "pass": f"{row.text} · {row.channel}",  # an fd, not bytes
            }[row.kind]
            pieces = [(words, "", "grey" if row.kind == "fork" else "source")]
        room = 0.0
        if start != end:  # in the widest gap between the lifelines the arrow crosses
            xs = [x for x in self.alive(number) if min(start, end) < x < max(start, end)]
            edges = [min(start, end)] + xs + [max(start, end)]
            low, high = max(zip(edges, edges[1:]), key=lambda pair: pair[1] - pair[0])
            room, centre, anchor = high - low - 2 * GAP, (low + high) / 2, "middle"
        if room < 60:  # to itself (one socket to another of its own), or between a process and its thread: beside
            left = max(max(start, end) + 70, self.text_x(row.pid), self.text_x(row.source))
            room, centre, anchor = self.room(number, left), left, ""
        lines = _label(pieces, room)
        texts = [Text(centre, top + 17 + LINE * n, line, anchor) for n, line in enumerate(lines)]
        arrow_y = top + 17 + LINE * (len(lines) - 1) + 11
        return Placed(row, top, arrow_y - top + 9, arrow_y, texts, (start, end))

    # the deadlock's band

    def _band(self) -> None:
        scene, width = self.scene, self.width
        title = (
            "Deadlock: each blocked call waits for a process that is blocked itself (the cycle in red)"
            if scene.deadlock
            else "Blocked at the end, and who could end each wait"
        )
        y = self.band_top + 6
        self.band_title = []
        for line in textwidth.wrap(title, width - 48, 17, bold=True):
            y += 24
            self.band_title.append(Text(24, y, [(line, "deadlock-title", "")], cls="deadlock-title"))
        y += 8
        for edge in scene.edges:
            waiter = scene.lanes[scene.lane(edge.waiter, edge.tid)]
            holder = scene.lanes[edge.holder]
            head = f"{waiter.label} waits for " + ("itself" if edge.waiter == edge.holder else holder.label)
            start, end = self.x[scene.lane(edge.waiter, edge.tid)], self.x[edge.holder]
            lines = [[(line, "head", "edge")] for line in textwidth.wrap(head, width - 48, SIZE, bold=True)]
            lines += [[(line, "dim", "")] for line in textwidth.wrap(f"{edge.what} — {edge.held}", width - 48, 14)]
            texts = []
            for line in lines:
                y += LINE + 2
                wide = sum(measure(words, cls) for words, cls, _ in line)
                centre = min(max((start + end) / 2, 24 + wide / 2), width - 24 - wide / 2)
                texts.append(Text(centre, y, line, "middle"))
            y += 18 if start != end else 30
            self.band.append((texts, y, edge, start, end))
            y += 8
        self.band_bottom = y + 8

    # drawing

    @property
    def head_height(self) -> float:
        """Where the texts above the lanes end: the lanes begin below it."""
        return self.names_y + 26

    def head_svg(self, theme: Theme = LIGHT) -> str:
        """Only what is above the lanes (the note, the lanes' names): for a page that keeps it in sight."""
        colour = {key: theme.palette[lane.colour % len(theme.palette)] for key, lane in self.scene.lanes.items()}
        height = self.head_height
        return (
            "\n".join(
                [
                    f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {height:.0f}" '
                    f'width="{self.width}" height="{height:.0f}" class="ipc-trace lanes-head {theme.name}" '
                    f"font-family={quoteattr(SANS)} fill={quoteattr(theme.ink)}>",
                    f"<style>{style(theme)}</style>",
                    f'<rect width="{self.width}" height="{height:.0f}" fill="{theme.background}"/>',
                    *[_text(t, theme) for t in self.head],
                    *self._names(colour, theme),
                    "</svg>",
                ]
            )
            + "\n"
        )

    def svg(
        self, ids: str, interactive: bool, theme: Theme, size: Optional[tuple] = None, headless: bool = False
    ) -> str:
        """The picture; ``size``: the canvas's, for a slide; ``headless``: without what ``head_svg`` draws
        (its view begins where the lanes do)."""
        scene, width, height = self.scene, self.width, self.height
        outer = size or (width, height)
        view = (width, height) if size is None else (width, max(height, width * size[1] / size[0]))
        top = self.head_height if headless else 0.0
        if headless:
            view, outer = (width, height - top), (width, round(height - top))
        colour = {key: theme.palette[lane.colour % len(theme.palette)] for key, lane in scene.lanes.items()}
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 {top:.0f} {view[0]} {view[1]:.0f}" '
            f'width="{outer[0]}" height="{outer[1]}" class="ipc-trace {theme.name}" font-family={quoteattr(SANS)} '
            f'fill="{theme.ink}"' + (' preserveAspectRatio="xMidYMin meet"' if size else "") + ">",
            f"<title>{_x(self.title or 'ipc trace')}</title>",
            f"<style>{style(theme)}</style>",
            _defs(ids, theme),
            f'<rect y="{top:.0f}" width="{view[0]}" height="{view[1]:.0f}" fill="{theme.background}"/>',
        ]
        if interactive:
            out.append(f'<rect id="{ids}cursor" class="cursor" x="0" y="-100" width="{width}" height="{ROW}"/>')
        if not headless:
            out += [_text(t, theme) for t in self.head] + self._names(colour, theme)
        out += self._lanes(colour, theme)
        out += self._bars(colour, theme)
        for placed in self.rows:
            out.append(self._row(placed, colour, theme, ids))
        if scene.edges:
            out.append(self._deadlock(colour, theme, ids))
        out += [_text(t, theme) for t in self.summary]
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _cuts(self) -> list:
        """The bands no lifeline or bar crosses: the folds."""
        return [(p.top, p.top + p.height) for p in self.rows if p.row.kind == "fold"]

    def _segments(self, top: float, bottom: float) -> list:
        """A vertical run from ``top`` to ``bottom``, broken where a fold is."""
        out, y = [], top
        for start, end in self._cuts():
            if end <= y or start >= bottom:
                continue
            if start > y:
                out.append((y, start))
            y = max(y, end)
        return out + ([(y, bottom)] if bottom > y else [])

    def _lanes(self, colour: dict, theme: Theme) -> list:
        scene, out = self.scene, []
        named: dict = {}
        for key, lane in sorted(scene.lanes.items(), key=lambda item: item[1].first):
            if not lane.thread:
                named.setdefault(lane.slot, key)
        for key, lane in scene.lanes.items():
            first = self.first[key]
            top = self.names_y + 26 if named.get(lane.slot) == key and first == 0 else self.rows[first].top
            end = self.rows[lane.last].anchor if lane.last is not None else self.rows_end
            look = ' stroke-width="1.5" stroke-dasharray="4 3"' if lane.thread else ' stroke-width="2"'
            for y0, y1 in self._segments(top, end):
                out.append(
                    f'<line class="lane" data-lane="{key}" x1="{self.x[key]:.1f}" y1="{y0:.1f}" x2="{self.x[key]:.1f}" '
                    f'y2="{y1:.1f}" stroke="{colour[key]}" stroke-opacity="0.45"{look}/>'
                )
        return out

    def _names(self, colour: dict, theme: Theme) -> list:
        """The name and programs of the first process of each column, above its lane."""
        scene, out = self.scene, []
        named: dict = {}
        for key, lane in sorted(scene.lanes.items(), key=lambda item: item[1].first):
            if not lane.thread:
                named.setdefault(lane.slot, key)
        starts = sorted({self.x[key] for key in named.values()})
        for key in named.values():
            lane, x = scene.lanes[key], self.x[key]
            nxt = min((s for s in starts if s > x), default=self.width - RIGHT + 16)
            room = nxt - 16 - (x - 6)
            label = textwidth.fit(lane.label, room, 18, bold=True)
            name = Text(x - 6, self.names_y, [(label, "lane-name", "lane")], cls="lane-name")
            programs = Text(x - 6, self.names_y + 20, [(textwidth.fit(lane.programs, room, 14), "programs", "")])
            programs.cls = "programs"
            out += [_text(name, theme, colour[key]), _text(programs, theme)]
        return out

    def _bars(self, colour: dict, theme: Theme) -> list:
        scene, out = self.scene, []
        frozen = {scene.lane(edge.waiter, edge.tid) for edge in scene.edges if edge.in_cycle}
        for bar in scene.bars:
            if bar.pid not in self.x or bar.top >= len(self.rows):
                continue
            paint = theme.red if bar.stuck and bar.pid in frozen else colour[bar.pid]
            top = self.rows[bar.top].anchor
            end = self.rows[bar.bottom].anchor if bar.bottom is not None else self.rows_end
            for y0, y1 in self._segments(top, max(end, top + 4)):
                out.append(
                    f'<rect class="bar{" stuck" if bar.stuck else ""}" x="{self.x[bar.pid] - 6:.1f}" y="{y0:.1f}" '
                    f'width="12" height="{max(y1 - y0, 4):.1f}" rx="3" fill="{paint}" fill-opacity="0.22" '
                    f'stroke="{paint}" stroke-width="1.5"><title>{_x("blocked " + bar.text)}</title></rect>'
                )
        return out

    def _row(self, placed: Placed, colour: dict, theme: Theme, ids: str) -> str:
        row, y = placed.row, placed.anchor
        step = f' data-step="{row.step + 1}"' if row.step is not None else ""
        attrs = (
            f'class="row {row.kind}"{step} data-y="{placed.top + placed.height / 2:.1f}" data-h="{placed.height:.0f}"'
        )
        if row.kind == "fold":
            return (
                f'<g {attrs}><rect class="fold" x="8" y="{placed.top + 4:.1f}" width="{self.width - 16}" '
                f'height="{placed.height - 8:.1f}" fill="{theme.panel}" rx="6"/>'
                + "".join(_text(t, theme) for t in placed.texts)
                + "</g>"
            )
        if row.pid not in self.scene.lanes:
            return ""
        lane_colour = colour[row.pid]
        parts = [f"<g {attrs}>"] + ([f"<title>{_x(row.code)}</title>"] if row.code else [])  # the line that made it
        if placed.arrow is not None:
            parts.append(self._arrow_line(placed, colour, theme, ids))
            parts += [_text(t, theme, colour.get(row.source, theme.ink)) for t in placed.texts]
            return "".join(parts) + "</g>"
        here = self.x[row.pid]
        if row.kind == "exit":
            parts.append(
                f'<line x1="{here - 11:.1f}" y1="{y:.1f}" x2="{here + 11:.1f}" y2="{y:.1f}" '
                f'stroke="{theme.red if row.style == "error" else lane_colour}" stroke-width="4"/>'
            )
        elif row.kind == "signal":
            parts.append(f'<path d="M{here:.1f},{y - 7:.1f} l7,7 l-7,7 l-7,-7 z" fill="{theme.red}"/>')
        elif row.style == "exec":
            parts.append(f'<rect x="{here - 6:.1f}" y="{y - 6:.1f}" width="12" height="12" fill="{lane_colour}"/>')
        elif row.kind == "begin":
            parts.append(
                f'<circle cx="{here:.1f}" cy="{y:.1f}" r="6" fill="{theme.background}" stroke="{lane_colour}" '
                f'stroke-width="3"/>'
            )
        elif row.kind != "still":
            r = 4 if row.kind == "return" else 5
            parts.append(f'<circle cx="{here:.1f}" cy="{y:.1f}" r="{r}" fill="{lane_colour}"/>')
        parts += [_text(t, theme, lane_colour) for t in placed.texts]
        return "".join(parts) + "</g>"

    def _arrow_line(self, placed: Placed, colour: dict, theme: Theme, ids: str) -> str:
        row, (start, end), y = placed.row, placed.arrow, placed.anchor
        index = self.scene.lanes[row.source].colour % len(theme.palette)
        paint, marker = theme.palette[index], f"arrow-{index}"
        dash = ""
        if row.kind == "pass":  # an fd travels, not bytes: a line of its own kind
            dash = ' stroke-dasharray="12 3 2 3"'
        elif row.kind != "message":
            dash = ' stroke-dasharray="6 5"'
            if row.kind == "fork":
                paint, marker = theme.grey, "arrow-grey"
        if start == end:
            return (
                f'<path d="M{start + 2:.1f},{y - 10:.1f} C{start + 60:.1f},{y - 12:.1f} {start + 60:.1f},{y + 6:.1f} '
                f'{start + 8:.1f},{y + 4:.1f}" fill="none" stroke="{paint}" stroke-width="2"{dash} '
                f'marker-end="url(#{ids}{marker})"/>'
            )
        tip = end - 7 if end > start else end + 7
        return (
            f'<line x1="{start:.1f}" y1="{y:.1f}" x2="{tip:.1f}" y2="{y:.1f}" stroke="{paint}" stroke-width="2.2"'
            f'{dash} marker-end="url(#{ids}{marker})"/>'
        )

    def _deadlock(self, colour: dict, theme: Theme, ids: str) -> str:
        scene, paint = self.scene, theme.red if self.scene.deadlock else theme.grey
        parts = [
            f'<g class="deadlock"><rect x="8" y="{self.band_top:.1f}" width="{self.width - 16}" '
            f'height="{self.band_bottom - self.band_top:.1f}" rx="8" fill="{paint}" fill-opacity="0.06" '
            f'stroke="{paint}" stroke-opacity="0.5"/>'
        ]
        for text in self.band_title:
            parts.append(_text(text, theme, "", extra="" if scene.deadlock else " dim"))
        for texts, y, edge, start, end in self.band:
            stroke, marker = (theme.red, "arrow-red") if edge.in_cycle else (theme.grey, "arrow-grey")
            cls = "waits-for in-cycle" if edge.in_cycle else "waits-for"
            parts.append(f'<g class="{cls}" data-waiter="{edge.waiter}" data-holder="{edge.holder}">')
            parts += [_text(t, theme, stroke) for t in texts]
            if start == end:
                parts.append(
                    f'<path d="M{start + 6:.1f},{y - 14:.1f} C{start + 70:.1f},{y - 24:.1f} {start + 70:.1f},'
                    f'{y + 8:.1f} {start + 8:.1f},{y:.1f}" fill="none" stroke="{stroke}" stroke-width="3" '
                    f'stroke-dasharray="8 5" marker-end="url(#{ids}{marker})"/>'
                )
            else:
                tip = end - 8 if end > start else end + 8
                parts.append(
                    f'<line x1="{start:.1f}" y1="{y:.1f}" x2="{tip:.1f}" y2="{y:.1f}" stroke="{stroke}" '
                    f'stroke-width="3" stroke-dasharray="8 5" marker-end="url(#{ids}{marker})"/>'
                )
            for x, key in ((start, scene.lane(edge.waiter, edge.tid)), (end, edge.holder)):
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour[key]}"/>')
            parts.append("</g>")
        parts.append("</g>")
        return "".join(parts)


def _label(pieces: list, room: float) -> list:
    """An arrow's label in ``room`` px: on one line if it fits, else each piece on a line of its own (cut to
    fit, with "…", if it must)."""
    if sum(measure(words, cls) for words, cls, _ in pieces) <= room:
        return [pieces]
    lines = []
    for words, cls, fill in pieces:
        size, bold, mono = font(cls)
        words = words.strip(" ·") if lines else words
        lines += [[(line, cls, fill)] for line in textwidth.wrap(words, room, size, bold, mono, indent="  ")]
    return lines


def _defs(ids: str, theme: Theme) -> str:
    def marker(name: str, colour: str) -> str:
        return (
            f'<marker id="{ids}{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="13" markerHeight="13" '
            f'markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )

    markers = [marker(f"arrow-{n}", colour) for n, colour in enumerate(theme.palette)]
    return "<defs>" + "".join(markers + [marker("arrow-red", theme.red), marker("arrow-grey", theme.grey)]) + "</defs>"


def _text(text: Text, theme: Theme, colour: str = "", extra: str = "") -> str:
    """A line of text; ``colour``: what "lane", "source" and "edge" stand for in its pieces."""
    attrs = f' class="{(text.cls + extra).strip()}"' if (text.cls + extra).strip() else ""
    attrs += f' text-anchor="{text.anchor}"' if text.anchor else ""
    if len(text.spans) == 1 and text.spans[0][1] == text.cls:  # one piece: its colour on the text itself
        words, _, fill = text.spans[0]
        paint = colour if fill in ("lane", "source", "edge") else theme.grey if fill == "grey" else fill
        attrs += f' fill="{paint}"' if paint else ""
        return f'<text x="{text.x:.1f}" y="{text.y:.1f}"{attrs}>{_x(words)}</text>'
    spans = []
    for words, cls, fill in text.spans:
        paint = colour if fill in ("lane", "source", "edge") else theme.grey if fill == "grey" else fill
        if cls == text.cls and not paint:
            spans.append(_x(words))
            continue
        span = f' class="{cls}"' if cls and cls != text.cls else ""
        span += f' fill="{paint}"' if paint else ""
        spans.append(f"<tspan{span}>{_x(words)}</tspan>")
    return f'<text x="{text.x:.1f}" y="{text.y:.1f}"{attrs}>{"".join(spans)}</text>'


def _x(text: str) -> str:
    """Text as XML: escaped, and without the characters XML 1.0 cannot hold (a lone surrogate, a control)."""
    clean = "".join(
        ch for ch in text if ch in "\t\n" or (" " <= ch and not "\ud800" <= ch <= "\udfff" and ch not in "\ufffe\uffff")
    )
    return escape(clean)


# -- slides -------------------------------------------------------------------------------------------------


def _split(scene: Scene, width: int, height: int, title: Optional[str]) -> list:
    """The scene cut into parts whose pictures fit ``height``: at a row that does not begin with an arrow's
    step, each part naming the lanes alive in it; the deadlock's band and the summary on the last."""
    plan = Plan(scene, width, f"{title or 'ipc trace'} (1 of 9)")
    fixed = plan.top + 70  # the title, the lanes' names, a mark at each end
    tail = plan.height - plan.rows_end  # the band and the summary
    parts, start, used = [], 0, 0.0
    for number, placed in enumerate(plan.rows):
        breakable = number > start and placed.row.kind not in ("fork", "begin") and (
            plan.rows[number - 1].row.kind not in ("message", "pass", "eof", "reap", "wake")
        )  # fmt: skip
        if breakable and fixed + used + placed.height > height:
            parts.append((start, number))
            start, used = number, 0.0
        used += placed.height
    if fixed + used + tail > height and start < len(plan.rows):
        parts.append((start, len(plan.rows)))
        start = len(plan.rows)
    parts.append((start, len(plan.rows)))
    return [_part(scene, first, last, number, len(parts)) for number, (first, last) in enumerate(parts, 1)]


def _part(scene: Scene, first: int, last: int, number: int, count: int) -> Scene:
    """Rows ``first``..``last - 1`` of a scene as a scene of their own, with the lanes alive in them."""
    rows: list = []
    if first > 0:
        rows.append(Row("fold", -1, f"continued from slide {number - 1}", ""))
    offset = len(rows) - first
    rows += scene.rows[first:last]
    if last < len(scene.rows):
        rows.append(Row("fold", -1, f"continued on slide {number + 1}", ""))
    lanes = {}
    for key, lane in scene.lanes.items():
        end = lane.last if lane.last is not None else len(scene.rows)
        if lane.first < last and end >= first:
            lanes[key] = replace(
                lane,
                first=max(lane.first + offset, 0 if first == 0 else 1),
                last=None if lane.last is None or lane.last >= last else lane.last + offset,
            )
            if lane.first < first:
                lanes[key].first = 0
    bars = []
    for bar in scene.bars:
        bottom = bar.bottom if bar.bottom is not None else len(scene.rows)
        if bar.top < last and bottom >= first and bar.pid in lanes:
            top = bar.top + offset if bar.top >= first else 0
            end = None if bar.bottom is None and last == len(scene.rows) else bar.bottom
            end = (
                end + offset if end is not None and end < last else (None if last == len(scene.rows) else len(rows) - 1)
            )
            bars.append(Bar(bar.pid, bar.tid, top, end, bar.text, bar.stuck))
    final = last == len(scene.rows)
    return Scene(
        lanes,
        scene.slots,
        rows,
        bars,
        edges=scene.edges if final else [],
        deadlock=scene.deadlock and final,
        steps=[r.step for r in rows if r.step is not None],
        summary=scene.summary if final else [],
        total=scene.total,
    )


# -- reading a drawn picture back ---------------------------------------------------------------------------


def text_boxes(root) -> list:
    """(x0, y0, x1, y1, words) of every text of a parsed SVG (xml.etree), from its position, its anchor and
    its font (``FONTS``, by class): where the layout put it, measured as the browser draws it."""
    ns = "{http://www.w3.org/2000/svg}"
    out = []
    for element in root.iter(f"{ns}text"):
        cls = element.get("class", "")
        size = font(cls)[0]
        pieces = [(element.text or "", cls)]
        for span in element.findall(f"{ns}tspan"):
            pieces.append((span.text or "", f"{cls} {span.get('class', '')}".strip()))
            pieces.append((span.tail or "", cls))
        words = "".join(text for text, _ in pieces)
        if not words.strip():
            continue
        wide = sum(measure(text, classes) for text, classes in pieces)
        x, y = float(element.get("x")), float(element.get("y"))
        x0 = {"middle": x - wide / 2, "end": x - wide}.get(element.get("text-anchor", ""), x)
        tallest = max([size] + [font(classes)[0] for text, classes in pieces if text])
        out.append((x0, y - textwidth.ASCENT * tallest, x0 + wide, y + textwidth.DESCENT * tallest, words))
    return out
