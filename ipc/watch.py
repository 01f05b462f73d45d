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
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Optional, Sequence, TextIO

from .deadlock import Diagnosis, Watcher
from .inject import with_hook
from .processes import TICK, Keeper
from .procfs import command
from .transcript import parse_label
from .waitfor import lock_waits

if TYPE_CHECKING:  # the trace package is loaded only when a command is watched under strace
    from .trace.model import Trace

EXIT_DEADLOCK = 3  # a deadlock formed; it was explained and the command's processes ended
EXIT_TIMEOUT = 124  # the time given was up: the command's processes were ended (as timeout(1) says it)
EXIT_CANNOT_RUN = 126  # the command exists but cannot be run (as in a shell)
EXIT_NOT_FOUND = 127  # no such command (as in a shell)
CHUNK = 1 << 20  # read at most this much stderr at a time
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
    left: list[int] = field(default_factory=list)  # processes the command left running when it exited
    trace: Optional[Trace] = None  # under strace: what the kernel did
    stopped: Optional[Trace] = None  # ...as it stood when the deadlock was seen
    why_ended: Optional[str] = None  # why the watch ended the command: "deadlock", "timeout", "interrupted"...
    judged: Optional[tuple] = None  # the last snapshot ipc.waitfor judged, and its finding (ipc watch --snapshot)


def watch(
    argv: Sequence[str],
    err: Optional[BinaryIO] = None,
    report: Optional[TextIO] = None,
    use_proc: Optional[bool] = None,
    quiet: Optional[float] = None,
    keep: bool = False,
    notice: Optional[float] = None,
    trace: bool = False,
    timeout: Optional[float] = None,
    housekeeping: bool = False,
    stop_on: Optional[dict] = None,
    name: str = "ipc watch",
    full_data: bool = False,
) -> Outcome:
    """Run argv, forward its stderr to err, print a diagnosis to report if it deadlocks.

    use_proc=False: the psutil fallback, which says after ``quiet`` seconds of stillness what it can
    see, and ends nothing: it cannot tell a deadlock from a wait on purpose. trace=True runs the command
    under strace and keeps what the kernel did in outcome.trace (and outcome.stopped: at the deadlock;
    ``housekeeping``: with the start-up's file reads too). ``timeout``: end it all after this many
    seconds (exit code 124). ``stop_on``: exception type -> (exit code, why) for the ways out that end
    the command but still return what was seen (ipc trace draws it) instead of propagating.
    ``name`` starts every line it prints. ``full_data``: under strace, every byte read and written is kept
    (hex dumps), not only the first 4096 of each call."""
    if not argv:
        raise WatchError("no command given", 2)
    recording = _recording(argv, full_data) if trace else None
    err = err if err is not None else sys.stderr.buffer
    report = report if report is not None else sys.stderr
    keeper = Keeper()
    watcher = Watcher(keeper, use_proc, quiet, closed_world=False, notice=notice)  # others may connect to its ports
    try:
        try:  # in our own process group, as from a shell: Ctrl-C at the terminal reaches it too
            launched = recording.wrap(argv, "command") if recording else argv
            env = _environment(watcher)
            popen = keeper.launch(launched, new_session=False, stderr=subprocess.PIPE,
                                  env=recording.environment(env) if recording else env)  # fmt: skip
        except FileNotFoundError:
            raise WatchError(f"{argv[0]}: command not found", EXIT_NOT_FOUND) from None
        except PermissionError:
            raise WatchError(f"{argv[0]}: permission denied", EXIT_CANNOT_RUN) from None
        except OSError as error:
            raise WatchError(f"{argv[0]}: {error.strerror}", EXIT_CANNOT_RUN) from None
        if recording:
            watcher.transparent.add(popen.pid)  # strace: the command and what it forks are the ones to watch
        watching = _Watching(keeper, popen, err, report, watcher, recording, name, housekeeping)
        try:
            outcome = watching.run(None if timeout is None else time.monotonic() + timeout)
        except tuple(stop_on or ()) as stopped:
            code, why = next(v for kind, v in (stop_on or {}).items() if isinstance(stopped, kind))
            outcome = Outcome(code, None, time.monotonic() - watching.start, [], why_ended=why)
        outcome.left = _left_behind(keeper, report, keep, name)
        outcome.judged = watcher.detector.last
        if outcome.stopped is not None and outcome.judged is not None:
            outcome.stopped.lock_waits = lock_waits(outcome.judged[0])
        return outcome
    finally:
        keeper.close()
        watcher.close()
        if recording:
            if "outcome" in locals():
                outcome.trace = recording.model(housekeeping=housekeeping)
                if outcome.stopped is not None:
                    outcome.trace.lock_waits = outcome.stopped.lock_waits
            recording.close()


