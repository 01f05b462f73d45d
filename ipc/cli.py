"""The ``ipc`` command (also ``python -m ipc``).

    ipc list                  one line per demo: name, then what it shows
    ipc run NAME [NAME...]    run demos through the harness and check them
    ipc run all               run every demo
    ipc run deadlocks         run every broken demo: each deadlock explained, then its fix
    ipc watch -- COMMAND [ARG...]
                              run any command; if it deadlocks, explain it and end it
    ipc bench [MECHANISM...]  how fast each mechanism is, Python beside C, every byte checked

Exit codes of ipc list and ipc run:
    0    every demo did what it should (a broken demo: it deadlocked as
         expected, the diagnosis said so, and its fix passed)
    1    a check failed (the output says what differed)
    2    usage error (an unknown demo, a bad option)
    130  interrupted (Ctrl-C); everything started was ended and cleaned up

Exit codes of ipc watch:
    the command's own exit code (128+N if signal N ended it), when it ended
         by itself, however long it took
    3    the command's processes deadlocked: the diagnosis is on stderr, and
         every process of its tree was ended (a command that exits 3 by
         itself is told apart by that diagnosis)
    126  the command cannot be run;  127  the command was not found
    2    usage error;  130  interrupted (Ctrl-C), 143  terminated (SIGTERM):
         every process of the tree was ended
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import sys
from typing import Optional, Sequence, TextIO

from . import catalog
from .catalog import Demo

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
WATCH_EPILOG = """exit codes: the command's own (128+N if signal N ended it); 3 it deadlocked: the
diagnosis is on stderr and every process of its tree was ended; 126 cannot run it;
127 not found; 2 usage error; 130 interrupted; 143 terminated.
example: ipc watch -- sh demos/broken/pipeline_loop.sh"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipc", description=__doc__.split("\n\n")[0].strip(),
        epilog="exit codes: 0 all checks passed, 1 a check failed, 2 usage error, 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="list the demos")
    listing.add_argument("--markdown", action="store_true", help="as the README's table")
    listing.add_argument("--update-readme", metavar="FILE", help="rewrite the table in FILE (make readme)")
    run = commands.add_parser("run", help="run demos and check them")
    run.add_argument("names", nargs="+", metavar="NAME", help="a demo name (see 'ipc list'), or 'all'")
    run.add_argument("--repeat", type=int, default=1, metavar="N", help="run each demo N times")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="end each run after this long")
    watch = commands.add_parser(
        "watch", help="run any command; explain and end it if it deadlocks",
        description="Run COMMAND, watch its whole process tree, and if every process blocks waiting for "
                    "another of them, print a diagnosis, end the tree and exit 3.",
        epilog=WATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    watch.add_argument("--no-proc", action="store_true",
                       help="do not read /proc: the plainer psutil fallback other systems get")
    watch.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    bench = commands.add_parser(
        "bench", help="measure each mechanism: round trips and streams, Python beside C",
        description="Round-trip latency (p50/p90/p99/max) and stream throughput per mechanism, size and "
                    "implementation (C, raw Python, the project's stack), every byte checked. Exit 1 if a "
                    "measurement lost or corrupted a byte (or stalled); skipped rows say why.")
    bench.add_argument("mechanisms", nargs="*", metavar="MECHANISM", help="pipe fifo socketpair unix unix-dgram "
                       "tcp4 tcp6 udp files mp-pipe mp-queue shm shm-spin (default: all)")
    bench.add_argument("--sizes", metavar="BYTES,...", help="frame sizes (default 64,4096,65536,1048576)")
    bench.add_argument("--quick", action="store_true", help="fewer sizes, shorter and fewer samples (under 30 s)")
    bench.add_argument("--placements", metavar="P,...", help="unpinned,same-cpu,two-cpus (default: all three)")
    bench.add_argument("--json", metavar="FILE", help="write every summary and the machine description as JSON")
    bench.add_argument("--svg", metavar="FILE", help="write the chart as SVG")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list" and args.update_readme:
            return update_readme(args.update_readme)
        if args.command == "list":
            return list_demos(args.markdown, sys.stdout)
        if args.command == "run":
            return run_demos(args, sys.stdout)
        if args.command == "watch":
            return watch_command(args)
        if args.command == "bench":
            return bench_command(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        print("ipc: interrupted; every process it started was ended", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("ipc: terminated; every process it started was ended", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:  # the reader of our output went away (ipc run all | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush does not fail again
        return EXIT_FAILED
    return EXIT_USAGE


def list_demos(markdown: bool, out: TextIO) -> int:
    demos = catalog.all_demos()
    if markdown:
        print("| demo | mechanism | what it teaches | make target | script(s) |", file=out)
        print("|---|---|---|---|---|", file=out)
        for demo in demos:
            scripts = ", ".join(f"`demos/{script}`" for script in demo.scripts)
            print(f"| {demo.name} | {demo.mechanism} | {demo.teaches} | `make {demo.make_target}` | {scripts} |", file=out)
        return EXIT_OK
    width = max(len(demo.name) for demo in demos)
    for demo in demos:
        print(f"{demo.name:<{width}}  {demo.mechanism}: {demo.teaches}", file=out)
    return EXIT_OK


TABLE = re.compile(r"(<!-- demo-table:start.*?-->\n).*?(<!-- demo-table:end -->)", re.S)


def update_readme(path: str) -> int:
    table = io.StringIO()
    list_demos(markdown=True, out=table)
    with open(path, encoding="utf-8") as file:
        text = file.read()
    if not TABLE.search(text):
        print(f"ipc: {path} has no demo-table markers", file=sys.stderr)
        return EXIT_USAGE
    with open(path, "w", encoding="utf-8") as file:
        file.write(TABLE.sub(lambda m: m.group(1) + table.getvalue() + m.group(2), text))
    return EXIT_OK


def run_demos(args: argparse.Namespace, out: TextIO) -> int:
    from .harness import run_demo  # psutil is needed from here on, not for 'ipc list'

    broken = [demo.name for demo in catalog.all_demos() if demo.kind == "deadlock"]
    names = [name for given in args.names for name in (broken if given == "deadlocks" else [given])]
    try:
        demos = catalog.find(names)
    except KeyError as unknown:
        print(f"ipc: no demo named {unknown}; 'ipc list' shows them", file=sys.stderr)
        return EXIT_USAGE
    if args.repeat < 1:
        print("ipc: --repeat takes a whole number of at least 1", file=sys.stderr)
        return EXIT_USAGE
    results = []
    for round_ in range(args.repeat):
        for demo in demos:
            if not args.quiet:
                print(f"== {demo.name}: {demo.mechanism} ({', '.join('demos/' + s for s in demo.scripts)})", file=out)
            result = run_demo(demo, out=None if args.quiet else out, timeout=args.timeout)
            results.append(result)
            if not args.quiet:
                print_verdict(result, out)
    print_summary(results, out)
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def print_verdict(result, out: TextIO) -> None:
    name = result.demo.name
    if result.skipped:
        print(f"== {name}: skipped: {result.skipped}\n", file=out)
    elif result.ok and "deadlock" in result.details and result.demo.kind == "deadlock":
        diagnosis, fixed = result.details["deadlock"], result.details.get("fixed")
        print(f"== {name}: ok: it deadlocked as expected ({diagnosis.cycle_text()}), reported at most "
              f"{diagnosis.latency:.2f} s after it formed; whole run {result.seconds:.2f} s", file=out)
        if fixed is not None:
            messages = f"{fixed.messages} messages, " if fixed.messages else ""
            print(f"== {name}: its fix, {fixed.demo.name}, passed ({messages}{fixed.seconds:.2f} s)", file=out)
        print(file=out)
    elif result.ok:
        print(f"== {name}: ok ({result.messages} messages, {result.seconds:.2f} s)\n", file=out)
    else:
        print(f"== {name}: FAILED", file=out)
        for problem in result.problems:
            print(f"   - {problem}", file=out)
        print(file=out)


def print_summary(results: list, out: TextIO) -> None:
    rows = [("demo", "mechanism", "messages", "result", "time")]
    for result in results:
        rows.append((result.demo.name, result.demo.mechanism, str(result.messages),
                     result.verdict, f"{result.seconds:.2f} s"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) if i != 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)
    failed = sum(1 for result in results if not result.ok)
    skipped = sum(1 for result in results if result.skipped)
    print(f"{len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped", file=out)


class _Terminated(BaseException):
    """SIGTERM arrived: end what was started, then exit 143."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated()


def watch_command(args: argparse.Namespace) -> int:
    from .watch import WatchError, watch  # psutil is needed from here on

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print("ipc watch: give a command to run: ipc watch -- COMMAND [ARG...]", file=sys.stderr)
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _terminate)  # so the command's processes are ended, not orphaned
    try:
        outcome = watch(command, use_proc=False if args.no_proc else None)
    except WatchError as error:
        print(f"ipc watch: {error}", file=sys.stderr)
        return error.code
    return outcome.code


def bench_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import time

    from .bench import chart, machine, report, runner

    mechanisms = args.mechanisms or list(runner.MECHANISMS)
    unknown = [name for name in mechanisms if name not in runner.MECHANISMS]
    placements = args.placements.split(",") if args.placements else list(runner.PLACEMENTS)
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",")}) if args.sizes else \
            list(runner.QUICK_SIZES if args.quick else runner.DEFAULT_SIZES)
    except ValueError:
        sizes = []
    if unknown or not sizes or not all(16 <= size <= 64 << 20 for size in sizes) or \
            not set(placements) <= set(runner.PLACEMENTS):
        problem = (f"no mechanism named {unknown[0]!r}; choose from {' '.join(runner.MECHANISMS)}" if unknown else
                   "--sizes takes whole numbers of bytes from 16 to 67108864, separated by commas" if not sizes or
                   not all(16 <= size <= 64 << 20 for size in sizes) else
                   f"--placements takes {','.join(runner.PLACEMENTS)}")
        print(f"ipc bench: {problem}", file=err)
        return EXIT_USAGE
    settings = runner.QUICK if args.quick else runner.FULL
    specs = runner.plan(mechanisms, sizes, settings, placements)
    info = machine.describe()
    progress = (lambda text: print(f"\r\033[K{text[:150]}", end="", file=err, flush=True)) if err.isatty() else None
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _terminate)  # so workers are ended and files removed
    try:
        outcomes = runner.run(specs, settings, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    elapsed = time.monotonic() - started
    if progress:
        print("\r\033[K", end="", file=err, flush=True)
    info["load_average_end"] = machine.load_average()
    whole = not args.mechanisms and not args.sizes and not args.placements  # the run the time targets are about
    out.write(report.render(outcomes, info, elapsed, args.quick, whole))
    try:
        if args.json:
            with open(args.json, "w", encoding="utf-8") as file:
                file.write(report.as_json(outcomes, info, settings, elapsed, args.quick))
        if args.svg:
            with open(args.svg, "w", encoding="utf-8") as file:
                file.write(chart.render(outcomes, info))
    except OSError as error:
        print(f"ipc bench: cannot write {error.filename}: {error.strerror}", file=err)
        return EXIT_FAILED
    return EXIT_FAILED if any(outcome.status == "failed" for outcome in outcomes) else EXIT_OK
