"""Several demos at once: ``ipc run -j N``, the way ``make demo`` runs them all.

Each demo runs through the harness in a thread of its own, its output kept
apart in a buffer (so nothing interleaves), at most ``jobs`` at a time. A
demo the catalog marks ``alone`` (a timing measurement) runs only once every
other has finished, with nothing beside it; the ones it marks ``slow`` start
first, the others fill the time beside them. A broken
demo whose fix is in the same run leaves the fix to its own entry: every
demo runs once per round.

Ctrl-C, SIGTERM and SIGHUP reach the main thread: it tells every run to stop
(each ends its processes and removes its files), waits for them, then lets
the signal's exception go on to the CLI.

Nothing here prints: ``on_change`` is told whenever an entry changes, and
the console (ipc.console) draws.
"""

from __future__ import annotations

import io
import statistics
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Optional

from .catalog import Demo
from .harness import Result, run_demo

WAITING, RUNNING = "waiting", "running"


@dataclass
class Entry:
    """One run of one demo, as the console shows it."""

    demo: Demo
    round: int = 0
    state: str = WAITING  # waiting, running, then the result's verdict: ok, FAILED, skipped
    started: Optional[float] = None
    result: Optional[Result] = None
    output: io.StringIO = field(default_factory=io.StringIO)  # its transcript, as ipc run NAME prints it

    @property
    def seconds(self) -> float:
        if self.result is not None:
            return self.result.seconds
        return time.monotonic() - self.started if self.started else 0.0


class Runner:
    def __init__(self, demos: list[Demo], jobs: int, repeat: int = 1, timeout: Optional[float] = None,
                 on_change: Callable[["Runner"], None] = lambda runner: None, trace: bool = False):  # fmt: skip
        names = {demo.name for demo in demos}
        self.entries = [Entry(demo, round_) for round_ in range(repeat) for demo in demos]
        self.fix_apart = names  # a broken demo runs its fix itself only when the fix is not run anyway
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.on_change = on_change
        self.trace = trace  # each program under strace: every result keeps what the kernel did (result.trace)
        self.stop = threading.Event()
        self._changed = threading.Condition()

    def run(self) -> list[Result]:
        """Run every entry; the results in the catalog's order. Raises what interrupted it, once all is clean."""
        together = sorted(  # the slow ones first (a stable sort: otherwise the catalog's order)
            (entry for entry in self.entries if not entry.demo.alone), key=lambda entry: entry.demo.slow is None
        )
        alone = [entry for entry in self.entries if entry.demo.alone]
        threads: list[threading.Thread] = []
        try:
            for batch, width in ((together, self.jobs), *(([entry], 1) for entry in alone)):
                pending = list(batch)
                while pending or any(thread.is_alive() for thread in threads):
                    threads = [thread for thread in threads if thread.is_alive()]
                    while pending and len(threads) < width:
                        thread = threading.Thread(target=self._one, args=(pending.pop(0),), daemon=True)
                        thread.start()
                        threads.append(thread)
                    self.on_change(self)
                    with self._changed:
                        self._changed.wait(0.2)
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: every run stops and cleans up before we go on
            self.stop.set()
            for thread in threads:
                thread.join(30)
            self.on_change(self)
            raise
        self.on_change(self)
        return [entry.result for entry in self.entries if entry.result is not None]

    def _one(self, entry: Entry) -> None:
        entry.state, entry.started = RUNNING, time.monotonic()
        self._notify()
        fix = entry.demo.fixed_by not in self.fix_apart
        try:
            trace = self.trace and not entry.demo.untraced
            entry.result = run_demo(
                entry.demo, out=entry.output, timeout=self.timeout, fix=fix, stop=self.stop, trace=trace
            )
        except Exception as error:  # a bug in the harness: this demo fails with its traceback, the others go on
            entry.output.write(traceback.format_exc())
            entry.result = Result(entry.demo, problems=[f"the harness failed: {type(error).__name__}: {error}"])
        if self.stop.is_set() and not entry.result.ok:  # cut short by the signal that stops everything
            entry.result.interrupted = True
        entry.state = entry.result.verdict
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


@dataclass
class Tally:
    """Every run of one demo, summed up (``ipc run all --repeat N``)."""

    demo: Demo
    runs: int
    failed: int
    skipped: int
    median: float
    worst: float


def tally(results: list[Result]) -> list[Tally]:
    by_demo: dict[str, list[Result]] = {}
    for result in results:
        by_demo.setdefault(result.demo.name, []).append(result)
    rows = []
    for group in by_demo.values():
        times = [result.seconds for result in group]
        failed = sum(1 for result in group if not result.ok)
        skipped = sum(1 for result in group if result.skipped)
        rows.append(Tally(group[0].demo, len(group), failed, skipped, statistics.median(times), max(times)))
    return rows
