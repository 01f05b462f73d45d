"""What a run found, as a terminal table, ratios, the issue's targets, the why of each mechanism, and JSON.

Every function here takes outcomes and returns text or data; the CLI decides
where it goes.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional, Sequence

from . import machine, runner
from .stats import UNSTABLE_SPREAD
from .worker import LATENCY, THROUGHPUT, Outcome, Spec

WHY = {
    "pipe": "write() + read() per message each way: 2 system calls, 2 copies (your buffer -> the pipe's pages -> "
    "the reader's buffer), and a wake-up of the reader; it holds 64 KiB (F_SETPIPE_SZ: up to 1 MiB), and a "
    "writer that fills it sleeps until the reader has made room; splice() moves a file's pages in "
    "without the first copy",
    "fifo": "a pipe with a name: once open() has met the other side, the same 2 calls and 2 copies as a pipe",
    "socketpair": "send() + recv(): 2 calls, 2 copies through a socket buffer (sk_buff) with more bookkeeping "
    "per message than a pipe's page; the buffer size (SO_SNDBUF) decides how often a writer sleeps",
    "unix": "a socketpair reached by connect()/accept() on a path: after that, the same 2 calls and 2 copies",
    "unix-dgram": "one sendto() is one recv(): 2 calls, 2 copies, boundaries kept by the kernel, no stream state",
    "tcp4": "2 calls, 2 copies, and the whole TCP/IP stack on loopback: headers, sequence numbers, ACKs; "
    "TCP_NODELAY so Nagle does not hold small messages back",
    "tcp6": "as tcp4 over ::1: the same work with a longer header",
    "udp": "2 calls, 2 copies through IP and UDP, no connection state, no flow control: a burst overflows "
    "the receiver's queue and is lost (so no stream figure)",
    "files": "open()+write()+close()+rename() to send, open()+read()+close()+unlink() to receive: 8 calls, "
    "and nothing wakes the reader: it polls (the demo every 10 ms)",
    "mp-pipe": "a socketpair underneath, plus a length header (2 sends for a large message) and a new bytes "
    "object allocated for each message received",
    "mp-queue": "pickle, a feeder thread that writes to a pipe, a lock, and unpickling on the other side: "
    "a thread hand-off on top of the pipe",
    "shm": "no copy through the kernel: 1 copy into the shared segment, read where it lies; 1 eventfd write() "
    "and 1 read() per hand-over to sleep and wake",
    "shm-spin": "no system call to wake anyone: the reader polls a counter in the segment (sched_yield() "
    "between looks), burning a CPU while it waits",
}

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


def _table(rows: list, right: Iterable[int]) -> list:
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
    return _table(rows, right=(4, 5, 6, 7, 8))


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
    return _table(rows, right=(4, 5, 6))


# Ratios and targets --------------------------------------------------------------------------


def _index(outcomes: Sequence[Outcome]) -> dict:
    found = {}
    for outcome in outcomes:
        summary = runner.summary(outcome)
        if summary is not None:
            spec = outcome.spec
            found[(spec.kind, spec.mechanism, spec.implementation, spec.path, spec.size, spec.placement)] = summary
    return found


def _p50(found: dict, mechanism: str, implementation: str, size: int, placement: str) -> Optional[float]:
    summary = found.get((LATENCY, mechanism, implementation, "plain", size, placement))
    return summary["p50_us"] if summary else None


def _shaky(found: dict, mechanism: str, implementations: Sequence[str], size: int, placement: str) -> str:
    """', unstable' when a figure behind a ratio is: its workers disagreed, so the ratio is a draw."""
    unstable = any(
        (s := found.get((LATENCY, mechanism, impl, "plain", size, placement))) and s["unstable"]
        for impl in implementations
    )
    return ", from unstable figures" if unstable else ""


def _best_stream(found: dict, mechanism: str, size: int, placement: str, implementation: str) -> Optional[tuple]:
    candidates = [
        (summary["median_mb_s"], key[3])
        for key, summary in found.items()
        if key[0] == THROUGHPUT
        and key[1] == mechanism
        and key[2] == implementation
        and key[4] == size
        and key[5] == placement
    ]
    return max(candidates) if candidates else None


def ratios(outcomes: Sequence[Outcome]) -> list:
    """Side-by-side ratios from this one run: round trips (raw/C, project/raw), streams (best Python / C)."""
    found, rows = _index(outcomes), []
    for kind, mechanism, size, placement in sorted(
        {(o.spec.kind, o.spec.mechanism, o.spec.size, o.spec.placement) for o in outcomes}, key=_order(outcomes)
    ):
        if kind == LATENCY:
            c, raw, project = (_p50(found, mechanism, impl, size, placement) for impl in ("c", "raw", "project"))
            if raw and (c or project):
                rows.append(
                    {
                        "kind": kind,
                        "mechanism": mechanism,
                        "size": size,
                        "placement": placement,
                        "raw_over_c": raw / c if c else None,
                        "project_over_raw": project / raw if project else None,
                    }
                )
        else:
            c = found.get((THROUGHPUT, mechanism, "c", "plain", size, placement))
            best = _best_stream(found, mechanism, size, placement, "raw")
            if c and best:
                rows.append(
                    {
                        "kind": kind,
                        "mechanism": mechanism,
                        "size": size,
                        "placement": placement,
                        "best_python_over_c": best[0] / c["median_mb_s"],
                        "best_python_path": best[1],
                    }
                )
    return rows


def _order(outcomes: Sequence[Outcome]):
    first_seen = {}
    for index, outcome in enumerate(outcomes):
        first_seen.setdefault(
            (outcome.spec.kind, outcome.spec.mechanism, outcome.spec.size, outcome.spec.placement), index
        )
    return lambda key: first_seen[key]


def ratio_lines(rows: list) -> list:
    table = [("mechanism", "size", "placement", "raw Python / C", "project / raw Python")]
    for row in rows:
        if row["kind"] == LATENCY:
            table.append(
                (
                    row["mechanism"],
                    size_text(row["size"]),
                    row["placement"],
                    f"{row['raw_over_c']:.2f}x" if row["raw_over_c"] else "-",
                    f"{row['project_over_raw']:.2f}x" if row["project_over_raw"] else "-",
                )
            )
    lines = ["Round trip p50, ratios (lower is closer):"] + _table(table, right=(3, 4))
    table = [("mechanism", "size", "placement", "best Python / C read/write", "best Python path")]
    for row in rows:
        if row["kind"] == THROUGHPUT:
            table.append(
                (
                    row["mechanism"],
                    size_text(row["size"]),
                    row["placement"],
                    f"{row['best_python_over_c']:.2f}x",
                    LABELS[("raw", row["best_python_path"])],
                )
            )
    if len(table) > 1:
        lines += ["", "Streams, ratios (higher is faster than C):"] + _table(table, right=(3,))
    return lines


STREAM_MECHANISMS = ("pipe", "fifo", "socketpair", "unix", "tcp4", "tcp6")


def targets(outcomes: Sequence[Outcome]) -> list:
    """The issue's targets, each with what was measured and whether it is met (None: reported, no limit).
    Each is judged in every placement that was measured, and says which."""
    found = _index(outcomes)
    sizes = sorted({o.spec.size for o in outcomes})
    small = sizes[0] if sizes else 0
    stream_size = min(sizes, key=lambda s: abs(s - 65536)) if sizes else 0
    placements = [p for p in runner.PLACEMENTS if any(o.spec.placement == p for o in outcomes)]
    results = []

    def worst(numerator: str, denominator: str, placement: str) -> Optional[tuple]:
        pairs = []
        for m in STREAM_MECHANISMS:
            n, d = _p50(found, m, numerator, small, placement), _p50(found, m, denominator, small, placement)
            if n and d:
                pairs.append((n / d, m + _shaky(found, m, (numerator, denominator), small, placement)))
        return max(pairs) if pairs else None

    limits = {"unpinned": 1.1, "same-cpu": 1.35}
    for placement in placements:
        limit = limits.get(placement)
        results.append(
            _target(
                f"raw Python p50 round trip {f'within {limit}x' if limit else 'over'} C, every stream "
                f"mechanism ({size_text(small)}, {placement}; the highest ratio)",
                worst("raw", "c", placement),
                limit,
                lower_is_better=True,
            )
        )
    for placement in placements:
        limit = 1.1 if placement == "unpinned" else None
        results.append(
            _target(
                f"project stack p50 round trip {'within 1.1x of' if limit else 'over'} raw Python "
                f"({size_text(small)}, {placement}; the highest ratio)",
                worst("project", "raw", placement),
                limit,
                lower_is_better=True,
            )
        )
    for placement in placements:
        pairs = []
        for mechanism in ("pipe", "fifo", "socketpair", "unix"):
            c = found.get((THROUGHPUT, mechanism, "c", "plain", stream_size, placement))
            best = _best_stream(found, mechanism, stream_size, placement, "raw")
            if c and best:
                pairs.append((best[0] / c["median_mb_s"], f"{mechanism}: {LABELS[('raw', best[1])]}"))
        every = "; ".join(f"{where} {ratio:.2f}x" for ratio, where in pairs)
        results.append(
            _target(
                f"best Python stream at least 2x C read/write on pipes and Unix sockets "
                f"({size_text(stream_size)}, {placement}; the lowest ratio)",
                (min(pairs)[0], f"{min(pairs)[1]}; each: {every}") if pairs else None,
                2.0,
                lower_is_better=False,
            )
        )
    big = 1 << 20
    mp = _p50(found, "mp-pipe", "python", big, "unpinned")
    best = min(
        (
            (p, m)
            for m in runner.MECHANISMS
            if m not in runner.PYTHON_OWN and (p := _p50(found, m, "raw", big, "unpinned"))
        ),
        default=None,
    )
    results.append(
        _target(
            "1 MiB round trip: best Python at least 2x faster than multiprocessing.Pipe (unpinned)",
            (mp / best[0], f"{best[1]} {best[0]:,.0f} µs vs mp.Pipe {mp:,.0f} µs") if mp and best else None,
            2.0,
            lower_is_better=False,
        )
    )
    return results


def _target(text: str, measured: Optional[tuple], limit: Optional[float], lower_is_better: bool) -> dict:
    if measured is None:
        return {"target": text, "measured": None, "met": None, "detail": "not measured in this run"}
    value, where = measured
    met = None if limit is None else (value <= limit if lower_is_better else value >= limit)
    return {"target": text, "measured": round(value, 3), "met": met, "detail": where}


def target_lines(found: list, elapsed: Optional[float], quick: bool, whole: bool = True) -> list:
    lines = ["Targets (issue 13), measured side by side in this run:"]
    for target in found:
        measured = target["measured"]
        verdict = {True: "met", False: "NOT met", None: "reported" if measured is not None else "-"}[target["met"]]
        value = f"{measured:.2f}x ({target['detail']})" if measured is not None else target["detail"]
        lines.append(f"  [{verdict}] {target['target']}: {value}")
    if elapsed is not None and not whole:
        lines.append(f"  this run (not every mechanism and size) took {elapsed:.0f} s")
    elif elapsed is not None:
        limit = 30 if quick else 300
        lines.append(
            f"  [{'met' if elapsed < limit else 'NOT met'}] {'--quick' if quick else 'the full run'} "
            f"under {limit} s: {elapsed:.0f} s"
        )
    return lines


def why_lines(mechanisms: Iterable[str]) -> list:
    width = max((len(m) for m in mechanisms), default=0)
    lines = [f"  {m:<{width}}  {WHY[m]}" for m in mechanisms if m in WHY]
    return ["Why (system calls and copies per message):"] + lines


def wake_up_cost(outcomes: Sequence[Outcome]) -> Optional[float]:
    """What waking a process on another CPU costs here, in µs: a round trip over shared memory with two
    eventfd wake-ups, less the same round trip spinning (no wake-up), halved. Both on two CPUs."""
    found = _index(outcomes)
    sizes = sorted(o.spec.size for o in outcomes)
    woken = _p50(found, "shm", "python", sizes[0], "two-cpus") if sizes else None
    spun = _p50(found, "shm-spin", "python", sizes[0], "two-cpus") if sizes else None
    return (woken - spun) / 2 if woken and spun else None


def unstable_count(outcomes: Sequence[Outcome]) -> int:
    return sum(1 for o in outcomes if (s := runner.summary(o)) and s["unstable"])


def render(outcomes: Sequence[Outcome], info: dict, elapsed: Optional[float], quick: bool, whole: bool = True) -> str:
    lines = [f"Machine: {machine.summary_line(info)}"]
    lines += [f"warning: {text}" for text in info["warnings"]]
    mechanisms = list(dict.fromkeys(o.spec.mechanism for o in outcomes))
    if any(o.spec.kind == LATENCY for o in outcomes):
        lines += [
            "",
            "Round trips: one frame there and back, timed one by one (µs; percentiles over every "
            "sample of every worker process):",
        ] + latency_table(outcomes)
    if any(o.spec.kind == THROUGHPUT for o in outcomes):
        lines += [
            "",
            "Streams: frames one way, MB/s = 10^6 bytes/s (median of the timed values, each ~100 ms in a full run):",
        ] + throughput_table(outcomes)
    lines += [""] + ratio_lines(ratios(outcomes))
    lines += [""] + target_lines(targets(outcomes), elapsed, quick, whole)
    lines += [""] + why_lines(mechanisms)
    if (wake := wake_up_cost(outcomes)) is not None:
        lines.append(
            f"  Measured here: waking a process that sleeps on another CPU costs about {wake:.0f} µs "
            f"(shared memory woken by eventfd, less the same spinning, two CPUs, per wake-up): that is why "
            f"round trips across CPUs cost tens of µs whatever the mechanism (compare the same-cpu rows)."
        )
    if any(
        o.spec.placement == "unpinned" and o.spec.kind == LATENCY and (s := runner.summary(o)) and s["unstable"]
        for o in outcomes
    ):
        lines += [
            "",
            "note: unpinned round trips are a draw: the scheduler puts the two processes on one CPU "
            "(a few µs: no cross-CPU wake-up) or on two (tens of µs on a VM: waking another vCPU), "
            "and may choose differently for each worker process. Compare unpinned figures with care; "
            "the same-cpu and two-cpus rows are the controlled ones.",
        ]
    unstable = unstable_count(outcomes)
    if unstable:
        lines += [
            "",
            f"warning: {unstable} figures are unstable (their worker processes or values differ by more "
            f"than {UNSTABLE_SPREAD:.0%}): run again on a quieter machine, or without --quick",
        ]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines += ["", f"FAILED: {len(failed)} measurements did not complete; no figure is reported for them:"]
        lines += [f"  {o.spec.label()}: {o.reason}" for o in failed]
    return "\n".join(lines) + "\n"


def as_json(outcomes: Sequence[Outcome], info: dict, settings, elapsed: Optional[float], quick: bool) -> str:
    results = []
    for outcome in outcomes:
        entry = outcome.as_dict()
        entry["label"] = label(outcome)
        entry["summary"] = runner.summary(outcome)
        results.append(entry)
    document = {
        "machine": info,
        "settings": {
            "workers": settings.workers,
            "warmup_s": settings.warmup_s,
            "budget_s": settings.budget_s,
            "value_s": settings.value_s,
            "values": settings.values,
            "quick": quick,
        },
        "elapsed_s": elapsed,
        "results": results,
        "ratios": ratios(outcomes),
        "targets": targets(outcomes),
        "why": {m: WHY[m] for m in dict.fromkeys(o.spec.mechanism for o in outcomes) if m in WHY},
        "cross_cpu_wake_up_us": wake_up_cost(outcomes),
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def outcomes_from_json(document: dict) -> list:
    """The outcomes of a run written by as_json, with their summaries (not their samples): enough to
    render the table, the chart and the targets again."""
    outcomes = []
    for entry in document["results"]:
        spec = dict(entry["spec"])
        spec["cpus"] = tuple(spec["cpus"])
        spec["inject"] = tuple(spec["inject"]) if spec["inject"] else None
        outcomes.append(
            Outcome(Spec(**spec), entry["status"], entry["reason"], workers=entry["workers"], summary=entry["summary"])
        )
    return outcomes
