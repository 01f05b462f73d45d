"""One measurement in worker processes of its own: what runs, and how it is run and ended.

A Spec names one measurement: a round trip ("latency") or a stream
("throughput"), a mechanism, an implementation, a path, a size, a placement.

``spawn(spec, directory, deadline)`` forks a worker in a process group of its
own; the worker sets the mechanism up, forks the server, pins both, runs the
client and sends its figures back as JSON through a pipe. If no answer comes
before the deadline the whole group is killed (a lost datagram, a stalled
peer): a worker can never hang the run. The C reference runs through
reference.py instead, with the same deadline.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Optional

from . import channels, frames, loops, shared

LATENCY, THROUGHPUT = "latency", "throughput"


@dataclass(frozen=True)
class Spec:
    kind: str  # LATENCY or THROUGHPUT
    mechanism: str
    implementation: str  # "raw", "project", "c", or "python" (multiprocessing, shared memory, files)
    size: int
    path: str = "plain"  # streams: plain, bigpipe, bigbuf (socket buffers), splice, splice+bigpipe, sendfile
    placement: str = "unpinned"
    cpus: tuple = (None, None)  # client's and server's CPU, None for unpinned
    warmup_s: float = 0.05
    budget_s: float = 0.2
    max_samples: int = 20000
    value_s: float = 0.1
    values: int = 2
    inject: Optional[tuple] = None  # ("corrupt", n) or ("lose", n): the server spoils frame n (tests)
    shm_name: str = ""

    def label(self) -> str:
        return f"{self.kind} {self.mechanism}/{self.implementation}/{self.path} {self.size} B {self.placement}"


@dataclass
class Outcome:
    spec: Spec
    status: str  # "ok", "failed", "skipped"
    reason: str = ""
    samples_ns: list = field(default_factory=list)  # round trips, one list per worker
    values: list = field(default_factory=list)  # streams: (bytes, ns) per timed value, all workers
    workers: int = 0
    seconds: float = 0.0
    summary: Optional[dict] = None  # runner.summary() fills it in

    def as_dict(self) -> dict:
        return {"spec": asdict(self.spec), "status": self.status, "reason": self.reason, "workers": self.workers}


class WorkerFailed(Exception):
    """The measurement did not complete: the message says why (a check failed, a deadline passed)."""


# In the worker process -------------------------------------------------------------------------


def measure(spec: Spec, directory: str) -> dict:
    """Runs in the worker: set up, fork the server, run the client. Returns the figures."""
    mechanism = spec.mechanism
    if mechanism in ("mp-pipe", "mp-queue"):
        channel = shared.MultiprocessingChannel(mechanism)
    elif mechanism in ("shm", "shm-spin"):
        channel = shared.SharedChannel(spec.shm_name, spec.size, mechanism, stream=spec.kind == THROUGHPUT)
    elif mechanism == "files":
        channel = directory
    else:
        channel = channels.open_channel(mechanism, directory, spec.size, spec.path)
    memfd = None
    try:
        if spec.path in ("splice", "splice+bigpipe", "sendfile"):
            memfd = channels.memfd_of_frames(frames.window(spec.size), spec.size, frames.frame(0, spec.size))
        errors_r, errors_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(errors_r)
                loops.pin(spec.cpus[1])
                _serve(spec, channel, memfd)
            except BaseException as error:  # the reason travels to the client's process, then to the driver
                os.write(errors_w, f"server: {_describe(error)}".encode()[:2000])
                code = 1
            finally:
                os._exit(code)
        os.close(errors_w)
        try:
            loops.pin(spec.cpus[0])
            figures = _client(spec, channel)
        except BaseException as error:
            os.kill(pid, signal.SIGKILL)  # a server blocked on a client that gave up would wait forever
            os.waitpid(pid, 0)
            server_said = os.read(errors_r, 2000).decode(errors="replace")
            os.close(errors_r)
            if isinstance(error, frames.PayloadError) and not isinstance(error, frames.PeerHungUp):
                raise WorkerFailed(_describe(error)) from error  # the client's check came first
            raise WorkerFailed(server_said or _describe(error)) from error
        _, status = os.waitpid(pid, 0)
        server_said = os.read(errors_r, 2000).decode(errors="replace")
        os.close(errors_r)
        if os.waitstatus_to_exitcode(status) != 0:
            raise WorkerFailed(server_said or f"the server exited with {os.waitstatus_to_exitcode(status)}")
        return figures
    finally:
        if memfd is not None:
            os.close(memfd)
        _close(spec, channel, role="client")


def _serve(spec: Spec, channel, memfd: Optional[int]) -> None:
    mechanism, size = spec.mechanism, spec.size
    if mechanism in ("mp-pipe", "mp-queue"):
        try:
            (shared.mp_latency_server(channel) if spec.kind == LATENCY else shared.mp_stream_server(channel, size))
        finally:
            channel.close("server")
        return
    if mechanism in ("shm", "shm-spin"):
        (shared.shm_latency_server if spec.kind == LATENCY else shared.shm_stream_server)(channel, size)
        return
    if mechanism == "files":
        shared.files_latency_server(channel, size)
        return
    end = channel.end("server")
    try:
        if spec.implementation == "project":
            (loops.project_latency_server(end) if spec.kind == LATENCY else loops.project_stream_server(end, size))
        elif spec.kind == LATENCY:
            loops.raw_latency_server(end, size, spec.inject)
        else:
            send_span = channels.sender_path(spec.path, end, memfd) if memfd is not None else None
            loops.stream_server(end, size, send_span, spec.inject)
    finally:
        end.close()


def _client(spec: Spec, channel) -> dict:
    mechanism, size = spec.mechanism, spec.size
    schedule = loops.Schedule(spec.warmup_s, spec.budget_s, spec.max_samples)
    stream_args = (size, spec.value_s, spec.values, spec.warmup_s)
    if mechanism in ("mp-pipe", "mp-queue"):
        if spec.kind == LATENCY:
            shared.mp_latency_client(channel, size, schedule)
            return {"samples_ns": schedule.samples}
        return {"values": shared.mp_stream_values(channel, *stream_args)}
    if mechanism in ("shm", "shm-spin"):
        if spec.kind == LATENCY:
            shared.shm_latency_client(channel, size, schedule)
            return {"samples_ns": schedule.samples}
        return {"values": shared.shm_stream_values(channel, *stream_args)}
    if mechanism == "files":
        shared.files_latency_client(channel, size, schedule)
        return {"samples_ns": schedule.samples}
    end = channel.end("client")
    try:
        if spec.kind == LATENCY:
            if spec.implementation == "project":
                loops.project_latency_client(end, size, schedule)
            else:
                loops.raw_latency_client(end, size, schedule)
            return {"samples_ns": schedule.samples}
        if spec.implementation == "project":
            return {"values": loops.project_stream_values(end, *stream_args)}
        return {"values": loops.stream_values(end, *stream_args)}
    finally:
        end.close()


def _close(spec: Spec, channel, role: str) -> None:
    if isinstance(channel, str):
        return
    if isinstance(channel, shared.SharedChannel):
        channel.close(unlink=True)
    elif isinstance(channel, shared.MultiprocessingChannel):
        channel.close(role)
    else:
        channel.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, (frames.PayloadError, WorkerFailed, channels.Unsupported)):
        return str(error)
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


# In the driver ---------------------------------------------------------------------------------


def spawn(spec: Spec, directory: str, deadline: float) -> dict:
    """Run measure() in a worker process of its own; its figures, or WorkerFailed / Unsupported."""
    results_r, results_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)  # a group of its own: on a deadline, the worker and its server are killed together
        os.close(results_r)
        try:
            answer = {"ok": measure(spec, directory)}
        except channels.Unsupported as error:
            answer = {"skipped": str(error)}
        except BaseException as error:
            answer = {"error": _describe(error)}
            if not isinstance(error, (WorkerFailed, frames.PayloadError)):
                answer["traceback"] = traceback.format_exc(limit=6)
        try:
            data = json.dumps(answer).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(results_w, view) :]
        finally:
            os._exit(0)
    os.close(results_w)
    try:
        os.setpgid(pid, pid)
    except (ProcessLookupError, PermissionError):  # it already did so itself (or already ended)
        pass
    chunks, ended = [], time.monotonic() + deadline
    try:
        while True:
            remaining = ended - time.monotonic()
            if remaining <= 0 or not select.select([results_r], [], [], remaining)[0]:
                raise WorkerFailed(
                    f"no result within {deadline:g} s: a message was lost or a process stalled; the worker was ended"
                )
            chunk = os.read(results_r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(results_r)
        _end_group(pid)
    if not chunks:
        raise WorkerFailed("the worker ended without a result")
    answer = json.loads(b"".join(chunks))
    if "skipped" in answer:
        raise channels.Unsupported(answer["skipped"])
    if "error" in answer:
        raise WorkerFailed(answer["error"] + (("\n" + answer["traceback"]) if "traceback" in answer else ""))
    return answer["ok"]


def _end_group(pid: int) -> None:
    """Kill whatever is left of the worker's group, and reap the worker."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    os.waitpid(pid, 0)
