"""How long does make demo take, against running every demo one after another as it used to?

    python bench/make_demo.py [N]        (default N = 3)

Measured side by side, alternating, N times each:
  sequential  ipc run all -j 1           every demo, one at a time, not traced (make demo before)
  make demo   ipc run all --report DIR   every demo, one per CPU at a time, each under strace, then the
                                         report with every sequence diagram and every step-through page
  parallel    ipc run all                as make demo, but neither traced nor drawn: what running
                                         several at once gives by itself, the floor for make demo
Printed: median and spread (min-max) of each, and the ratios to the sequential run. Aim: make demo
in at most half the time of the sequential run. The machine's load is printed with each figure: on a
shared 2-CPU machine other work slows them all.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
IPC = [sys.executable, "-m", "ipc"]
AIM = 0.5  # make demo at most half the sequential run: not reached on 2 CPUs, see the figures


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=900)
    if done.returncode != 0:
        said = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{said}")
    return time.perf_counter() - start


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if runs < 1:
        print("usage: make_demo.py [N], N at least 1", file=sys.stderr)
        return 2
    directory = tempfile.mkdtemp(prefix="ipc-bench-report-")
    sequential, together, untraced, loads = [], [], [], []
    try:
        for _ in range(runs):
            loads.append(os.getloadavg()[0])
            sequential.append(timed([*IPC, "run", "all", "-j", "1", "-q"]))
            together.append(timed([*IPC, "run", "all", "-q", "--report", directory]))
            untraced.append(timed([*IPC, "run", "all", "-q"]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    ratio = statistics.median(together) / statistics.median(sequential)
    floor = statistics.median(untraced) / statistics.median(sequential)
    print(f"{runs} runs each, alternating; load average at each start: {', '.join(f'{load:.2f}' for load in loads)}")
    print(f"sequential (ipc run all -j 1):            {_figure(sequential)} s")
    print(f"make demo (-j {os.cpu_count()}, traced, report):        {_figure(together)} s")
    print(f"parallel (-j {os.cpu_count()}, not traced, no report):  {_figure(untraced)} s")
    verdict = "met" if ratio <= AIM else "NOT met"
    print(f"make demo / sequential: {ratio:.2f} (aim: at most {AIM}: {verdict})")
    print(f"parallel / sequential:  {floor:.2f} (what running {os.cpu_count()} at once gives, with no tracing at all)")
    return 0


def _figure(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} (min {min(values):.2f}, max {max(values):.2f})"


if __name__ == "__main__":
    sys.exit(main())
