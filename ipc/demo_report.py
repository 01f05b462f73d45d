"""make demo's report: a contents page, a page for every demo run, checked and drawn, and a step-through page.

A ``Drawer`` takes the runs of ipc.runner (each demo traced, where strace
is here) as they finish; its ``write`` then writes ``DIRECTORY/index.html``,
the contents (ipc.trace.report), ``DIRECTORY/NAME.html`` for every demo (its
verdict, diagnosis, picture and transcript) and ``DIRECTORY/NAME.steps.html``
(ipc.trace.page) for every demo that was traced, each linking back.
Building a model and drawing it is the slow part, all Python: it is done in
worker processes, one per CPU, each reading strace's texts and handing back
the finished SVG and page, so that the work is not queued behind one
interpreter's lock, and is done while the other demos still run. Nothing in the pages is fetched from the network.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from html import escape
from typing import Optional, Sequence

from .runner import Entry
from .trace import page, svg
from .trace.report import ROWS, Section, object_names, render_demo, render_report
from .trace.runner import model
from .trace.scene import layout

INDEX = "index.html"


class Drawer:
    """Draws each traced run as soon as it has finished, in worker processes, while the others still run.

    Made before the runs start: its workers are forked then, from a process with one thread (a fork
    while other threads hold locks could leave a worker stuck on one), and kept for every drawing."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)
        self.pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=multiprocessing.get_context("fork"))
        wait([self.pool.submit(time.sleep, 0.05) for _ in range(self.jobs)])  # every worker forked, now
        self.drawings: dict[int, Future] = {}  # id(entry) -> (its SVG, its page)
        self.numbers: dict[int, int] = {}

    def draw(self, entries: Sequence[Entry]) -> None:
        """Start drawing every finished, traced entry not drawn yet."""
        for entry in entries:
            if entry.result is not None and entry.result.trace_texts and id(entry) not in self.drawings:
                number = self.numbers.setdefault(id(entry), len(self.numbers))
                title = f"{entry.demo.name}: {entry.demo.mechanism}"
                back = ((INDEX, "every demo"), (f"{_file_name(entry.demo.name)}.html", f"{entry.demo.name}'s page"))
                self.drawings[id(entry)] = self.pool.submit(_draw, number, title, _texts(entry), back)

    def write(self, directory: str, entries: Sequence[Entry], why_untraced: str = "") -> str:
        """Wait for the drawings, then write the report and every demo's page into directory; its path."""
        self.draw(entries)
        os.makedirs(directory, exist_ok=True)
        sections = []
        for number, entry in enumerate(entry for entry in entries if entry.result is not None):
            section = _section(entry)
            section.own = f"{_file_name(entry.demo.name)}.html"
            drawing = self.drawings.get(id(entry))
            if drawing is None:
                section.why_no_picture = why_untraced or entry.demo.untraced or "it was not traced"
            else:
                section.picture, step_page, section.thumbnail, section.names = drawing.result()
                section.page = f"{_file_name(entry.demo.name)}.steps.html"
                _write(directory, section.page, step_page)
            _write(directory, section.own, render_demo(section, INDEX, number))
            sections.append(section)
        _write(directory, INDEX, render_report(sections))
        return os.path.join(directory, INDEX)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def _texts(entry: Entry) -> list[str]:
    """A deadlock is drawn as it stood when it was diagnosed; anything else as it ran."""
    return entry.result.stopped_texts or entry.result.trace_texts


def _write(directory: str, name: str, text: str) -> None:
    with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
        file.write(text)


def _draw(number: int, title: str, texts: list[str], back: tuple = ()) -> tuple:
    """In a worker: the model from strace's texts; its SVG for its page, its step-through page (linking
    ``back``), its thumbnail for the contents, and the names its diagnosis is to use."""
    trace = model(texts)  # (and the programs' files, for the code beside the lanes)
    return (
        svg.render(trace, title=title, rows=ROWS, ids=f"d{number}-"),
        page.render(trace, title=title, links=back),
        svg.thumbnail(layout(trace, 40), height=64, ids=f"t{number}-"),
        object_names(trace),
    )


def _section(entry: Entry) -> Section:
    result = entry.result
    verdict = f"skipped: {result.skipped}" if result.skipped else result.outcome
    details = {"messages": result.messages or "", "time": f"{result.seconds:.2f} s"}
    diagnosis: Optional[str] = result.diagnosis.report() if result.diagnosis is not None else None
    problems = [f"- {problem}" for problem in result.problems]
    transcript = entry.output.getvalue().splitlines() + problems
    return Section(entry.demo.name, entry.demo.mechanism, entry.demo.teaches, verdict, transcript, diagnosis,
                   details=details)  # fmt: skip


def _file_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_" else "-" for char in name) or escape(name)
