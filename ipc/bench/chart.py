"""The chart of a run, as SVG written by hand (no dependency): big type, readable on a slide.

Left: round-trip median by mechanism and size (log scale, unpinned), Python
filled, C hollow, one colour per size; a figure whose worker processes
disagree is drawn faded. Right: stream throughput by mechanism and path at
the size nearest 64 KiB, on two CPUs when measured there, a bar per path,
coloured by kind of path. Machine, date and load are in the subtitle.
"""

from __future__ import annotations

import math
from typing import Sequence
from xml.sax.saxutils import escape

from . import runner
from .tables import label, size_text
from .worker import LATENCY, THROUGHPUT, Outcome

WIDTH, HEIGHT = 1600, 1100
SIZE_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")
PATH_COLOURS = {
    "c": "#8c8c8c",
    "raw": "#2c7fb8",
    "zero-copy": "#31a354",
    "bigger": "#fd8d3c",
    "project": "#756bb1",
    "python": "#de2d26",
}
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"


def _text(
    x: float,
    y: float,
    content: str,
    size: int = 16,
    anchor: str = "start",
    weight: str = "normal",
    colour: str = "#222",
) -> str:
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' font-weight='{weight}' "
        f"fill='{colour}' {FONT}>{escape(content)}</text>"
    )


def stream_placement(outcomes: Sequence[Outcome]) -> str:
    """Streams are drawn on two CPUs when they were measured there: where buffer size and zero copy
    show (on one CPU no side waits for a wake-up); unpinned otherwise."""
    measured = {o.spec.placement for o in outcomes if o.spec.kind == THROUGHPUT and o.status == "ok"}
    return "two-cpus" if "two-cpus" in measured else "unpinned"


def _path_kind(spec) -> str:
    if spec.implementation in ("c", "project", "python"):
        return spec.implementation
    if "splice" in spec.path or spec.path == "sendfile":
        return "zero-copy"
    return "bigger" if spec.path in ("bigpipe", "bigbuf") else "raw"


def render(outcomes: Sequence[Outcome], info: dict) -> str:
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}'>",
        f"<rect width='{WIDTH}' height='{HEIGHT}' fill='white'/>",
    ]
    load = info.get("load_average")
    where = f"{info.get('cpu_model') or 'unknown CPU'}, {info.get('cpus_online')} CPUs"
    where += f", {info['virtualization']} VM" if info.get("virtualization") else ""
    title = "How fast is each IPC mechanism? Python beside C, every byte checked"
    parts.append(_text(40, 46, title, 28, weight="bold"))
    parts.append(
        _text(
            40,
            78,
            f"{where}; {info.get('kernel')}; {info.get('date')}" + (f"; load average {load[0]:.2f}" if load else ""),
            17,
            colour="#555",
        )
    )
    parts += _latency_panel(outcomes, 40, 120, 740, HEIGHT - 160)
    parts += _throughput_panel(outcomes, 830, 120, 730, HEIGHT - 160)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _latency_panel(outcomes: Sequence[Outcome], x: float, y: float, width: float, height: float) -> list:
    points = []  # (mechanism, size, is_c, p50, unstable)
    for outcome in outcomes:
        spec = outcome.spec
        summary = runner.summary(outcome)
        if (
            spec.kind == LATENCY
            and spec.placement == "unpinned"
            and summary
            and spec.implementation in ("c", "raw", "python")
        ):
            points.append(
                (spec.mechanism, spec.size, spec.implementation == "c", summary["p50_us"], summary["unstable"])
            )
    parts = [_text(x, y + 10, "Round trip unpinned, median µs (log scale; left is faster)", 21, weight="bold")]
    if not points:
        return parts + [_text(x, y + 60, "no round trips in this run", 18)]
    mechanisms = list(dict.fromkeys(p[0] for p in points))
    sizes = sorted({p[1] for p in points})
    label_width, top, legend = 130, y + 40, 56
    row = min(48.0, (height - 60 - legend) / len(mechanisms))
    low = 10 ** math.floor(math.log10(min(p[3] for p in points)))
    high = 10 ** math.ceil(math.log10(max(p[3] for p in points)))
    if high <= low:
        high = low * 10
    left, right = x + label_width, x + width - 10

    def scale(value: float) -> float:
        return left + (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low)) * (right - left)

    bottom = top + row * len(mechanisms)
    decade = low
    while decade <= high * 1.001:
        px = scale(decade)
        parts.append(f"<line x1='{px:.1f}' y1='{top}' x2='{px:.1f}' y2='{bottom:.1f}' stroke='#ddd'/>")
        parts.append(_text(px, bottom + 22, f"{decade:,.0f}" if decade >= 1 else f"{decade:g}", 16, "middle"))
        decade *= 10
    for index, mechanism in enumerate(mechanisms):
        cy = top + row * (index + 0.5)
        parts.append(f"<line x1='{left}' y1='{cy:.1f}' x2='{right}' y2='{cy:.1f}' stroke='#f0f0f0'/>")
        parts.append(_text(left - 10, cy + 6, mechanism, 18, "end"))
        for mech, size, is_c, value, unstable in points:
            if mech != mechanism:
                continue
            colour = SIZE_COLOURS[sizes.index(size) % len(SIZE_COLOURS)]
            fill = "white" if is_c else colour
            offset = -7 if is_c else 7
            parts.append(
                f"<circle cx='{scale(value):.1f}' cy='{cy + offset:.1f}' r='7' fill='{fill}' "
                f"stroke='{colour}' stroke-width='2.5' opacity='{0.35 if unstable else 1}'>"
                f"<title>{escape(mech)} {size_text(size)} {'C' if is_c else 'Python'}: {value:.1f} µs"
                f"</title></circle>"
            )
    ly = bottom + 56
    lx = left
    for size in sizes:
        colour = SIZE_COLOURS[sizes.index(size) % len(SIZE_COLOURS)]
        parts.append(f"<circle cx='{lx:.1f}' cy='{ly - 6:.1f}' r='7' fill='{colour}'/>")
        parts.append(_text(lx + 12, ly, size_text(size), 16))
        lx += 95
    parts.append(f"<circle cx='{lx + 10:.1f}' cy='{ly - 6:.1f}' r='7' fill='#444'/>")
    parts.append(_text(lx + 22, ly, "Python", 16))
    parts.append(f"<circle cx='{lx + 105:.1f}' cy='{ly - 6:.1f}' r='7' fill='white' stroke='#444' stroke-width='2.5'/>")
    parts.append(_text(lx + 117, ly, "C", 16))
    parts.append(
        _text(
            left,
            ly + 28,
            "faded: its worker processes disagree by more than 10% (unpinned, the scheduler",
            15,
            colour="#555",
        )
    )
    parts.append(
        _text(left, ly + 48, "puts the pair on one CPU or on two); pinned figures are in the table", 15, colour="#555")
    )
    return parts


