"""Without /proc (macOS and others): what psutil can see of processes that may be deadlocked.

psutil tells whether a process is asleep, its cpu time and its context
switches: a process asleep whose counters do not move for QUIET seconds is
still. That cannot tell a blocked read from sleep(), nor who holds the
other end of a pipe, so such a report is only "probably a deadlock", and
nothing is ended for it.

Except on evidence that leaves no doubt: where the world is closed (the
harness launched every process there is to talk to) and every process is a
Python program that answered with its stack, each stopped on a line that
calls a blocking read, write, open, accept or wait with no timeout.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Optional

from .report import Diagnosis, Stuck

QUIET = 3.0  # seconds of every process asleep and still before "probably deadlocked"
BLOCKING_CALL = re.compile(
    r"\b(os\.(read|write|open|waitpid|wait)|\.(recv|recvfrom|recv_into|send|sendall|sendto|accept|connect|join)"
    r"|(?<![\w.])open|\.(read|readline|write))\("
)
NOT_SEEN = (
    "without /proc, the system call each process is blocked in, its pipes, and who holds "
    "the other ends are not visible; a process asleep in sleep() looks the same"
)


def psutil_fingerprint(pid: int) -> Optional[tuple]:
    """What changes whenever the process runs; None if it has ended."""
    import psutil

    try:
        process = psutil.Process(pid)
        with process.oneshot():
            status = process.status()
            if status == psutil.STATUS_ZOMBIE:
                return None
            times = process.cpu_times()
            switches = process.num_ctx_switches()
        if status not in (psutil.STATUS_SLEEPING, psutil.STATUS_DISK_SLEEP):
            return ("awake", time.monotonic())  # never the same twice: it does not count as still
        return ("asleep", times.user + times.system, tuple(switches))
    except psutil.Error:
        return None


def plain_diagnosis(
    alive: list[int], seen: dict, name: Callable[[int], str], now: float, detector
) -> Optional[Diagnosis]:
    """All asleep and still for a while: say what could and could not be seen."""
    if any(seen[pid].fingerprint[0] != "asleep" for pid in alive):
        return None
    stuck = {}
    for pid in alive:
        item = Stuck(pid, name(pid), "?", "a call that cannot be seen (asleep, not moving)")
        for fd, text in _sockets(pid):
            item.fds[fd] = text
            item.details.append(f"fd {fd} is {text}")
        stuck[pid] = item
    detector.add_python_lines(stuck)
    evidence = _evidence(list(stuck.values())) if detector.closed_world else ""
    return Diagnosis(
        [stuck[pid] for pid in alive],
        [],
        "psutil",
        now - max(seen[pid].since for pid in alive),
        max(seen[pid].before for pid in alive),
        time.monotonic(),
        [NOT_SEEN],
        certain=bool(evidence),
        evidence=evidence,
    )


def _evidence(stuck: list[Stuck]) -> str:
    """Why these processes cannot move, if their own lines show it; else ""."""
    if not all(item.python and BLOCKING_CALL.search(f"{item.source} {item.inner or ''}") for item in stuck):
        return ""
    return (
        "every process was launched here and nothing else can reach them, and each is a Python program "
        "stopped on a line that blocks with no timeout: "
        + "; ".join(f"{item.label} at {item.python}" for item in stuck)
    )


def _sockets(pid: int) -> list[tuple[int, str]]:
    import psutil

    try:
        process = psutil.Process(pid)
        connections = getattr(process, "net_connections", process.connections)(kind="all")
    except psutil.Error:
        return []
    found = []
    for conn in connections:
        local, remote = _address(conn.laddr), _address(conn.raddr)
        text = f"a socket {local}" + (f" -> {remote}" if remote else "")
        if conn.status and conn.status != "NONE":
            text += f" ({conn.status})"
        found.append((conn.fd, text))
    return found


def _address(address) -> str:
    if not address:
        return ""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)
