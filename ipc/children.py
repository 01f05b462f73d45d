"""Programs a demo starts and talks about (a server, a browser, dig): their lines passed on, with deadlines.

A demo that runs other programs starts each with its output on a pipe. Every
line it prints is passed on to our stderr in one write (so lines of several
processes never mix), labelled ``role[pid]:`` unless it is labelled already,
and kept, so that the demo can wait for a line (a server's ready line) and
count what happened. Every wait has a deadline; ``stop`` ends a program with
SIGTERM, then SIGKILL if it lingers, and always reaps it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from typing import Optional, Sequence

LABELLED = re.compile(r"^[A-Za-z][\w.-]*\[\d+\]: ")


class Child:
    """A program running beside the demo, its output relayed line by line."""

    def __init__(self, argv: Sequence[str], role: str, *, merge_stdout: bool = False):
        self.role = role
        self._own_prefix = re.compile(rf"^(\w{{3}} [ \d]\d \d\d:\d\d:\d\d )?{re.escape(role)}(\[\d+\])?: ")
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if merge_stdout else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if merge_stdout else subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._relay = threading.Thread(target=self._pass_on, daemon=True)
        self._relay.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pass_on(self) -> None:
        stream = self.popen.stdout if self.popen.stdout is not None else self.popen.stderr
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if not LABELLED.match(text):  # dig, dnsmasq: say whose line it is (without a syslog-style prefix)
                text = f"{self.role}[{self.pid}]: {self._own_prefix.sub('', text)}"
            os.write(2, (text + "\n").encode("utf-8", "replace"))  # one write() per line
            with self._changed:
                self.lines.append(text)
                self._changed.notify_all()
        stream.close()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first line matching pattern; TimeoutError, or ChildProcessError if the program ends first."""
        regex, seen, end = re.compile(pattern), 0, time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                if self._ended:
                    code = self.popen.wait()
                    raise ChildProcessError(f"{self.role} ended (exit code {code}) before saying /{pattern}/")
                if not self._changed.wait(max(end - time.monotonic(), 0)) and time.monotonic() >= end:
                    raise TimeoutError(f"{self.role} did not say /{pattern}/ within {timeout:g} s")

    def finish(self, timeout: float) -> int:
        """Wait for the program to end by itself; TimeoutError (and it is stopped) after timeout."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(f"{self.role} still running after {timeout:g} s: stopped it") from None
        self._relay.join(timeout)  # every line it printed has been passed on
        return code

    def stop(self, grace: float = 3.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after grace seconds; reap it. Its exit code, or None if it had ended."""
        already = self.popen.poll()
        if already is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._relay.join(grace)
        return None if already is not None else self.popen.returncode


def start(argv: Sequence[str], role: str, **options: bool) -> Child:
    """A Child, started with Ctrl-C and SIGTERM held back until it is: raised while it was being started (inside
    fork and exec), they would leave it running with no one to stop it. Then the first that came is acted on."""
    if threading.current_thread() is not threading.main_thread():
        return Child(argv, role, **options)
    arrived: list[int] = []
    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in stopping}
    try:
        child = Child(argv, role, **options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    handler = previous[arrived[0]] if arrived else signal.SIG_IGN
    if handler != signal.SIG_IGN:
        try:
            if callable(handler):
                handler(arrived[0], None)  # raises, as it would have (program.run's Terminated, KeyboardInterrupt)
            else:
                child.stop()
                signal.raise_signal(arrived[0])  # its default: the end of this process
        except BaseException:
            child.stop()
            raise
    return child


def run(argv: Sequence[str], role: str, timeout: float) -> tuple[int, list[str]]:
    """Run a program to its end, its stdout and stderr passed on labelled; its exit code and lines."""
    child = start(argv, role, merge_stdout=True)
    try:
        return child.finish(timeout), child.lines
    finally:
        child.stop()
