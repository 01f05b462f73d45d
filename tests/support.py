"""Starting a demo program by hand, the way a person in a terminal would."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ipc.catalog import Program as Script
from ipc.transcript import parse_line

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ROOT / "demos"
READY = r"^\w[\w.-]*\[\d+\]: ready: ?"  # a ready line, for wait_for_line; its fields are parsed by ipc.transcript
DEADLINE = 10.0


class Program:
    """A demo program running on its own: its stderr (where demos log) is read line by line, all along.

    A thread reads stderr as it comes, so a program that logs a lot never blocks on a full pipe while
    the test is busy elsewhere. Use as a context manager: on the way out the program gets SIGTERM (as
    from ``kill``), then SIGKILL if it lingers, and is always reaped.
    """

    def __init__(self, script: str, *args: str, stdin=subprocess.DEVNULL):
        self.popen = subprocess.Popen(
            [*Script(script).command(sys.executable), *args],  # a C twin (c/NAME.c): its program, built if stale
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._cursor = 0  # lines before this were searched by an earlier wait_for_line
        self._changed = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read_stderr, args=(self.popen.stderr.fileno(),), daemon=True)
        self._reader.start()

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _read_stderr(self, fd: int) -> None:
        pending = b""
        while data := os.read(fd, 65536):
            *complete, pending = (pending + data).split(b"\n")
            with self._changed:
                self.lines.extend(raw.decode("utf-8", "replace") for raw in complete)
                self._changed.notify_all()
        with self._changed:
            if pending:
                self.lines.append(pending.decode("utf-8", "replace"))
            self._eof = True
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, deadline: float = DEADLINE, anywhere: bool = False) -> re.Match:
        """Wait until a line of stderr matches; fail after the deadline or if the program ends first.

        Each call looks only at lines after the one the previous call matched,
        so waiting twice for the same pattern waits for its second occurrence
        (anywhere=True: look from the first line on).
        """
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        with self._changed:
            if anywhere:
                self._cursor = 0
            while True:
                for index in range(self._cursor, len(self.lines)):
                    if match := regex.search(self.lines[index]):
                        self._cursor = index + 1
                        return match
                self._cursor = len(self.lines)
                if self._eof:
                    raise AssertionError(f"program ended before printing /{pattern}/; it said: {self.lines}")
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no line matching /{pattern}/ within {deadline} s; it said: {self.lines}")
                self._changed.wait(remaining)

    def ready(self) -> dict[str, str]:
        """Wait for the program's ``ready: key=value ...`` line and return its fields."""

        def fields(text: str):
            line = parse_line(text)
            return line.ready if line is not None else None

        with self._changed:
            seen = next((found for text in self.lines if (found := fields(text)) is not None), None)  # may be behind
        return seen if seen is not None else fields(self.wait_for_line(READY).string)

    def finish(self, deadline: float = DEADLINE) -> tuple[int, str, str]:
        """Wait for the program to end by itself; return its exit code, stdout and what stderr said since the start."""
        try:
            out = self._communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"program still running after {deadline} s; it said: {self.lines}") from None
        return self.popen.returncode, out.decode("utf-8", "replace"), "\n".join(self.lines) + "\n"

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self._communicate()  # reap it, read the rest of its output, close its pipes
        return self.popen.returncode

    def _communicate(self, timeout: float | None = None) -> bytes:
        if self.popen.stdin is not None and self.popen.stdin.closed:
            self.popen.stdin = None  # the test closed it itself: communicate() must not flush it
        if self.popen.stdout is not None and self.popen.stdout.closed:
            self.popen.stdout = None  # likewise
        stderr, self.popen.stderr = self.popen.stderr, None  # the reader thread has that one
        try:
            out, _ = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.stderr = stderr
            raise
        self._reader.join(DEADLINE)  # every line it printed is in self.lines
        if stderr is not None:
            stderr.close()
        return out or b""


def run_program(script: str, *args: str, input: bytes = b"", deadline: float = DEADLINE) -> subprocess.CompletedProcess:
    """Run a demo program to its end, like a shell would, and return what it printed."""
    return subprocess.run(
        [sys.executable, str(DEMOS / script), *args], input=input, capture_output=True, cwd=ROOT, timeout=deadline
    )


# The optional system tools some tests need, and the Debian package each comes in.
TOOLS = {"dig": "dnsutils", "dnsmasq": "dnsmasq-base", "chromium": "chromium", "curl": "curl", "nc": "netcat-openbsd",
         "cc": "gcc", "unshare": "util-linux", "ip": "iproute2"}  # fmt: skip
TOOL = pytest.mark.tools  # what `pytest -m tools` selects: tests/test_optional_tools.py runs them with the tools hidden


def why_no(tool: str) -> str:
    """The skip reason for a missing tool: which, and how to install it."""
    return f"no {tool} here (Debian: apt-get install {TOOLS[tool]})"


def needs(*tools: str):
    """Mark a test as needing these tools, and skip it, saying which and how to install them, where one is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]

    def apply(test):
        return TOOL(pytest.mark.skipif(bool(missing), reason="; ".join(map(why_no, missing)))(test))

    return apply


def also(*marks):
    """Several marks as one decorator."""

    def apply(test):
        for mark in marks:
            test = mark(test)
        return test

    return apply


_runs: dict = {}


def run_demo_once(name: str):
    """A demo run through the harness once per test session, for the tests that only read what it printed.
    (A broken demo runs without its fix: the deadlock tests run both.)"""
    from ipc import catalog
    from ipc.harness import run_demo

    if name not in _runs:
        _runs[name] = run_demo(catalog.find([name])[0], fix=False)
    return _runs[name]


def load_demo(name: str):
    """A demo's functions, imported from its file (the demos are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, DEMOS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def why_no_strace() -> str | None:
    """Why strace cannot trace here (a test that needs it skips, saying so), or None when it can."""
    from ipc.trace import runner

    try:
        runner.check_strace()
    except runner.TraceError as error:
        return str(error)
    return None
