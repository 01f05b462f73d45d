"""The ``ipc`` command (also ``python -m ipc``).

    ipc list                  one line per demo: name, then what it shows
    ipc run NAME [NAME...]    run demos through the harness and check them
    ipc run all               run every demo

Exit codes:
    0    every demo did what it should
    1    a check failed (the output says what differed)
    2    usage error (an unknown demo, a bad option)
    130  interrupted (Ctrl-C); everything started was ended and cleaned up
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from typing import Optional, Sequence, TextIO

from . import catalog
from .catalog import Demo

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    except KeyboardInterrupt:
        print("ipc: interrupted; every process it started was ended", file=sys.stderr)
        return EXIT_INTERRUPTED
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

    try:
        demos = catalog.find(args.names)
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
