"""make demo's report: one page with every demo run, checked and drawn, and a step-through page for each.

``write(directory, entries, jobs)`` takes the runs of ipc.runner (each demo
traced, where strace is here) and writes ``DIRECTORY/index.html`` (ipc.trace.report)
and ``DIRECTORY/NAME.html`` (ipc.trace.page) for every demo that was traced.
Building a model and drawing it is the slow part, all Python: it is done in
worker processes, one per CPU, each reading strace's texts and handing back
the finished SVG and page, so that the work is not queued behind one
interpreter's lock. Nothing in the pages is fetched from the network.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from html import escape
from typing import Optional, Sequence

from .runner import Entry
from .trace import page, svg
from .trace.build import build
from .trace.report import ROWS, Section, diagram_title, render_report

INDEX = "index.html"


def write(directory: str, entries: Sequence[Entry], jobs: int, why_untraced: str = "") -> str:
    """Write the report and every demo's page into directory; return the report's path."""
    os.makedirs(directory, exist_ok=True)
    sections = [_section(entry) for entry in entries if entry.result is not None]
    for section, entry in zip(sections, entries):
        if not entry.result.trace_texts:
            section.why_no_picture = why_untraced or entry.demo.untraced or "it was not traced"
    drawn = [(number, section, entry) for number, (section, entry) in enumerate(zip(sections, entries))
             if entry.result.trace_texts]  # fmt: skip
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=multiprocessing.get_context("fork")) as pool:
        # forked once the runs' threads have ended: a worker starts with the modules loaded, and no lock held
        futures = [pool.submit(_draw, n, diagram_title(section), _texts(entry)) for n, section, entry in drawn]
        for (_, section, entry), future in zip(drawn, futures):
            section.picture, step_page = future.result()
            section.page = f"{_file_name(entry.demo.name)}.html"
            with open(os.path.join(directory, section.page), "w", encoding="utf-8") as file:
                file.write(step_page)
    path = os.path.join(directory, INDEX)
    with open(path, "w", encoding="utf-8") as file:
        file.write(render_report(sections))
    return path


def _texts(entry: Entry) -> list[str]:
    """A deadlock is drawn as it stood when it was diagnosed; anything else as it ran."""
    return entry.result.stopped_texts or entry.result.trace_texts


def _draw(number: int, title: str, texts: list[str]) -> tuple[str, str]:
    """In a worker: the model from strace's texts, its SVG for the report, and its step-through page."""
    trace = build(texts)
    return svg.render(trace, title=title, rows=ROWS, ids=f"d{number}-"), page.render(trace, title=title)


def _section(entry: Entry) -> Section:
    result = entry.result
    verdict = f"skipped: {result.skipped}" if result.skipped else result.verdict
    details = {"messages": result.messages or "", "time": f"{result.seconds:.2f} s"}
    diagnosis: Optional[str] = result.diagnosis.report() if result.diagnosis is not None else None
    problems = [f"- {problem}" for problem in result.problems]
    transcript = entry.output.getvalue().splitlines() + problems
    return Section(entry.demo.name, entry.demo.mechanism, entry.demo.teaches, verdict, transcript, diagnosis,
                   details=details)  # fmt: skip


def _file_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "-" for char in name) or escape(name)
