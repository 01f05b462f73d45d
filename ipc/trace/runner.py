"""Running programs under strace, and reading what it wrote. The only module of ipc.trace that does I/O.

The flags, and why:
    -f            follow every fork, vfork and clone: a conversation has two sides
    -ttt          absolute timestamps, so that two straces (a server and a client
                  started apart) merge into one time line
    -T            the time spent in each call: how long a blocked call waited
    -yy           what each fd is: pipe:[inode], UNIX-STREAM:[a->b], TCP:[a:p->b:p], paths
    -s 4096       whole messages (this project's limit is 4096 bytes); a longer string is cut, and the
                  model knows its length (the call's result) and that it was cut
    -e read=all -e write=all
                  only when asked (--full-data): every byte read or written, as hex dumps after each
                  call, which the model takes instead of the strings cut at -s
    -e trace=...  only the calls the model reads (names.TRACED_CALLS): not mmap, stat,
                  futex..., the bulk of an interpreter's start-up
    --seccomp-bpf with -e trace, the kernel stops the program only at those calls,
                  not at every call (bench/trace_overhead.py measures the difference)
    -o FILE       strace's lines go to a file of their own, in a private directory,
                  never mixed with the program's output
Not -X raw: strace's decoded flags (O_CLOEXEC, SOCK_STREAM) are what a student reads.

A demo run by the harness is traced from its main() instead (ipc.attach): it stops itself,
``strace -p PID`` attaches (-A: appending to the file, to which the harness adds the execve strace
did not see, stamped as main() begins) and the harness continues it. Without its start-up, the program makes
so few calls that losing --seccomp-bpf (strace installs that filter only in a program it starts)
costs less than the start-up did.

Which line made each call (ipc.trace.sources): every Python program traced here loads the start-up
hook (ipc/inject) with IPC_TRACE_CALLS naming a private ``ipc-calls-`` directory, and writes there a
record before each call of the lesson, which strace sees; a compiled program is traced with ``-k``
(each call's stack), where strace can, and ``addr2line`` (binutils) names its lines where the program was
built with -g. ``model`` builds the model and then reads what the pure model cannot: the lines
themselves, from the programs' files, and the C lines from addr2line.

``strace_argv`` wraps any launch argv; ``load`` builds one model from several
output files (a server and a client traced apart merge by timestamp).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

from ..attach import ENV
from ..inject import with_hook
from .build import build
from .instrumentation import ATTACHED
from .model import Trace
from .names import TRACED_CALLS
from .sources import LIBRARY_PATHS, Source, native_source, parse_addr2line

STRINGS = 4096
TICK = 0.05  # how often a running trace is looked at
ATTACH_WITHIN = 10.0  # seconds a program may take to reach main(), or strace to attach to it
INSTALL = "install it with: apt-get install strace (Debian, Ubuntu), dnf install strace (Fedora)"
FILE_LINES = 5000  # a program's file longer than this is not copied whole into a picture (its lines still are)


class TraceError(Exception):
    """Tracing cannot start; ``code`` is the exit code for the CLI (2: no strace, 126/127: no command)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


class Stopped(BaseException):
    """Raised (by a signal handler of the caller) to end a trace early; the trace so far is kept."""


@dataclass
class Traced:
    code: int  # the command's own exit code (128+N when signal N ended it)
    trace: Trace
    texts: list = field(default_factory=list)  # strace's output, one text per traced program
    ended: Optional[str] = None  # why it was ended early: "timeout", "interrupted", "terminated"


def strace_argv(
    argv: Sequence[str],
    output: str,
    *,
    strings: int = STRINGS,
    every_call: bool = False,
    seccomp: bool = True,
    strace: str = "strace",
    full_data: bool = False,
    stacks: bool = False,
) -> list:
    """``argv`` run under strace, writing its trace to ``output``. For launching a program yourself.
    ``full_data``: every byte read and written too, as hex dumps (not cut at ``strings``); ``stacks``: each
    call's stack (-k), for a compiled program's lines."""
    selection = [] if every_call else ["-e", "trace=" + ",".join(TRACED_CALLS)]
    fast = ["--seccomp-bpf"] if seccomp and not every_call else []
    dumps = FULL_DATA if full_data else []
    return [strace, "-f", *(["-k"] if stacks else []), *fast, "-ttt", "-T", "-yy", "-s", str(strings), *selection,
            *dumps, "-o", output, "--", *argv]  # fmt: skip


FULL_DATA = ["-e", "read=all", "-e", "write=all"]  # every byte of every read and write, dumped in hex


