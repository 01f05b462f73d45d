"""One self-contained HTML report of a run of many demos (``make demo``): a section per demo, its picture inline. Pure.

The caller (the harness) runs the demos and hands over, for each, a
``Section``: its name, mechanism, what it teaches, the verdict, the transcript,
the diagnosis if it deadlocked, its trace model (None where strace was not
available) and the file name of its step-through page. ``render_report``
returns the page: a table of contents with every verdict at the top, then
each demo with its verdict, its sequence diagram as inline SVG (a broken
demo's with its cycle), a link to its step-through page, the diagnosis and
the transcript. Nothing is fetched: the file opens offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Optional, Sequence

from .model import Trace
from .svg import render as svg

ROWS = 120  # a report holds many pictures: each long run is cut shorter than on its own
STYLE = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; font-size: 15px; color: #111827; margin: 0;
       background: #fff; }
.page { max-width: 1320px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
.counts { color: #374151; margin: 0 0 12px; }
table.contents { border-collapse: collapse; width: 100%; margin-bottom: 20px; font-size: 14px; }
table.contents th { text-align: left; color: #4b5563; font-weight: normal; border-bottom: 2px solid #d1d5db;
                    padding: 4px 8px; }
table.contents td { border-bottom: 1px solid #e5e7eb; padding: 4px 8px; vertical-align: top; }
table.contents td.count { text-align: right; color: #4b5563; }
.verdict { display: inline-block; font-weight: bold; border-radius: 5px; padding: 1px 8px; font-size: 13px;
           white-space: nowrap; }
.verdict.ok { background: #dcfce7; color: #166534; }
.verdict.failed { background: #fee2e2; color: #991b1b; }
.verdict.skipped { background: #f3f4f6; color: #4b5563; }
.verdict.other { background: #fef3c7; color: #92400e; }
section.demo { border-top: 2px solid #e5e7eb; padding-top: 10px; margin-top: 24px; }
section.demo h2 { font-size: 20px; margin: 0 0 4px; display: flex; align-items: center; gap: 12px; }
.mechanism { color: #374151; margin: 2px 0 8px; }
.links a { color: #1d4ed8; }
pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; background: #f9fafb;
      border: 1px solid #e5e7eb; border-radius: 6px; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; }
pre.diagnosis { background: #fef2f2; border-color: #fecaca; }
figure { margin: 10px 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; display: block; border: 1px solid #e5e7eb; border-radius: 6px; }
.no-picture { color: #4b5563; font-style: italic; }
summary { cursor: pointer; color: #374151; }
"""


@dataclass
class Section:
    """One demo of the report."""

    name: str
    mechanism: str
    teaches: str
    verdict: str  # "ok", "FAILED", "skipped: no Chromium here"... (its first word picks the colour)
    transcript: Sequence[str] = ()  # the lines of its run, as printed
    diagnosis: Optional[str] = None  # the deadlock's explanation, for a broken demo
    trace: Optional[Trace] = None  # None: not traced (no strace here, or not traceable)
    page: Optional[str] = None  # its step-through page, a file name relative to the report
    why_no_picture: str = ""  # said where there is no trace
    picture: Optional[str] = None  # its diagram as SVG markup, drawn already (ids prefixed d<number>-)
    details: dict = field(default_factory=dict)  # more facts for the contents: {"messages": 8, "time": "0.31 s"}


def render_report(
    sections: Sequence[Section], title: str = "make demo: every demo, run and checked", rows: Optional[int] = ROWS
) -> str:
    """The report as one HTML page (text)."""
    anchors = _anchors([section.name for section in sections])
    counts: dict = {}
    for section in sections:
        counts[_kind(section.verdict)] = counts.get(_kind(section.verdict), 0) + 1
    said = ", ".join(
        f"{n} {word}"
        for word, n in (
            ("ok", counts.get("ok", 0)),
            ("failed", counts.get("failed", 0)),
            ("skipped", counts.get("skipped", 0)),
            ("other", counts.get("other", 0)),
        )
        if n or word == "ok"
    )
    keys = list(dict.fromkeys(key for section in sections for key in section.details))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        '<div class="page">',
        f"<h1>{escape(title)}</h1>",
        f'<p class="counts">{len(sections)} demo{"s" if len(sections) != 1 else ""}: {escape(said)}. '
        "Pictures are drawn from strace's record of each run: the order is exact, durations are only relative "
        "(everything runs slower under strace).</p>",
        '<nav aria-label="contents"><table class="contents"><thead><tr><th>demo</th><th>mechanism</th>'
        "<th>verdict</th>" + "".join(f"<th>{escape(key)}</th>" for key in keys) + "</tr></thead><tbody>",
    ]
    for section, anchor in zip(sections, anchors):
        out.append(
            f'<tr><td><a href="#{anchor}">{escape(section.name)}</a></td><td>{escape(section.mechanism)}</td>'
            f"<td>{_verdict(section.verdict)}</td>"
            + "".join(f'<td class="count">{escape(str(section.details.get(key, "")))}</td>' for key in keys)
            + "</tr>"
        )
    out.append("</tbody></table></nav>")
    for number, (section, anchor) in enumerate(zip(sections, anchors)):
        out.append(_section(section, anchor, number, rows))
    out += ["</div>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _section(section: Section, anchor: str, number: int, rows: Optional[int]) -> str:
    parts = [
        f'<section class="demo" id="{anchor}" data-demo="{escape(section.name)}">',
        f"<h2>{escape(section.name)} {_verdict(section.verdict)}</h2>",
        f'<p class="mechanism"><strong>{escape(section.mechanism)}</strong>: {escape(section.teaches)}</p>',
    ]
    if section.page:
        parts.append(
            f'<p class="links"><a href="{escape(section.page)}">Step through it: every fd table and the '
            f"bytes in flight, one step at a time</a></p>"
        )
    if section.diagnosis:
        parts.append(f'<pre class="diagnosis">{escape(section.diagnosis)}</pre>')
    if section.picture is not None or section.trace is not None:
        picture = section.picture or svg(section.trace, title=diagram_title(section), rows=rows, ids=f"d{number}-")
        parts.append(f'<figure aria-label="sequence diagram of {escape(section.name)}">{picture}</figure>')
    else:
        parts.append(f'<p class="no-picture">No picture: {escape(section.why_no_picture or "not traced")}.</p>')
    if section.transcript:
        kind = _kind(section.verdict)
        parts.append(
            f"<details{' open' if kind != 'ok' else ''}><summary>transcript ({len(section.transcript)} "
            f'lines)</summary><pre class="transcript">{escape(chr(10).join(section.transcript))}</pre>'
            "</details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def diagram_title(section: Section) -> str:
    return f"{section.name}: {section.mechanism}"


def _kind(verdict: str) -> str:
    word = (verdict.split() or ["?"])[0].strip(":,").lower()
    return word if word in ("ok", "failed", "skipped") else "other"


def _verdict(verdict: str) -> str:
    return f'<span class="verdict {_kind(verdict)}">{escape(verdict)}</span>'


def _anchors(names: list) -> list:
    """An id per section, from its name, distinct even if two names are alike."""
    seen: set = set()
    out = []
    for name in names:
        base = "demo-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "x")
        anchor, n = base, 1
        while anchor in seen:
            n += 1
            anchor = f"{base}-{n}"
        seen.add(anchor)
        out.append(anchor)
    return out
