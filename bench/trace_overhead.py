"""What does tracing cost? Runs a demo plain and under strace, N times each, side by side, and prints figures.

    python bench/trace_overhead.py [N] [SCRIPT]     (default N = 10, SCRIPT = demos/pipe_fork.py)

Four ways of running the same program, interleaved round by round so that a
busy machine slows them alike:
  plain        the program alone
  every call   strace -f -ttt -T -yy -s 4096: every system call stops the program
  selected     the same with -e trace=... (ipc.trace.names.TRACED_CALLS): fewer lines,
               but the kernel still stops the program at every call for strace to look
  seccomp-bpf  the same with --seccomp-bpf: the kernel stops it only at the selected
               calls
  + sources    the same, the program loading the start-up hook that keeps a record of
               each call's line (ipc/inject, ipc.trace.sources): what ipc trace -- runs
For each: the median and the spread (min-max) of the wall time, the ratio of
medians to plain, and how many lines strace wrote. Then the time to build the
model from the last trace and to draw it.

Then the same program as the harness runs it (ipc trace NAME, make demo), when
the catalog has a demo that runs SCRIPT by itself: untraced, traced from its
main() (ipc.attach: what the harness does) without and with the records of each
call's line, and traced from its start (ipc trace --all): the wall time of the
whole run, and the CPU its processes used (strace's too).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc.inject import with_hook  # noqa: E402
from ipc.trace import build  # noqa: E402
from ipc.trace.picture import render  # noqa: E402
from ipc.trace.runner import check_strace, strace_argv  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    script = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "demos", "pipe_fork.py")
    if runs < 1:
        print("usage: trace_overhead.py [N] [SCRIPT], N at least 1", file=sys.stderr)
        return 2
    seccomp = check_strace()
    program = [sys.executable, script]
    with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryDirectory(prefix="ipc-calls-") as records:
        output = os.path.join(directory, "trace.txt")
        ways = {
            "plain": program,
            "every call": strace_argv(program, output, every_call=True),
            "selected": strace_argv(program, output, seccomp=False),
            "seccomp-bpf": strace_argv(program, output, seccomp=seccomp),
            "+ sources": strace_argv(program, output, seccomp=seccomp),
        }
        hooked = with_hook(os.environ, records)
        times: dict = {name: [] for name in ways}
        lines: dict = {name: 0 for name in ways}
        for _ in range(runs):
            for name, argv in ways.items():
                env = hooked if name == "+ sources" else os.environ
                start = time.perf_counter()
                # No timeout: Popen.wait(timeout) polls in steps of up to 50 ms, which would be measured too.
                # A run that hangs is ended with Ctrl-C (the program is in our process group).
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
                times[name].append(time.perf_counter() - start)
                if name != "plain":
                    with open(output, encoding="utf-8", errors="replace") as file:
                        text = file.read()
                    lines[name] = text.count("\n")
        plain = statistics.median(times["plain"])
        print(
            f"{os.path.basename(script)}, {runs} runs of each, interleaved; {os.cpu_count()} CPUs; "
            f"seccomp-bpf {'works' if seccomp else 'does not work here'}"
        )
        print(f"{'way':<12} {'median ms':>10} {'min-max ms':>16} {'x plain':>8} {'strace lines':>13}")
        for name, values in times.items():
            median = statistics.median(values)
            spread = f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
            count = str(lines[name]) if lines[name] else "-"
            print(f"{name:<12} {median * 1000:>10.1f} {spread:>16} {median / plain:>8.2f} {count:>13}")
        start = time.perf_counter()
        trace = build([text])
        built = time.perf_counter() - start
        start = time.perf_counter()
        render(trace)
        drawn = time.perf_counter() - start
        print(
            f"model from the last trace ({lines['+ sources']} lines, {len(trace.calls)} calls, "
            f"{len(trace.messages)} messages): built in {built * 1000:.0f} ms, drawn in {drawn * 1000:.0f} ms"
        )
    through_the_harness(runs, os.path.basename(script))
    return 0


def through_the_harness(runs: int, script: str) -> None:
    from ipc import catalog  # noqa: E402 (psutil is needed from here on)
    from ipc.harness import run_demo

    demo = next((d for d in catalog.all_demos() if d.server is None and d.client.path.name == script), None)
    if demo is None:
        print(f"\nno demo of the catalog runs {script} by itself: not run through the harness")
        return
    from ipc.trace.runner import Recording

    ways = {
        "untraced": {},
        "main, no src": {"trace": True},  # without the records of each call's line
        "from main()": {"trace": True},
        "from start": {"trace": True, "trace_startup": True},
    }
    wall: dict = {name: [] for name in ways}
    cpu: dict = {name: [] for name in ways}
    for _ in range(runs):
        for name, options in ways.items():
            Recording.sources = name != "main, no src"
            before, start = _children_cpu(), time.perf_counter()
            result = run_demo(demo, fix=False, **options)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - before)
            if not result.ok:
                raise SystemExit(f"{demo.name} failed ({name}): {result.problems}")
    print(f"\nthrough the harness (ipc run {demo.name}, ipc trace {demo.name}), {runs} runs of each, interleaved")
    print(f"{'way':<12} {'wall ms':>10} {'min-max ms':>16} {'CPU ms':>10} {'min-max ms':>16}")
    for name in ways:
        print(f"{name:<12} {_figure(wall[name])} {_figure(cpu[name])}")


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _figure(values: list) -> str:
    return f"{statistics.median(values) * 1000:>10.1f} {f'{min(values) * 1000:.0f}-{max(values) * 1000:.0f}':>16}"


if __name__ == "__main__":
    sys.exit(main())
