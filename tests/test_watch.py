"""ipc watch -- COMMAND: any command, its whole process tree; a deadlock explained and ended
(exit 3), otherwise the command's own exit code, however long it takes."""

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from ipc import procfs
from ipc.deadlock import SETTLE
from ipc.watch import EXIT_DEADLOCK

ROOT = Path(__file__).resolve().parents[1]
WATCH = [sys.executable, "-m", "ipc", "watch"]


def ipc_watch(*command: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([*WATCH, "--", *command], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


needs_proc = pytest.mark.skipif(not procfs.AVAILABLE, reason="the full diagnosis needs Linux's /proc")


@needs_proc
def test_a_shell_pipeline_that_deadlocks_is_explained_and_ended():
    done = ipc_watch("sh", "demos/broken/pipeline_loop.sh")
    assert done.returncode == EXIT_DEADLOCK == 3, done.stderr
    err = done.stderr
    assert re.search(r"^ipc watch: DEADLOCK: sh\[\d+\], cat\[\d+\] and cat\[\d+\] are all blocked", err, re.M)
    cycle = re.search(r"^The cycle: cat\[(\d+)\] waits for cat\[(\d+)\], cat\[\2\] waits for cat\[\1\]\.$", err, re.M)
    assert cycle, err
    assert re.search(rf"^And: sh waits for cat\[({cycle[1]}|{cycle[2]})\] and cat\[\d+\]\.$", err, re.M)
    assert re.search(
        r"is blocked in read on fd 3\n.*\n    fd 3 is the FIFO .*/loop, opened for reading, empty; "
        r"its write end is held by cat\[\d+\] \(fd 1\)",
        err,
    )
    assert re.search(r"^ipc watch: ended sh\[\d+\], cat\[\d+\], cat\[\d+\]; exit code 3 \(deadlock\)$", err, re.M)
    # the pipeline's FIFO is gone: the conftest checks TMPDIR; every process is gone: it checks that too


@needs_proc
def test_the_classic_subprocess_deadlock_in_a_program_not_written_for_this_project():
    done = ipc_watch(sys.executable, "tests/programs/writes_all_then_reads.py")
    assert done.returncode == 3, done.stderr
    err = done.stderr
    assert "The cycle: writes_all_then_reads.py waits for cat, cat waits for writes_all_then_reads.py." in err
    assert re.search(
        r"writes_all_then_reads\.py\[\d+\] is blocked in write on fd \d+\n"
        r"    at tests/programs/writes_all_then_reads\.py:\d+ in <module>:  child\.stdin\.write\(.*\n"
        r"    fd \d+ is the write end of pipe:\[\d+\], full \((\d+) of \1 bytes\); "
        r"its read end is held by cat\[\d+\] \(fd 0\)",
        err,
    )
    assert re.search(
        r"cat\[\d+\] is blocked in write on fd 1\n    \(not a Python program: no source line to show\)", err
    )


@needs_proc
def test_this_projects_programs_get_their_roles_and_python_lines():
    done = ipc_watch(sys.executable, "demos/broken/both_read_first.py")
    assert done.returncode == 3, done.stderr
    err = done.stderr
    assert re.search(r"^client\[\d+\]: forked server child \d+", err, re.M)  # its own lines pass through
    assert "The cycle: client waits for server, server waits for client." in err
    assert re.search(
        r"^    at demos/broken/both_read_first\.py:\d+ in converse:  reply = reader\.receive\(\)  # the bug", err, re.M
    )


def test_a_command_that_exits_passes_its_exit_code_and_output_through():
    done = ipc_watch("sh", "-c", "echo out; echo err >&2; exit 7")
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")


def test_a_command_that_only_sleeps_for_a_while_is_left_alone():
    start = time.monotonic()
    done = ipc_watch("sh", "-c", "sleep 1 | cat")  # cat waits on a pipe from a sleeper: slow, not stuck
    assert done.returncode == 0 and done.stderr == ""
    assert time.monotonic() - start >= 1.0  # it ran to its end


def test_a_server_waiting_for_clients_from_outside_is_left_alone():
    ipc = subprocess.Popen(
        [*WATCH, "--", sys.executable, "demos/tcp_server.py", "--clients", "1"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(re.search(r"port=(\d+)", next(line for line in ipc.stderr if "ready:" in line))[1])
        time.sleep(SETTLE + 0.2)  # idle in accept() for longer than a deadlock takes to be reported: it must not be
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"hi\n")
            assert sock.recv(100) == b"1 HI\n"
        err = ipc.stderr.read()
        assert ipc.wait(10) == 0
    finally:
        if ipc.poll() is None:
            ipc.kill()
        ipc.wait()
        ipc.stderr.close()
    assert "DEADLOCK" not in err


def test_a_command_ended_by_a_signal_exits_128_plus_its_number():
    assert ipc_watch("sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM


@pytest.mark.parametrize(
    "command,code,message",
    [
        (["no-such-command-here"], 127, "ipc watch: no-such-command-here: command not found"),
        (["tests/conftest.py"], 126, "ipc watch: tests/conftest.py: permission denied"),
        ([], 2, "ipc watch: give a command to run: ipc watch -- COMMAND [ARG...]"),
    ],
)
def test_commands_that_cannot_run(command, code, message):
    done = ipc_watch(*command)
    assert (done.returncode, done.stderr.strip()) == (code, message)


def test_the_exit_codes_are_in_the_help():
    done = subprocess.run([*WATCH, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0
    assert "3 it deadlocked" in done.stdout


def test_sigterm_to_ipc_watch_ends_the_command_too():
    ipc = subprocess.Popen([*WATCH, "--", "sleep", "30"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (children := psutil.Process(ipc.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert children, "the command should be running"
        ipc.send_signal(signal.SIGTERM)
        _, err = ipc.communicate(timeout=10)
    finally:
        if ipc.poll() is None:
            ipc.kill()
            ipc.communicate()
    assert ipc.returncode == 143
    assert err.strip() == "ipc: terminated; every process it started was ended"
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
