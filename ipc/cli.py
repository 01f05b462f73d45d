"""The ipc command (also python -m ipc): run, watch, trace, check and measure the demos, or any program.

    ipc list                  one line per demo: name, then what it shows
    ipc run NAME [NAME...]    run demos through the harness and check them
    ipc run all               run every demo
    ipc run deadlocks         run every broken demo: each deadlock explained, then its fix
    ipc watch -- COMMAND [ARG...]
                              run any command; if it deadlocks, explain it and end it
    ipc trace NAME | -- COMMAND [ARG...]
                              run a demo or any command under strace; draw its processes, calls, messages
    ipc bench [MECHANISM...]  how fast each mechanism is, Python beside C, every byte checked
    ipc check MECHANISM --server 'COMMAND' | --client 'COMMAND' | --lint -- COMMAND
                              check anyone's program: against the exchange, and from its system calls

Exit codes of ipc list and ipc run:
    0    every demo did what it should (a broken demo: it deadlocked as
         expected, the diagnosis said so, and its fix passed)
    1    a check failed (the output says what differed)
    2    usage error (an unknown demo, a bad option, a file it cannot write)
    130  interrupted (Ctrl-C), 143 terminated (SIGTERM: kill, timeout, CI),
    129  hung up (SIGHUP: its terminal closed): in each case everything it
         started was ended and cleaned up first

Exit codes of ipc watch:
    the command's own exit code (128+N if signal N ended it), when it ended
         by itself, however long it took
    3    the command's processes deadlocked: the diagnosis is on stderr, and
         every process of its tree was ended (a command that exits 3 by
         itself is told apart by that diagnosis)
    126  the command cannot be run;  127  the command was not found
    2    usage error;  130  interrupted (Ctrl-C), 143  terminated (SIGTERM),
         129  hung up (SIGHUP): every process of the tree was ended
    Processes the command leaves running when it exits (background jobs,
    daemons) are ended too, and named; --keep leaves them running.
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

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STOPPED = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated"), signal.SIGHUP: (129, "hung up")}
WATCH_EPILOG = """exit codes: the command's own (128+N if signal N ended it); 3 it deadlocked: the
diagnosis is on stderr and every process of its tree was ended; 126 cannot run it;
127 not found; 2 usage error; 130 interrupted; 143 terminated; 129 hung up.
Processes the command leaves running when it exits are ended too, and named (--keep: not).
example: ipc watch -- sh demos/broken/pipeline_loop.sh"""
TRACE_EPILOG = """what ends a trace: the command ending; its processes deadlocking (judged as ipc watch judges:
then explained on stderr and ended; a wait on the world outside -- a server waiting for clients, a
terminal, a slow stdin, a timeout -- is no deadlock, and is left to run); --timeout; Ctrl-C.
exit codes: the command's own (128+N if signal N ended it); 3 its processes deadlocked
(the picture shows where; they were ended); 124 --timeout ended it; 126 cannot run it;
127 not found; 2 usage error, or strace missing or not permitted; 130 interrupted; 143 terminated.
ipc trace NAME exits as ipc run: 0 when the demo did what it should (a broken one: it deadlocked).
examples: ipc trace pipe;  ipc trace tcp4 --beside tcp-c;  ipc trace -- sh -c 'printf "a\\nb\\n" | tr a-z A-Z'"""


PICTURES = {
    "svg": "the sequence diagram as SVG, for slides",
    "html": "a step-through page (every fd table and the bytes in flight, step by step)",
    "perfetto": "Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing)",
    "mermaid": "a Mermaid sequenceDiagram",
}


def step_range(text: str) -> tuple:
    """An argparse type: ``A-B``, steps A to B (from 1, as the step-through page numbers them)."""
    first, dash, last = text.partition("-")
    if not (dash and first.isdigit() and last.isdigit()) or not 0 < int(first) <= int(last):
        raise argparse.ArgumentTypeError(f"{text!r}: give a range of steps, FIRST-LAST, such as 10-25")
    return int(first), int(last)


def slide_size(text: str) -> tuple:
    """An argparse type: ``WIDTHxHEIGHT`` in px, such as 1280x720."""
    width, x, height = text.lower().partition("x")
    if not (x and width.isdigit() and height.isdigit()) or int(width) < 320 or int(height) < 200:
        raise argparse.ArgumentTypeError(f"{text!r}: give a slide's size in px, WIDTHxHEIGHT, such as 1280x720")
    return int(width), int(height)


def positive(kind: type):
    """An argparse type: a number above 0 ("--timeout 0" and "--repeat -1" are usage errors)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < float("inf"):  # NaN compares false with everything: refused too
            raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipc",
        description=__doc__.split("\n\n")[0].strip(),
        epilog="exit codes: 0 all checks passed, 1 a check failed, 2 usage error, "
        "130 interrupted, 143 terminated, 129 hung up",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="list the demos")
    listing.add_argument("--markdown", action="store_true", help="as the README's table")
    listing.add_argument("--update-readme", metavar="FILE", help="rewrite the table in FILE (make readme)")
    run = commands.add_parser("run", help="run demos and check them")
    run.add_argument("names", nargs="+", metavar="NAME", help="a demo name (see 'ipc list'), or 'all'")
    run.add_argument("--repeat", type=positive(int), default=1, metavar="N", help="run each demo N times")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the summary")
    run.add_argument(
        "--jobs",
        "-j",
        type=positive(int),
        metavar="N",
        help="run N demos at once (default: one per CPU); demos that must run alone still do",
    )
    run.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="with several demos: print each one's whole transcript when it finishes",
    )
    run.add_argument("--timeout", type=positive(float), metavar="SECONDS", help="end each run after this long")
    run.add_argument(
        "--report",
        metavar="DIR",
        help="trace each demo (where strace is here) and write DIR/index.html: "
        "every demo's verdict, transcript and sequence diagram, and a step-through page for each",
    )
    watch = commands.add_parser(
        "watch",
        help="run any command; explain and end it if it deadlocks",
        description="Run COMMAND, watch its whole process tree, and if every process blocks waiting for "
        "another of them, print a diagnosis, end the tree and exit 3.",
        epilog=WATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watch.add_argument(
        "--no-proc",
        action="store_true",
        help="do not read /proc: the plainer psutil fallback other systems get, which ends nothing",
    )
    watch.add_argument(
        "--still",
        type=positive(float),
        metavar="SECONDS",
        help="without /proc: say what it sees after this long with nothing moving (default 3)",
    )
    watch.add_argument(
        "--keep",
        action="store_true",
        help="leave running what the command leaves running when it exits (default: end it)",
    )
    watch.add_argument(
        "--snapshot",
        metavar="FILE",
        help="write the last state judged (every blocked call, who holds what) and the verdict, as JSON, to FILE",
    )
    for option, what in PICTURES.items():  # under strace, then drawn: a deadlock as it stood when it was seen
        watch.add_argument(f"--{option}", metavar="FILE", help=f"run it under strace and write {what} to FILE")
    watch.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    trace = commands.add_parser(
        "trace",
        help="run a demo or any command under strace; draw its processes, calls and messages",
        description="Run a demo (NAME, as 'ipc list' names them) or COMMAND under strace and draw what the "
        "kernel did: a lane per process, its calls (the kernel's names, the lecture's beside them), "
        "an arrow from each write to the read that took its bytes, and every wait with what ended it.",
        epilog=TRACE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    trace.add_argument("--all", action="store_true", help="every traced call, start-up and housekeeping too")
    trace.add_argument("--notes", action="store_true", help="each program's own log lines, beside its lane")
    trace.add_argument(
        "--source", action="store_true", help="beside each call, the line of the program that made it (file:line)"
    )
    trace.add_argument(
        "--full-data",
        action="store_true",
        help="keep every byte read and written (strace's hex dumps), not only the first 4096 of each call",
    )
    trace.add_argument("--width", type=int, metavar="COLUMNS", help="the picture's width (default: the terminal's)")
    trace.add_argument(
        "--rows",
        type=int,
        default=400,
        metavar="N",
        help="draw at most N rows, the first and the last (default 400; 0: all)",
    )
    trace.add_argument("--json", metavar="FILE", help="also write the model as JSON to FILE")
    for option, what in PICTURES.items():
        trace.add_argument(f"--{option}", metavar="FILE", help=f"also write {what} to FILE")
    trace.add_argument(
        "--steps", type=step_range, metavar="A-B", help="the SVG draws only steps A to B, marking what is left out"
    )
    trace.add_argument(
        "--fit",
        type=slide_size,
        metavar="WxH",
        help="the SVG fits slides of W x H px (1280x720): smaller type, or one file per slide, FILE-1.svg...",
    )
    trace.add_argument("--theme", choices=("light", "dark"), default="light", help="the SVG's colours (default light)")
    trace.add_argument("--timeout", type=float, metavar="SECONDS", help="end the command after this long")
    trace.add_argument(
        "--beside",
        metavar="OTHER",
        help="trace the demo OTHER too and draw the two side by side, saying where their calls differ and why "
        "(ipc trace tcp4 --beside tcp-c: Python and its C twin)",
    )
    trace.add_argument("argv", nargs=argparse.REMAINDER, metavar="NAME | -- COMMAND [ARG...]")
    bench = commands.add_parser(
        "bench",
        help="measure each mechanism: round trips and streams, Python beside C",
        description="Round-trip latency (p50/p90/p99/max) and stream throughput per mechanism, size and "
        "implementation (C, raw Python, the project's stack), every byte checked. Exit 1 if a "
        "measurement lost or corrupted a byte (or stalled); skipped rows say why.",
    )
    bench.add_argument(
        "mechanisms",
        nargs="*",
        metavar="MECHANISM",
        help="pipe fifo socketpair unix unix-dgram tcp4 tcp6 udp files mp-pipe mp-queue shm shm-spin (default: all)",
    )
    bench.add_argument("--sizes", metavar="BYTES,...", help="frame sizes (default 64,4096,65536,1048576)")
    bench.add_argument("--quick", action="store_true", help="fewer sizes, shorter and fewer samples (under 30 s)")
    bench.add_argument("--placements", metavar="P,...", help="unpinned,same-cpu,two-cpus (default: all three)")
    bench.add_argument("--json", metavar="FILE", help="write every summary and the machine description as JSON")
    bench.add_argument("--svg", metavar="FILE", help="write the chart as SVG")
    from .cli_check import add_parser as add_check_parser  # its options live beside its code

    add_check_parser(commands)
    return parser


class _Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: end what was started, then exit 128 + the signal (as Ctrl-C does, 130)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.code, self.why = STOPPED[signum]


def _stop(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # what kill, timeout, CI and a closed terminal send
        if signal.getsignal(sig) != signal.SIG_IGN:  # ignored when we came (nohup ipc ...): it stays ignored
            signal.signal(sig, _stop)  # raised where the run is, so its cleanup ends what it started
    try:
        if args.command == "list" and args.update_readme:
            return update_readme(args.update_readme)
        if args.command == "list":
            return list_demos(args.markdown, sys.stdout)
        if args.command == "run":
            return run_demos(args, sys.stdout)
        if args.command == "watch":
            return watch_command(args)
        if args.command == "trace":
            return trace_command(args)
        if args.command == "bench":
            return bench_command(args)
        if args.command == "check":
            from .cli_check import check_command

            return check_command(args)
    except KeyboardInterrupt:
        return _stopped(*STOPPED[signal.SIGINT])
    except _Stopped as stopped:
        return _stopped(stopped.code, stopped.why)
    except BrokenPipeError:  # the reader of our output went away (ipc run all | head)
        _quiet_stdout()
        return EXIT_FAILED
    except OSError as error:  # a file it was told to write, or its own output (> /dev/full)
        where = error.filename or "its output"
        print(f"ipc: cannot write {where}: {error.strerror or error}", file=sys.stderr)
        _quiet_stdout()
        return EXIT_USAGE
    return EXIT_USAGE


def _stopped(code: int, why: str) -> int:
    print(f"ipc: {why}; every process it started was ended", file=sys.stderr)
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail a second time."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def list_demos(markdown: bool, out: TextIO) -> int:
    demos = catalog.all_demos()
    if markdown:
        print("| demo | mechanism | what it teaches | make target | script(s) |", file=out)
        print("|---|---|---|---|---|", file=out)
        for demo in demos:
            scripts = ", ".join(f"`demos/{script}`" for script in demo.scripts)
            print(f"| {demo.name} | {demo.mechanism} | {demo.teaches} | `make {demo.name}` | {scripts} |", file=out)
        return EXIT_OK
    width = max(len(demo.name) for demo in demos)
    for demo in demos:
        print(f"{demo.name:<{width}}  {demo.mechanism}: {demo.teaches}", file=out)
    return EXIT_OK


TABLE = re.compile(r"(<!-- demo-table:start.*?-->\n).*?(<!-- demo-table:end -->)", re.S)


def update_readme(path: str) -> int:
    table = io.StringIO()
    list_demos(markdown=True, out=table)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        print(f"ipc: cannot read {path}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
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
    if len({demo.name for demo in demos}) > 1 or args.report:
        return run_together(demos, args, out)
    results = []
    for _ in range(args.repeat):
        for demo in demos:
            if not args.quiet:
                print(f"== {demo.name}: {demo.mechanism} ({', '.join('demos/' + s for s in demo.scripts)})", file=out)
            result = run_demo(demo, out=None if args.quiet else out, timeout=args.timeout)
            results.append(result)
            if not args.quiet:
                print_verdict(result, out)
    print_summary(results, out)
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def run_together(demos: list, args: argparse.Namespace, out: TextIO) -> int:
    """Several demos, several at a time: a live table (or plain lines), then failures in full."""
    from .console import Console, wants_live
    from .runner import Runner

    console = Console(out, live=wants_live(out) and not args.quiet, verbose=args.verbose)
    jobs = args.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    trace, untraced = _can_trace() if args.report else (False, "")
    drawer = None
    if args.report:
        from .demo_report import Drawer

        drawer = Drawer(jobs)  # before the runs start their threads: its workers are forked now

    def changed(runner: Runner) -> None:
        if not args.quiet:
            console.update(runner)
        if drawer is not None:
            drawer.draw([entry for entry in runner.entries if entry.round == 0])  # drawn while others run

    try:
        runner = Runner(demos, jobs=jobs, repeat=args.repeat, timeout=args.timeout, trace=trace, on_change=changed)
        results = runner.run()
        console.finish(runner, results)
        if drawer is not None:
            path = drawer.write(args.report, [entry for entry in runner.entries if entry.round == 0], untraced)
            print(f"report: {path}  (open it in a browser: it fetches nothing)", file=out)
    finally:
        if drawer is not None:
            drawer.close()
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def _can_trace() -> tuple[bool, str]:
    """Whether the demos can run under strace here, and if not, why (said in the report, once per demo)."""
    from .trace.runner import TraceError, check_strace

    try:
        check_strace()
    except TraceError as error:
        return False, f"not traced: {error}"
    return True, ""


def print_verdict(result, out: TextIO) -> None:
    name = result.demo.name
    if result.skipped:
        print(f"== {name}: skipped: {result.skipped}\n", file=out)
    elif result.ok and result.diagnosis is not None and result.demo.kind == "deadlock":
        diagnosis, fixed = result.diagnosis, result.fixed
        print(
            f"== {name}: ok: it deadlocked as expected ({diagnosis.cycle_text()}), reported at most "
            f"{diagnosis.latency:.2f} s after it formed; whole run {result.seconds:.2f} s",
            file=out,
        )
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
        rows.append(
            (result.demo.name, result.demo.mechanism, str(result.messages), result.outcome, f"{result.seconds:.2f} s")
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) if i != 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=out)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=out)
    failed = sum(1 for result in results if not result.ok)
    skipped = sum(1 for result in results if result.skipped)
    print(f"{len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped", file=out)


def watch_command(args: argparse.Namespace) -> int:
    from .watch import WatchError, watch  # psutil is needed from here on

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print("ipc watch: give a command to run: ipc watch -- COMMAND [ARG...]", file=sys.stderr)
        return EXIT_USAGE
    pictures = any(getattr(args, option) for option in PICTURES)
    try:
        outcome = watch(command, use_proc=False if args.no_proc else None, quiet=args.still, keep=args.keep,
                        trace=pictures)  # fmt: skip
    except WatchError as error:
        print(f"ipc watch: {error}", file=sys.stderr)
        return error.code
    if args.snapshot and not _write_snapshot(args.snapshot, outcome.judged):
        return EXIT_USAGE
    if pictures and outcome.trace is not None:
        from .cli_trace import write_pictures

        if write_pictures(outcome.stopped or outcome.trace, args, "ipc watch " + " ".join(command)):
            return EXIT_USAGE
    return outcome.code


def _write_snapshot(path: str, judged) -> bool:
    """The last snapshot judged and its finding, as JSON (nothing was judged: every process ran on)."""
    import json

    from .waitfor import finding_to_json, to_json

    data = {"snapshot": None, "finding": None}
    if judged is not None:
        data = {"snapshot": to_json(judged[0]), "finding": finding_to_json(judged[1])}
    try:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
    except OSError as error:
        print(f"ipc: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return False
    return True


def trace_command(args: argparse.Namespace) -> int:
    from .cli_trace import trace_command as traced  # strace's side of the CLI, in a module of its own

    return traced(args, build_parser)


def bench_command(args: argparse.Namespace) -> int:
    from .cli_bench import bench_command as measured  # the benchmark's side of the CLI, in a module of its own

    return measured(args, sys.stdout, sys.stderr)
