"""What a run found, whole: the terminal report (tables, ratios, targets, why), its JSON, and outcomes read back.

``render`` puts together the tables (ipc.bench.tables) and what they show
(ipc.bench.targets) with the machine they come from and every warning;
``as_json`` writes the same with every summary; ``outcomes_from_json`` reads
that back, to draw the chart again. Every function here takes outcomes and
returns text or data; the CLI decides where it goes.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

from . import machine, runner
from .stats import UNSTABLE_SPREAD
from .tables import label, latency_table, throughput_table
from .targets import WHY, ratio_lines, ratios, target_lines, targets, wake_up_cost, why_lines
from .worker import LATENCY, THROUGHPUT, Outcome, Spec


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
