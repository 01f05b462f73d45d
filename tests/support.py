"""Starting a demo program by hand, the way a person in a terminal would."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ROOT / "demos"
READY = re.compile(r"^\w[\w.-]*\[\d+\]: ready: ?(.*)$")
DEADLINE = 10.0


class Program:
    """A demo program running on its own: its stderr (where demos log) is read line by line.

    Use as a context manager: on the way out the program gets SIGTERM (as
    from ``kill``), then SIGKILL if it lingers, and is always reaped.
    """

    def __init__(self, script: str, *args: str, stdin=subprocess.DEVNULL):
        self.popen = subprocess.Popen(
            [sys.executable, str(DEMOS / script), *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        )
        self.lines: list[str] = []
        self._pending = b""
        self._cursor = 0  # lines before this were searched by an earlier wait_for_line
        self._finished = False  # reaped, and all its output read

    def __enter__(self) -> "Program":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def wait_for_line(self, pattern: str, deadline: float = DEADLINE) -> re.Match:
        """Read stderr until a line matches; fail after the deadline or if the program ends.

        Each call looks only at lines after the one the previous call matched,
        so waiting twice for the same pattern waits for its second occurrence.
        """
        regex = re.compile(pattern)
        end = time.monotonic() + deadline
        with selectors.DefaultSelector() as selector:
            selector.register(self.popen.stderr, selectors.EVENT_READ)
            while True:
                self._cursor = min(self._cursor, len(self.lines))  # a test may have cleared the lines
                for index in range(self._cursor, len(self.lines)):
                    if (match := regex.search(self.lines[index])):
                        self._cursor = index + 1
                        return match
                self._cursor = len(self.lines)
                remaining = end - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise AssertionError(f"no line matching /{pattern}/ within {deadline} s; it said: {self.lines}")
                data = os.read(self.popen.stderr.fileno(), 65536)
                if not data:
                    raise AssertionError(f"program ended before printing /{pattern}/; it said: {self.lines}")
                *complete, self._pending = (self._pending + data).split(b"\n")
                self.lines.extend(raw.decode("utf-8", "replace") for raw in complete)

    def ready(self) -> dict[str, str]:
        """Wait for the program's ``ready: key=value ...`` line and return its fields."""
        seen = next((m for line in self.lines if (m := READY.match(line))), None)  # said once: may be behind us
        fields = (seen or self.wait_for_line(READY.pattern)).group(1)
        return dict(item.split("=", 1) for item in fields.split())

    def finish(self, deadline: float = DEADLINE) -> tuple[int, str, str]:
        """Wait for the program to end by itself; return its exit code, stdout and the rest of stderr."""
        try:
            out, err = self._communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"program still running after {deadline} s; it said: {self.lines}")
        rest = (self._pending + err).decode("utf-8", "replace")
        self.lines.extend(rest.splitlines())
        self._pending, self._finished = b"", True
        return self.popen.returncode, out.decode("utf-8", "replace"), rest

    def stop(self) -> int:
        if self._finished:
            return self.popen.returncode
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(3)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        _, err = self._communicate()  # reap it and close its pipes
        self._finished = True
        if err or self._pending:  # what it said last, kept for the test to read
            self.lines.extend((self._pending + (err or b"")).decode("utf-8", "replace").splitlines())
            self._pending = b""
        return self.popen.returncode

    def _communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        if self.popen.stdin is not None and self.popen.stdin.closed:
            self.popen.stdin = None  # the test closed it itself: communicate() must not flush it
        return self.popen.communicate(timeout=timeout)


def run_program(script: str, *args: str, input: bytes = b"", deadline: float = DEADLINE) -> subprocess.CompletedProcess:
    """Run a demo program to its end, like a shell would, and return what it printed."""
    return subprocess.run([sys.executable, str(DEMOS / script), *args], input=input,
                          capture_output=True, cwd=ROOT, timeout=deadline)
