"""ipc watch and ipc run outside the lab: two terminals, shell wrappers, daemons, threads, no /proc,
signals from timeout, kill and a closed terminal, and processes left running. No false alarm,
no silent wait, nothing left behind."""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from support import Program, needs

from ipc import procfs
from ipc.deadlock import SETTLE
from ipc.watch import EXIT_DEADLOCK, watch

ROOT = Path(__file__).resolve().parents[1]
IPC = [sys.executable, "-m", "ipc"]
LOOK = SETTLE + 1.0  # long enough that a deadlock would surely have been reported
needs_proc = pytest.mark.skipif(not procfs.AVAILABLE, reason="the full diagnosis needs Linux's /proc")


class Running:
    """An ipc command running in the background, its stderr read line by line with deadlines."""

    def __init__(self, *args: str):
        self.popen = subprocess.Popen([*IPC, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = b""

    def wait_for(self, pattern: str, deadline: float = 15.0) -> str:
        """Read stderr (and stdout, for ipc run) until pattern appears; fail after the deadline."""
        import selectors

        end = time.monotonic() + deadline
        with selectors.DefaultSelector() as selector:
            for stream in (self.popen.stdout, self.popen.stderr):
                os.set_blocking(stream.fileno(), False)
                selector.register(stream, selectors.EVENT_READ)
            while not re.search(pattern, self.err.decode(errors="replace"), re.M):
                remaining = end - time.monotonic()
                assert remaining > 0, f"no /{pattern}/ within {deadline} s: {self.err.decode(errors='replace')}"
                for key, _ in selector.select(remaining):
                    data = os.read(key.fileobj.fileno(), 65536)
                    if not data:
                        selector.unregister(key.fileobj)
                    self.err += data
                if not selector.get_map():
                    break
        return self.err.decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, deadline: float = 15.0) -> tuple[int, str]:
        self.popen.send_signal(sig)
        out, err = self.popen.communicate(timeout=deadline)
        self.err += out + err
        return self.popen.returncode, self.err.decode(errors="replace")

    def finish(self, deadline: float = 20.0) -> tuple[int, str]:
        out, err = self.popen.communicate(timeout=deadline)
        self.err += out + err
        return self.popen.returncode, self.err.decode(errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.communicate()


@pytest.fixture
def running():
    started: list[Running] = []
    yield lambda *args: started.append(Running(*args)) or started[-1]
    for command in started:
        command.kill()


def ipc_watch(*command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """ipc watch -- COMMAND, run to its end (within timeout) in a process of its own."""
    return subprocess.run([*IPC, "watch", "--", *command], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def in_background(**options):
    """watch() in a thread of this process, so the test can act on the world meanwhile."""
    report, err, outcome = io.StringIO(), io.BytesIO(), []
    thread = threading.Thread(target=lambda: outcome.append(watch(err=err, report=report, **options)))
    thread.start()
    return thread, report, outcome


def wait_until(condition, deadline: float = 15.0, what: str = "") -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"not within {deadline} s: {what}"
        time.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# -- 1. two terminals ---------------------------------------------------------------------------------


@needs_proc
def test_two_terminals_the_cycle_runs_through_the_server_outside_which_is_left_alone():
    with Program("tcp_server.py", "--clients", "1", "--idle", "0") as server:  # "the other terminal", as documented
        port = server.ready()["port"]
        done = ipc_watch(sys.executable, "demos/broken/client_reads_first.py", "--port", port)
        assert done.returncode == EXIT_DEADLOCK, done.stderr
        err = done.stderr
        pid = server.popen.pid
        assert f"tcp_server.py[{pid}], outside the watched processes, is blocked in recvfrom (recv) on fd" in err
        assert "(its Python line is unknown: it runs outside this watch)" in err  # not "not started through..."
        assert "The cycle: client waits for tcp_server.py, tcp_server.py waits for client." in err
        assert f"Left alone: tcp_server.py[{pid}], not one of the watched processes" in err
        assert re.search(r"ipc watch: ended client\[\d+\]; exit code 3", err)
        code, _, _ = server.finish()  # not ended by a signal: it saw the client's end close, and finished
        assert code == 0, server.lines


@needs_proc
def test_waiting_on_a_server_busy_elsewhere_is_said_once_and_nothing_is_ended():
    with Program("tcp_server.py", "--idle", "0") as server:  # no deadline: it waits for the busy one for good
        port = int(server.ready()["port"])
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)  # the server serves this one first...
        server.wait_for_line("accepted")
        client = (
            f"import socket; s = socket.create_connection(('127.0.0.1', {port})); s.sendall(b'hello\\n'); "
            f"print(s.recv(100))"
        )  # a client with no timeout: it would wait forever
        thread, report, outcome = in_background(argv=[sys.executable, "-c", client], notice=0.5)
        try:
            wait_until(lambda: "waiting, not deadlocked" in report.getvalue(), what="the notice")
            text = report.getvalue()
            assert re.search(r"python\S*\[\d+\] has waited \d+ s in recvfrom \(recv\) on fd \d+", text), text
            assert f"it waits in the queue of the socket listening on 127.0.0.1:{port}" in text
            assert f"pid {server.popen.pid} `{sys.executable} " in text and "is blocked in recvfrom (recv)" in text
            assert "nothing was ended" in text
        finally:
            busy.close()  # ...and now the client gets its turn
            thread.join(20)
        assert outcome[0].code == 0 and outcome[0].diagnosis is None
        assert report.getvalue().count("waiting, not deadlocked") == 1


# -- 2. a daemon; 3. threads and locks; 6. multiprocessing ---------------------------------------------


@needs_proc
def test_a_double_forked_daemon_in_a_deadlock_is_found_and_ended():
    done = ipc_watch(sys.executable, "tests/programs/daemon_deadlock.py", timeout=30)
    assert done.returncode == EXIT_DEADLOCK, done.stderr
    pids = [int(pid) for pid in re.findall(r"daemon_deadlock\.py\[(\d+)\] is blocked", done.stderr)]
    assert len(pids) == 2, done.stderr
    assert "os.read(requests_r, 1)  # the daemon waits" in done.stderr  # its Python line, though not ours
    assert all(gone(pid) for pid in pids)  # the daemon did not survive ipc watch


@needs_proc
def test_threads_that_take_two_locks_in_opposite_orders_are_reported_with_their_lines():
    done = ipc_watch(sys.executable, "tests/programs/lock_order.py", timeout=30)
    assert done.returncode == EXIT_DEADLOCK, done.stderr
    err = done.stderr
    assert re.search(r"lock_order\.py\[\d+\] is blocked: every one of its threads waits for a lock", err)
    threads = re.findall(
        r"^    thread \d+( \(main\))? waits in futex \(a lock\), at tests/programs/lock_order\.py:(\d+)", err, re.M
    )
    assert sorted(line for _, line in threads) == ["17", "17", "25"], err  # two in `with other`, main in join()
    assert "The cycle: the threads of lock_order.py wait for each other's locks." in err


@needs_proc
def test_a_multiprocessing_pipe_deadlock_tells_the_cycle_first_and_the_spare_ends_after():
    done = ipc_watch(sys.executable, "tests/programs/mp_pipe.py", timeout=30)
    assert done.returncode == EXIT_DEADLOCK, done.stderr
    cycle = re.search(
        r"^The cycle: mp_pipe\.py\[(\d+)\] waits for mp_pipe\.py\[(\d+)\], "
        r"mp_pipe\.py\[\2\] waits for mp_pipe\.py\[\1\]\.$",
        done.stderr,
        re.M,
    )
    assert cycle and cycle[1] != cycle[2], done.stderr
    assert "Besides: " in done.stderr and "spare copy" in done.stderr
    assert not re.search(r"waits for itself", done.stderr.split("The cycle:")[1].split("\n")[0])


# -- 4. no false alarm: a FIFO server behind a shell ---------------------------------------------------


@needs_proc
def test_a_fifo_server_behind_a_shell_is_not_a_deadlock(running):
    command = running("watch", "--", "sh", "-c", f"{sys.executable} demos/fifo_server.py; echo done")
    command.wait_for(r"ready: ")
    deadline = time.monotonic() + LOOK
    while time.monotonic() < deadline and command.popen.poll() is None:  # a window to see it stay quiet
        time.sleep(0.05)
    assert command.popen.poll() is None, command.err
    code, err = command.stop(signal.SIGTERM)
    assert code == 143 and "DEADLOCK" not in err


# -- 5. without /proc: never end a healthy program ------------------------------------------------------


def test_without_proc_a_sleep_is_described_and_left_to_finish():
    report, err = io.StringIO(), io.BytesIO()
    outcome = watch(["sleep", "1.5"], err=err, report=report, use_proc=False, quiet=0.5)
    assert outcome.code == 0 and outcome.diagnosis is None
    text = report.getvalue()
    assert text.startswith("ipc watch: ALL ASLEEP: sleep[") and "Nothing was ended" in text
    assert text.count("ALL ASLEEP") == 1  # said once


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "demos/tcp_server.py"],  # waiting for its first client
        ["sh", "demos/broken/pipeline_loop.sh"],  # a real deadlock, which cannot be told apart without /proc
    ],
    ids=["server", "deadlock"],
)
def test_without_proc_nothing_is_ended_until_asked(running, command):
    watching = running("watch", "--no-proc", "--still", "0.5", "--", *command)
    watching.wait_for(r"^ipc watch: ALL ASLEEP: ")
    assert watching.popen.poll() is None  # still running: ipc watch ended nothing
    code, err = watching.stop(signal.SIGTERM)
    assert code == 143, err
    assert "Nothing was ended: without /proc" in err
    # and every process of the command is gone: the conftest checks that


