"""Runs a demo's processes, shows what each did, and checks the exchange.

For one demo the harness:
1. makes a private temporary directory and points the processes' TMPDIR at
   it, so whatever they create (FIFOs, socket files) lives inside it;
2. starts the server, each process in a session of its own (ipc.processes),
   and reads its output until it prints ``ready: key=value ...`` (no sleeping);
3. starts the client(s), one after another, with the ready line's fields
   filled into their arguments;
4. shows every line as it arrives, with the time and the process's label;
5. checks the whole exchange (ipc.transcript), every exit code, and that
   nothing was left behind: no process, no file in the temporary directory.

While they run, it watches them and everything they fork (ipc.deadlock): if
they all block waiting for each other, it prints the diagnosis within a
second, ends them, and cleans up. For a demo of kind "deadlock" (a broken
demo) that is success when the diagnosis is the one the catalog expects; the
harness then runs the demo that fixes it (``fixed_by``), which must pass. For
any other demo it is a failure, and the diagnosis says why it hung.

Every run has a deadline. On every way out (success, failure, timeout,
Ctrl-C) every process started is ended and the temporary directory removed.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, TextIO

from . import catalog, cprograms, protocol
from .catalog import ROOT, Demo, Program
from .deadlock import Watcher
from .processes import LINGER, TICK, Keeper, describe_exit, signals_deferred
from .result import Result
from .trace.runner import Recording, TraceError
from .transcript import Line, Transcript, check_exchange, parse_line

TRACED_SLOWER = 3  # a run under strace may take this many times its deadline: strace stops it at every call


@dataclass
class Launched:
    role: str
    popen: subprocess.Popen
    pending: bytearray = field(default_factory=bytearray)
    closed: bool = False  # its output pipe reached end of file
    exited_at: Optional[float] = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def finished(self) -> bool:
        """It exited, and its output closed: or stayed open too long (a child it forked lives on)."""
        if self.popen.poll() is None:
            return False
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        return self.closed or time.monotonic() - self.exited_at > LINGER


class Run:
    """One run of one demo."""

    def __init__(
        self,
        demo: Demo,
        out: Optional[TextIO] = None,
        timeout: Optional[float] = None,
        detect: bool = True,
        use_proc: Optional[bool] = None,
        quiet: Optional[float] = None,
        stop: Optional[threading.Event] = None,
        trace: bool = False,
        trace_startup: bool = False,
        full_data: bool = False,
    ):
        # Under strace (ipc trace NAME): first, so that a missing strace says so before anything is made.
        self.recording = Recording(full_data) if trace else None
        self.trace_startup = trace_startup  # strace starts each program (its start-up traced too), not main()
        self.demo = demo
        self.stop = stop  # set by whoever runs several demos at once: stop now, clean up (Ctrl-C, SIGTERM)
        self.out = out
        self.timeout = timeout if timeout is not None else demo.timeout * (TRACED_SLOWER if trace else 1)
        self.result = Result(demo)
        self.keeper = Keeper()
        self.watch = Watcher(self.keeper, use_proc, quiet) if detect else None
        self.launched: list[Launched] = []
        self.selector = selectors.DefaultSelector()
        self.start = time.monotonic()
        self.deadline = self.start + self.timeout
        self.tmpdir = ""
        # Every process writes its labelled lines to one shared pipe, so they
        # arrive in the order they were written, whoever wrote them.
        self.shared_r, self.shared_w = os.pipe()
        os.set_blocking(self.shared_r, False)
        self.shared_pending = bytearray()
        self.last_speaker: Optional[Launched] = None
        self.selector.register(self.shared_r, selectors.EVENT_READ, None)

    # -- running --------------------------------------------------------

    def execute(self) -> Result:
        demo, result = self.demo, self.result
        why_not = demo.unavailable() if demo.unavailable else None
        if why_not:
            result.skipped = why_not
            self._release()
            return result
        self.tmpdir = tempfile.mkdtemp(prefix=f"ipc-{demo.name}-")  # mode 0700
        try:
            self._converse()
            if demo.kind == "deadlock":
                result.problems.append("expected a deadlock, but every process finished")
        except _Stop as stop:
            diagnosis = self.watch.diagnosis if self.watch else None
            if diagnosis is not None:
                result.diagnosis = diagnosis
                result.judged = self.watch.detector.last
                result.deadlock_seconds = diagnosis.reported_at - self.start  # on the lines' clock
                if self.recording:  # the kernel's view as it stood, before anything is ended
                    blocked = {stuck.tid or stuck.pid: stuck.call for stuck in diagnosis.watched}
                    result.stopped_texts = self.recording.texts_showing(blocked)
                self._show(diagnosis.report())
            if diagnosis is None or demo.kind != "deadlock":
                result.problems.append(str(stop))
        finally:
            with signals_deferred():  # a second Ctrl-C, a SIGTERM, must not cut the cleanup short
                self._cleanup()
        if result.ok:
            self._check()
        return result

    def _cleanup(self) -> None:
        result = self.result
        try:
            if self.recording and all(launched.popen.poll() is not None for launched in self.launched):
                self.recording.settle()  # strace -p writes its last lines after its programs have ended
            self._end_everything()
            self._check_nothing_left()
            if result.diagnosis is not None:
                ended = ", ".join(stuck.label for stuck in result.diagnosis.watched)
                self._show(
                    f"harness: ended {ended}; " + ("nothing left behind" if result.ok else "see the problems below")
                )
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.selector.close()
            if self.watch:
                self.watch.close()
            if self.recording:
                result.trace_texts = self.recording.texts()
                self.recording.close()
            result.seconds = time.monotonic() - self.start

    def _release(self) -> None:
        """Give back what __init__ took, for a run that never started."""
        self.keeper.close()
        self.selector.close()
        os.close(self.shared_r)
        os.close(self.shared_w)
        if self.watch:
            self.watch.close()
        if self.recording:
            self.recording.close()

    def _converse(self) -> None:
        demo = self.demo
        fields: dict[str, str] = {}
        server = None
        if demo.server is not None:
            server = self._launch("server", demo.server, fields)
            fields = self._wait_ready(server)
        extra = list(protocol.SAMPLE_REQUESTS) if demo.kind == "exchange" else []
        for _ in range(demo.clients):
            client = self._launch("client", demo.client, fields, extra)
            self._pump(lambda client=client: client.finished)
            if client.popen.returncode != 0 and demo.kind == "exchange":
                break  # the next client would fail the same way; the problem is reported below
        if server is not None:
            self._pump(lambda: server.finished)

    def _launch(self, role: str, program: Program, fields: dict[str, str], extra: list[str] = ()) -> Launched:
        try:
            args = [arg.format(**fields) for arg in program.args]
        except KeyError as missing:
            raise _Stop(f"the server's ready line has no field {missing}") from None
        # Not PYTHONUNBUFFERED: it makes print() write a line and its newline in two write()s, and another
        # process's line can land between them. stderr is line-buffered: one write() per line.
        env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
        env.update(TMPDIR=self.tmpdir, PYTHONDONTWRITEBYTECODE="1")
        if self.watch:
            env.update(self.watch.environment)  # where to dump a Python stack when asked
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        try:
            argv = [*program.command(sys.executable), *args, *extra]
        except cprograms.BuildError as error:
            raise _Stop(str(error)) from None
        # A C program cannot stop itself before main() as a Python demo does (ipc.attach): strace starts it.
        from_start = self.trace_startup or self.demo.traced_from_start or program.compiled
        attached = self.recording is not None and not from_start and self.recording.can_attach  # ipc.attach
        if self.recording:
            env = self.recording.environment(env)  # each call's line: the start-up hook keeps records
        if attached:
            env.update(self.recording.attach_environment())
        elif self.recording:
            argv = self.recording.wrap(argv, role)
        popen = self.keeper.launch(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.shared_w,
            cwd=ROOT,
            env=env,
        )
        launched = Launched(role, popen)
        if self.watch and self.recording and not attached:
            self.watch.transparent.add(popen.pid)  # strace: the programs it runs are the ones to watch
        elif self.watch:
            self.watch.call(popen.pid, role)  # until its own lines say otherwise
        os.set_blocking(popen.stdout.fileno(), False)
        self.selector.register(popen.stdout, selectors.EVENT_READ, launched)
        self.launched.append(launched)  # from here the cleanup reads its output and ends it, whatever comes
        if attached:
            try:
                tracer = self.recording.attach(self.keeper, popen, argv, role)
            except TraceError as error:
                raise _Stop(str(error)) from None
            if self.watch and tracer is not None:
                self.watch.transparent.add(tracer)  # strace itself is never part of the exchange
        return launched

    def _wait_ready(self, server: Launched) -> dict[str, str]:
        seen = len(self.result.lines)
        while True:
            fields = self.result.transcript.first_ready(seen)
            if fields is not None:
                return fields
            seen = len(self.result.lines)
            if server.finished:
                raise _Stop(f"the server ended (exit code {server.popen.returncode}) before it was ready")
            self._pump_once()

    def _pump(self, done: Callable[[], bool]) -> None:
        while not done():
            self._pump_once()

    def _pump_once(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Stop(f"timed out after {self.timeout:g} s")
        if self.stop is not None and self.stop.is_set():
            raise _Stop("stopped: the whole run was interrupted")
        for key, _ in self.selector.select(min(TICK, remaining)):
            self._read(key.data)
        for launched in self.launched:
            if launched.closed and launched.popen.poll() is None:
                try:
                    launched.popen.wait(min(TICK, max(remaining, 0.001)))
                except subprocess.TimeoutExpired:
                    pass
        if self.watch is not None:  # the client first: it starts the conversation
            diagnosis = self.watch.look([process.pid for process in reversed(self.launched) if not process.finished])
            for notice in self.watch.notices():
                self._show(notice)
            if diagnosis is not None:
                raise _Stop(diagnosis.summary())

    def _read(self, launched: Optional[Launched]) -> None:
        """Read what is there: from the shared pipe (launched is None) or a process's stdout."""
        fd = self.shared_r if launched is None else launched.popen.stdout.fileno()
        pending = self.shared_pending if launched is None else launched.pending
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            if launched is None:
                self.selector.unregister(fd)
                os.close(fd)
                self.shared_r = -1
            else:  # its stdout closed: it and every child it forked are done writing
                self.selector.unregister(launched.popen.stdout)
                launched.popen.stdout.close()
                launched.closed = True
            if pending:
                self._add_line(launched, bytes(pending))
                pending.clear()
            return
        pending += data
        *complete, rest = pending.split(b"\n")
        pending[:] = rest
        for raw in complete:
            self._add_line(launched, raw)

    def _add_line(self, launched: Optional[Launched], raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        now = time.monotonic() - self.start
        line = parse_line(text, now)
        if line is not None:
            self.last_speaker = next((p for p in self.launched if p.pid == line.pid), self.last_speaker)
            if self.watch:
                self.watch.call(line.pid, line.role)
        else:  # an unlabelled line (a traceback, say): most likely from whoever spoke last
            speaker = launched or self.last_speaker or self.launched[-1]
            line = Line(now, speaker.role if speaker else "?", speaker.pid if speaker else 0, text)
        self.result.transcript.lines.append(line)
        self._print(f"{line.seconds:7.3f}  {line.label}: {line.text}")

    def _show(self, text: str) -> None:
        """The harness's own words (a diagnosis), timed and indented like the processes' lines."""
        now = time.monotonic() - self.start
        first, *rest = text.splitlines() or [""]
        self._print("\n".join([f"{now:7.3f}  {first}", *(f"         {line}".rstrip() for line in rest)]))

    def _print(self, text: str) -> None:
        if self.out is not None:
            try:
                print(text, file=self.out, flush=True)
            except BrokenPipeError:  # whoever read our output left (| head): keep running, cleanup matters more
                self.out = None

    # -- ending ---------------------------------------------------------

    def _end_everything(self) -> None:
        """End every process still running and reap it; note processes a finished one left behind."""
        running = {launched.pid for launched in self.launched if launched.popen.poll() is None}
        tracers = set(self.recording.tracer_pids) if self.recording else set()  # ours, not the demo's
        left = [
            pid
            for pid in self.keeper.alive()
            if pid not in running and self.keeper.tree.root_of.get(pid) not in running and pid not in tracers
        ]
        if left and self.result.ok:
            owners = {launched.pid: launched for launched in self.launched}
            for root in dict.fromkeys(self.keeper.tree.root_of.get(pid, pid) for pid in left):
                owner = owners.get(root)
                who = f"{owner.role}[{owner.pid}]" if owner else "the demo"
                found = [pid for pid in left if self.keeper.tree.root_of.get(pid, pid) == root]
                self.result.problems.append(f"{who} left processes running: {found}")
        if tracers:  # the programs first, while strace -p still passes each its SIGTERM (one that came as
            # strace itself was detaching could be lost: the program would not clean up); strace then ends
            self.keeper.end([pid for pid in self.keeper.roots if pid not in tracers])
            self.recording.settle()
        self.keeper.close()  # SIGTERM what runs, GRACE to clean up, then SIGKILL; reaped
        for launched in self.launched:
            if not launched.closed:
                os.set_blocking(launched.popen.stdout.fileno(), True)
                while not launched.closed:
                    self._read(launched)
            self.result.exit_codes[f"{launched.role}[{launched.pid}]"] = launched.popen.returncode
        os.close(self.shared_w)  # every writer is gone: what is left in the pipe ends in EOF
        os.set_blocking(self.shared_r, True)
        while self.shared_r != -1:
            self._read(None)

    def _check_nothing_left(self) -> None:
        if not self.tmpdir or not self.result.ok:
            return
        left = sorted(str(path.relative_to(self.tmpdir)) for path in Path(self.tmpdir).rglob("*"))
        if left:
            self.result.problems.append(f"left behind in its temporary directory: {', '.join(left)}")

    # -- checking -------------------------------------------------------

    def _check(self) -> None:
        result, demo = self.result, self.demo
        if demo.kind == "deadlock":  # it deadlocked, as it should; the harness ended it, so no exit code counts
            if demo.deadlock is not None:
                result.problems.extend(demo.deadlock.problems(result.diagnosis))
            return
        for label, code in result.exit_codes.items():
            if code != 0:
                result.problems.append(f"{label} exited with {describe_exit(code)}")
        if demo.kind == "exchange":
            problems, result.messages = check_exchange(result.transcript, protocol.SAMPLE_REQUESTS, demo.clients)
            result.problems.extend(problems)
        else:  # a lesson: count the messages its processes said they sent and received
            count = demo.count or Transcript.message_count
            result.messages = count(result.transcript)
        if demo.check is not None and result.ok:
            result.problems.extend(demo.check(result.transcript))


class _Stop(Exception):
    """Stop the run now, for the reason given."""


def run_demo(
    demo: Demo,
    out: Optional[TextIO] = None,
    timeout: Optional[float] = None,
    fix: bool = True,
    detect: bool = True,
    use_proc: Optional[bool] = None,
    quiet: Optional[float] = None,
    stop: Optional[threading.Event] = None,
    trace: bool = False,
    trace_startup: bool = False,
    full_data: bool = False,
) -> Result:
    """Run one demo and check it. A broken demo (kind "deadlock") must deadlock; then, unless fix
    is False, the demo named by its ``fixed_by`` runs too and must pass (result.fixed).
    detect=False turns the deadlock watch off (a demo that hangs then runs into its timeout);
    use_proc=False and quiet give the watch the psutil fallback other systems get; stop, once set,
    ends the run at once (with its cleanup), for a caller that runs several in threads; trace=True runs
    every program under strace (ipc.trace.runner.TraceError if it cannot): result.trace is what the kernel did,
    from each program's main() on (ipc.attach), or from its start, start-up included, with trace_startup;
    full_data: every byte read and written, not only each call's first 4096."""
    result = Run(demo, out, timeout, detect, use_proc, quiet, stop, trace, trace_startup, full_data).execute()
    if demo.kind == "deadlock" and fix and demo.fixed_by and not result.skipped:
        try:
            fixed_demo = catalog.find([demo.fixed_by])[0]
        except (KeyError, IndexError):
            result.problems.append(f"its fix, {demo.fixed_by!r}, is not in the catalog")
            return result
        if fixed_demo.kind == "deadlock":
            result.problems.append(f"its fix, {fixed_demo.name}, is itself a broken demo")
            return result
        if out is not None:
            print(
                f"-- the fix: {fixed_demo.name} ({', '.join('demos/' + s for s in fixed_demo.scripts)})",
                file=out,
                flush=True,
            )
        fixed = run_demo(fixed_demo, out=out, timeout=timeout, stop=stop)
        result.fixed = fixed
        if not fixed.ok:
            result.problems.append(f"its fix, {fixed_demo.name}, failed: {'; '.join(fixed.problems)}")
    return result
