"""What does ipc watch cost a command that writes a lot to stderr? Its output passes through ipc watch.

    python bench/watch_passthrough.py [N]        (default N = 7)

Commands writing 10 MB to stderr, in lines of 100 bytes, 1 KB and 64 KiB, as
fast as Python can (about 0.05 s), and one that works while it logs (10 MB
over about a second). Each is timed N times on its own and N times under
ipc watch, alternating, so both see the same machine; stderr goes to
/dev/null either way. Printed: median and spread (min-max) of each, the
ratio of the medians (to the command alone, and to the same command whose
stderr goes into a pipe that cat empties, as it goes into ipc watch's pipe),
and the pass-through cost: the time under ipc watch
beyond ipc watch's own start (ipc watch -- python -c pass), less what the
command needs beyond Python's start (python -c pass).

Target: 10 MB passes through at a cost that grows with the bytes only (it
took 31 s for one 64 KiB line when each line was searched again and again),
and a command that works while it logs runs within 1.2x of its own time.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOTAL = 10 * 1024 * 1024
TARGET = 1.2
FAST = "import sys; line = b'a' * ({size} - 1) + b'\\n'; w = sys.stderr.buffer.write\nfor _ in range({count}): w(line)"
WORKING = (
    "import sys, hashlib; line = b'a' * 99 + b'\\n'; w = sys.stderr.buffer.write\n"
    "for i in range({count}):\n    w(line)\n    [hashlib.sha1(line).digest() for _ in range(8)]"
)
WATCH = [sys.executable, "-m", "ipc", "watch", "--"]


def timed(argv: list[str], into_cat: bool = False) -> float:
    """Seconds for argv to run, its stderr into /dev/null, or into a pipe that cat drains (as ipc watch's is)."""
    start = time.perf_counter()
    if into_cat:
        cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        subprocess.run(argv, stderr=cat.stdin, check=True, cwd=ROOT, timeout=300)
        cat.stdin.close()
        cat.wait(60)
    else:
        subprocess.run(argv, stderr=subprocess.DEVNULL, check=True, cwd=ROOT, timeout=300)
    return time.perf_counter() - start


def side_by_side(command: list[str], runs: int) -> tuple[list[float], list[float], list[float]]:
    alone, piped, watched = [], [], []
    for _ in range(runs):
        alone.append(timed(command))
        piped.append(timed(command, into_cat=True))
        watched.append(timed([*WATCH, *command]))
    return alone, piped, watched


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    if runs < 1:
        print("usage: watch_passthrough.py [N], N at least 1", file=sys.stderr)
        return 2
    print(f"10 MB of stderr, {runs} runs each, alternating; seconds: median (min-max); load {os.getloadavg()[0]:.2f}")
    python_start, _, watch_start = (statistics.median(x) for x in side_by_side([sys.executable, "-c", "pass"], runs))
    print(f"start-up alone: python {python_start:.3f}, ipc watch -- python {watch_start:.3f}")
    print(
        f"{'command':>23}  {'alone':>20}  {'alone, 2>&1 | cat':>20}  {'under ipc watch':>20}  "
        f"{'ratio':>6}  {'vs | cat':>8}  {'pass-through':>12}"
    )
    commands = [
        (f"fast, lines of {size} B", FAST.format(size=size, count=TOTAL // size)) for size in (100, 1024, 65536)
    ]
    commands.append(("working, lines of 100 B", WORKING.format(count=TOTAL // 100)))
    ratio = 0.0
    for label, code in commands:
        alone, piped, watched = side_by_side([sys.executable, "-c", code], runs)
        ratio = statistics.median(watched) / statistics.median(alone)
        vs_pipe = statistics.median(watched) / statistics.median(piped)
        cost = (statistics.median(watched) - watch_start) - (statistics.median(alone) - python_start)
        print(
            f"{label:>23}  {_figure(alone):>20}  {_figure(piped):>20}  {_figure(watched):>20}  "
            f"{ratio:>5.2f}x  {vs_pipe:>7.2f}x  {cost * 1000:>9.0f} ms"
        )
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"a command that works while it logs: {ratio:.2f}x its own time; target {TARGET}x {verdict}")
    return 0 if ratio <= TARGET else 1


def _figure(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    sys.exit(main())
