"""The ``ipc`` command (also ``python -m ipc``).

    ipc list                  one line per demo: name, then what it shows
    ipc run NAME [NAME...]    run demos through the harness and check them
    ipc run all               run every demo
    ipc run deadlocks         run every broken demo: each deadlock explained, then its fix
    ipc watch -- COMMAND [ARG...]
                              run any command; if it deadlocks, explain it and end it
    ipc trace NAME | -- COMMAND [ARG...]
                              run a demo or any command under strace; draw its processes, calls, messages

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
TRACE_EPILOG = """exit codes: the command's own (128+N if signal N ended it); 3 its processes deadlocked
(the picture shows where; they were ended); 124 --timeout ended it; 126 cannot run it;
127 not found; 2 usage error, or strace missing or not permitted; 130 interrupted; 143 terminated.
ipc trace NAME exits as ipc run: 0 when the demo did what it should (a broken one: it deadlocked).
examples: ipc trace pipe;  ipc trace -- sh -c 'printf "a\\nb\\n" | tr a-z A-Z'"""


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
    trace = commands.add_parser(
        "trace", help="run a demo or any command under strace; draw its processes, calls and messages",
        description="Run a demo (NAME, as 'ipc list' names them) or COMMAND under strace and draw what the "
                    "kernel did: a lane per process, its calls (the kernel's names, the lecture's beside them), "
                    "an arrow from each write to the read that took its bytes, and every wait with what ended it.",
        epilog=TRACE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    trace.add_argument("--all", action="store_true", help="every traced call, start-up and housekeeping too")
    trace.add_argument("--notes", action="store_true", help="each program's own log lines, beside its lane")
    trace.add_argument("--width", type=int, metavar="COLUMNS", help="the picture's width (default: the terminal's)")
    trace.add_argument("--rows", type=int, default=400, metavar="N",
                       help="draw at most N rows, the first and the last (default 400; 0: all)")
    trace.add_argument("--json", metavar="FILE", help="also write the model as JSON to FILE")
    trace.add_argument("--timeout", type=float, metavar="SECONDS", help="end the command after this long")
    trace.add_argument("argv", nargs=argparse.REMAINDER, metavar="NAME | -- COMMAND [ARG...]")
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
        if args.command == "trace":
            return trace_command(args)
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


def trace_command(args: argparse.Namespace) -> int:
    """ipc trace: run under strace, then print the picture (and --json); exit with the command's code."""
    import json
    import shutil

    from .trace import export, picture, runner, waits

    if args.argv[:1] != ["--"] and len(args.argv) > 1:  # ipc trace NAME --json FILE: options after the name
        name, args = args.argv[0], build_parser().parse_args(["trace", *args.argv[1:]])
        args.argv = [name] + args.argv
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    demo = catalog.find(command)[0] if command == args.argv and len(command) == 1 and command[0] in {
        d.name for d in catalog.all_demos()} else None
    if not command or (demo is None and command == args.argv):
        print("ipc trace: give a demo's name (ipc list) or a command: ipc trace -- COMMAND [ARG...]", file=sys.stderr)
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _stop_trace)
    try:
        if demo is not None and demo.unavailable is not None and (why := demo.unavailable()):
            print(f"ipc trace: {demo.name} cannot run here: {why}", file=sys.stderr)
            return EXIT_OK
        if demo is not None:
            from .trace.demo import trace_demo
            traced = trace_demo(demo, timeout=args.timeout, err=sys.stderr)
        else:
            traced = runner.trace_command(command, timeout=args.timeout, stop_when=waits.deadlocked)
    except runner.TraceError as error:
        print(f"ipc trace: {error}", file=sys.stderr)
        return error.code
    tty = sys.stdout.isatty()
    width = args.width or (shutil.get_terminal_size((100, 24)).columns if tty else 100)
    sys.stdout.write(picture.render(traced.trace, width=max(width, 40), colour=tty and not os.environ.get("NO_COLOR"),
                                    everything=args.all, notes=args.notes, rows=args.rows or None))
    if traced.ended:
        print(f"ipc trace: {traced.ended}: every traced process was ended", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(export.to_json(traced.trace), file, indent=1, ensure_ascii=False)
    codes = {"deadlock": 3, "timeout": 124, "interrupted": EXIT_INTERRUPTED, "terminated": EXIT_TERMINATED}
    if demo is not None:  # as ipc run: 0 when the demo did what it should (a broken one: it deadlocked)
        codes.update(deadlock=traced.code, timeout=EXIT_FAILED)
    return codes.get(traced.ended, traced.code)


def _stop_trace(signum: int, frame: object) -> None:
    from .trace.runner import Stopped
    raise Stopped()