class _Watching:
    def __init__(self, keeper: Keeper, popen: subprocess.Popen, err: BinaryIO, report: TextIO, watcher: Watcher,
                 recording=None, name: str = "ipc watch", housekeeping: bool = False):  # fmt: skip
        self.keeper, self.popen, self.err, self.report, self.watcher = keeper, popen, err, report, watcher
        self.recording, self.name, self.housekeeping = recording, name, housekeeping
        self.pending = b""
        self.start = time.monotonic()
        self.selector = selectors.DefaultSelector()
        os.set_blocking(popen.stderr.fileno(), False)
        self.selector.register(popen.stderr, selectors.EVENT_READ)
        self.stderr_open = True

    def run(self, deadline: Optional[float] = None) -> Outcome:
        try:
            while self.popen.poll() is None:
                if deadline is not None and time.monotonic() > deadline:
                    return self._ended("timeout", EXIT_TIMEOUT)
                if self.stderr_open:
                    if self.selector.select(TICK):
                        self._forward()
                else:
                    try:
                        self.popen.wait(TICK)  # back at once when it exits
                    except subprocess.TimeoutExpired:
                        pass
                diagnosis = self.watcher.look()
                for notice in self.watcher.notices():
                    print(f"{self.name}: {notice}", file=self.report, flush=True)
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
        chunks = []
        while sum(map(len, chunks)) < CHUNK:  # what is there now, in one go: a chatty writer costs fewer wake-ups
            try:
                chunk = os.read(self.popen.stderr.fileno(), CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                self.selector.unregister(self.popen.stderr)
                self.stderr_open = False
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data:
            return
        self.err.write(data)
        self.err.flush()
        # Only the start of each line is kept: a label is short, and a line may be megabytes long.
        head, *rest = data.split(b"\n")
        line = self.pending + head[:LABEL_BYTES]
        complete, self.pending = ([line, *rest[:-1]], rest[-1][:LABEL_BYTES]) if rest else ([], line[:LABEL_BYTES])
        for start in complete:
            if b"]: " not in start:  # no label: most lines of most programs, passed by at the cost of one search
                continue
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
        print(f"{self.name}: {diagnosis.report()}", file=self.report, flush=True)
        labels = [stuck.label for stuck in diagnosis.watched]
        stopped = None
        if self.recording:  # as it stood, before it is ended
            blocked = {stuck.tid or stuck.pid: stuck.call for stuck in diagnosis.watched}
            stopped = self.recording.model(housekeeping=self.housekeeping, texts=self.recording.texts_showing(blocked))
        self.keeper.end()
        self._drain()
        print(f"{self.name}: ended {', '.join(labels)}; exit code {EXIT_DEADLOCK} (deadlock)", file=self.report,
              flush=True)  # fmt: skip
        return Outcome(EXIT_DEADLOCK, diagnosis, time.monotonic() - self.start, labels, stopped=stopped,
                       why_ended="deadlock")  # fmt: skip

    def _ended(self, why: str, code: int) -> Outcome:
        """End the command's processes for a reason of the watch's own (its time is up)."""
        self.keeper.end()
        self._drain()
        return Outcome(code, None, time.monotonic() - self.start, [], why_ended=why)


def _left_behind(keeper: Keeper, report: TextIO, keep: bool, name: str = "ipc watch") -> list[int]:
    """What the command left running when it exited (background jobs, daemons): named, then ended
    unless asked to keep it, so that nothing outlives ipc watch by surprise."""
    left = keeper.alive()
    if not left:
        return []
    counts = Counter(command(pid) for pid in left)
    named = ", ".join(f"{count} × {name}" if count > 1 else name for name, count in counts.items())
    if keep:
        keeper.forget()
        print(f"{name}: the command exited and left {len(left)} process(es) running, kept as asked: {named}",
              file=report, flush=True)  # fmt: skip
    else:
        print(f"{name}: the command exited and left {len(left)} process(es) running; ending them: {named} "
              f"(--keep leaves them running)", file=report, flush=True)  # fmt: skip
        keeper.end()
    return left


def _environment(watcher: Watcher) -> dict[str, str]:
    """The command's environment: ours, plus where its Python programs write their stacks when asked,
    and a start-up hook (ipc/inject/sitecustomize.py) that makes any Python program able to answer."""
    return with_hook(dict(os.environ, **watcher.environment))


def _recording(argv: Sequence[str], full_data: bool = False):
    """The strace recording of a watched command, or WatchError saying why it cannot be (no strace: 2)."""
    from .trace.runner import Recording, TraceError, runnable

    try:
        recording = Recording(full_data)  # first: without strace, say how to get it, whatever the command
        try:
            runnable(argv)
        except TraceError:
            recording.close()
            raise
        return recording
    except TraceError as error:
        raise WatchError(str(error), error.code) from None
