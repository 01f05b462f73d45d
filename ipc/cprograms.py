"""The C twins (demos/c/*.c): compiled with the system's cc into build/, never committed.

``make build`` (and ``make demo``, ``make test``) compiles them all; the harness compiles one that is
missing or older than its source (or than demos/c/exchange.h) just before it runs it, so ``ipc run tcp-c``
works from a fresh checkout too. The flags are written here once: cc -Wall -Wextra -O2 -gdwarf-4 (the tests add
-Werror: a warning fails them). Where there is no compiler, every C demo is skipped with one line saying how
to get one. Standard library only: the Makefile runs ``python3 -m ipc.cprograms`` before any virtualenv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "demos" / "c"
BUILD = ROOT / "build"
HEADER = SOURCES / "exchange.h"  # every program includes it: a change to it rebuilds them all
# -gdwarf-4: addr2line names the C line of each traced call; Debian 12's (binutils 2.40) names the wrong file for a
# header's inlined line in gcc 12's default DWARF 5 (exchange.h:138 as tcp_server.c:138).
FLAGS = ("-Wall", "-Wextra", "-O2", "-gdwarf-4")
NO_COMPILER = "no C compiler (cc) here: the C twins are skipped (Debian: apt-get install gcc)"
_building = threading.Lock()  # ipc run -j builds from several threads


class BuildError(Exception):
    """A C program did not compile: the compiler's first error line."""


def compiler() -> Optional[str]:
    """The C compiler to use: $CC, else cc (or gcc, clang) on PATH; None when there is none."""
    named = os.environ.get("CC")
    if named and shutil.which(named):
        return shutil.which(named)
    return next(filter(None, map(shutil.which, ("cc", "gcc", "clang"))), None)


def no_compiler() -> Optional[str]:
    """Why the C demos cannot run here (no compiler), or None when they can: a Demo's ``unavailable``."""
    return None if compiler() else NO_COMPILER


def sources() -> list[Path]:
    return sorted(SOURCES.glob("*.c"))


def binary(source: str | Path, directory: Path = BUILD) -> Path:
    """Where a source's program goes: demos/c/tcp_server.c -> build/tcp_server."""
    return directory / Path(source).stem


def stale(source: Path, program: Path) -> bool:
    if not program.exists():
        return True
    built = program.stat().st_mtime
    # This file too: a change to FLAGS rebuilds them all.
    return any(path.stat().st_mtime > built for path in (source, HEADER, Path(__file__)) if path.exists())


def build(source: str | Path, directory: Path = BUILD, werror: bool = False, force: bool = False) -> Path:
    """Compile one C demo (if stale) and return its program's path. BuildError if it does not compile."""
    source = Path(source) if Path(source).is_absolute() else SOURCES / Path(source).name
    program = binary(source, directory)
    with _building:
        if not force and not stale(source, program):
            return program
        cc = compiler()
        if cc is None:
            raise BuildError(NO_COMPILER)
        directory.mkdir(exist_ok=True)
        # Compiled beside its place, then renamed into it: a program another run is starting is never half-written.
        fd, partial = tempfile.mkstemp(prefix=f".{program.name}-", dir=directory)
        os.close(fd)
        flags = [*FLAGS, "-Werror"] if werror else list(FLAGS)
        try:
            done = subprocess.run([cc, *flags, "-o", partial, str(source)], capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                said = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines()
                raise BuildError(f"{source.name} does not compile: {(said or ['?'])[0]}")
            if done.stderr.strip():  # a warning: shown, as make shows it
                print(done.stderr.rstrip(), file=sys.stderr)
            os.replace(partial, program)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return program


def build_all() -> int:
    """``python3 -m ipc.cprograms``: compile every stale C demo, one line each; 0 unless one failed."""
    if compiler() is None:
        print(NO_COMPILER)
        return 0
    failed = 0
    for source in sources():
        program = binary(source)
        if not stale(source, program):
            continue
        print(f"cc {' '.join(FLAGS)} -o {program.relative_to(ROOT)} {source.relative_to(ROOT)}")
        try:
            build(source)
        except BuildError as error:
            print(f"build: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(build_all())