def load(paths: Sequence[str], roles: Optional[dict] = None) -> Trace:
    """One model from strace output files (of programs traced apart: merged by timestamp)."""
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            texts.append(file.read())
    return model(texts, roles)


def model(texts: Sequence[str], roles: Optional[dict] = None, housekeeping: bool = False) -> Trace:
    """The model of strace's texts (ipc.trace.build), with each call's source line read: the text of every
    line a record names, the programs' files for the pictures, a compiled program's lines from addr2line."""
    trace = build(texts, roles, housekeeping=housekeeping)
    read_sources(trace)
    return trace


def read_sources(trace: Trace) -> None:
    """What the pure model cannot know: a native call's file and line (addr2line on its stack), the text of
    every line named, and each program's file (``trace.files``) where it can be read."""
    _native_sources(trace)
    files: dict = {}
    for call in trace.calls:
        if call.source is not None:
            call.source = _with_text(call.source, files)
    for record in trace.python_calls:
        record.source = _with_text(record.source, files)
    programs = {call.source.file for call in trace.calls if call.source is not None and call.source.line is not None}
    trace.files = {path: files[path] for path in sorted(programs) if files.get(path) and len(files[path]) <= FILE_LINES}


def _with_text(source: Source, files: dict) -> Source:
    """The source with its line's text, and its library frame's (read once per file)."""
    library = source.library
    if library is not None and library.line is not None and not library.text:
        library = replace(library, text=_line(_lines(library.file, files), library.line))
    text = source.text or _line(_lines(source.file, files), source.line) if source.line is not None else source.text
    return replace(source, text=text, library=library)


def _lines(path: str, files: dict) -> list:
    if path not in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as file:
                files[path] = file.read().splitlines()
        except (OSError, ValueError):
            files[path] = []
    return files[path]


def _line(lines: list, number: Optional[int]) -> str:
    return lines[number - 1].strip() if number is not None and 0 < number <= len(lines) else ""


def _native_sources(trace: Trace) -> None:
    """The C line of each call whose stack strace printed (-k), named by addr2line where the program was built
    with -g: the frames in the program itself (not in a library), each address asked once per program, and
    ipc.trace.sources.native_source picks the program's own line."""
    wanted: dict = {}  # binary -> {address: None}
    own_frames = []
    for call in trace.calls:
        if call.source is None and call.stack:
            own = [f for f in call.stack if not f[0].startswith(LIBRARY_PATHS) and ".so" not in f[0]]
            if own:
                # The address is where the call returns to: one byte back is the call itself.
                frames = [(binary, function, hex(max(int(address, 16) - 1, 0))) for binary, function, address in own]
                own_frames.append((call, frames))
                for binary, _, address in frames:
                    wanted.setdefault(binary, {})[address] = None
    places = {binary: dict(zip(addresses, _addr2line(binary, list(addresses)))) for binary, addresses in wanted.items()}
    for call, frames in own_frames:
        chain = [place for binary, _, address in frames for place in places[binary][address]]
        call.source = native_source(chain, frames[0][0], frames[0][1])


