"""``ipc trace NAME`` and ``ipc trace -- COMMAND``: the CLI's side of ipc.trace (the parser is ipc.cli's).

A demo is run as ``ipc run NAME`` runs it (server first, readiness, checks,
cleanup: the harness), each of its programs under strace; any other command
runs under strace directly. Then the picture of what the kernel did, and the
files asked for (--json). Exit codes: see ipc.cli.TRACE_EPILOG.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from typing import Callable, Optional

from . import catalog
from .cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, STOPPED, print_verdict
from .trace import export, picture, runner
from .trace.model import Trace

USAGE = "ipc trace: give a demo's name (ipc list) or a command: ipc trace -- COMMAND [ARG...]"


def trace_command(args: argparse.Namespace, build_parser: Callable[[], argparse.ArgumentParser]) -> int:
    if args.argv[:1] != ["--"] and len(args.argv) > 1:  # ipc trace NAME --json FILE: options after the name
        name, args = args.argv[0], build_parser().parse_args(["trace", *args.argv[1:]])
        args.argv = [name] + args.argv
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    names = {demo.name for demo in catalog.all_demos()}
    if command == args.argv:  # no "--": a demo's name
        if len(command) != 1 or command[0] not in names:
            print(USAGE, file=sys.stderr)
            return EXIT_USAGE
        if getattr(args, "beside", None):
            if args.beside not in names:
                print(f"ipc trace: no demo named {args.beside!r} to draw beside {command[0]}; 'ipc list' shows them",
                      file=sys.stderr)  # fmt: skip
                return EXIT_USAGE
            return trace_beside(catalog.find(command)[0], catalog.find([args.beside])[0], args)
        return trace_demo(catalog.find(command)[0], args)
    if not command:
        print(USAGE, file=sys.stderr)
        return EXIT_USAGE
    return trace_other(command, args)


def trace_demo(demo: catalog.Demo, args: argparse.Namespace) -> int:
    """As ipc run NAME, each program under strace; then the picture. Exits as ipc run (a broken demo: 0
    when it deadlocked as expected; its fix is not traced: ipc trace NAME-fixed draws that)."""
    from .harness import run_demo  # psutil is needed from here on

    try:
        result = run_demo(demo, out=sys.stdout, timeout=args.timeout, fix=False, trace=True, trace_startup=args.all,
                          full_data=args.full_data)  # fmt: skip
    except runner.TraceError as error:
        print(f"ipc trace: {error}", file=sys.stderr)
        return error.code
    print_verdict(result, sys.stdout)
    if result.trace is not None:
        trace = runner.model(result.trace_texts, housekeeping=True) if args.all else result.trace
        if draw(trace, args, f"ipc trace {demo.name}", stopped=None if args.all else result.stopped):
            return EXIT_USAGE
    return EXIT_OK if result.ok else EXIT_FAILED


def trace_beside(left: catalog.Demo, right: catalog.Demo, args: argparse.Namespace) -> int:
    """Two demos, each run and traced as ipc trace NAME runs it, drawn side by side (ipc.trace.beside), and
    where their calls differ, with why. --svg and --html write one file each with both."""
    from .harness import run_demo  # psutil is needed from here on
    from .trace import beside, page, svg

    results = []
    for demo in (left, right):
        try:
            result = run_demo(demo, timeout=args.timeout, fix=False, trace=True, full_data=args.full_data)
        except runner.TraceError as error:
            print(f"ipc trace: {error}", file=sys.stderr)
            return error.code
        print_verdict(result, sys.stdout)
        if result.trace is None:
            return EXIT_FAILED
        results.append(result)
    (one, two), title = (r.trace for r in results), beside.title_of(left.name, right.name)
    width = args.width or (shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160)
    column = max(width // 2 - 2, 40)
    pictures = [picture.render(trace, width=column, rows=args.rows or None) for trace in (one, two)]
    sys.stdout.write(beside.terminal(*pictures, left.name, right.name, width=2 * column + 4))
    notes = beside.differences(one, two, left.name, right.name)
    print(f"\nWhere {left.name}'s calls and {right.name}'s differ, and why:")
    print("\n".join(f"  {note}" for note in notes) or "  nowhere: the same calls, with the same flags")
    files = {
        "svg": lambda: beside.svg(svg.render(one, title=left.name, ids="left-"),
                                  svg.render(two, title=right.name, ids="right-"), title, notes),
        "html": lambda: beside.page(page.render(one, title=left.name), page.render(two, title=right.name),
                                    left.name, right.name, notes, title),
    }  # fmt: skip
    for option, make in files.items():
        if path := getattr(args, option, None):
            try:
                with open(path, "w", encoding="utf-8") as file:
                    file.write(make())
            except OSError as error:
                print(f"ipc: cannot write {path}: {error.strerror or error}", file=sys.stderr)
                return EXIT_USAGE
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def trace_other(command: list, args: argparse.Namespace) -> int:
    """Any command under strace, watched as ``ipc watch`` watches it (the same rules say when it is
    deadlocked: then it is explained and ended); its own exit code. Then the picture."""
    from .watch import WatchError, watch  # psutil is needed from here on

    signal.signal(signal.SIGTERM, _stop_trace)
    if runner.native(command[0]) and (missing := runner.why_no_native_lines()):
        print(f"ipc trace: {missing}", file=sys.stderr)  # said once: each call of a compiled program has no line
    stops = {KeyboardInterrupt: STOPPED[signal.SIGINT], runner.Stopped: STOPPED[signal.SIGTERM]}
    try:
        outcome = watch(command, trace=True, timeout=args.timeout, housekeeping=args.all, stop_on=stops,
                        name="ipc trace", full_data=args.full_data)  # fmt: skip
    except WatchError as error:
        print(f"ipc trace: {error}", file=sys.stderr)
        return error.code
    if outcome.trace is None or draw(outcome.trace, args, "ipc trace " + " ".join(command), stopped=outcome.stopped):
        return EXIT_USAGE
    if outcome.why_ended and outcome.why_ended != "deadlock":  # a deadlock was explained, and its ending said
        print(f"ipc trace: {outcome.why_ended}: every traced process was ended", file=sys.stderr)
    return outcome.code


def draw(trace: Trace, args: argparse.Namespace, title: str, stopped: Optional[Trace] = None) -> int:
    """The terminal picture (a deadlock as it stood when it was seen: what ending it did is no lesson),
    then every file asked for; EXIT_USAGE if one cannot be written."""
    tty = sys.stdout.isatty()
    width = args.width or (shutil.get_terminal_size((100, 24)).columns if tty else 100)
    colour = tty and not os.environ.get("NO_COLOR")
    sys.stdout.write(picture.render(stopped or trace, width=max(width, 40), colour=colour, everything=args.all,
                                    notes=args.notes, rows=args.rows or None, stopped=stopped,
                                    source=getattr(args, "source", False)))  # fmt: skip
    if stopped is not None:
        print("(drawn as it stood when the deadlock was seen; then every process was ended)")
    if getattr(args, "json", None):
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(export.to_json(trace), file, indent=1, ensure_ascii=False)
    return write_pictures(stopped or trace, args, title)


def write_pictures(trace, args: argparse.Namespace, title: str = "ipc trace") -> int:
    """Each picture of the model that ``args`` asks for (--svg, --html, --perfetto, --mermaid FILE);
    EXIT_USAGE, said in one line, if a file cannot be written. For ipc trace, run --trace and watch alike."""
    from .trace import mermaid, page, perfetto

    makers = {
        "svg": lambda: _svg(trace, args, title),
        "html": lambda: page.render(trace, title=title),
        "perfetto": lambda: json.dumps(perfetto.to_perfetto(trace), ensure_ascii=False),
        "mermaid": lambda: mermaid.render(trace, title=title),
    }
    for option, make in makers.items():
        if path := getattr(args, option, None):
            made = make()
            files = [(path, made)] if isinstance(made, str) else _numbered(path, made)
            try:
                for name, text in files:
                    with open(name, "w", encoding="utf-8") as file:
                        file.write(text)
            except OSError as error:
                print(f"ipc: cannot write {name}: {error.strerror or error}", file=sys.stderr)
                return EXIT_USAGE
            if len(files) > 1:
                width, height = args.fit
                print(f"{len(files)} slides of {width}x{height}: {', '.join(name for name, _ in files)}")
    return EXIT_OK


def _svg(trace, args: argparse.Namespace, title: str):
    """The SVG asked for: all of it, or steps A to B (--steps), on slides of a size (--fit), in a theme."""
    from .trace import scene, svg

    steps, fit = getattr(args, "steps", None), getattr(args, "fit", None)
    theme = svg.THEMES[getattr(args, "theme", None) or "light"]
    if steps:
        title += f", steps {steps[0]} to {min(steps[1], len(trace.steps))}"
    drawn = scene.layout(trace, None if steps else scene.ROWS, steps)
    if fit is None:
        return svg.draw(drawn, title=title, theme=theme)
    slides = svg.slides(drawn, width=fit[0], height=fit[1], title=title, theme=theme)
    return slides[0] if len(slides) == 1 else slides


def _numbered(path: str, texts: list) -> list:
    """s.svg -> s-1.svg, s-2.svg...: one file per slide."""
    stem, dot, ext = path.rpartition(".")
    stem, ext = (stem, f".{ext}") if dot and "/" not in ext else (path, "")
    return [(f"{stem}-{number}{ext}", text) for number, text in enumerate(texts, 1)]


def _stop_trace(signum: int, frame: object) -> None:
    raise runner.Stopped()
