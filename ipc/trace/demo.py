"""``ipc trace NAME``, for now: a catalog demo's scripts run directly, each under its own strace.

A prototype until the harness (server first, readiness, checks, cleanup) can
launch its processes under strace itself, with ``runner.strace_argv`` and
``runner.load``: the server starts first and the client(s) once it said
``ready:``, as ``ipc run`` does; each program is traced apart and the traces
are merged by timestamp. A broken demo is ended once its deadlock formed.
Its output passes through as the programs write it.
"""

from __future__ import annotations

import io
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional, TextIO

from ..catalog import Demo
from ..protocol import SAMPLE_REQUESTS
from ..transcript import parse_line
from . import runner
from .build import build


def trace_demo(demo: Demo, timeout: Optional[float] = None, err: Optional[TextIO] = None) -> runner.Traced:
    """Run the demo under strace and return the merged model; ``code`` is 0 when it did what it should
    (a broken demo: it deadlocked), else 1. The server's lines go to ``err`` (None: nowhere); the
    clients' go where ours do."""
    err = err if err is not None else io.StringIO()
    seccomp = runner.check_strace()
    deadline = time.monotonic() + (timeout or demo.timeout)
    with tempfile.TemporaryDirectory(prefix="ipc-trace-") as directory:
        env = dict(os.environ, TMPDIR=directory, PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(demo.client.path.parents[1]),
                                                            os.environ.get("PYTHONPATH")])))
        runs: list = []
        try:
            return _run(demo, directory, env, runs, deadline, seccomp, err)
        finally:
            for run in runs:  # on every way out, nothing traced is left running
                run.end()


def _run(demo: Demo, directory: str, env: dict, runs: list, deadline: float, seccomp: bool,
         err: TextIO) -> runner.Traced:
    def start(name: str, program, args: list, **popen) -> runner.TracedRun:
        output = os.path.join(directory, f"{name}.strace")
        argv = runner.strace_argv([sys.executable, str(program.path), *args], output, seccomp=seccomp)
        run = runner.TracedRun(argv, output, env=env, stdin=subprocess.DEVNULL, **popen)
        runs.append(run)
        return run

    def merged(_=None):
        return build([run.text() for run in runs])

    fields: dict = {}
    if demo.server is not None:
        server = start("server", demo.server, list(demo.server.args), stderr=subprocess.PIPE)
        fields = _ready(server, deadline, err)
    extra = list(SAMPLE_REQUESTS) if demo.kind == "exchange" else []
    ended, stopped = None, None
    for number in range(demo.clients):
        client = start(f"client{number}", demo.client, [a.format(**fields) for a in demo.client.args] + extra)
        seen: list = []
        ended = client.wait(max(deadline - time.monotonic(), 0.1), lambda _, seen=seen: _stuck(merged(), seen))
        if ended == "deadlock":
            stopped = seen[-1]
            break
        if ended is not None:
            break
    for run in runs:
        if ended is None:
            ended = run.wait(max(deadline - time.monotonic(), 0.1))
        else:
            run.end()
    trace = merged()
    if demo.kind == "deadlock":
        code = 0 if ended == "deadlock" else 1
    else:
        started = [p for p in trace.processes.values() if p.parent is None]  # the demo's own programs
        code = 0 if ended is None and all(p.exit_code == 0 for p in started) else 1
    return runner.Traced(code, trace, [run.text() for run in runs], ended, stopped)


def _stuck(trace, seen: list) -> bool:
    """Deadlocked? Judged on all the demo's traces at once (one program's alone cannot tell)."""
    seen.append(trace)
    return runner.stuck(trace)


def _ready(server: runner.TracedRun, deadline: float, err: TextIO) -> dict:
    """Read the server's stderr until its ready line (by the deadline), then forward the rest in a thread."""
    stream, pending = server.popen.stderr, b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while selector.select(max(deadline - time.monotonic(), 0)):
            data = os.read(stream.fileno(), 65536)
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for number, line in enumerate(lines):
                text = line.decode("utf-8", "replace")
                err.write(text + "\n")
                if (line := parse_line(text)) is not None and line.ready is not None:
                    rest = b"".join(part + b"\n" for part in lines[number + 1:]) + pending
                    threading.Thread(target=_forward, args=(stream, rest, err), daemon=True).start()
                    return line.ready
    stream.close()
    raise runner.TraceError("the server ended or stalled before it said it was ready", 1)


def _forward(stream, rest: bytes, err: TextIO) -> None:
    with stream:
        err.write(rest.decode("utf-8", "replace"))
        while data := os.read(stream.fileno(), 65536):
            err.write(data.decode("utf-8", "replace"))
