"""The detector on processes started by hand: what is a deadlock, and what only looks like one.

Each case starts small Python processes joined by pipes or sockets the test makes,
then samples them with ipc.deadlock.Detector the way the harness does. A wait
that can end by itself (a sleeping or computing peer, a timeout, a writer
outside the watched processes) must never be reported.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from support import Program, run_program

from ipc import procfs, syscalls
from ipc.deadlock import SETTLE, Detector
from ipc.processes import Keeper, Tree

pytestmark = pytest.mark.skipif(not procfs.AVAILABLE, reason="needs Linux's /proc")
LOOK = SETTLE + 0.45  # long enough that a deadlock would surely have been reported


def spawn(code: str, *fds: int) -> subprocess.Popen:
    """A Python process running code, given these fds (by the same numbers)."""
    return subprocess.Popen([sys.executable, "-c", code], pass_fds=fds, stdin=subprocess.DEVNULL)


def look(pids: list[int], seconds: float = LOOK, names: dict = None, closed_world: bool = True):
    """Sample the processes for a while, as the harness does; the diagnosis, or None."""
    detector = Detector(closed_world=closed_world)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        diagnosis = detector.sample(pids, lambda pid: (names or {}).get(pid, "p"))
        if diagnosis is not None:
            return diagnosis
        time.sleep(0.03)
    return None


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def crossed_pipes():
    """Two pipes, a and b: (a_r, a_w, b_r, b_w)."""
    return (*os.pipe(), *os.pipe())


def close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


READ = "import os; os.read({fd}, 1)"


def test_two_readers_of_each_others_pipes_are_deadlocked(processes):
    a_r, a_w, b_r, b_w = crossed_pipes()
    processes += [spawn(READ.format(fd=a_r), a_r, b_w), spawn(READ.format(fd=b_r), b_r, a_w)]
    close(a_r, a_w, b_r, b_w)  # the test holds no end: only the two processes can write
    one, two = (p.pid for p in processes)
    diagnosis = look([one, two], names={one: "one", two: "two"})
    assert diagnosis is not None
    assert diagnosis.cycle_text() == "one waits for two, two waits for one"
    assert diagnosis.latency < 1.0


def test_a_reader_whose_writer_sleeps_is_not_deadlocked(processes):
    r, w = os.pipe()
    processes += [
        spawn(READ.format(fd=r), r),
        spawn(f"import os, time; time.sleep({LOOK + 0.3}); os.write({w}, b'x')", w),
    ]
    close(r, w)
    assert look([p.pid for p in processes]) is None
    assert processes[0].wait(5) == 0  # and the reader did get its byte


def test_a_reader_whose_writer_computes_is_not_deadlocked(processes):
    r, w = os.pipe()
    busy = (
        f"import os, time\nend = time.monotonic() + {LOOK + 0.3}\nwhile time.monotonic() < end: pass\n"
        f"os.write({w}, b'x')"
    )
    processes += [spawn(READ.format(fd=r), r), spawn(busy, w)]
    close(r, w)
    assert look([p.pid for p in processes]) is None
    assert processes[0].wait(5) == 0


def test_a_reader_waiting_on_a_writer_outside_is_not_deadlocked(processes):
    r, w = os.pipe()
    processes.append(spawn(READ.format(fd=r), r))
    os.close(r)
    try:
        assert look([processes[0].pid]) is None  # the test itself holds the write end: it may write
        os.write(w, b"x")
    finally:
        os.close(w)
    assert processes[0].wait(5) == 0


def test_waits_with_a_timeout_are_not_deadlocked(processes):
    a_r, a_w, b_r, b_w = crossed_pipes()
    timed = "import select; select.select([{fd}], [], [], 30)"  # would wake by itself after 30 s
    processes += [spawn(timed.format(fd=a_r), a_r, b_w), spawn(timed.format(fd=b_r), b_r, a_w)]
    close(a_r, a_w, b_r, b_w)
    assert look([p.pid for p in processes]) is None


def test_a_server_alone_in_accept_is_not_deadlocked(processes):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        fd = listener.fileno()
        processes.append(spawn(f"import socket; socket.socket(fileno={fd}).accept()", fd))
    assert look([processes[0].pid]) is None  # anyone may connect: it waits on the world outside


def test_accept_waits_on_the_world_unless_the_world_is_closed(processes):
    r, w = os.pipe()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        fd = listener.fileno()
        processes += [
            spawn(f"import socket; socket.socket(fileno={fd}).accept()", fd, w),  # would write after accept
            spawn(READ.format(fd=r), r),
        ]
    close(r, w)
    pids = [p.pid for p in processes]
    assert look(pids, closed_world=False) is None  # ipc watch: someone outside may still connect
    diagnosis = look(pids, closed_world=True)  # the harness: it started every process there is
    assert diagnosis is not None and diagnosis.process(str(pids[0])).call in ("accept", "accept4")
    assert any("only the other watched processes could" in line for line in diagnosis.process(str(pids[0])).details)


@pytest.mark.parametrize(
    "how,call",
    [
        ("import select; p = select.poll(); p.register({fd}, select.POLLIN); p.poll()", "poll"),
        (
            "import selectors; s = selectors.DefaultSelector(); s.register({fd}, selectors.EVENT_READ); s.select()",
            "epoll_wait",
        ),
        ("import select; select.select([{fd}], [], [])", "pselect6"),
    ],
)
def test_waiting_in_poll_epoll_or_select_without_a_timeout_counts(processes, how, call):
    a_r, a_w, b_r, b_w = crossed_pipes()
    processes += [spawn(how.format(fd=a_r), a_r, b_w), spawn(how.format(fd=b_r), b_r, a_w)]
    close(a_r, a_w, b_r, b_w)
    diagnosis = look([p.pid for p in processes])
    assert diagnosis is not None and len(diagnosis.cycle) == 2
    if syscalls.MACHINE == "x86_64":  # other architectures name some of these calls differently
        assert {stuck.call for stuck in diagnosis.stuck} == {call}
    assert all("to read, with no timeout" in stuck.shown for stuck in diagnosis.stuck)


def test_a_thread_blocked_in_read_while_main_joins_it_counts(processes):
    a_r, a_w, b_r, b_w = crossed_pipes()
    threaded = "import os, threading\nt = threading.Thread(target=os.read, args=({fd}, 1))\nt.start(); t.join()"
    processes += [spawn(threaded.format(fd=a_r), a_r, b_w), spawn(READ.format(fd=b_r), b_r, a_w)]
    close(a_r, a_w, b_r, b_w)
    diagnosis = look([p.pid for p in processes])
    assert diagnosis is not None
    threaded_one = diagnosis.process(str(processes[0].pid))
    assert threaded_one.call == "read" and threaded_one.tid != threaded_one.pid  # the thread, not the main one


def test_the_keeper_ends_only_the_processes_asked_for_and_what_runs_under_them():
    # The harness ends a traced demo's programs before their strace -p: it must not get the SIGTERM too.
    with Keeper() as keeper:
        script = "import os, time\nif os.fork() == 0: time.sleep(30)\nprint('forked', flush=True); time.sleep(30)"
        first = keeper.launch([sys.executable, "-c", script], stdout=subprocess.PIPE)
        other = keeper.launch([sys.executable, "-c", "import time; time.sleep(30)"])
        first.stdout.readline()  # its child is forked by now
        under = [pid for pid in keeper.alive() if keeper.tree.root_of.get(pid) == first.pid]
        assert len(under) == 2
        ended = keeper.end([first.pid])
        first.stdout.close()
        assert sorted(ended) == sorted(under) and first.returncode is not None
        assert other.poll() is None and keeper.alive() == [other.pid]  # left alone, until the keeper closes


def test_the_keeper_continues_a_stopped_process_so_that_it_can_clean_up_on_sigterm():
    # A demo stopped while it waits for strace (ipc.attach) when Ctrl-C comes: it must still run its cleanup.
    script = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))  # its cleanup, then exit 7\n"
        "print('stopping', flush=True); os.kill(os.getpid(), signal.SIGSTOP); time.sleep(30)"
    )
    with Keeper() as keeper:
        program = keeper.launch([sys.executable, "-c", script], stdout=subprocess.PIPE)
        program.stdout.readline()
        os.waitid(os.P_PID, program.pid, os.WSTOPPED | os.WNOWAIT)  # stopped now
        keeper.end()
        program.stdout.close()
        assert program.returncode == 7  # not -9: SIGKILL after the grace period


def test_the_tree_follows_forks_and_orphans(processes):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time\nif os.fork() == 0: time.sleep(30)\nprint(os.getpid(), flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    processes.append(parent)
    parent.stdout.readline()  # the child is forked by now
    tree = Tree()
    pids = tree.update([parent.pid])
    assert len(pids) == 2 and pids[0] == parent.pid
    child = pids[1]
    parent.kill()
    parent.wait(5)
    parent.stdout.close()
    assert tree.update([]) == [child]  # reparented to init, still ours
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while tree.update([]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tree.update([]) == []


# -- the broken demos, run by hand ------------------------------------------


@pytest.mark.parametrize(
    "script,bug_line",
    [
        ("broken/both_read_first.py", "(the bug)"),
        ("broken/fifo_open_order.py", "(the bug)"),
        ("broken/forgotten_close.py", "waiting for the child to exit"),
        ("broken/full_buffers.py", "(the bug)"),
    ],
)
def test_by_hand_a_broken_demo_hangs_until_killed_then_cleans_up(script, bug_line):
    with Program(script) as program:
        program.wait_for_line(bug_line)
        tree = Tree()
        diagnosis = look(tree.update([program.popen.pid]), seconds=5)
        assert diagnosis is not None, "it should be deadlocked by now"
        assert {stuck.pid for stuck in diagnosis.stuck} == set(tree.update([program.popen.pid]))
        program.popen.send_signal(signal.SIGTERM)  # to the parent only, as `kill PID` would
        code, _, rest = program.finish()
    assert code == 143  # 128 + SIGTERM
    assert rest.strip().endswith("]: interrupted")
    assert "Traceback" not in rest


@pytest.mark.parametrize(
    "script",
    ["broken/both_read_first.py", "broken/fifo_open_order.py", "broken/forgotten_close.py", "broken/full_buffers.py"],
)
def test_by_hand_the_fix_runs_with_its_own_messages(script):
    done = run_program(script, "--fixed", *(["--count", "3"] if "full" in script else ["one", "two"]))
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "(the bug)" not in err
    assert ('received "2 TWO"' in err) or ("all 3 answers" in err)


def test_by_hand_bad_arguments_are_a_usage_error():
    done = run_program("broken/full_buffers.py", "--count", "many")
    assert done.returncode == 2 and b"invalid int value" in done.stderr


def test_by_hand_a_client_with_no_server_says_so_in_one_line():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        done = run_program("broken/client_reads_first.py", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.decode().strip().endswith("ConnectionRefusedError: Connection refused")
