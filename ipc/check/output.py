"""A report, written: lines for a terminal, JSON, JUnit XML (what CI systems and autograders read), one HTML page.

Every failure is written with its evidence, never only "failed": what was
expected and what came back, why, the lesson, and the program's own lines and
system calls. The page adds the picture of the failing run's trace
(ipc.trace.svg, the renderer ``ipc trace --svg`` uses).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ElementTree
from typing import TextIO

from .report import FAIL, PASS, SKIP, Report, Result

MARK = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip"}
GROUPS = {"run": "", "exchange": "", "lecture": "what the lecture warns about, from the system calls:"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")  # not allowed in XML 1.0


def header(report: Report) -> str:
    if report.mode == "lint":
        return f"ipc check --lint -- {report.command}"
    return f"ipc check {report.mechanism} --{report.mode}: {report.command}"


def result_lines(result: Result, width: int = 22) -> list[str]:
    """One result: its line, and for a failure everything that says why."""
    first = f"  {MARK[result.status]}  {result.name:<{width}} {result.title}"
    if result.status == PASS and result.seconds:
        first += f"  ({result.seconds:.2f} s)"
    lines = [first]
    pad = " " * 8
    if result.status == SKIP:
        lines.append(f"{pad}{result.message}")
        return lines
    if result.status != FAIL:
        return lines
    if result.message:
        lines.append(f"{pad}{result.message}")
    if result.expected is not None or result.got is not None:
        lines.append(f"{pad}expected: {_shown(result.expected)}")
        lines.append(f"{pad}got:      {_shown(result.got)}")
    for number, why in enumerate(dict.fromkeys(result.why)):
        if why != result.message:
            lines.append(f"{pad}{'why:     ' if number == 0 else '         '} {why}")
    if result.lesson:
        lines.append(f"{pad}lesson:   {result.lesson}")
    for heading, evidence in result.evidence:
        if evidence:
            lines.append(f"{pad}{heading}:")
            lines += [f"{pad}  {line}" for line in evidence]
    return lines


def _shown(value: object) -> str:
    if isinstance(value, str) and len(value) > 200:
        return repr(value[:120]) + f"… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 300 else text[:240] + f"… ({len(text)} characters)"


class Live:
    """Writes a report's lines as its checks finish, then the summary."""

    def __init__(self, out: TextIO, report_header: str):
        self.out, self.group = out, None
        print(report_header, file=out, flush=True)

    def __call__(self, result: Result) -> None:
        if result.group != self.group and GROUPS.get(result.group):
            print(GROUPS[result.group], file=self.out)
        self.group = result.group
        print("\n".join(result_lines(result)), file=self.out, flush=True)

    def summary(self, report: Report) -> None:
        for note in report.notes:
            print(f"note: {note}", file=self.out)
        print(summary(report), file=self.out, flush=True)


def summary(report: Report) -> str:
    return (
        f"{len(report.passed)} passed, {len(report.failed)} failed, {len(report.skipped)} skipped "
        f"in {report.seconds:.1f} s"
    )


def text(report: Report) -> str:
    lines = [header(report)]
    group = None
    for result in report.results:
        if result.group != group and GROUPS.get(result.group):
            lines.append(GROUPS[result.group])
        group = result.group
        lines += result_lines(result)
    lines += [f"note: {note}" for note in report.notes]
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def _plain(value: object) -> object:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return repr(value)


def to_json(report: Report) -> dict:
    return {
        "command": header(report),
        "mode": report.mode,
        "mechanism": report.mechanism or None,
        "program": report.command,
        "passed": len(report.passed),
        "failed": len(report.failed),
        "skipped": len(report.skipped),
        "seconds": round(report.seconds, 3),
        "notes": report.notes,
        "checks": [
            {
                "name": result.name,
                "title": result.title,
                "group": result.group,
                "status": result.status,
                "message": result.message,
                "expected": _plain(result.expected),
                "got": _plain(result.got),
                "why": list(dict.fromkeys(result.why)),
                "lesson": result.lesson,
                "evidence": [{"heading": heading, "lines": lines} for heading, lines in result.evidence],
                "findings": result.findings,
                "seconds": round(result.seconds, 3),
            }
            for result in report.results
        ],
    }


