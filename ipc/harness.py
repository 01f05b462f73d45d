"""Runs a demo's processes, shows what each did, and checks the exchange.

For one demo the harness:
1. makes a private temporary directory and points the processes' TMPDIR at
   it, so whatever they create (FIFOs, socket files) lives inside it;
2. starts the server, each process in a session of its own, and reads its
   output until it prints ``ready: key=value ...`` (no sleeping);
3. starts the client(s), one after another, with the ready line's fields
   filled into their arguments;
4. shows every line as it arrives, with the time and the process's label;
5. checks the whole exchange (ipc.protocol), every exit code, and that
   nothing was left behind: no process, no file in the temporary directory.

While they run, it watches them and everything they fork (ipc.deadlock): if
they all block waiting for each other, it prints the diagnosis within a
second, ends them, and cleans up. For a demo of kind "deadlock" (a broken
demo) that is success; the harness then runs the demo that fixes it
(``fixed_by``), which must pass. For any other demo it is a failure, and the
diagnosis says why it hung.

Every run has a deadline. On every way out (success, failure, timeout,
Ctrl-C) every process started is ended and the temporary directory removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, TextIO

import psutil

from . import catalog, protocol
from .catalog import ROOT, Demo, Program
from .deadlock import Detector, Diagnosis, Tree
from .procfs import command
from .stackdumps import StackDumps

LABELLED = re.compile(r"^(?P<role>[A-Za-z][\w.-]*)\[(?P<pid>\d+)\]: (?P<text>.*)$")
MESSAGE = re.compile(r"^(?P<what>sent|received) (?P<quoted>\".*\")$")
READY = re.compile(r"^ready: ?(?P<fields>.*)$")
TICK = 0.05  # how often the harness looks at its processes while they are quiet
GRACE = 1.0  # how long a process has to end after SIGTERM before SIGKILL
LINGER = 0.5  # how long output may stay open after a process exits (its forked children still writing)


class HarnessError(Exception):
    """The harness could not run a demo at all."""


@dataclass
class Line:
    seconds: float  # since the demo started
    role: str
    pid: int
    text: str

    @property
    def label(self) -> str:
        return f"{self.role}[{self.pid}]"


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


@dataclass
class Result:
    demo: Demo
    problems: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    exit_codes: dict[str, int] = field(default_factory=dict)  # label -> exit code
    messages: int = 0
    seconds: float = 0.0
    skipped: Optional[str] = None  # why the demo could not run here
    details: dict = field(default_factory=dict)  # what a check or diagnosis found

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return "skipped" if self.skipped else ("ok" if self.ok else "FAILED")

    def said(self, role: str) -> list[Line]:
        return [line for line in self.lines if line.role == role]


# A watcher is given the live processes on every tick; it may return a
# problem (a str) to stop the run, such as a diagnosed deadlock.
Watcher = Callable[[list["Launched"], "Result"], Optional[str]]


class DeadlockWatcher:
    """The harness's watcher: the launched processes, all they fork, and a deadlock among them.

    Each process is named by its role: the label of its lines (client, server),
    else the role it was launched as, else its command (cat).
    """

    INTERVAL = 0.03  # at most this often, however fast output arrives

    def __init__(self, use_proc: Optional[bool] = None, quiet: Optional[float] = None):
        self.stacks = StackDumps()
        self.detector = Detector(use_proc=use_proc, stacks=self.stacks, **({"quiet": quiet} if quiet else {}))
        self.tree = Tree()
        self.diagnosis: Optional[Diagnosis] = None
        self.roles: dict[int, str] = {}
        self._lines_seen = 0
        self._last = 0.0

    @property
    def environment(self) -> dict[str, str]:
        """For the processes launched: where to write their Python stacks when asked."""
        return self.stacks.environment

    def __call__(self, live: list[Launched], result: Result) -> Optional[str]:
        for launched in live:
            self.roles.setdefault(launched.pid, launched.role)
        for line in result.lines[self._lines_seen:]:
            if line.pid:
                self.roles[line.pid] = line.role  # the latest: exec may change a process's role
        self._lines_seen = len(result.lines)
        now = time.monotonic()
        if now - self._last < self.INTERVAL:
            return None
        self._last = now
        pids = self.tree.update(launched.pid for launched in live)
        self.diagnosis = self.detector.sample(pids, self.name, now)
        return self.diagnosis.summary() if self.diagnosis else None

    def name(self, pid: int) -> str:
        return self.roles.get(pid) or command(pid)

    def close(self) -> None:
        self.stacks.close()


class Run:
    """One run of one demo."""

    def __init__(self, demo: Demo, out: Optional[TextIO] = None, watcher: Optional[Watcher] = None,
                 timeout: Optional[float] = None, detect: bool = True):
        self.demo = demo
        self.out = out
        self.owns_watcher = watcher is None and detect
        self.watcher = DeadlockWatcher() if self.owns_watcher else watcher
        self.timeout = timeout if timeout is not None else demo.timeout
        self.result = Result(demo)
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
            diagnosis = getattr(self.watcher, "diagnosis", None)
            if diagnosis is not None:
                result.details["deadlock"] = diagnosis
                result.details["deadlock_seconds"] = diagnosis.reported_at - self.start  # on the lines' clock
                self._show(diagnosis.report())
            if diagnosis is None or demo.kind != "deadlock":
                result.problems.append(str(stop))
        finally:
            with _interrupts_deferred():  # a second Ctrl-C must not cut the cleanup short
                self._cleanup()
        if result.ok:
            self._check()
        return result

    def _cleanup(self) -> None:
        result = self.result
        try:
            self._end_everything()
            self._check_nothing_left()
            if "deadlock" in result.details:
                ended = ", ".join(stuck.label for stuck in result.details["deadlock"].stuck)
                self._show(f"harness: ended {ended}; " + (
                    "nothing left behind" if result.ok else "see the problems below"))
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.selector.close()
            if self.owns_watcher:
                self.watcher.close()
            result.seconds = time.monotonic() - self.start

    def _release(self) -> None:
        """Give back what __init__ took, for a run that never started."""
        self.selector.close()
        os.close(self.shared_r)
        os.close(self.shared_w)
        if self.owns_watcher:
            self.watcher.close()

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
            self._pump(lambda: client.finished)
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
        env.update(getattr(self.watcher, "environment", {}))  # where to dump a Python stack when asked
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        popen = subprocess.Popen(
            [sys.executable, str(program.path), *args, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.shared_w,
            cwd=ROOT, env=env, start_new_session=True,  # its own process group: ended as one
        )
        launched = Launched(role, popen)
        os.set_blocking(popen.stdout.fileno(), False)
        self.selector.register(popen.stdout, selectors.EVENT_READ, launched)
        self.launched.append(launched)
        return launched

    def _wait_ready(self, server: Launched) -> dict[str, str]:
        seen = len(self.result.lines)
        while True:
            for line in self.result.lines[seen:]:
                match = READY.match(line.text)
                if match:
                    return dict(item.split("=", 1) for item in match["fields"].split() if "=" in item)
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
        for key, _ in self.selector.select(min(TICK, remaining)):
            self._read(key.data)
        for launched in self.launched:
            if launched.closed and launched.popen.poll() is None:
                try:
                    launched.popen.wait(min(TICK, max(remaining, 0.001)))
                except subprocess.TimeoutExpired:
                    pass
        if self.watcher is not None:
            live = [launched for launched in self.launched if not launched.finished]
            problem = self.watcher(live, self.result)
            if problem:
                raise _Stop(problem)

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
        match = LABELLED.match(text)
        if match:
            line = Line(now, match["role"], int(match["pid"]), match["text"])
            self.last_speaker = next((p for p in self.launched if p.pid == line.pid), self.last_speaker)
        else:  # an unlabelled line (a traceback, say): most likely from whoever spoke last
            speaker = launched or self.last_speaker or self.launched[-1]
            line = Line(now, speaker.role if speaker else "?", speaker.pid if speaker else 0, text)
        self.result.lines.append(line)
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
        """End every process still running and reap it; note any that had to be ended."""
        running = {launched.pid for launched in self.launched if launched.popen.poll() is None}
        for pid in running:  # all at once, and once: a second SIGTERM would cut its cleanup short
            _signal_group(pid, signal.SIGTERM)
        for launched in self.launched:
            cut_short = launched.pid in running  # the run was cut short: it did not end by itself
            if cut_short:
                try:
                    launched.popen.wait(GRACE)
                except subprocess.TimeoutExpired:
                    _signal_group(launched.pid, signal.SIGKILL)
                    launched.popen.wait()
            survivors = _end_group(launched.pid, asked=cut_short)  # what it forked and left behind
            if survivors and self.result.ok and not cut_short:
                self.result.problems.append(f"{launched.role}[{launched.pid}] left processes running: {survivors}")
            if not launched.closed:
                os.set_blocking(launched.popen.stdout.fileno(), True)
                while not launched.closed:
                    self._read(launched)
            label = f"{launched.role}[{launched.pid}]"
            self.result.exit_codes[label] = launched.popen.returncode
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
            if demo.check is not None:
                result.problems.extend(demo.check(result))
            return
        for label, code in result.exit_codes.items():
            if code != 0:
                result.problems.append(f"{label} exited with {_describe_exit(code)}")
        if demo.kind == "exchange":
            problems, result.messages = check_exchange(result.lines, list(protocol.SAMPLE_REQUESTS), demo.clients)
            result.problems.extend(problems)
        else:  # a lesson: count the messages its processes said they sent and received
            result.messages = sum(1 for line in result.lines if MESSAGE.match(line.text))
        if demo.check is not None and result.ok:
            result.problems.extend(demo.check(result))


class _Stop(Exception):
    """Stop the run now, for the reason given."""


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back SIGINT for the block's length, then raise KeyboardInterrupt if one came."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set signal handlers; nothing to defer elsewhere
        return
    arrived = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if arrived:
        raise KeyboardInterrupt


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _end_group(pgid: int, asked: bool = False) -> list[int]:
    """SIGTERM what is left of the process group, then SIGKILL after GRACE. Returns the pids it found.

    asked: the group was sent SIGTERM already; give it GRACE to finish its cleanup, then SIGKILL."""
    members = _group_members(pgid)
    found = [process.pid for process in members]
    if asked and members:
        _, members = psutil.wait_procs(members, timeout=GRACE)
    for sig in (signal.SIGKILL,) if asked else (signal.SIGTERM, signal.SIGKILL):
        if not members:
            break
        _signal_group(pgid, sig)
        _, members = psutil.wait_procs(members, timeout=GRACE)  # not our children: it polls, never reaps ours
    return found


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def messages_of(lines: list[Line], role: str) -> dict[int, dict[str, list[str]]]:
    """For each process of that role: the messages it sent and received, in order."""
    by_pid: dict[int, dict[str, list[str]]] = {}
    for line in lines:
        if line.role != role:
            continue
        match = MESSAGE.match(line.text)
        if match:
            by_pid.setdefault(line.pid, {"sent": [], "received": []})[match["what"]].append(json.loads(match["quoted"]))
    return by_pid


def check_exchange(lines: list[Line], requests: list[str], clients: int) -> tuple[list[str], int]:
    """Problems with the exchange as the processes told it, and how many messages went by.

    Every client must send the requests in order and receive, for each, the
    answer ipc.protocol requires; the server must have received exactly what
    the clients sent and sent exactly what they received.
    """
    problems: list[str] = []
    client_talk = messages_of(lines, "client")
    server_talk = messages_of(lines, "server")
    if len(client_talk) != clients:
        problems.append(f"expected {clients} client(s) to talk, saw {len(client_talk)}")
    all_sent, all_received = [], []
    for pid, talk in client_talk.items():
        sent, received = talk["sent"], talk["received"]
        all_sent += sent
        all_received += received
        if sent != requests:
            problems.append(f"client[{pid}] sent {sent}, expected {requests}")
        if len(received) != len(sent):
            problems.append(f"client[{pid}] sent {len(sent)} message(s) but received {len(received)} answer(s)")
        for seq, (request, reply) in enumerate(zip(sent, received), start=1):
            if reply != protocol.answer(seq, request):
                problems.append(f"client[{pid}] got {reply!r} for {request!r}, expected {protocol.answer(seq, request)!r}")
    heard = [m for talk in server_talk.values() for m in talk["received"]]
    said = [m for talk in server_talk.values() for m in talk["sent"]]
    if server_talk or clients:
        if heard != all_sent:
            problems.append(f"the server received {heard}, but the clients sent {all_sent}")
        if said != all_received:
            problems.append(f"the server sent {said}, but the clients received {all_received}")
    return problems, len(all_sent) + len(all_received)


def run_demo(demo: Demo, out: Optional[TextIO] = None, watcher: Optional[Watcher] = None,
             timeout: Optional[float] = None, fix: bool = True, detect: bool = True) -> Result:
    """Run one demo and check it. A broken demo (kind "deadlock") must deadlock; then, unless fix
    is False, the demo named by its ``fixed_by`` runs too and must pass (result.details["fixed"]).
    detect=False turns the deadlock watcher off (a demo that hangs then runs into its timeout)."""
    result = Run(demo, out=out, watcher=watcher, timeout=timeout, detect=detect).execute()
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
            print(f"-- the fix: {fixed_demo.name} ({', '.join('demos/' + s for s in fixed_demo.scripts)})",
                  file=out, flush=True)
        fixed = run_demo(fixed_demo, out=out, timeout=timeout)
        result.details["fixed"] = fixed
        if not fixed.ok:
            result.problems.append(f"its fix, {fixed_demo.name}, failed: {'; '.join(fixed.problems)}")
    return result
