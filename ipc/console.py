"""What ``ipc run`` shows while several demos run: a live table on a terminal, plain lines elsewhere.

On a terminal: one row per demo (its state, messages and time), redrawn in
place as the runs go, in as many columns as the width allows; coloured,
unless NO_COLOR is set. Elsewhere (CI, a pipe, a file): one plain line per
finished run, never a control character. Either way the end is the same: a
summary, then every failed run's whole transcript and diagnosis.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

from .result import DEADLOCKED, Result
from .runner import RUNNING, WAITING, Runner, tally

COLOURS = {"ok": "32", "FAILED": "1;31", "skipped": "2", "interrupted": "33", RUNNING: "33", WAITING: "2"}
REDRAW = 0.1  # seconds between two drawings of the live table, at most


def wants_live(out: TextIO) -> bool:
    return out.isatty() and os.environ.get("TERM", "dumb") != "dumb"


class Console:
    def __init__(self, out: TextIO, live: bool, verbose: bool = False):
        self.out = out
        self.live = live
        self.colour = live and "NO_COLOR" not in os.environ
        self.verbose = verbose  # print each finished run's transcript as a block
        self._shown: set[int] = set()  # entries already reported (plain lines)
        self._drawn = 0  # lines of the live table on screen
        self._last = 0.0

    # -- while running --------------------------------------------------

    def update(self, runner: Runner) -> None:
        if self.live:
            now = time.monotonic()
            finished = all(entry.result is not None for entry in runner.entries)
            if now - self._last >= REDRAW or finished:
                self._last = now
                self._draw(runner)
            return
        for index, entry in enumerate(runner.entries):
            if entry.result is not None and index not in self._shown:
                self._shown.add(index)
                if self.verbose:
                    scripts = ", ".join("demos/" + script for script in entry.demo.scripts)
                    self._print(f"\n== {entry.demo.name}: {entry.demo.mechanism} ({scripts})")
                    self._print(entry.output.getvalue().rstrip("\n"))
                rounds = len(runner.entries) > len(_demos(runner))
                round_ = f" (run {entry.round + 1})" if rounds else ""
                width = _width(runner) + (len(f" (run {max(e.round for e in runner.entries) + 1})") if rounds else 0)
                self._print(self._row(entry.demo.name + round_, entry.state, entry.result, width, _what(runner)))

    def _draw(self, runner: Runner) -> None:
        rows = [self._demo_row(runner, name) for name in _demos(runner)]
        width, height = shutil.get_terminal_size((100, 40))
        cell = max(len(row) for row in rows) + 3
        columns = max(1, min(3, width // cell))
        if -(-len(rows) // columns) >= height - 1:  # too tall to redraw in place: what is moving, and failures
            rows = [row for row in rows if row.startswith((RUNNING, "FAILED"))][: max(1, (height - 2) * columns)]
        lines = []
        per_column = -(-len(rows) // columns)
        for line in range(per_column):
            cells = [
                rows[line + per_column * column] for column in range(columns) if line + per_column * column < len(rows)
            ]
            lines.append("   ".join(self._paint(cell_text, cell - 3) for cell_text in cells))
        states = [entry.state for entry in runner.entries]
        done = sum(1 for state in states if state not in (WAITING, RUNNING))
        lines.append(f"{done} of {len(states)} done, {states.count(RUNNING)} running")
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # back to the table's first line, clear below
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def _demo_row(self, runner: Runner, name: str) -> str:
        entries = [entry for entry in runner.entries if entry.demo.name == name]
        running = [entry for entry in entries if entry.state == RUNNING]
        finished = [entry for entry in entries if entry.result is not None]
        if running:
            state, seconds = RUNNING, running[0].seconds
        elif len(finished) < len(entries) and not finished:
            state, seconds = WAITING, 0.0
        else:
            failed = [entry for entry in finished if entry.state == "FAILED"]
            state = "FAILED" if failed else (finished[-1].state if finished else WAITING)
            seconds = finished[-1].seconds if finished else 0.0
        messages = finished[-1].result.messages if finished and finished[-1].result else 0
        count = f" {len(finished)}/{len(entries)}" if len(entries) > 1 else ""
        said = f"{messages:>4} msg" if messages else " " * 8
        return f"{state:<8} {name:<{_width(runner)}} {said} {seconds:6.2f} s{count}"

    def _paint(self, row: str, width: int) -> str:
        text = row.ljust(width)
        if not self.colour:
            return text
        state = row.split(" ", 1)[0]
        return f"\x1b[{COLOURS.get(state, '0')}m{text[:8]}\x1b[0m{text[8:]}"

    def _row(self, name: str, state: str, result: Result, width: int = 28, what: int = 12) -> str:
        """One finished run, its columns as wide as the longest name and verdict of the runs."""
        if result.skipped:
            return f"skipped  {name}: {result.skipped}"
        if result.interrupted:
            return f"interrupted {name}: the whole run was stopped before it finished ({result.seconds:.2f} s)"
        messages = f"{result.messages} message{'s' if result.messages != 1 else ''}" if result.messages else ""
        if result.outcome == DEADLOCKED:
            messages = DEADLOCKED
        return f"{state:<8} {name:<{width}} {messages:>{what}}  {result.seconds:6.2f} s"

    # -- at the end -----------------------------------------------------

    def finish(self, runner: Runner, results: list[Result]) -> None:
        if self.live:
            self._draw(runner)
        rows = tally(results)
        if any(row.runs > 1 for row in rows):
            self._print("")
            self._print(f"{'demo':<28} {'runs':>5} {'failed':>7} {'median':>8} {'worst':>8}")
            for row in rows:
                self._print(f"{row.demo.name:<28} {row.runs:>5} {row.failed:>7} {row.median:>7.2f}s {row.worst:>7.2f}s")
        failed = [entry for entry in runner.entries if entry.result is not None and not entry.result.ok]
        for entry in failed:
            self._print(f"\n== {entry.demo.name}: FAILED; its whole run:")
            self._print(entry.output.getvalue().rstrip("\n"))
            for problem in entry.result.problems:
                self._print(f"   - {problem}")
        ok = sum(1 for result in results if result.ok and not result.skipped)
        skipped = sum(1 for result in results if result.skipped)
        self._print(f"\n{ok} ok, {len(failed)} failed, {skipped} skipped")

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _demos(runner: Runner) -> list[str]:
    return list(dict.fromkeys(entry.demo.name for entry in runner.entries))


def _width(runner: Runner) -> int:
    return max(len(name) for name in _demos(runner))


def _what(runner: Runner) -> int:
    """The width of the column that says how many messages, or that a broken demo deadlocked as it should."""
    return len(DEADLOCKED) if any(entry.demo.kind == "deadlock" for entry in runner.entries) else 12
