"""Every broken demo deadlocks, and the harness says exactly how: which processes, which
calls, which fds and who holds their other ends, the Python line, the cycle. Then
nothing survives, and each fixed twin completes."""

import dataclasses
import io
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ipc import catalog
from ipc.catalog import Demo, ExpectedDeadlock, Program
from ipc.harness import run_demo

ROOT = Path(__file__).resolve().parents[1]
BROKEN = [demo for demo in catalog.all_demos() if demo.kind == "deadlock"]

# For each broken demo: process -> (the call it is blocked in, what one of its fds is, its Python file)
EXPECTED = {
    "both-read-first": {
        "client": ("read", r"the read end of pipe:\[\d+\]", "demos/broken/both_read_first.py"),
        "server": ("read", r"the read end of pipe:\[\d+\]", "demos/broken/both_read_first.py"),
    },
    "client-reads-first": {
        "client": (
            "recvfrom",
            r"a TCP socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+",
            "demos/broken/client_reads_first.py",
        ),
        "server": ("recvfrom", r"a TCP socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+", "demos/tcp_server.py"),
    },
    "http-client-reads-first": {
        "client": (
            "recvfrom",
            r"a TCP socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+",
            "demos/broken/http_client_reads_first.py",
        ),
        "server": ("recvfrom", r"a TCP socket 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+", "demos/http_server.py"),
    },
    "fifo-open-order": {
        "client": ("openat", None, "demos/broken/fifo_open_order.py"),
        "server": ("openat", None, "demos/broken/fifo_open_order.py"),
    },
    "forgotten-close": {
        "client": ("wait4", None, "demos/broken/forgotten_close.py"),
        "server": ("read", r"the read end of pipe:\[\d+\]", "demos/broken/forgotten_close.py"),
    },
    "full-buffers": {
        "client": (
            "sendto",
            r"a Unix stream socket, socket:\[\d+\], connected to socket:\[\d+\] \(both unnamed: a socketpair\)",
            "demos/broken/full_buffers.py",
        ),
        "server": (
            "sendto",
            r"a Unix stream socket, socket:\[\d+\], connected to socket:\[\d+\] \(both unnamed: a socketpair\)",
            "demos/broken/full_buffers.py",
        ),
    },
    "subprocess-pipe-buffer": {
        "parent": ("write", r"the write end of pipe:\[\d+\]", "demos/broken/subprocess_pipe_buffer.py"),
        "cat": ("write", r"the write end of pipe:\[\d+\]", None),
    },
}


def test_every_broken_demo_is_tested_and_has_a_fix():
    assert {demo.name for demo in BROKEN} == set(EXPECTED)
    names = {demo.name for demo in catalog.all_demos()}
    assert all(demo.fixed_by in names for demo in BROKEN)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("demo", BROKEN, ids=lambda demo: demo.name)
def test_the_deadlock_is_diagnosed_and_nothing_survives(demo):
    out = io.StringIO()
    result = run_demo(demo, out=out, fix=False)
    assert result.ok, result.problems  # it deadlocked, and the catalog's expected cycle and calls matched
    diagnosis = result.diagnosis
    expected = EXPECTED[demo.name]
    assert sorted(stuck.name for stuck in diagnosis.stuck) == sorted(expected)
    for name, (call, fd_text, script) in expected.items():
        stuck = diagnosis.process(name)
        assert stuck.call == call
        if fd_text:  # what the fd is, and who holds its other end
            assert any(re.fullmatch(fd_text, text) for text in stuck.fds.values()), stuck.fds
        others = [s for s in diagnosis.stuck if s.pid in stuck.waits_for and s.pid != stuck.pid]
        assert all(
            re.search(rf"{re.escape(o.label)}( itself)? \(fd \d+\)|{re.escape(o.label)}", " ".join(stuck.details))
            for o in others
        ), stuck.details
        if script:  # the Python line it is stuck on
            assert stuck.python.startswith(script + ":"), stuck.python
            assert stuck.source
        else:
            assert stuck.python is None and "not a Python program" in stuck.note
    report = out.getvalue()
    assert f"The cycle: {diagnosis.cycle_text()}." in report
    assert "harness: ended" in report and "nothing left behind" in report
    assert all(gone(stuck.pid) for stuck in diagnosis.stuck)


def test_the_report_reads_like_an_explanation():
    result = run_demo(catalog.find(["both-read-first"])[0], fix=False)
    report = result.diagnosis.report()
    client, server = (result.diagnosis.process(name) for name in ("client", "server"))
    assert report.startswith(f"DEADLOCK: {client.label} and {server.label} are blocked, each waiting for the other")
    assert f"{client.label} is blocked in read on fd " in report
    assert f"its write end is held by {server.label} (fd " in report
    assert "# the bug: listens first" in report  # the very line, with its comment
    assert report.count("so client waits for server") == 1 and report.count("so server waits for client") == 1


