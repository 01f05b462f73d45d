"""``ipc bench``: the CLI's side of ipc.bench (the parser is ipc.cli's)."""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from .cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def bench_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Measure, print the table, write --json and --svg; 1 if a measurement lost or corrupted a byte."""
    from .bench import chart, machine, report, runner

    mechanisms = args.mechanisms or list(runner.MECHANISMS)
    unknown = [name for name in mechanisms if name not in runner.MECHANISMS]
    placements = args.placements.split(",") if args.placements else list(runner.PLACEMENTS)
    try:
        sizes = (
            sorted({int(size) for size in args.sizes.split(",")})
            if args.sizes
            else list(runner.QUICK_SIZES if args.quick else runner.DEFAULT_SIZES)
        )
    except ValueError:
        sizes = []
    if (
        unknown
        or not sizes
        or not all(16 <= size <= 64 << 20 for size in sizes)
        or not set(placements) <= set(runner.PLACEMENTS)
    ):
        problem = (
            f"no mechanism named {unknown[0]!r}; choose from {' '.join(runner.MECHANISMS)}"
            if unknown
            else "--sizes takes whole numbers of bytes from 16 to 67108864, separated by commas"
            if not sizes or not all(16 <= size <= 64 << 20 for size in sizes)
            else f"--placements takes {','.join(runner.PLACEMENTS)}"
        )
        print(f"ipc bench: {problem}", file=err)
        return EXIT_USAGE
    settings = runner.QUICK if args.quick else runner.FULL
    specs = runner.plan(mechanisms, sizes, settings, placements)
    info = machine.describe()
    progress = (lambda text: print(f"\r\033[K{text[:150]}", end="", file=err, flush=True)) if err.isatty() else None
    started = time.monotonic()
    outcomes = runner.run(specs, settings, progress)  # SIGTERM raises (ipc.cli): its workers are ended first
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