def write_json(report: Report, path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(to_json(report), file, indent=1, ensure_ascii=False)
        file.write("\n")


def _xml_text(value: str) -> str:
    return _CONTROL.sub(lambda match: f"\\x{ord(match[0]) & 0xFF:02x}", value)


def junit(report: Report) -> str:
    """JUnit XML: one testsuite, a testcase per check (failure, with the evidence, or skipped)."""
    suites = ElementTree.Element(
        "testsuites",
        name="ipc check",
        tests=str(len(report.results)),
        failures=str(len(report.failed)),
        skipped=str(len(report.skipped)),
        time=f"{report.seconds:.3f}",
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name=_xml_text(header(report)),
        tests=str(len(report.results)),
        failures=str(len(report.failed)),
        errors="0",
        skipped=str(len(report.skipped)),
        time=f"{report.seconds:.3f}",
    )
    classname = f"ipc.check.{report.mechanism or 'lint'}.{report.mode}"
    for result in report.results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=classname, name=result.name, time=f"{result.seconds:.3f}"
        )
        if result.status == FAIL:
            failure = ElementTree.SubElement(case, "failure", message=_xml_text(result.message or result.title))
            failure.text = _xml_text("\n".join(result_lines(result)[1:]))
        elif result.status == SKIP:
            ElementTree.SubElement(case, "skipped", message=_xml_text(result.message))
    for note in report.notes:
        ElementTree.SubElement(suite, "system-out").text = _xml_text(note)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def write_junit(report: Report, path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(junit(report))


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; color: #1f2937; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; text-align: left; vertical-align: top; }
tr.fail td.status { color: #b91c1c; font-weight: bold; } tr.pass td.status { color: #15803d; }
tr.skip td { color: #6b7280; }
pre { background: #f3f4f6; padding: 8px 12px; overflow-x: auto; font-size: 13px; }
.failure { border-left: 4px solid #b91c1c; padding-left: 14px; margin-top: 1.5em; }
.expected { color: #15803d; } .got { color: #b91c1c; }
.picture { overflow-x: auto; border: 1px solid #e5e7eb; margin-top: 8px; }
"""


def page(report: Report) -> str:
    """One page: every check in a table, then each failure with its evidence and its trace's picture."""
    esc = html.escape
    rows = "".join(
        f'<tr class="{r.status}"><td class="status">{MARK[r.status].strip()}</td><td>{esc(r.name)}</td>'
        f"<td>{esc(r.title)}</td><td>{esc(r.message if r.status != PASS else '')}</td></tr>"
        for r in report.results
    )
    failures = "".join(_failure_section(number, result) for number, result in enumerate(report.failed))
    notes = "".join(f"<p>note: {esc(note)}</p>" for note in report.notes)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{esc(header(report))}</title><style>{PAGE_STYLE}</style></head><body>"
        f"<h1>{esc(header(report))}</h1><p>{esc(summary(report))}</p>{notes}"
        f"<table><tr><th></th><th>check</th><th>what it checks</th><th>what went wrong</th></tr>{rows}</table>"
        f"{failures}</body></html>\n"
    )


def _failure_section(number: int, result: Result) -> str:
    esc = html.escape
    parts = [f'<div class="failure" id="{esc(result.name)}"><h2>{esc(result.name)}: {esc(result.title)}</h2>']
    if result.message:
        parts.append(f"<p>{esc(result.message)}</p>")
    if result.expected is not None or result.got is not None:
        parts.append(
            f'<p>expected: <code class="expected">{esc(_shown(result.expected))}</code><br>'
            f'got: <code class="got">{esc(_shown(result.got))}</code></p>'
        )
    whys = [why for why in dict.fromkeys(result.why) if why != result.message]
    if whys:
        parts.append("<p>why:</p><ul>" + "".join(f"<li>{esc(why)}</li>" for why in whys) + "</ul>")
    if result.lesson:
        parts.append(f"<p><em>{esc(result.lesson)}</em></p>")
    for heading, lines in result.evidence:
        if lines:
            parts.append(f"<h3>{esc(heading)}</h3><pre>{esc(chr(10).join(lines))}</pre>")
    if result.trace is not None:
        parts.append(f"<h3>the system calls, drawn</h3><div class='picture'>{_picture(number, result)}</div>")
    parts.append("</div>")
    return "".join(parts)


def _picture(number: int, result: Result) -> str:
    from ..trace import svg

    try:
        title = f"{result.name}: what the kernel did" + (", around the failure" if result.steps else "")
        return svg.render(result.trace, title=title, rows=120, ids=f"c{number}-", steps=result.steps)
    except Exception as error:  # a picture that cannot be drawn must not cost the rest of the report
        return f"<p>(no picture: {html.escape(str(error))})</p>"


def write_html(report: Report, path: str) -> None:
    with open(path, "w", encoding="utf-8") as file:
        file.write(page(report))