def _throughput_panel(outcomes: Sequence[Outcome], x: float, y: float, width: float, height: float) -> list:
    sizes = sorted({o.spec.size for o in outcomes if o.spec.kind == THROUGHPUT})
    if not sizes:
        return [_text(x, y + 10, "Streams: none in this run", 21, weight="bold")]
    size = min(sizes, key=lambda s: abs(s - 65536))
    placement = stream_placement(outcomes)
    bars = []
    for outcome in outcomes:
        spec = outcome.spec
        summary = runner.summary(outcome)
        if spec.kind == THROUGHPUT and spec.placement == placement and spec.size == size and summary:
            bars.append((spec.mechanism, label(outcome), _path_kind(spec), summary["median_mb_s"]))
    where = "two CPUs" if placement == "two-cpus" else placement
    parts = [_text(x, y + 10, f"Streams, {size_text(size)} frames, {where}: MB/s", 21, weight="bold")]
    if not bars:
        return parts + [_text(x, y + 60, "no stream figures in this run", 18)]
    label_width, top, legend = 330, y + 36, 60
    row = min(34.0, (height - 50 - legend) / len(bars))
    left, right = x + label_width, x + width - 80
    most = max(bar[3] for bar in bars)
    font = 15 if row >= 24 else 13
    previous = None
    for index, (mechanism, text, kind, value) in enumerate(bars):
        cy = top + row * index
        if mechanism != previous:
            parts.append(f"<line x1='{x}' y1='{cy:.1f}' x2='{right + 70}' y2='{cy:.1f}' stroke='#e4e4e4'/>")
            parts.append(_text(x, cy + row * 0.7, mechanism, font + 1, weight="bold"))
        previous = mechanism
        parts.append(_text(left - 8, cy + row * 0.7, text, font, "end"))
        length = (right - left) * value / most
        parts.append(
            f"<rect x='{left}' y='{cy + row * 0.15:.1f}' width='{length:.1f}' height='{row * 0.7:.1f}' "
            f"fill='{PATH_COLOURS[kind]}'><title>{escape(mechanism)} {escape(text)}: {value:,.0f} MB/s"
            f"</title></rect>"
        )
        parts.append(_text(left + length + 6, cy + row * 0.7, f"{value:,.0f}", font))
    ly = top + row * len(bars) + 40
    lx = x
    present = {bar[2] for bar in bars}
    for kind, name in (
        ("c", "C"),
        ("raw", "raw Python"),
        ("bigger", "bigger buffer"),
        ("zero-copy", "zero copy"),
        ("project", "project stack"),
        ("python", "Python library"),
    ):
        if kind not in present:
            continue
        parts.append(f"<rect x='{lx}' y='{ly - 14}' width='16' height='16' fill='{PATH_COLOURS[kind]}'/>")
        parts.append(_text(lx + 22, ly, name, 15))
        lx += 26 + 9 * len(name) + 14
    return parts