def _addr2line(binary: str, addresses: list) -> list:
    """For each address, its places [(path, line, function)], innermost first; [] where addr2line cannot say
    (no -g, no addr2line)."""
    unknown = [[] for _ in addresses]
    if not addresses or not shutil.which("addr2line") or not os.path.exists(binary):
        return unknown
    try:
        done = subprocess.run(
            ["addr2line", "--addresses", "--functions", "--inlines", "-e", binary, *addresses],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return unknown
    groups = parse_addr2line(done.stdout)
    return groups if len(groups) == len(addresses) else unknown


def native(program: str) -> bool:
    """A compiled program (ELF), not an interpreter running a script: its stack can name its source lines."""
    path = program if "/" in program else shutil.which(program)
    if not path or os.path.basename(os.path.realpath(path)).startswith(("python", "pypy")):
        return False
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"\x7fELF"
    except OSError:
        return False


def why_no_native_lines() -> Optional[str]:
    """None where a compiled program's calls can be given their C lines (strace -k, addr2line); else what is
    missing, in one line, with how to get it. Asked once."""
    if "stacks" not in _checked:
        try:
            probe = subprocess.run(["strace", "-k", "-e", "trace=none", "-o", os.devnull, "--", "true"],
                                   capture_output=True, text=True, timeout=20)  # fmt: skip
            _checked["stacks"] = probe.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _checked["stacks"] = False
    if not _checked["stacks"]:
        return "no C lines: this strace cannot print stacks (-k); Debian's and Fedora's can (apt-get install strace)"
    if shutil.which("addr2line") is None:
        return "no C lines: addr2line is missing; install it with: apt-get install binutils"
    return None


_checked: dict = {}
_probing = threading.Lock()


def check_strace() -> bool:
    """Raise TraceError unless strace can trace here; return whether --seccomp-bpf works. Asked once."""
    if "seccomp" in _checked:
        return _checked["seccomp"]
    if shutil.which("strace") is None:
        raise TraceError(f"strace is not installed; {INSTALL}")
    try:
        probe = subprocess.run(
            ["strace", "-f", "--seccomp-bpf", "-e", "trace=execve", "-o", os.devnull, "--", "true"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        raise TraceError("strace did not answer within 20 s") from None
    if probe.returncode != 0:
        if "ptrace" in probe.stderr or "permitted" in probe.stderr:
            raise TraceError(
                "strace cannot trace here: ptrace is not permitted (in a container, add the "
                "SYS_PTRACE capability; or set kernel.yama.ptrace_scope to 0)"
            )
        raise TraceError(f"strace does not work here: {probe.stderr.strip().splitlines()[-1:] or probe.returncode}")
    _checked["seccomp"] = "seccomp" not in probe.stderr.lower()  # an old strace or kernel warns and goes on
    return _checked["seccomp"]


def check_attach() -> bool:
    """Whether strace may attach to a program that stopped itself (ipc.attach's way). Asked once, of a
    tiny program; where it may not (Yama's scope 2 or 3, a container without SYS_PTRACE), the harness
    traces every demo from its start instead."""
    with _probing:  # several runs in threads (ipc run -j) ask at once: one probe
        if "attach" not in _checked:
            check_strace()
            _checked["attach"] = _probe_attach()
    return _checked["attach"]


def _probe_attach() -> bool:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # where ipc/ is
    env = {**os.environ, ENV: "1", "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    stops = "from ipc import program; program.run(int, 'probe')"  # as a demo does: it stops before main()
    program = subprocess.Popen([sys.executable, "-c", stops], env=env, **quiet)
    tracer = None
    try:
        deadline = time.monotonic() + ATTACH_WITHIN
        if not _wait_stopped(program.pid, deadline):
            return False
        tracer = subprocess.Popen(["strace", "-p", str(program.pid), "-o", os.devnull], **quiet)
        return _attached(program.pid, tracer, deadline)
    except TraceError:
        return False
    finally:
        for process in (program, tracer):
            if process is not None:
                process.kill()  # a stopped program dies of SIGKILL too
                process.wait(ATTACH_WITHIN)


def runnable(argv: Sequence[str]) -> None:
    """TraceError (127, 126) if argv cannot be run: strace would only say so in a line of its own."""
    program = argv[0]
    path = program if "/" in program else shutil.which(program)
    if path is None or not os.path.exists(path):
        raise TraceError(f"{program}: command not found", 127)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise TraceError(f"{program}: permission denied", 126)


def trace_command(
    argv: Sequence[str],
    *,
    timeout: Optional[float] = None,
    every_call: bool = False,
    strings: int = STRINGS,
    housekeeping: bool = False,
    full_data: bool = False,
    **popen,
) -> Traced:
    """Run argv under strace to its end (or until ``timeout`` s), then build the model (with the
    start-up file reads: ``housekeeping``). Nothing here watches for a deadlock: ``ipc trace -- COMMAND``
    runs under ipc.watch, which does.

    On every way out, Ctrl-C included, every traced process has ended and the
    private directory of the trace is gone."""
    if not argv:
        raise TraceError("no command given")
    seccomp = check_strace()
    runnable(argv)
    stacks = native(argv[0]) and why_no_native_lines() is None
    with _TraceDirectory() as directory, _TraceDirectory("ipc-calls-") as records:
        output = os.path.join(directory, "trace.txt")
        popen["env"] = with_hook(popen.get("env") or os.environ, records)
        run = TracedRun(
            strace_argv(
                argv,
                output,
                strings=strings,
                every_call=every_call,
                seccomp=seccomp,
                full_data=full_data,
                stacks=stacks,
            ),  # fmt: skip
            output,
            **popen,
        )
        ended = run.wait(timeout)
        text = run.text()
    trace = model([text], housekeeping=housekeeping)
    return Traced(_exit_code(trace, run.popen.returncode), trace, [text], ended)


class Recording:
    """The strace output files of one run (the harness's, ipc watch's), in a private directory.

    Two ways to trace a program, each writing a file of its own:
    ``wrap(argv, name)`` is the argv to launch instead (strace starts the program: every call from
    its execve on); ``attach(keeper, popen, argv, name)`` traces a demo launched with
    ``attach_environment`` from its main() on (see ipc.attach: the interpreter's start-up, hundreds
    of stops, is not traced). ``model()`` reads every file into one model, as often as asked (while
    the programs still run, too: a deadlock drawn as it stood); ``settle()`` lets the attached
    straces finish their files; ``close()`` removes them."""

    def __init__(self, full_data: bool = False) -> None:
        self.seccomp = check_strace()  # TraceError, with how to get strace, before anything is made
        self.full_data = full_data  # every byte read and written, dumped in hex (ipc trace --full-data)
        self.directory = tempfile.mkdtemp(prefix="ipc-trace-")  # mode 0700
        self.records = tempfile.mkdtemp(prefix="ipc-calls-")  # the Python programs' records of their calls
        self.files: list[str] = []
        self.tracers: list[subprocess.Popen] = []  # the straces attach() started

    def wrap(self, argv: Sequence[str], name: str) -> list:
        stacks = native(argv[0]) and why_no_native_lines() is None  # a compiled program: its C lines
        return strace_argv(argv, self._new_file(name), seccomp=self.seccomp, full_data=self.full_data, stacks=stacks)

    sources = True  # the Python programs keep records of their calls (bench/trace_overhead.py measures without)

    def environment(self, env: dict) -> dict:
        """``env`` for a program traced here: its Python programs load the start-up hook and keep records of
        their calls (which line made each one) for the model."""
        return with_hook(env, self.records) if self.sources else dict(env)

    @property
    def can_attach(self) -> bool:
        return check_attach()

    @staticmethod
    def attach_environment() -> dict:
        """For a program to be traced by attach(): it stops itself before main() (ipc.attach)."""
        return {ENV: "1"}

    def attach(self, keeper, popen: subprocess.Popen, argv: Sequence[str], name: str) -> Optional[int]:
        """Trace ``popen`` (launched with attach_environment) from its main() on: wait until it has stopped
        itself, attach strace, continue it. The strace's pid, or None when the program ended before main()."""
        path = self._new_file(name)
        if not _wait_stopped(popen.pid, time.monotonic() + ATTACH_WITHIN):
            return None
        errors = path + ".errors"
        with open(errors, "w") as stderr:
            tracer = keeper.launch(
                attach_argv(popen.pid, path, full_data=self.full_data),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        self.tracers.append(tracer)
        if not _attached(popen.pid, tracer, time.monotonic() + ATTACH_WITHIN):
            os.kill(popen.pid, signal.SIGKILL)  # stopped for good otherwise
            with open(errors, encoding="utf-8", errors="replace") as said:
                last = said.read().strip().splitlines()[-1:]
            raise TraceError(f"strace could not attach to {name}[{popen.pid}]: {last or 'no answer'}")
        with open(path, "a", encoding="utf-8") as file:  # strace appends too (-A): what it did not see
            file.write(_execve_line(popen.pid, argv))  # stamped now: main() is about to begin
        os.kill(popen.pid, signal.SIGCONT)
        return tracer.pid

    def settle(self, within: float = 2.0) -> None:
        """Wait (a while) for the attached straces to end on their own, their files complete: they end
        once every program they trace has."""
        deadline = time.monotonic() + within
        for tracer in self.tracers:
            try:
                tracer.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return

    @property
    def tracer_pids(self) -> list[int]:
        return [tracer.pid for tracer in self.tracers]

    def texts(self) -> list[str]:
        texts = []
        for path in self.files:
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="surrogateescape") as file:
                    texts.append(file.read())
        return texts

    def texts_showing(self, blocked: dict, within: float = 0.5) -> list[str]:
        """The texts, once each thread ``blocked`` names (tid -> call) shows that call begun and not
        returned: strace may write a call's first half a moment after the program is already waiting in
        it. At most ``within`` seconds; then the texts as they are."""
        deadline = time.monotonic() + within
        while True:
            texts = self.texts()
            if all(_shows_blocked(texts, tid, call) for tid, call in blocked.items()) or time.monotonic() > deadline:
                return texts
            time.sleep(0.01)

    def model(self, roles: Optional[dict] = None, housekeeping: bool = False, texts: Optional[list] = None) -> Trace:
        return model(self.texts() if texts is None else texts, roles, housekeeping=housekeeping)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        shutil.rmtree(self.records, ignore_errors=True)

    def _new_file(self, name: str) -> str:
        path = os.path.join(self.directory, f"{len(self.files)}-{name}.strace")
        self.files.append(path)
        return path


def attach_argv(pid: int, output: str, strings: int = STRINGS, full_data: bool = False) -> list:
    """strace attached to a running program: as strace_argv, but without --seccomp-bpf (strace can only
    install that filter in a program it starts) and appending (-A) to what the file already has."""
    selection = ["-e", "trace=" + ",".join(TRACED_CALLS)] + (FULL_DATA if full_data else [])
    return ["strace", "-f", "-ttt", "-T", "-yy", "-s", str(strings), *selection, "-A", "-o", output, "-p", str(pid)]


def _wait_stopped(pid: int, deadline: float) -> bool:
    """Until our child ``pid`` has stopped (True) or ended (False), or the deadline (TraceError)."""
    while time.monotonic() < deadline:
        try:
            state = os.waitid(os.P_PID, pid, os.WSTOPPED | os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        if state is not None:
            return state.si_code in (os.CLD_STOPPED, os.CLD_TRAPPED)
        time.sleep(0.001)
    raise TraceError(f"process {pid} did not reach main() within {ATTACH_WITHIN:g} s, to be traced")


def _attached(pid: int, tracer: subprocess.Popen, deadline: float) -> bool:
    """Until strace has attached to ``pid`` (True), or has ended without, or the deadline (False)."""
    while not _traced(pid):
        if tracer.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def _traced(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in status)
    except OSError:
        return False


def _execve_line(pid: int, argv: Sequence[str]) -> str:
    """The execve strace would have shown, had it started the program: it names the process."""
    quoted = ", ".join(_quoted(arg) for arg in argv)
    environment = f"0x0 /* {ATTACHED} */"
    return f"{pid} {time.time():.6f} execve({_quoted(argv[0])}, [{quoted}], {environment}) = 0 <0.000000>\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _TraceDirectory:
    def __init__(self, prefix: str = "ipc-trace-") -> None:
        self.prefix = prefix

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix=self.prefix)  # mode 0700
        return self.path

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class TracedRun:
    """One strace process and the programs it traces: started, watched, ended on every way out.

    ``TracedRun(strace_argv(argv, path), path, stderr=PIPE)`` starts a program
    (a server, say) whose trace is read later with ``text()`` or ``load``. The
    processes are kept by an ipc.processes.Keeper, in our process group (Ctrl-C
    reaches them as it would without strace)."""

    def __init__(self, argv: list, output: str, **popen):
        from ..processes import Keeper  # psutil is needed from here on, not to read a trace

        self.output = output
        self.keeper = Keeper()
        self.popen = self.keeper.launch(argv, new_session=False, **popen)

    def text(self) -> str:
        try:
            with open(self.output, encoding="utf-8", errors="surrogateescape") as file:
                return file.read()
        except FileNotFoundError:
            return ""

    def wait(self, timeout: Optional[float] = None) -> Optional[str]:
        """Until strace exits; or end it all after ``timeout`` s ("timeout"), or on Ctrl-C ("interrupted")
        or Stopped ("terminated")."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while self.popen.poll() is None:
                time.sleep(TICK)
                if deadline is not None and time.monotonic() > deadline:
                    return "timeout"
            return None
        except KeyboardInterrupt:
            return "interrupted"
        except Stopped:
            return "terminated"
        finally:
            self.end()  # whatever is still running (a daemon it left behind, too)

    def end(self) -> None:
        """SIGTERM everything it started (strace blocks it and waits for its programs), SIGKILL what is
        left after a grace period, reap. Done twice, the second time finds nothing."""
        self.keeper.close()


def _shows_blocked(texts: list[str], tid: int, call: str) -> bool:
    """Whether a strace text's last line about ``tid`` is ``call`` begun and not yet returned."""
    for text in texts:
        for line in reversed(text.splitlines()):
            words = line.replace("[pid", "").lstrip().split(None, 2)
            if words[:1] == [str(tid)] and len(words) == 3:
                return words[2].startswith(call + "(") and (") = " not in words[2] or "<unfinished" in words[2])
    return False


def _exit_code(trace: Trace, strace_code: int) -> int:
    """The command's own code, as a shell gives it: from the traced root, else from strace."""
    roots = [p for p in trace.processes.values() if p.parent is None and p.strace_text == 0]
    if roots:
        root = min(roots, key=lambda p: p.seq)
        if root.killed_by:
            number = getattr(signal, root.killed_by, None)
            return 128 + int(number) if number is not None else 128
        if root.exit_code is not None:
            return root.exit_code
    return 128 - strace_code if strace_code < 0 else strace_code
