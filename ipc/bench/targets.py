"""What a run shows beyond its tables: ratios measured side by side, the expectations judged from
them, and why each mechanism costs what it does.

Ratios come from one run, never from two: raw Python over C and the project's
stack over raw Python per round trip, the best Python stream over C. Each
target is judged in every placement measured, with the figure it rests on.
Pure: outcomes in, data or lines out.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from . import runner
from .tables import LABELS, columns, size_text
from .worker import LATENCY, THROUGHPUT, Outcome

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
    lines = ["Round trip p50, ratios (lower is closer):"] + columns(table, right=(3, 4))
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
        lines += ["", "Streams, ratios (higher is faster than C):"] + columns(table, right=(3,))
    return lines


STREAM_MECHANISMS = ("pipe", "fifo", "socketpair", "unix", "tcp4", "tcp6")


def targets(outcomes: Sequence[Outcome]) -> list:
    """The expectations, each with what was measured and whether it is met (None: reported, no limit).
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
    lines = ["What was expected of each mechanism, measured side by side in this run:"]
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
