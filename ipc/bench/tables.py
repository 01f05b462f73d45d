"""The run's figures as terminal tables, and the labels and sizes every part of the report prints them by.

    mechanism   size    placement  implementation          p50 µs  p90 µs  p99 µs  max µs  samples  note
    ----------  ------  ---------  ----------------------  ------  ------  ------  ------  -------  ----
    pipe        64 B    unpinned   C read/write              1.92    2.08    2.25   5,583   60,000
    pipe        64 B    same-cpu   C read/write              1.88    2.02    2.23    58.4   60,000
    pipe        64 KiB  unpinned   project stack                -       -       -       -        -  skipped: …

A row per measurement. Its mechanism, size and placement are left blank where
they repeat the row above, and a skip says its reason once per mechanism and
implementation. Pure: outcomes in, lines out.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from . import runner
from .worker import LATENCY, THROUGHPUT, Outcome

LABELS = {
    ("c", "plain"): "C read/write",
    ("c", "bigpipe"): "C, 1 MiB pipe (F_SETPIPE_SZ)",
    ("raw", "plain"): "raw Python",
    ("raw", "bigpipe"): "raw Python, 1 MiB pipe (F_SETPIPE_SZ)",
    ("raw", "splice"): "Python splice() out (zero copy)",
    ("raw", "splice+bigpipe"): "splice() + 1 MiB pipe",
    ("raw", "sendfile"): "Python sendfile() out (zero copy)",
    ("project", "plain"): "project stack",
    ("c", "bigbuf"): "C, 4 MiB socket buffers (SO_SNDBUF)",
    ("raw", "bigbuf"): "raw Python, 4 MiB socket buffers",
}
PYTHON_LABELS = {
    "mp-pipe": "send_bytes/recv_bytes",
    "mp-queue": "put/get (pickled)",
    "shm": "eventfd wake-ups",
    "shm-spin": "spinning (burns a CPU)",
    "files": "write + rename, polled",
}


def label(outcome_or_spec) -> str:
    spec = getattr(outcome_or_spec, "spec", outcome_or_spec)
    if spec.implementation == "python":
        return PYTHON_LABELS.get(spec.mechanism, "Python")
    return LABELS.get((spec.implementation, spec.path), f"{spec.implementation} {spec.path}")


def size_text(size: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def columns(rows: list, right: Iterable[int]) -> list:
    """Rows as aligned columns (those in ``right`` aligned right), the first row a header ruled off."""
    right = set(right)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _said_before(said: set, outcome: Outcome) -> bool:
    """A skip says its reason once per mechanism and implementation, not at every size and placement."""
    key = (outcome.spec.mechanism, label(outcome), outcome.status, outcome.reason)
    if outcome.status == "skipped" and key in said:
        return True
    said.add(key)
    return False


def latency_table(outcomes: Sequence[Outcome]) -> list:
    rows = [
        ("mechanism", "size", "placement", "implementation", "p50 µs", "p90 µs", "p99 µs", "max µs", "samples", "note")
    ]
    previous, said = None, set()
    for outcome in outcomes:
        spec = outcome.spec
        if spec.kind != LATENCY:
            continue
        summary = runner.summary(outcome)
        if summary is None and _said_before(said, outcome):
            continue
        key = (spec.mechanism, spec.size, spec.placement)
        first, place = ((spec.mechanism, size_text(spec.size)), spec.placement) if key != previous else (("", ""), "")
        previous = key
        if summary is None:
            rows.append((*first, place, label(outcome), "-", "-", "-", "-", "-", f"{outcome.status}: {outcome.reason}"))
            continue
        note = f"unstable: workers' medians {summary['spread']:.0%} apart" if summary["unstable"] else ""
        rows.append(
            (
                *first,
                place,
                label(outcome),
                *(_number(summary[k]) for k in ("p50_us", "p90_us", "p99_us", "max_us")),
                f"{summary['samples']:,}",
                note,
            )
        )
    return columns(rows, right=(4, 5, 6, 7, 8))


def throughput_table(outcomes: Sequence[Outcome]) -> list:
    rows = [("mechanism", "size", "placement", "path", "MB/s", "range", "values", "note")]
    previous, said = None, set()
    for outcome in outcomes:
        spec = outcome.spec
        if spec.kind != THROUGHPUT:
            continue
        summary = runner.summary(outcome)
        if summary is None and _said_before(said, outcome):
            continue
        key = (spec.mechanism, spec.size, spec.placement)
        first, place = ((spec.mechanism, size_text(spec.size)), spec.placement) if key != previous else (("", ""), "")
        previous = key
        if summary is None:
            rows.append((*first, place, label(outcome), "-", "-", "-", f"{outcome.status}: {outcome.reason}"))
            continue
        note = f"unstable: values {summary['spread']:.0%} apart" if summary["unstable"] else ""
        rows.append(
            (
                *first,
                place,
                label(outcome),
                _number(summary["median_mb_s"]),
                f"{_number(summary['min_mb_s'])}-{_number(summary['max_mb_s'])}",
                str(summary["values"]),
                note,
            )
        )
    return columns(rows, right=(4, 5, 6))
