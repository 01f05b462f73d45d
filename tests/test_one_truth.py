"""One truth about who waits for whom: every tool names the same cycle, and healthy programs nobody
here wrote are never ended as deadlocked.

For each broken demo, the harness's diagnosis (ipc run), ipc watch of its program, the trace's
JSON (ipc trace NAME --json) and every picture (SVG, step page, Mermaid, Perfetto) name the same
cycle, because all of them ask ipc.waitfor. Then programs not written for this project: a server in
accept(), cat on a slow stdin, asyncio.sleep, a C epoll server are left to run under ipc trace; the
classic subprocess deadlock and the shell's FIFO open-order deadlock are found and ended, in time.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import ROOT, why_no_strace

from ipc import catalog, procfs
from ipc.harness import run_demo
from ipc.trace import export, mermaid, page, perfetto, svg
from ipc.watch import EXIT_DEADLOCK, EXIT_TIMEOUT, watch

BROKEN = [demo for demo in catalog.all_demos() if demo.kind == "deadlock"]
ONE_PROGRAM = [demo for demo in BROKEN if demo.server is None]  # ipc watch runs it as a student would


def _why_not() -> str:
    return "needs Linux's /proc" if not procfs.AVAILABLE else why_no_strace() or ""


pytestmark = pytest.mark.skipif(bool(_why_not()), reason=_why_not())


def rotation(cycle) -> tuple:
    """A cycle, starting at its smallest member: the same cycle however it was entered."""
    cycle = list(cycle)
    if not cycle:
        return ()
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])


def svg_cycle(text: str) -> list[int]:
    return [int(waiter) for waiter in re.findall(r'class="waits-for in-cycle" data-waiter="(\d+)"', text)]


def mermaid_cycle(text: str) -> list[int]:
    """The `%% cycle:` comment names participants; their declarations give the pids."""
    names = dict(re.findall(r"participant (\S+) as [^\n]*?\[(\d+)(?:/\d+)?\]", text))  # pid, or pid/tid
    found = re.search(r"%% cycle: (.*)", text)
    return [int(names[name]) for name in found[1].split()] if found else []


@pytest.mark.parametrize("demo", BROKEN, ids=lambda demo: demo.name)
def test_every_tool_names_the_same_cycle(demo):
    result = run_demo(demo, out=io.StringIO(), fix=False, trace=True)
    assert result.diagnosis is not None and result.trace is not None, result.problems
    expected = rotation(result.diagnosis.cycle)
    assert len(expected) in (1, 2)
    drawn = result.stopped or result.trace
    named = {
        "the trace's JSON": export.to_json(result.trace)["deadlock"]["cycle"],
        "the SVG": svg_cycle(svg.render(drawn)),
        "the step page": svg_cycle(page.render(drawn)),
        "Mermaid": mermaid_cycle(mermaid.render(drawn)),
        "Perfetto": (perfetto.to_perfetto(drawn)["otherData"]["deadlock"] or {}).get("cycle", []),
    }
    wrong = {where: cycle for where, cycle in named.items() if rotation(cycle) != expected}
    assert not wrong, f"the diagnosis names {result.diagnosis.cycle}, but {wrong}"


@pytest.mark.parametrize("demo", ONE_PROGRAM, ids=lambda demo: demo.name)
def test_ipc_watch_of_the_program_names_the_cycle_the_harness_does(demo):
    by_harness = run_demo(demo, out=io.StringIO(), fix=False).diagnosis
    argv = [sys.executable, str(ROOT / "demos" / demo.client.path), *demo.client.args]
    outcome = watch(argv, err=io.BytesIO(), report=io.StringIO(), timeout=20)
    assert outcome.code == EXIT_DEADLOCK, outcome.why_ended

    def roles(diagnosis):
        return rotation([diagnosis.process(str(pid)).name for pid in diagnosis.cycle])

    assert roles(outcome.diagnosis) == roles(by_harness)


# -- programs nobody here wrote --------------------------------------------------------------------

HEALTHY = {
    "a server in accept()": (
        [sys.executable, "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.accept()"],
        EXIT_TIMEOUT,
    ),
    "asyncio.sleep": ([sys.executable, "-c", "import asyncio; asyncio.run(asyncio.sleep(1.5))"], 0),
    "cat on a slow stdin": (["sh", "-c", "(sleep 1.5; echo late) | cat"], 0),
}

EPOLL_SERVER = r"""
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
int main(void) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (listener < 0 || bind(listener, (struct sockaddr *) &address, sizeof address) < 0 || listen(listener, 8) < 0)
        return perror("socket"), 1;
    int epoll = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event ready[8];
    return epoll_wait(epoll, ready, 8, -1) < 0;  /* no timeout: it waits for a client */
}
"""


def ipc_trace(argv: list, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "trace", "--timeout", str(timeout), "--", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    return done, time.monotonic() - start


@pytest.mark.parametrize("name", HEALTHY)
def test_a_healthy_program_under_ipc_trace_is_never_called_deadlocked(name):
    argv, code = HEALTHY[name]
    done, _ = ipc_trace(argv, timeout=4)
    assert done.returncode == code, done.stderr[-2000:]
    assert "DEADLOCK" not in done.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler here (Debian: apt-get install gcc)")
def test_a_c_epoll_server_waiting_for_clients_runs_until_the_timeout():
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory, "epoll_server.c")
        source.write_text(EPOLL_SERVER)
        subprocess.run(["cc", "-o", f"{directory}/epoll_server", str(source)], check=True, timeout=60)
        done, _ = ipc_trace([f"{directory}/epoll_server"], timeout=4)
    assert done.returncode == EXIT_TIMEOUT, done.stderr[-2000:]
    assert "DEADLOCK" not in done.stderr
    assert "epoll_wait" in done.stdout  # the wait it was in, drawn


WRITES_ALL = [sys.executable, str(ROOT / "tests" / "programs" / "writes_all_then_reads.py")]


def shell_fifo_order(directory: Path) -> list:
    return ["bash", "-c", f"cd {directory} && mkfifo a b && {{ (cat a > b) & cat b > a; }}"]


@pytest.mark.parametrize("name", ["subprocess writes 2 MiB to cat", "the shell's FIFO open order"])
def test_a_real_deadlock_nobody_here_wrote_is_ended_in_time(name):
    with tempfile.TemporaryDirectory() as directory:
        argv = WRITES_ALL if name.startswith("subprocess") else shell_fifo_order(Path(directory))
        start = time.monotonic()
        outcome = watch(argv, err=io.BytesIO(), report=io.StringIO(), timeout=20)
        watched = time.monotonic() - start
    assert outcome.code == EXIT_DEADLOCK and watched < 3, (outcome.why_ended, watched)
    with tempfile.TemporaryDirectory() as directory:
        argv = WRITES_ALL if name.startswith("subprocess") else shell_fifo_order(Path(directory))
        done, traced = ipc_trace(argv, timeout=20)
    assert done.returncode == EXIT_DEADLOCK and traced < 6, (done.stderr[-2000:], traced)
    assert "The cycle: " in done.stderr
    cycle = re.search(r"The cycle: (.*)\.", done.stderr)[1]
    if name.startswith("the shell"):  # the two openers, each waiting for the other: not their shell
        assert re.fullmatch(r"bash\[(\d+)\] waits for bash\[(\d+)\], bash\[\2\] waits for bash\[\1\]", cycle), cycle
        blocked = re.findall(r"is blocked in (\S+)", done.stderr)
        assert blocked.count("openat") == 2
