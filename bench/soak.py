"""The soak: `ipc run all` many times, several at once; then what failed, and what was left behind.

    python bench/soak.py [--runs 200] [--parallel 4] [--jobs 1] [--report] [--deadline SECONDS] [--log DIR]

Each run is `python -m ipc run all -j JOBS` (JOBS demos at once within the run; with --report, make demo's
way: each demo traced, the report written into the soak's TMPDIR and removed) with a TMPDIR of the
soak's own (so every temporary directory the harness and the demos make is in one place) and a tag in
its environment (so every process it starts is found again, even one that escaped to init). At the end it reports:
  runs      how many passed and failed, and which demos failed how often (a failed run's whole output is
            kept in --log, bench/soak-logs by default);
  time      the median and spread of a run's wall time;
  left      processes that carry the tag, anything left in the soak's TMPDIR, network namespaces named
            like the two-hosts demo's whose owner is gone, and fds of this process opened and not closed.
Exit code: 0 when nothing failed and nothing was left, 1 otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
TAG = "IPC_SOAK_TAG"
FAILED_ROW = re.compile(r"^== (\S+): FAILED")  # how ipc run says a demo failed, whatever else it prints


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd")}


def namespaces() -> set[str]:
    if not shutil.which("ip"):
        return set()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def tagged(tag: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(TAG) == tag:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return [process for process in found if process.is_running() and process.status() != psutil.STATUS_ZOMBIE]


def one_run(number: int, env: dict, deadline: float, log: Path, jobs: int, report: bool) -> tuple[int, float, list]:
    """One `ipc run all -j JOBS`: (exit code, seconds, the demos it says FAILED)."""
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix="report-", dir=env["TMPDIR"]) if report else None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ipc", "run", "all", "-j", str(jobs), *(["--report", directory] if report else [])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=deadline,
        )
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        code, out = -1, f"still running after {deadline:g} s\n{expired.stdout or ''}"
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    seconds = time.monotonic() - started
    failed = [m[1] for line in out.splitlines() if (m := FAILED_ROW.match(line))]
    if code != 0:
        log.mkdir(parents=True, exist_ok=True)
        (log / f"run-{number:03d}.txt").write_text(out)
    return code, seconds, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="how many runs of ipc run all (default 200)")
    parser.add_argument("--parallel", type=int, default=4, help="how many at once (default 4)")
    parser.add_argument("--jobs", type=int, default=1, help="each run's own -j: demos at once within it (default 1)")
    parser.add_argument("--report", action="store_true", help="each run traced, with its report (make demo's way)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds one run may take (default 600)")
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "soak-logs", help="where failed runs' output goes")
    args = parser.parse_args()
    if args.runs < 1 or args.parallel < 1 or args.jobs < 1 or not args.deadline > 0:
        parser.error("--runs and --parallel take a whole number of at least 1, --deadline a positive number")

    tag, tmpdir = uuid.uuid4().hex, tempfile.mkdtemp(prefix="ipc-soak-")
    env = {**os.environ, TAG: tag, "TMPDIR": tmpdir, "PYTHONPATH": str(ROOT)}
    fds_before, namespaces_before = open_fds(), namespaces()
    print(
        f"soak: {args.runs} runs of `ipc run all -j {args.jobs}{' --report DIR' * args.report}`, "
        f"{args.parallel} at once, on {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.1f}); TMPDIR {tmpdir}",
        flush=True,
    )
    results, started = [], time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        settings = (env, args.deadline, args.log, args.jobs, args.report)
        futures = {pool.submit(one_run, n, *settings): n for n in range(1, args.runs + 1)}
        for future in concurrent.futures.as_completed(futures):
            code, seconds, failed = future.result()
            results.append((futures[future], code, seconds, failed))
            verdict = "ok" if code == 0 else f"FAILED (exit {code}: {', '.join(failed) or 'see its log'})"
            print(
                f"run {futures[future]:3d}: {verdict} in {seconds:.1f} s  [{len(results)}/{args.runs} done]", flush=True
            )
    wall = time.monotonic() - started

    time.sleep(1.0)  # what a run's processes still had to do when it returned (their own cleanup): let them
    left_processes = tagged(tag)
    left_files = sorted(str(path.relative_to(tmpdir)) for path in Path(tmpdir).rglob("*"))
    left_namespaces = sorted(
        name
        for name in namespaces() - namespaces_before
        if (m := re.fullmatch(r"ipc-[ab]-(\d+)", name)) and not psutil.pid_exists(int(m[1]))
    )
    left_fds = sorted(open_fds() - fds_before)
    for process in left_processes:
        process.kill()
    shutil.rmtree(tmpdir, ignore_errors=True)

    seconds = sorted(result[2] for result in results)
    failures = [result for result in results if result[1] != 0]
    by_demo = Counter(name for result in failures for name in result[3])
    print(
        f"\nsoak: {len(results) - len(failures)} of {len(results)} runs passed, {len(failures)} failed, "
        f"in {wall / 60:.1f} min"
    )
    print(
        f"  one run: median {statistics.median(seconds):.1f} s, fastest {seconds[0]:.1f} s, slowest "
        f"{seconds[-1]:.1f} s, quartiles {statistics.quantiles(seconds, n=4)[0]:.1f}-"
        f"{statistics.quantiles(seconds, n=4)[2]:.1f} s"
        if len(seconds) > 1
        else ""
    )
    if by_demo:
        print("  failed demos: " + ", ".join(f"{name} ({count}x)" for name, count in by_demo.most_common()))
    if failures:
        print(f"  the output of each failed run is in {args.log}")
    print(
        f"  left behind: {len(left_processes)} processes {[p.pid for p in left_processes]}, "
        f"{len(left_files)} files {left_files[:10]}, {len(left_namespaces)} network namespaces "
        f"{left_namespaces}, {len(left_fds)} fds of the caller {left_fds}"
    )
    return 0 if not failures and not (left_processes or left_files or left_namespaces or left_fds) else 1


if __name__ == "__main__":
    sys.exit(main())