def test_the_forgotten_close_names_the_process_that_holds_its_own_write_end():
    diagnosis = run_demo(catalog.find(["forgotten-close"])[0], fix=False).diagnosis
    server = diagnosis.process("server")
    assert server.waits_for.keys() == {server.pid}
    assert any(f"held by {server.label} itself (fd " in line for line in server.details)
    assert diagnosis.process("client").shown == f"wait4 (waitpid) for its child {server.pid}"
    assert diagnosis.summary() == "deadlock: server waits for itself; client waits for server"


def test_the_fifo_report_names_the_paths_being_opened():
    diagnosis = run_demo(catalog.find(["fifo-open-order"])[0], fix=False).diagnosis
    assert re.fullmatch(r'openat \(open\) of ".*/replies" for reading \(O_RDONLY\)', diagnosis.process("client").shown)
    assert re.fullmatch(r'openat \(open\) of ".*/requests" for reading \(O_RDONLY\)', diagnosis.process("server").shown)


def test_full_buffers_show_the_bytes_nobody_reads():
    diagnosis = run_demo(catalog.find(["subprocess-pipe-buffer"])[0], fix=False).diagnosis
    for name in ("parent", "cat"):
        assert any(re.search(r"full \((\d+) of \1 bytes\)", line) for line in diagnosis.process(name).details)


@pytest.mark.parametrize("name", sorted({demo.fixed_by for demo in BROKEN}))
def test_each_fixed_twin_completes(name):
    result = run_demo(catalog.find([name])[0])
    assert result.ok, result.problems
    assert result.diagnosis is None


def test_ipc_run_says_the_deadlock_was_expected_then_runs_the_fix():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "run", "both-read-first"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout
    assert (
        "== both-read-first: ok: it deadlocked as expected (client waits for server, server waits for client)"
        in done.stdout
    )
    assert "-- the fix: both-read-first-fixed" in done.stdout
    assert "== both-read-first: its fix, both-read-first-fixed, passed (8 messages" in done.stdout


def test_a_broken_demo_whose_fix_fails_fails(monkeypatch):
    echo = Demo(
        name="bad-fix", mechanism="fake", teaches="-", client=Program(str(ROOT / "tests/fakes/fake_demo.py"), ("echo",))
    )
    monkeypatch.setattr(catalog, "find", lambda names: [echo] if names == ["bad-fix"] else [])
    demo = dataclasses.replace(BROKEN[0], fixed_by="bad-fix")
    result = run_demo(demo)
    assert result.fixed.demo.name == "bad-fix"
    assert len(result.problems) == 1 and result.problems[0].startswith("its fix, bad-fix, failed: client[")


@pytest.mark.parametrize(
    "fixed_by,problem",
    [
        ("no-such-demo", "its fix, 'no-such-demo', is not in the catalog"),
        ("forgotten-close", "its fix, forgotten-close, is itself a broken demo"),
    ],
)
def test_a_fix_must_be_a_demo_that_works(fixed_by, problem):
    result = run_demo(dataclasses.replace(BROKEN[0], fixed_by=fixed_by))
    assert result.problems == [problem]


def test_a_broken_demo_that_does_not_deadlock_fails():
    demo = Demo(
        name="not-broken",
        mechanism="pipes",
        teaches="-",
        kind="deadlock",
        client=Program("broken/both_read_first.py", ("--fixed",)),
    )
    result = run_demo(demo)
    assert result.problems == ["expected a deadlock, but every process finished"]


def test_the_wrong_cycle_is_caught():
    demo = dataclasses.replace(
        catalog.find(["both-read-first"])[0], deadlock=ExpectedDeadlock("server waits for itself")
    )
    result = run_demo(demo, fix=False)
    assert result.problems == [
        "expected the cycle 'server waits for itself', the diagnosis says "
        "'client waits for server, server waits for client'"
    ]


def test_a_demo_that_should_work_but_deadlocks_is_stopped_at_once_with_the_reason():
    demo = Demo(name="hangs", mechanism="pipes", teaches="-", client=Program("broken/both_read_first.py"), timeout=20)
    result = run_demo(demo)
    assert result.problems[0] == "deadlock: client waits for server, server waits for client"
    assert not any("timed out" in problem for problem in result.problems)


def test_without_proc_a_plainer_report_after_a_quiet_period():
    demo = dataclasses.replace(catalog.find(["both-read-first"])[0], deadlock=None)
    result = run_demo(demo, use_proc=False, quiet=0.5, fix=False)
    assert result.ok, result.problems
    diagnosis = result.diagnosis
    assert diagnosis.seen_with == "psutil" and diagnosis.cycle == [] and diagnosis.certain
    report = diagnosis.report()
    assert report.startswith("DEADLOCK: ")
    assert "Who waits for whom cannot be seen here: without /proc" in report
    assert "Beyond doubt: every process was launched here" in report  # the evidence that let it end them
    assert diagnosis.process("client").python.startswith(
        "demos/broken/both_read_first.py:"
    )  # faulthandler needs no /proc
