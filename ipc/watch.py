"""``ipc watch -- COMMAND [ARG...]``: run any command; if it deadlocks, explain it and end it.

The command runs as it would from a shell: the same stdin and stdout, the
same process group (so Ctrl-C reaches it), its exit code passed through.
Only its stderr passes through ipc watch, forwarded as it comes, so that
labelled lines (``client[42]: ...``, as this project's programs print) give
the processes their roles in a report; other processes are named by their
command (cat, sh, a script's name).

Meanwhile ipc.deadlock watches the whole process tree: the command, all it
forks and execs, and orphans once seen. If every process of the tree blocks,
each waiting for another of them, ipc watch prints the diagnosis, ends the
tree (SIGTERM, then SIGKILL after GRACE) and returns EXIT_DEADLOCK. A
process that merely sleeps, computes, or waits on something outside the
tree (a terminal, a pipe from the shell, a port anyone may connect to) is
not deadlocked: the command then runs to its end, however long that takes.

This module raises and returns codes; only ipc.cli exits.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO, Optional, Sequence, TextIO

from .deadlock import Diagnosis, Watcher
from .processes import TICK, Keeper
from .transcript import parse_label

EXIT_DEADLOCK = 3  # a deadlock formed; it was explained and the command's processes ended
EXIT_CANNOT_RUN = 126  # the command exists but cannot be run (as in a shell)
EXIT_NOT_FOUND = 127  # no such command (as in a shell)
LABEL_BYTES = 64  # role[pid]: fits in this many bytes
DRAIN = 0.2  # how long to go on forwarding stderr held open by background children after the command exits


class WatchError(Exception):
    """The command could not be started; ``code`` is the exit code a shell would give."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class Outcome:
    code: int  # the exit code for ipc watch: the command's own, or EXIT_DEADLOCK
    diagnosis: Optional[Diagnosis]
    seconds: float
    ended: list[str]  # the processes ended after a deadlock, labelled


def watch(
    argv: Sequence[str],
    err: Optional[BinaryIO] = None,
    report: Optional[TextIO] = None,
    use_proc: Optional[bool] = None,
    quiet: Optional[float] = None,
) -> Outcome:
    """Run argv, forward its stderr to err, print a diagnosis to report if it deadlocks.

    use_proc=False: the psutil fallback, which reports after ``quiet`` seconds of stillness."""
    if not argv:
        raise WatchError("no command given", 2)
    err = err if err is not None else sys.stderr.buffer
    report = report if report is not None else sys.stderr
    keeper = Keeper()
    watcher = Watcher(keeper, use_proc, quiet, closed_world=False)  # others may connect to its ports
    try:
        try:  # in our own process group, as from a shell: Ctrl-C at the terminal reaches it too
            popen = keeper.launch(
                argv, new_session=False, stderr=subprocess.PIPE, env=dict(os.environ, **watcher.environment)
            )
        except FileNotFoundError:
            raise WatchError(f"{argv[0]}: command not found", EXIT_NOT_FOUND) from None
        except PermissionError:
            raise WatchError(f"{argv[0]}: permission denied", EXIT_CANNOT_RUN) from None
        except OSError as error:
            raise WatchError(f"{argv[0]}: {error.strerror}", EXIT_CANNOT_RUN) from None
        return _Watching(keeper, popen, err, report, watcher).run()
    finally:
        keeper.close()
        watcher.close()


class _Watching:
    def __init__(self, keeper: Keeper, popen: subprocess.Popen, err: BinaryIO, report: TextIO, watcher: Watcher):
        self.keeper, self.popen, self.err, self.report, self.watcher = keeper, popen, err, report, watcher
        self.pending = b""
        self.start = time.monotonic()
        self.selector = selectors.DefaultSelector()
        os.set_blocking(popen.stderr.fileno(), False)
        self.selector.register(popen.stderr, selectors.EVENT_READ)
        self.stderr_open = True

    def run(self) -> Outcome:
        try:
            while self.popen.poll() is None:
                if self.stderr_open:
                    if self.selector.select(TICK):
                        self._forward()
                else:
                    time.sleep(TICK)
                diagnosis = self.watcher.look()
                if diagnosis is not None:
                    return self._deadlocked(diagnosis)
            self._drain()
            code = self.popen.returncode
            return Outcome(128 - code if code < 0 else code, None, time.monotonic() - self.start, [])
        except BaseException:  # Ctrl-C, SIGTERM, a bug: the command's processes must not outlive us
            self.keeper.end()
            raise
        finally:
            self.selector.close()
            self.popen.stderr.close()

    def _forward(self) -> None:
        try:
            data = os.read(self.popen.stderr.fileno(), 65536)
        except BlockingIOError:
            return
        if not data:
            self.selector.unregister(self.popen.stderr)
            self.stderr_open = False
            return
        self.err.write(data)
        self.err.flush()
        # Only the start of each line is kept: a label is short, and a line may be megabytes long.
        head, *rest = data.split(b"\n")
        line = self.pending + head[:LABEL_BYTES]
        complete, self.pending = ([line, *rest[:-1]], rest[-1][:LABEL_BYTES]) if rest else ([], line[:LABEL_BYTES])
        for start in complete:
            labelled = parse_label(start[:LABEL_BYTES].decode("utf-8", "replace"))
            if labelled:
                self.watcher.call(labelled[1], labelled[0])

    def _drain(self) -> None:
        """The command exited: forward what its stderr still holds, for a moment at most."""
        end = time.monotonic() + DRAIN
        while self.stderr_open and time.monotonic() < end:
            if self.selector.select(max(0.0, end - time.monotonic())):
                self._forward()

    def _deadlocked(self, diagnosis: Diagnosis) -> Outcome:
        print(f"ipc watch: {diagnosis.report()}", file=self.report, flush=True)
        labels = [stuck.label for stuck in diagnosis.stuck]
        self.keeper.end()
        self._drain()
        print(
            f"ipc watch: ended {', '.join(labels)}; exit code {EXIT_DEADLOCK} (deadlock)", file=self.report, flush=True
        )
        return Outcome(EXIT_DEADLOCK, diagnosis, time.monotonic() - self.start, labels)
