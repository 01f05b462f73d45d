"""make demo's report: a contents page, and a page for each demo. Pure (text out).

The caller (the harness) runs the demos and hands over, for each, a
``Section``: its name, mechanism, what it teaches, the verdict, the transcript,
the diagnosis if it deadlocked, its trace model or its pictures drawn already,
and the file names of its own page and of its step-through page.
``render_report`` returns the contents page: one row per demo with its
verdict (a broken demo that deadlocked as expected says so, apart from a
working exchange's "ok"), its mechanism, what it teaches, a thumbnail of its
picture and its links. ``render_demo`` returns a demo's page: the verdict,
the diagnosis (naming each pipe and socket as the picture does, strace's name
once beside it), the sequence diagram (a broken demo's with its cycle) and the
transcript. Nothing is fetched: every page opens offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Optional, Sequence

from .model import Trace
from .scene import layout
from .svg import render as svg
from .svg import thumbnail

ROWS = 120  # a demo's picture on its page: a long run is cut shorter than on its own
DEADLOCKED = "deadlocked, as it should"
STYLE = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; font-size: 15px; color: #111827; margin: 0;
       background: #fff; }
.page { max-width: 1320px; margin: 0 auto; padding: 12px 20px 40px; }
h1 { font-size: 24px; margin: 8px 0 4px; display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.counts { color: #374151; margin: 0 0 12px; }
nav.back { font-size: 14px; margin: 4px 0 8px; }
nav.back a, .links a, table.contents a { color: #1d4ed8; }
table.contents { border-collapse: collapse; width: 100%; margin-bottom: 20px; font-size: 14px; }
table.contents th { text-align: left; color: #4b5563; font-weight: normal; border-bottom: 2px solid #d1d5db;
                    padding: 4px 8px; }
table.contents td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; vertical-align: top; }
table.contents td.name, table.contents td.state { width: 1%; white-space: nowrap; }
table.contents td.name { font-weight: bold; }
table.contents td.teaches { color: #374151; }
table.contents td.thumb { width: 132px; padding: 3px 4px; }
table.contents td.thumb svg { display: block; border: 1px solid #e5e7eb; border-radius: 4px; }
table.contents td.links { white-space: nowrap; font-size: 13px; line-height: 1.7; }
table.contents td.count { text-align: right; color: #4b5563; white-space: nowrap; }
.verdict { display: inline-block; font-weight: bold; border-radius: 5px; padding: 1px 8px; font-size: 13px;
           white-space: nowrap; }
.verdict.ok { background: #dcfce7; color: #166534; }
.verdict.deadlocked { background: #e0e7ff; color: #3730a3; }
.verdict.failed { background: #fee2e2; color: #991b1b; }
.verdict.skipped { background: #f3f4f6; color: #4b5563; }
.verdict.other { background: #fef3c7; color: #92400e; }
.mechanism { color: #374151; margin: 2px 0 8px; }
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
    verdict: str  # "ok", "deadlocked, as it should", "FAILED", "skipped: no Chromium here"... (picks the colour)
    transcript: Sequence[str] = ()  # the lines of its run, as printed
    diagnosis: Optional[str] = None  # the deadlock's explanation, for a broken demo
    trace: Optional[Trace] = None  # None: not traced (no strace here, or not traceable)
    page: Optional[str] = None  # its step-through page, a file name relative to the report
    why_no_picture: str = ""  # said where there is no trace
    picture: Optional[str] = None  # its diagram as SVG markup, drawn already (ids prefixed d<number>-)
    details: dict = field(default_factory=dict)  # more facts for the contents: {"messages": 8, "time": "0.31 s"}
    own: Optional[str] = None  # its own page, a file name relative to the report (None: a section of the contents)
    thumbnail: Optional[str] = None  # a small picture of it, drawn already
    names: dict = field(default_factory=dict)  # strace's name of an object -> the picture's: "pipe:[12]" -> "pipe #1"


def render_report(
    sections: Sequence[Section], title: str = "make demo: every demo, run and checked", rows: Optional[int] = ROWS
) -> str:
    """The contents page (text): a row per demo. A section with no page of its own (``own`` None) follows the
    table whole, as on a demo's own page."""
    anchors = _anchors([section.name for section in sections])
    counts: dict = {}
    for section in sections:
        counts[_kind(section.verdict)] = counts.get(_kind(section.verdict), 0) + 1
    said = ", ".join(
        f"{n} {word}"
        for word, n in (
            ("ok", counts.get("ok", 0)),
            ("broken that deadlocked, as they should", counts.get("deadlocked", 0)),
            ("failed", counts.get("failed", 0)),
            ("skipped", counts.get("skipped", 0)),
            ("other", counts.get("other", 0)),
        )
        if n or word == "ok"
    )
    keys = list(dict.fromkeys(key for section in sections for key in section.details))
    out = _head(title) + [
        f"<h1>{escape(title)}</h1>",
        f'<p class="counts">{len(sections)} demo{"s" if len(sections) != 1 else ""}: {escape(said)}. '
        "Each picture is drawn from strace's record of the run: the order is exact, durations are only relative "
        "(everything runs slower under strace).</p>",
        '<nav aria-label="contents"><table class="contents"><thead><tr><th>demo</th><th>verdict</th>'
        "<th>mechanism: what it teaches</th><th>picture</th><th></th>"
        + "".join(f"<th>{escape(key)}</th>" for key in keys)
        + "</tr></thead><tbody>",
    ]
    for number, (section, anchor) in enumerate(zip(sections, anchors)):
        target = section.own or f"#{anchor}"
        links = [f'<a href="{escape(target)}">its page</a>'] if section.own else []
        links += [f'<a href="{escape(section.page)}">step through</a>'] if section.page else []
        small = section.thumbnail
        if small is None and section.trace is not None:
            small = thumbnail(layout(section.trace, 40), ids=f"t{number}-")
        out.append(
            f'<tr data-demo="{escape(section.name)}"><td class="name"><a href="{escape(target)}">'
            f'{escape(section.name)}</a></td><td class="state">{_verdict(section.verdict)}</td>'
            f'<td class="teaches"><strong>{escape(section.mechanism)}</strong>: {escape(section.teaches)}</td>'
            f'<td class="thumb">{small or ""}</td><td class="links">{"<br/>".join(links)}</td>'
            + "".join(f'<td class="count">{escape(str(section.details.get(key, "")))}</td>' for key in keys)
            + "</tr>"
        )
    out.append("</tbody></table></nav>")
    for number, (section, anchor) in enumerate(zip(sections, anchors)):
        if section.own is None:
            out.append(_body(section, anchor, number, rows, level=2))
    out += ["</div>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def render_demo(section: Section, contents: str = "index.html", number: int = 0, rows: Optional[int] = ROWS) -> str:
    """A demo's own page (text): its verdict, diagnosis, picture and transcript, a link back to ``contents``."""
    out = _head(f"{section.name}: {section.mechanism}") + [
        f'<nav class="back"><a href="{escape(contents)}">← every demo</a></nav>',
        _body(section, _anchors([section.name])[0], number, rows, level=1),
        "</div>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


def _head(title: str) -> list:
    return [
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
    ]


def _body(section: Section, anchor: str, number: int, rows: Optional[int], level: int) -> str:
    parts = [
        f'<section class="demo" id="{anchor}" data-demo="{escape(section.name)}">',
        f"<h{level}>{escape(section.name)} {_verdict(section.verdict)}</h{level}>",
        f'<p class="mechanism"><strong>{escape(section.mechanism)}</strong>: {escape(section.teaches)}</p>',
    ]
    if section.page:
        parts.append(
            f'<p class="links"><a href="{escape(section.page)}">Step through it: every fd table and the '
            f"bytes in flight, one step at a time</a></p>"
        )
    if section.diagnosis:
        names = section.names or (object_names(section.trace) if section.trace is not None else {})
        parts.append(f'<pre class="diagnosis">{escape(name_objects(section.diagnosis, names))}</pre>')
    if section.picture is not None or section.trace is not None:
        picture = section.picture or svg(section.trace, title=diagram_title(section), rows=rows, ids=f"d{number}-")
        parts.append(f'<figure aria-label="sequence diagram of {escape(section.name)}">{picture}</figure>')
    else:
        parts.append(f'<p class="no-picture">No picture: {escape(section.why_no_picture or "not traced")}.</p>')
    if section.transcript:
        kind = _kind(section.verdict)
        parts.append(
            f"<details{' open' if kind not in ('ok', 'deadlocked') else ''}><summary>transcript "
            f'({len(section.transcript)} lines)</summary><pre class="transcript">'
            f"{escape(chr(10).join(section.transcript))}</pre></details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def object_names(trace: Trace) -> dict:
    """strace's name of each pipe and socket (``pipe:[138271]``, ``socket:[20211]``) -> the picture's label."""
    names = {}
    for obj in trace.objects.values():
        if obj.kind == "tcp" and obj.local and obj.remote:  # as either end sees it
            names[f"{obj.local} -> {obj.remote}"] = names[f"{obj.remote} -> {obj.local}"] = obj.label
        if obj.inode is None:
            continue
        if obj.kind == "pipe":
            names[f"pipe:[{obj.inode}]"] = obj.label
        elif obj.kind.startswith("unix") or obj.kind in ("tcp", "udp"):
            names[f"socket:[{obj.inode}]"] = obj.label
    return names


def name_objects(text: str, names: dict) -> str:
    """``text`` with each object called as the picture calls it: ``pipe #2 (pipe:[138271])`` the first time,
    ``pipe #2`` after; a TCP connection's addresses keep their place, its label beside them once."""
    seen: set = set()

    def named(match: re.Match) -> str:
        found = match.group(0)
        label = names[found]
        if ":[" not in found:  # addresses: the label follows them, once
            return found if label in seen else (seen.add(label) or f"{found} ({label})")
        if found in seen:
            return label
        seen.add(found)
        seen.add(label)
        return f"{label} ({found})"

    if not names:
        return text
    pattern = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.sub(pattern, named, text)


def diagram_title(section: Section) -> str:
    return f"{section.name}: {section.mechanism}"


def _kind(verdict: str) -> str:
    if verdict == DEADLOCKED:
        return "deadlocked"
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
