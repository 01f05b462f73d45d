"""Percentiles and spread, the way the figures are reported. Pure.

Round trips: every sample is one round trip, timed on its own with a
monotonic clock; percentiles come from the samples of all worker processes
together. Streams: every value is one timed stream of at least ~100 ms
(pyperf's rule); the figure is the median value.

Stability, as pyperf judges it: each worker process gives its own median;
when those medians (round trips) or the values (streams) spread by more than
UNSTABLE_SPREAD around their median, the figure is marked unstable.
"""

from __future__ import annotations

import statistics
from typing import Sequence

UNSTABLE_SPREAD = 0.10
PERCENTILES = (50, 90, 99)


def percentile(ordered: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, -(-len(ordered) * percent // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def spread(values: Sequence[float]) -> float:
    """(largest - smallest) / median: 0.0 for identical values."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else 0.0


def latency_summary(per_worker_ns: Sequence[Sequence[int]]) -> dict:
    """Percentiles in microseconds over every sample of every worker, and the workers' spread."""
    everything = sorted(sample for samples in per_worker_ns for sample in samples)
    if not everything:
        raise ValueError("no samples")
    medians = [statistics.median(samples) / 1000 for samples in per_worker_ns if samples]
    summary = {f"p{p}_us": percentile(everything, p) / 1000 for p in PERCENTILES}
    summary.update(
        {
            "min_us": everything[0] / 1000,
            "max_us": everything[-1] / 1000,
            "samples": len(everything),
            "workers": len(medians),
            "worker_medians_us": [round(m, 3) for m in medians],
            "spread": round(spread(medians), 4),
        }
    )
    summary["unstable"] = summary["spread"] > UNSTABLE_SPREAD
    return summary


def throughput_summary(values: Sequence[tuple], workers: int) -> dict:
    """values: (bytes, nanoseconds) per timed stream. Median and range in MB/s (10^6 bytes per second)."""
    if not values:
        raise ValueError("no values")
    rates = sorted(nbytes / nanoseconds * 1000 for nbytes, nanoseconds in values)  # bytes/ns * 1000 = MB/s
    summary = {
        "median_mb_s": statistics.median(rates),
        "min_mb_s": rates[0],
        "max_mb_s": rates[-1],
        "values": len(rates),
        "workers": workers,
        "bytes_per_value": int(statistics.median(nbytes for nbytes, _ in values)),
        "spread": round(spread(rates), 4),
    }
    summary["unstable"] = summary["spread"] > UNSTABLE_SPREAD
    return summary
