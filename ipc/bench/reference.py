"""The C reference: bench/reference.c, compiled at run time with cc into a private directory, and run.

``build(directory)`` compiles it once per run (Unsupported, with how to get a
compiler, where there is none); ``run(binary, spec, directory, deadline)``
runs one measurement in a session of its own, and kills that whole session
if the deadline passes. Its output is parsed into the same figures the Python
workers give.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from .channels import Unsupported
from .worker import LATENCY, Spec, WorkerFailed

SOURCE = Path(__file__).resolve().parents[2] / "bench" / "reference.c"
MECHANISMS = ("pipe", "fifo", "socketpair", "unix", "unix-dgram", "tcp4", "tcp6", "udp")
COMPILE_SECONDS = 60


def build(directory: str) -> str:
    """Compile the reference into directory; the path of the program."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        raise Unsupported("no C compiler (cc) on PATH: install one (Debian: apt-get install gcc) for the C reference")
    if not SOURCE.is_file():
        raise Unsupported(f"{SOURCE} is missing: the C reference comes with a checkout of the project")
    binary = os.path.join(directory, "reference")
    try:
        done = subprocess.run(
            [compiler, "-O2", "-o", binary, str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=COMPILE_SECONDS,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise Unsupported(f"{compiler} did not finish compiling the C reference within {COMPILE_SECONDS} s") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        raise Unsupported(f"the C reference did not compile here: {first}")
    return binary


def arguments(binary: str, spec: Spec, directory: str) -> list:
    client, server = (-1 if cpu is None else cpu for cpu in spec.cpus)
    argv = [
        binary,
        spec.kind,
        spec.mechanism,
        str(spec.size),
        "--cpus",
        f"{client},{server}",
        "--dir",
        directory,
        "--warmup-ms",
        f"{spec.warmup_s * 1000:g}",
    ]
    if spec.kind == LATENCY:
        argv += ["--budget-ms", f"{spec.budget_s * 1000:g}", "--max-samples", str(spec.max_samples)]
    else:
        argv += ["--value-ms", f"{spec.value_s * 1000:g}", "--values", str(spec.values)]
        if spec.path in ("bigpipe", "bigbuf"):
            argv.append("--big-buffers")
    return argv


def run(binary: str, spec: Spec, directory: str, deadline: float) -> dict:
    if spec.mechanism not in MECHANISMS:
        raise Unsupported(f"the C reference has no {spec.mechanism}")
    process = subprocess.Popen(
        arguments(binary, spec, directory),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=deadline)
    except subprocess.TimeoutExpired:
        raise WorkerFailed(
            f"no result within {deadline:g} s: a message was lost or a process stalled; the C reference was ended"
        ) from None
    finally:
        _end_session(process)
    if process.returncode != 0:
        raise WorkerFailed((err.strip() or f"the C reference exited with {process.returncode}").splitlines()[-1])
    return parse(out)


def parse(out: str) -> dict:
    samples, values, crc = [], [], None
    for line in out.splitlines():
        word, *numbers = line.split()
        if word == "sample":
            samples.append(int(numbers[0]))
        elif word == "value":
            values.append((int(numbers[0]), int(numbers[1])))
        elif word == "crc":
            crc = (int(numbers[0], 16), int(numbers[1], 16), int(numbers[2]))
    if crc is not None and crc[0] != crc[1]:
        raise WorkerFailed("the C reference's payload checksums differ")
    return {"samples_ns": samples, "crc": crc} if crc is not None else {"values": values}


def _end_session(process: subprocess.Popen) -> None:
    """Kill the reference and the server it forked, and reap the reference."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