# -- 7. SIGTERM and SIGHUP to ipc run ------------------------------------------------------------------


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize(
    "demo,when",
    [
        ("client-reads-first", r"connected"),
        ("fifo", r"ready: "),
    ],
)
def test_a_signal_to_ipc_run_ends_everything_and_cleans_up(running, sig, code, demo, when):
    run = running("run", demo)
    run.wait_for(when)
    children = psutil.Process(run.popen.pid).children(recursive=True)
    result, err = run.stop(sig)
    assert result == code, err
    assert re.search(r"ipc: (terminated|hung up); every process it started was ended", err)
    assert all(gone(child.pid) for child in children)
    # temporary directories and FIFOs: the conftest finds anything left in TMPDIR


@needs("ip")
@pytest.mark.skipif(os.geteuid() != 0, reason="two-hosts needs root for its network namespaces")
def test_sigterm_during_two_hosts_leaves_no_namespace(running):
    if subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10).returncode != 0:
        pytest.skip("no ip netns here")
    run = running("run", "two-hosts")
    names = re.findall(r"host [AB] is namespace (\S+):", run.wait_for(r"host B is namespace \S+:"))
    result, err = run.stop(signal.SIGTERM)
    assert result == 143, err
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    assert not set(names) & {line.split()[0] for line in listed.splitlines() if line.strip()}


