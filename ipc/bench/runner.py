"""What a run measures, and running it: the plan, the worker processes, the deadlines, the cleanup.

``plan(...)`` lists the measurements; ``run(...)`` runs each one in several
worker processes (fresh processes, as pyperf does, so one process's luck does
not make the figure), and returns an Outcome per measurement: ok with its
figures, failed with why (a lost or corrupted byte, a deadline), or skipped
with why (no compiler, no IPv6, a size the mechanism cannot carry).

Everything a run creates lives in one private directory (0700) that is
removed on every way out, and every shared memory segment it names is
unlinked: nothing is left behind, even after a deadline or Ctrl-C.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

from . import reference, stats
from .channels import DATAGRAMS, STREAMS, UDP_MAX, Unsupported
from .shared import stream_unsupported
from .worker import LATENCY, THROUGHPUT, Outcome, Spec, WorkerFailed, spawn

MECHANISMS = (*STREAMS, *DATAGRAMS, "files", "mp-pipe", "mp-queue", "shm", "shm-spin")
DEFAULT_SIZES = (64, 4096, 65536, 1048576)
QUICK_SIZES = (64, 65536)
PLACEMENTS = ("unpinned", "same-cpu", "two-cpus")
PYTHON_OWN = ("files", "mp-pipe", "mp-queue", "shm", "shm-spin")  # Python's own libraries: one implementation
PROJECT_MAX_SIZE = 4096  # the protocol's limit on a line
_segment_numbers = itertools.count()


@dataclass(frozen=True)
class Settings:
    workers: int
    warmup_s: float
    budget_s: float
    value_s: float
    values: int
    deadline_s: Optional[float] = None
    placed_streams: bool = True  # streams in every placement too, or unpinned only

    @property
    def deadline(self) -> float:
        """Seconds one worker may take before it is ended (generous: a busy machine is slow, not stuck)."""
        if self.deadline_s is not None:
            return self.deadline_s
        return 20.0 + 10 * (self.warmup_s + self.budget_s + self.value_s * (self.values + 4))


FULL = Settings(workers=3, warmup_s=0.03, budget_s=0.12, value_s=0.1, values=1)
QUICK = Settings(workers=2, warmup_s=0.01, budget_s=0.03, value_s=0.02, values=1, placed_streams=False)


def placements_here() -> dict:
    """Each placement's (client CPU, server CPU), or why it cannot be had here."""
    if not hasattr(os, "sched_setaffinity"):
        why = "this system cannot pin a process to a CPU (no sched_setaffinity)"
        return {"unpinned": (None, None), "same-cpu": why, "two-cpus": why}
    allowed = sorted(os.sched_getaffinity(0))
    two = (allowed[0], allowed[1]) if len(allowed) > 1 else "only one CPU is usable here"
    return {"unpinned": (None, None), "same-cpu": (allowed[0], allowed[0]), "two-cpus": two}


def implementations(mechanism: str, kind: str) -> list:
    """(implementation, path) pairs measured for a mechanism."""
    if mechanism in PYTHON_OWN:
        return [("python", "plain")]
    pairs = [("c", "plain"), ("raw", "plain")]
    if kind == THROUGHPUT and mechanism == "pipe":
        pairs = [
            ("c", "plain"),
            ("c", "bigpipe"),
            ("raw", "plain"),
            ("raw", "bigpipe"),
            ("raw", "splice"),
            ("raw", "splice+bigpipe"),
        ]
    elif kind == THROUGHPUT and mechanism == "fifo":
        pairs.append(("raw", "splice"))
    elif kind == THROUGHPUT and mechanism in ("socketpair", "unix"):
        pairs = [("c", "plain"), ("c", "bigbuf"), ("raw", "plain"), ("raw", "bigbuf"), ("raw", "sendfile")]
    elif kind == THROUGHPUT and mechanism in ("tcp4", "tcp6"):
        pairs.append(("raw", "sendfile"))
    if kind == LATENCY or mechanism in STREAMS:
        pairs.append(("project", "plain"))
    return pairs


