"""How fast is a deadlock seen? Runs every broken demo N times and prints the figures.

    python bench/deadlock_latency.py [N]        (default N = 10)

For each broken demo, over N runs (its fix is not run):
  detect   from the deadlock forming to its report. The harness samples the
           processes every few tens of ms, so the moment it formed is known only
           to lie between two samples: this is the upper bound, from the last
           sample that still saw a process move.
  quiet    from the last line any process printed (each demo prints just
           before its last blocking call) to the report.
  run      the whole broken run: start the processes, deadlock, report, end
           them, clean up.
Limits: detect within 0.25 s, run within 2 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import catalog
from ipc.harness import run_demo

LIMIT_DETECT, LIMIT_RUN = 0.25, 2.0


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    if runs < 1:
        print("usage: deadlock_latency.py [N], N at least 1", file=sys.stderr)
        return 2
    broken = [demo for demo in catalog.all_demos() if demo.kind == "deadlock"]
    header = (
        f"{'demo':<24} {'detect median/worst':>20} {'quiet median/worst':>19} {'run median/worst':>17}  {'failed':>6}"
    )
    print(f"{runs} runs of each broken demo, seconds\n{header}\n{'-' * len(header)}")
    worst_detect = worst_run = 0.0
    failures = 0
    for demo in broken:
        detect, quiet, whole = [], [], []
        failed = 0
        for _ in range(runs):
            start = time.monotonic()
            result = run_demo(demo, fix=False)
            whole.append(time.monotonic() - start)
            diagnosis = result.diagnosis
            if not result.ok or diagnosis is None:
                failed += 1
                continue
            detect.append(diagnosis.latency)
            reported = result.deadlock_seconds
            quiet.append(reported - max(line.seconds for line in result.lines if line.seconds <= reported))
        failures += failed
        if not detect:
            print(f"{demo.name:<24} {'-':>20} {'-':>19} {_pair(whole):>17}  {failed:>6}")
            continue
        worst_detect, worst_run = max(worst_detect, max(detect)), max(worst_run, max(whole))
        print(f"{demo.name:<24} {_pair(detect):>20} {_pair(quiet):>19} {_pair(whole):>17}  {failed:>6}")
    print(
        f"\nworst detect {worst_detect:.3f} s (limit {LIMIT_DETECT:g} s): "
        f"{'within' if worst_detect <= LIMIT_DETECT else 'OVER'}"
    )
    print(f"worst run    {worst_run:.3f} s (limit {LIMIT_RUN:g} s): {'within' if worst_run <= LIMIT_RUN else 'OVER'}")
    print(f"runs that did not deadlock as expected: {failures}")
    return 0 if failures == 0 else 1


def _pair(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} / {max(values):.3f}"


if __name__ == "__main__":
    sys.exit(main())
