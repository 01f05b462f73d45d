"""Starting a program nobody wrote for this project, and keeping it contained.

One ``Sandbox`` per check: a private 0700 directory (the programs' TMPDIR, and
where ``{dir}`` and ``{path}`` point), every program launched in a process
group of its own (ipc.processes.Keeper: followed, ended, reaped), and limits
a student's program cannot talk its way out of:

- ``RLIMIT_NPROC`` in each program started (where it applies: not to root), and a
  watchdog that counts the processes of its groups and ends them all once there
  are more than ``max_processes`` (a fork bomb is stopped and said so);
- a deadline on every wait (the caller's), and on the whole check;
- on every way out, every process ended (SIGTERM, then SIGKILL) and reaped, the
  directories removed.

Under ``trace=True`` each program runs under strace (ipc.trace.runner's flags;
``-k``, the stack of every call, for a native program, so that a finding can
name its C line), and a Python program records where in its source each call
of the lesson was made (the start-up hook, ipc/inject): ``model()`` gives the
trace model, each call with its source where it can be known (ipc.trace.sources).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

from ..inject import CALLS, with_hook
from ..processes import GRACE, Keeper, send_group
from ..transcript import parse_label, parse_line
from .failure import CheckFailed, NoAnswer

MAX_PROCESSES = 64  # a check's programs may run this many processes at once, forked children included
WATCHDOG_TICK = 0.02  # how often the watchdog counts
STDOUT_KEPT = 1 << 20  # bytes of a program's stdout kept as evidence


class Program:
    """One program a check started. Its stderr lines are read as they come (and its stdout, unless a
    peer reads it: a filter's answers); ``lines`` holds them, labelled or not."""

    def __init__(self, sandbox: "Sandbox", popen: subprocess.Popen, role: str, argv: Sequence[str]):
        self.sandbox, self.popen, self.role, self.argv = sandbox, popen, role, list(argv)
        self.lines: list[str] = []
        self.stdout = bytearray()
        self.labels: dict[int, str] = {}  # pid -> role, from its labelled lines
        self.started = time.monotonic()
        self.ended_by_itself: Optional[str] = None  # how it ended, when it did before it was stopped
        self._changed = threading.Condition()
        self._open_streams = 0
        self._threads = []
        self._cursor = 0
        streams = [(popen.stderr, True)] + ([(popen.stdout, False)] if sandbox._reads_stdout(popen) else [])
        for stream, is_stderr in streams:
            self._open_streams += 1
            thread = threading.Thread(target=self._read, args=(stream, is_stderr), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, stream, is_stderr: bool) -> None:
        pending = b""
        fd = stream.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                break
            if not is_stderr:
                with self._changed:
                    if len(self.stdout) < STDOUT_KEPT:
                        self.stdout += data[: STDOUT_KEPT - len(self.stdout)]
                continue
            *complete, pending = (pending + data).split(b"\n")
            with self._changed:
                for raw in complete:
                    self._add(raw.decode("utf-8", "replace"))
                self._changed.notify_all()
        with self._changed:
            if pending:
                self._add(pending.decode("utf-8", "replace"))
            self._open_streams -= 1
            self._changed.notify_all()

    def _add(self, text: str) -> None:
        self.lines.append(text)
        labelled = parse_label(text[:80])
        if labelled:
            self.labels[labelled[1]] = labelled[0]

    @property
    def code(self) -> Optional[int]:
        """Its exit code once it ended (-N: killed by signal N), else None."""
        return self.popen.poll()

    def wait_for_line(self, pattern: str, deadline: float, anywhere: bool = False) -> re.Match:
        """The next line of stderr that matches (each call looks after the last match; anywhere: from the start)."""
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
                if self._open_streams == 0 or self.popen.poll() is not None:
                    raise CheckFailed(f"{self.role} ended before printing /{pattern}/ ({self.ending()})")
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise NoAnswer(f"{self.role} printed no line matching /{pattern}/ within {deadline:g} s")
                self._changed.wait(min(remaining, 0.05))

    def ready_fields(self) -> Optional[dict]:
        """The fields of its first ``ready: key=value ...`` line, labelled or not, if it printed one."""
        with self._changed:
            for text in self.lines:
                line = parse_line(text) or parse_line("program[0]: " + text)
                if line is not None and line.ready is not None:
                    return line.ready
        return None

    def ending(self) -> str:
        code = self.popen.poll()
        if code is None:
            return "still running"
        return f"exit code {code}" if code >= 0 else f"killed by signal {-code}"

    def finish(self, deadline: float) -> int:
        """Wait for it to end by itself; NoAnswer (after ending it) if it does not within the deadline."""
        try:
            self.popen.wait(deadline)
        except subprocess.TimeoutExpired:
            self.stop()
            raise NoAnswer(f"{self.role} did not end within {deadline:g} s of its end of file: it was ended") from None
        self.join()
        return self.popen.returncode

    def stop(self) -> int:
        """SIGTERM to its process group (as from kill), SIGKILL after GRACE; reaped, its output read to the end."""
        if self.popen.poll() is None:
            self.sandbox._end_traced(self)
            self.sandbox.keeper.end([self.popen.pid])
        elif self.ended_by_itself is None:
            self.ended_by_itself = self.ending()
        self.join()
        return self.popen.returncode

    def join(self) -> None:
        for thread in self._threads:
            thread.join(GRACE)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None and not stream.closed and not self._threads_alive():
                stream.close()

    def _threads_alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def text(self, limit: int = 40) -> list[str]:
        """Its last lines of stderr, for evidence."""
        with self._changed:
            return self.lines[-limit:]


class Sandbox:
    """The processes, files and trace of one check. A context manager: nothing is left on the way out."""

    def __init__(self, trace: bool = False, watch: bool = False, max_processes: int = MAX_PROCESSES):
        self.trace, self.max_processes = trace, max_processes
        self.keeper = Keeper()
        self.directory = tempfile.mkdtemp(prefix="ipc-check-")  # mode 0700
        self.dir = os.path.join(self.directory, "dir")  # {dir}: an empty directory of the program's own
        os.mkdir(self.dir, 0o700)
        self.private = tempfile.mkdtemp(prefix="ipc-check-trace-")  # strace's files
        self.calls = tempfile.mkdtemp(prefix="ipc-calls-")  # the Python programs' records of their calls
        self.programs: list[Program] = []
        self.strace_files: dict[int, str] = {}  # strace's pid -> its output file
        self.traced_roles: list[str] = []  # the role of each strace file, in order (a process's Trace source)
        self.texts: Optional[list[str]] = None
        self.contained: Optional[str] = None  # why the watchdog ended everything
        self.left_behind: list[str] = []  # files the programs left in the directory
        self._seccomp = False
        if trace:
            from ..trace.runner import check_strace

            self._seccomp = check_strace()  # TraceError (no strace) before anything runs
        self.watcher = None
        if watch:
            from ..deadlock import Watcher

            self.watcher = Watcher(self.keeper, closed_world=False)  # a server's port is open to anyone
        self._nproc = _process_limit(max_processes)
        self._stop = threading.Event()
        self._groups: list[int] = []
        self._groups_lock = threading.Lock()
        self._watchdog = threading.Thread(target=self._watch_count, daemon=True)
        self._watchdog.start()
        self._stdout_pipes: set[int] = set()
        self._closed = False

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- starting ------------------------------------------------------------------------------------

    def fields(self, **known: str) -> dict[str, str]:
        """What fills a command's placeholders: {dir}, {path} (a socket file to be), and whatever is known."""
        return {"dir": self.dir, "path": os.path.join(self.directory, "server.sock"), "host": "127.0.0.1", **known}

    def launch(self, argv: Sequence[str], role: str, *, stdin=subprocess.DEVNULL, stdout_to_peer: bool = False,
               cwd: Optional[str] = None) -> Program:  # fmt: skip
        """Start argv (already filled in). stdout_to_peer: its stdout is a pipe a peer reads (a filter)."""
        if self._closed:
            raise RuntimeError("this sandbox is closed")
        env = self._environment()
        launched = list(argv)
        output = None
        if self.trace:
            from ..trace.runner import native, strace_argv, why_no_native_lines

            output = os.path.join(self.private, f"{len(self.strace_files)}-{role}.strace")
            stacks = native(argv[0]) and why_no_native_lines() is None  # each call's stack: its C line (addr2line)
            launched = strace_argv(argv, output, seccomp=self._seccomp, stacks=stacks)
            self.traced_roles.append(role)
        try:
            popen = self.keeper.launch(
                launched,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                preexec_fn=self._limit,
            )
        except FileNotFoundError:
            raise CheckFailed(f"{argv[0]}: command not found") from None
        except PermissionError:
            raise CheckFailed(f"{argv[0]}: permission denied") from None
        if stdout_to_peer:
            self._stdout_pipes.add(popen.pid)
        if output is not None:
            self.strace_files[popen.pid] = output
            if self.watcher is not None:
                self.watcher.transparent.add(popen.pid)  # strace itself is no part of the exchange
        with self._groups_lock:
            self._groups.append(popen.pid)
        program = Program(self, popen, role, argv)
        self.programs.append(program)
        return program

    def _reads_stdout(self, popen: subprocess.Popen) -> bool:
        return popen.pid not in self._stdout_pipes

    def _end_traced(self, program: Program) -> None:
        """SIGTERM to a traced program itself, not to strace: strace goes on tracing its cleanup (the unlink of
        its socket file, the waitpid of its children) and ends with it. What is left, the keeper ends."""
        if program.popen.pid not in self.strace_files or program.popen.poll() is not None:
            return
        from .. import procfs

        for pid in procfs.children(program.popen.pid) or []:
            for signum in (signal.SIGTERM, signal.SIGCONT):  # (continued, if it was stopped: as kill does)
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
        try:
            program.popen.wait(GRACE)  # strace ends once every process it traces has
        except subprocess.TimeoutExpired:
            pass

    def pids_of(self, trace, role: str) -> set:
        """The traced processes of the programs of one role (and all they forked): those of their strace texts.
        (Read from the texts' own first column: the model does not say which text a process came from.)"""
        tids = set()
        for text, traced in zip(self.texts or [], self.traced_roles):
            if traced == role:
                tids |= {
                    int(word)
                    for word in (line.split(None, 1)[0] for line in text.splitlines() if line)
                    if word.isdigit()
                }
        return {pid for pid, process in trace.processes.items() if pid in tids or tids & set(process.threads)}

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONUNBUFFERED", CALLS)}
        env = with_hook(env, self.calls if self.trace else None)  # its lines when it waits, and for each call
        env.update(TMPDIR=self.directory, PYTHONDONTWRITEBYTECODE="1")
        if self.watcher is not None:
            env.update(self.watcher.environment)
        return env

    def _limit(self) -> None:
        """In the child, before exec: its share of processes (RLIMIT_NPROC counts every process of the user)."""
        if self._nproc is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_NPROC, (self._nproc, self._nproc))

    # -- watching ------------------------------------------------------------------------------------

    def _watch_count(self) -> None:
        while not self._stop.wait(WATCHDOG_TICK):
            with self._groups_lock:
                groups = set(self._groups)
            if not groups:
                continue
            members = _group_members(groups)
            if len(members) > self.max_processes + len(groups):  # + the programs' straces
                self.contained = (
                    f"it ran more than {self.max_processes} processes at once ({len(members)} counted): "
                    "every one was ended (a fork bomb, or fork() in a loop whose children never exit)"
                )
                end = time.monotonic() + 2 * GRACE
                while _group_members(groups) and time.monotonic() < end:
                    for group in groups:
                        send_group(group, signal.SIGKILL)  # a process that forks in a loop gets no grace
                    time.sleep(0.01)
                return

    def look(self):
        """One look for a deadlock among the programs (a Diagnosis, or None); names them by their lines first."""
        if self.watcher is None:
            return None
        for program in self.programs:
            for pid, role in list(program.labels.items()):
                self.watcher.call(pid, role)
        roots = [program.popen.pid for program in reversed(self.programs) if program.popen.poll() is None]
        return self.watcher.look(roots) if roots else None

    def wait_for(self, program: Program, deadline: float) -> Optional[object]:
        """Until the program ends, a deadlock is seen among the programs (returned), or the deadline
        (NoAnswer). The watchdog's containment ends it too."""
        end = time.monotonic() + deadline
        while program.popen.poll() is None:
            diagnosis = self.look()
            if diagnosis is not None:
                return diagnosis
            if time.monotonic() > end:
                raise NoAnswer(f"{program.role} did not end within {deadline:g} s")
            try:
                program.popen.wait(0.03)
            except subprocess.TimeoutExpired:
                pass
        return None

    # -- ending --------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for program in self.programs:
                if program.popen.poll() is not None and program.ended_by_itself is None:
                    program.ended_by_itself = program.ending()
            for program in self.programs:
                self._end_traced(program)
            self.keeper.close()  # SIGTERM, GRACE, SIGKILL; reaped
            for program in self.programs:
                program.join()
            self._stop.set()
            self._watchdog.join(GRACE)
            self.left_behind = sorted(
                str(path.relative_to(self.directory))
                for path in Path(self.directory).rglob("*")
                if path != Path(self.dir)
            )
            if self.trace:
                self.texts = []
                for output in self.strace_files.values():
                    try:
                        with open(output, encoding="utf-8", errors="surrogateescape") as file:
                            self.texts.append(file.read())
                    except FileNotFoundError:  # strace never started: an empty text keeps the others' places
                        self.texts.append("")
        finally:
            if self.watcher is not None:
                self.watcher.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            shutil.rmtree(self.private, ignore_errors=True)
            shutil.rmtree(self.calls, ignore_errors=True)

    def model(self):
        """After close(): the trace model of every program started (None untraced, or if strace wrote
        nothing), each call with its source line where it can be known (ipc.trace.sources)."""
        if not self.texts or not any(self.texts):
            return None
        from ..trace.runner import model

        return model(self.texts)


def _group_members(groups: set) -> list[int]:
    """The live processes in these process groups (from /proc/PID/stat), zombies left out."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                text = file.read()
        except OSError:
            continue
        fields = text[text.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) in groups:
            found.append(int(name))
    return found


def _process_limit(max_processes: int) -> Optional[int]:
    """RLIMIT_NPROC for the programs: what this user runs now, plus their share. None for root (exempt)."""
    if os.geteuid() == 0 or not sys.platform.startswith("linux"):
        return None
    uid, tasks = os.getuid(), 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as file:
                status = dict(line.split(":", 1) for line in file if ":" in line)
        except OSError:
            continue
        if int(status.get("Uid", "-1").split()[0]) == uid:
            tasks += int(status.get("Threads", "1"))
    return tasks + 2 * max_processes  # room for the watchdog to see the excess first, and for strace