# -- 8. what the command leaves running -------------------------------------------------------------


def test_background_children_left_running_are_named_and_ended():
    done = ipc_watch("sh", "-c", "for i in $(seq 200); do sleep 60 & done; exit 0", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ipc watch: the command exited and left 200 process(es) running; ending them: 200 × sleep" in done.stderr
    # none is left: the conftest finds any process of this test still running


def test_keep_leaves_them_running_as_asked():
    report = io.StringIO()
    outcome = watch(["sh", "-c", "sleep 60 & sleep 60 & exit 0"], err=io.BytesIO(), report=report, keep=True)
    try:
        assert outcome.code == 0 and len(outcome.left) == 2
        assert "kept as asked: 2 × sleep" in report.getvalue()
        assert not any(gone(pid) for pid in outcome.left)
    finally:
        for pid in outcome.left:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(gone(pid) for pid in outcome.left), what="the kept sleeps to end")
        for pid in outcome.left:  # they were given to us as their subreaper: reap them
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


# -- 10. output passes through in time linear in its size ------------------------------------------------


def test_a_64_kib_stderr_line_passes_through_quickly():
    code = "import sys; sys.stderr.write('a' * 65536 + '\\n')"
    done = subprocess.run(
        [*IPC, "watch", "--", sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=20
    )  # it took 31 s when every byte was searched for a label, again and again
    assert done.returncode == 0
    assert done.stderr == b"a" * 65536 + b"\n"
