"""Every demo the harness knows: which programs it runs and what it checks.

Each module of this package holds a ``DEMOS`` list; they are gathered here in
the order of ``GROUPS``. This package imports only the standard library, so
the Makefile can list the demos before any virtualenv exists
(``python3 -m ipc.catalog``).
"""

from __future__ import annotations

import ast
import importlib
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

if TYPE_CHECKING:  # only for the type of a check: the catalog imports nothing but the standard library
    from ..transcript import Transcript

ROOT = Path(__file__).resolve().parents[2]
DEMOS_DIR = ROOT / "demos"

# Gathered in this order; a group is a module of this package.
GROUPS = (
    "exchange",
    "exchange_sockets",
    "servers",
    "twins",
    "deadlocks",
    "lessons_streams",
    "lessons_addresses",
    "lessons_sockets",
    "lessons_notes",
    "protocols",
)


@dataclass(frozen=True)
class Program:
    """One program to start: a script under demos/ and its arguments.

    An argument may name a field of the server's ready line, as in
    ``"--port", "{port}"``; the harness fills it in.
    """

    script: str
    args: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return DEMOS_DIR / self.script

    @property
    def compiled(self) -> bool:
        """A C twin (c/NAME.c): run as the program cc made of it, not by Python (ipc.cprograms)."""
        return self.script.endswith(".c")

    def command(self, python: str) -> list[str]:
        """The argv that starts it, before its arguments: the C program, built now if stale; or python and the
        script. (ipc.cprograms.BuildError if a C twin does not compile.)"""
        if self.compiled:
            from .. import cprograms

            return [str(cprograms.build(self.path))]
        return [python, str(self.path)]


@dataclass(frozen=True)
class ExpectedDeadlock:
    """What the diagnosis of a broken demo must say: the cycle in plain words, and the
    system call each named process is blocked in (the kernel's name: recvfrom, not recv)."""

    cycle: str
    calls: dict[str, str] = field(default_factory=dict)

    def problems(self, diagnosis) -> list[str]:
        """How an ipc.deadlock.Diagnosis differs from this one (empty when it is this deadlock)."""
        if diagnosis is None:
            return ["no deadlock was diagnosed"]
        problems = []
        if diagnosis.cycle_text() != self.cycle:
            problems.append(f"expected the cycle {self.cycle!r}, the diagnosis says {diagnosis.cycle_text()!r}")
        for name, call in self.calls.items():
            try:
                blocked_in = diagnosis.process(name).call
            except KeyError:
                problems.append(f"the diagnosis names no {name}")
                continue
            if blocked_in != call:
                problems.append(f"{name} is blocked in {blocked_in}, expected {call}")
        return problems


@dataclass(frozen=True)
class Demo:
    name: str
    mechanism: str
    teaches: str
    # The program that starts the conversation, or the only program of a one-program demo.
    client: Program
    # Started first; the client starts only once it has printed its "ready:" line.
    server: Optional[Program] = None
    # How many clients run, one after another, against the one server.
    clients: int = 1
    # What the harness checks:
    #   "exchange": the client's messages (appended to its arguments) are all
    #               answered, in order, as ipc.protocol requires;
    #   "runs":     every process exits 0, then ``check`` (if any) is asked;
    #   "deadlock": the processes deadlock and the diagnosis is ``deadlock``.
    kind: str = "exchange"
    # Extra checks of what the processes said: the transcript in, the problems
    # out (an empty list when all is well).
    check: Optional[Callable[["Transcript"], list[str]]] = None
    # How many messages went by, where the default does not fit (for kind "runs",
    # every sent and every received line counts).
    count: Optional[Callable[["Transcript"], int]] = None
    # For kind "deadlock": the deadlock the diagnosis must find.
    deadlock: Optional[ExpectedDeadlock] = None
    # Scripts run indirectly (exec'd by another), listed for the README.
    also_runs: tuple[str, ...] = ()
    # For a broken demo: the demo that does it right.
    fixed_by: Optional[str] = None
    # A whole run never takes longer than this; then it is stopped and fails.
    timeout: float = 20.0
    # It must run with nothing else running beside it (a timing measurement).
    alone: bool = False
    # Why it takes long (it waits a second on purpose, runs a browser...): a run of several starts it
    # first, so that the short ones fill the time beside it instead of leaving it to run last.
    slow: Optional[str] = None
    # Why a run of every demo (make demo) does not trace it, when it does not: its trace would bury the rest.
    untraced: Optional[str] = None
    # Traced by strace from each program's start, not from its main() (ipc.attach): for a demo whose
    # programs run many others (ip, mount...), whose start-ups strace's seccomp filter makes cheaper.
    traced_from_start: bool = False
    # Why this demo cannot run here, or None when it can.
    unavailable: Optional[Callable[[], Optional[str]]] = None

    @property
    def scripts(self) -> tuple[str, ...]:
        programs = [p.script for p in (self.server, self.client) if p is not None]
        return tuple(dict.fromkeys([*programs, *self.also_runs]))


def c_demo(demo: Demo) -> Demo:
    """A demo whose programs include a C twin: unavailable, saying how to get one, where there is no compiler."""
    from dataclasses import replace

    from ..cprograms import no_compiler

    inner = demo.unavailable

    def unavailable() -> Optional[str]:
        return no_compiler() or (inner() if inner else None)

    return replace(demo, unavailable=unavailable)


def no_ipv6_loopback() -> Optional[str]:
    """Why ::1 cannot be used here, or None when it can."""
    if not socket.has_ipv6:
        return "this Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        return f"no IPv6 loopback here ({error.strerror})"
    return None


def all_demos() -> list[Demo]:
    demos: list[Demo] = []
    for group in GROUPS:
        demos.extend(importlib.import_module(f"{__name__}.{group}").DEMOS)
    return demos


def find(names: Sequence[str]) -> list[Demo]:
    """The demos named, in the order named; "all" means every demo."""
    by_name = {demo.name: demo for demo in all_demos()}
    chosen: list[Demo] = []
    for name in names:
        if name == "all":
            chosen.extend(by_name.values())
        elif name in by_name:
            chosen.append(by_name[name])
        else:
            raise KeyError(name)
    return chosen


def help_text(script: str) -> str:
    """What a demo's --help prints, read from its source: the header (its module docstring: what it shows, how
    to run it) and the details its DETAILS string holds below the code (system calls in order, peer, output).
    A C twin's are its first comment and its last, which begins with DETAILS (c_help_text)."""
    if script.endswith(".c"):
        return c_help_text((DEMOS_DIR / script).read_text())
    tree = ast.parse((DEMOS_DIR / script).read_text())
    header = ast.get_docstring(tree, clean=False) or ""
    details = next(
        (
            node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == ["DETAILS"]
            and isinstance(node.value, ast.Constant)
        ),
        "",
    )
    return joined_help(header, details)


def c_help_text(source: str) -> str:
    """A C twin's text, as help_text gives a Python demo's: its header is the file's first comment (from its
    opening "/* " to its "*/"), its details the comment whose first line begins with DETAILS, that line left out."""
    comments = re.findall(r"/\* ?(.*?)\*/", source, re.S)
    header = comments[0] if comments else ""
    details = next((c.split("\n", 1)[1] for c in comments if c.startswith("DETAILS") and "\n" in c), "")
    return joined_help(header, details)


def joined_help(header: str, details: str) -> str:
    """A demo's --help: its header, then its details, a blank line between them (ipc.program builds it so)."""
    return header.rstrip("\n") + "\n\n" + details.strip("\n") + "\n" if details.strip() else header