def plan(
    mechanisms: Sequence[str], sizes: Sequence[int], settings: Settings, placements: Sequence[str] = PLACEMENTS
) -> list:
    """Every measurement of a run. Other placements than unpinned: at the smallest size for round trips,
    at the size nearest 64 KiB for streams (measuring each size in each placement would take too long;
    --quick measures streams unpinned only)."""
    specs = []
    common = dict(
        warmup_s=settings.warmup_s, budget_s=settings.budget_s, value_s=settings.value_s, values=settings.values
    )
    for kind in (LATENCY, THROUGHPUT):
        placed_size = min(sizes) if kind == LATENCY else min(sizes, key=lambda size: abs(size - 65536))
        for mechanism in mechanisms:
            for implementation, path in implementations(mechanism, kind):
                for size in sizes:
                    for placement in placements:
                        if placement != "unpinned" and (
                            size != placed_size or (kind == THROUGHPUT and not settings.placed_streams)
                        ):
                            continue
                        specs.append(Spec(kind, mechanism, implementation, size, path, placement, **common))
    return specs


def run(specs: Sequence[Spec], settings: Settings, progress: Optional[Callable[[str], None]] = None) -> list:
    """Measure each spec in settings.workers worker processes; an Outcome per spec, in order."""
    say = progress or (lambda text: None)
    where = placements_here()
    outcomes = []
    top = tempfile.mkdtemp(prefix="ipc-bench-")  # mkdtemp makes it 0700: sockets and FIFOs are ours alone
    shm_names: list = []
    try:
        binary: object = None
        if any(spec.implementation == "c" for spec in specs):
            try:
                binary = reference.build(top)
            except Unsupported as why:
                binary = why
        for index, spec in enumerate(specs, 1):
            cpus = where.get(spec.placement, f"unknown placement {spec.placement!r}")
            started = time.monotonic()
            if isinstance(cpus, str):
                outcome = Outcome(spec, "skipped", cpus)
            else:
                outcome = _measure(replace(spec, cpus=cpus), settings, top, binary, shm_names)
            outcome.seconds = time.monotonic() - started
            outcomes.append(outcome)
            say(
                f"[{index}/{len(specs)}] {spec.label()}: {outcome.status}"
                + (f" ({outcome.reason})" if outcome.reason else "")
            )
    finally:
        _remove_segments(shm_names)
        shutil.rmtree(top, ignore_errors=True)
    return outcomes


def _measure(spec: Spec, settings: Settings, top: str, binary, shm_names: list) -> Outcome:
    if spec.kind == THROUGHPUT and (why := stream_unsupported(spec.mechanism)):
        return Outcome(spec, "skipped", why)
    if spec.mechanism == "udp" and spec.size > UDP_MAX:
        return Outcome(spec, "skipped", f"a UDP datagram carries at most {UDP_MAX:,} bytes")
    if spec.implementation == "project" and spec.size > PROJECT_MAX_SIZE:
        return Outcome(spec, "skipped", f"the protocol carries lines of at most {PROJECT_MAX_SIZE} bytes")
    if spec.implementation == "c" and not isinstance(binary, str):
        return Outcome(spec, "skipped", str(binary))
    outcome = Outcome(spec, "ok")
    for _ in range(settings.workers):
        directory = tempfile.mkdtemp(dir=top)
        try:
            if spec.implementation == "c":
                figures = reference.run(binary, spec, directory, settings.deadline)
            else:
                if spec.mechanism in ("shm", "shm-spin"):
                    spec = replace(spec, shm_name=f"ipcbench-{os.getpid()}-{next(_segment_numbers)}")
                    shm_names.append(spec.shm_name)
                figures = spawn(spec, directory, settings.deadline)
        except Unsupported as why:
            return Outcome(spec, "skipped", str(why))
        except WorkerFailed as why:
            return Outcome(spec, "failed", str(why))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            _remove_segments(shm_names)
        outcome.workers += 1
        if spec.kind == LATENCY:
            outcome.samples_ns.append(figures["samples_ns"])
        else:
            outcome.values.extend(tuple(value) for value in figures["values"])
    return outcome


def summary(outcome: Outcome) -> Optional[dict]:
    """The outcome's figures (None unless it is ok); worked out once, then kept."""
    if outcome.status != "ok":
        return None
    if outcome.summary is None:
        outcome.summary = (
            stats.latency_summary(outcome.samples_ns)
            if outcome.spec.kind == LATENCY
            else stats.throughput_summary(outcome.values, outcome.workers)
        )
    return outcome.summary


def _remove_segments(names: list) -> None:
    """Unlink shared memory segments a killed worker could not (Linux keeps them in /dev/shm)."""
    for name in names:
        for path in (f"/dev/shm/{name}",):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    names.clear()
