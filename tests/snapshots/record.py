"""Record the snapshots tests/test_waitfor.py judges: real processes, seen through /proc, kept as plain JSON.

    .venv/bin/python tests/snapshots/record.py [NAME...]    (Linux, root for the FIFO cases' kernel stacks)

Each case starts real programs (the broken demos through the harness, shell commands, small Python
programs, the test programs of tests/programs), waits until they block, and writes what the /proc
adapter (ipc.deadlock.observe) made of them: ``{"about": ..., "snapshot": ..., "finding": ...}``. The
finding is kept for a reader's eye only; the tests judge the snapshot again. Pids are as they were.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from ipc import catalog, procfs  # noqa: E402
from ipc.deadlock.observe import observe  # noqa: E402
from ipc.deadlock.waits import analyse  # noqa: E402
from ipc.harness import run_demo  # noqa: E402
from ipc.processes import children  # noqa: E402
from ipc.waitfor import Motion, World, finding_to_json, judge, to_json  # noqa: E402
from ipc.watch import watch  # noqa: E402

PY = sys.executable


def save(name: str, about: str, snapshot, finding) -> None:
    data = {"about": about, "snapshot": to_json(snapshot), "finding": finding_to_json(finding)}
    (HERE / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"{name}: {finding.verdict.value}, cycle {list(finding.cycle)}")


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def snap(name: str, about: str, root: int, world: World = World.OPEN, within: float = 10.0) -> None:
    """The process tree under root, once every process in it has stopped moving (blocked, or waiting
    with a timeout) for a moment: analysed, observed, judged, saved."""
    end, last, since = time.monotonic() + within, None, time.monotonic()
    while time.monotonic() < end:
        pids = tree(root)
        seen = {pid: analyse(pid, procfs.threads(pid)) for pid in pids}
        state = {pid: tuple((d.thread.tid, d.thread.motion, d.shown) for d in s.decoded) for pid, s in seen.items()}
        still = all(d.thread.motion is not Motion.RUNNING for s in seen.values() for d in s.decoded)
        if state != last or not still:
            last, since = state, time.monotonic()
        elif time.monotonic() - since > 0.4:
            snapshot, _ = observe(seen, set(pids), world)
            save(name, about, snapshot, judge(snapshot, pids))
            return
        time.sleep(0.05)
    raise SystemExit(f"{name}: the processes never settled")


def started(argv, **popen) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)


def ended(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def broken_demos() -> None:
    for demo in catalog.all_demos():
        if demo.kind != "deadlock":
            continue
        result = run_demo(demo, out=io.StringIO(), fix=False)
        if result.judged is None:
            raise SystemExit(f"{demo.name}: no deadlock was judged")
        about = f"the broken demo {demo.name} under the harness (a closed world), when its deadlock was diagnosed"
        save(f"demo-{demo.name}", about, *result.judged)


def two_terminals() -> None:
    server = subprocess.Popen([PY, "demos/tcp_server.py", "--clients", "1", "--idle", "0"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        port = next(line for line in server.stderr if b"ready:" in line).split(b"port=")[1].split()[0]
        outcome = watch([PY, "demos/broken/client_reads_first.py", "--port", port.decode()], err=io.BytesIO(),
                        report=io.StringIO(), timeout=20)  # fmt: skip
        about = "ipc watch of a client that reads first, against a server started apart (another terminal)"
        save("two-terminals", about, *outcome.judged)
    finally:
        ended(server)


def watched(name: str, about: str, argv: list, timeout: float = 20, **options) -> None:
    outcome = watch(argv, err=io.BytesIO(), report=io.StringIO(), timeout=timeout, **options)
    if outcome.judged is None:
        raise SystemExit(f"{name}: nothing was judged")
    save(name, about, *outcome.judged)


def shell_fifo_open_order() -> None:
    with tempfile.TemporaryDirectory() as directory:
        script = f"cd {directory}; mkfifo a b; (cat a > b) & cat b > a"
        watched("shell-fifo-open-order", "ipc watch of bash -c 'mkfifo a b; (cat a > b) & cat b > a'",
                ["bash", "-c", script])  # fmt: skip


def fifo_server_behind_a_shell() -> None:
    with tempfile.TemporaryDirectory() as directory:
        shell = started(["sh", "-c", f"{PY} demos/fifo_server.py --idle 0; echo done"], env={**os.environ,
                        "TMPDIR": directory})  # fmt: skip
        try:
            snap("fifo-server-behind-a-shell", "sh -c 'fifo_server.py; echo done': a server waiting for clients at "
                 "its well-known FIFO, its shell waiting for it", shell.pid)  # fmt: skip
        finally:
            ended(shell)


def server_in_accept() -> None:
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); s.accept()"
    server = started([PY, "-c", code])
    try:
        snap("server-in-accept", "a Python server in accept(), no client yet", server.pid)
    finally:
        ended(server)


def slow_stdin() -> None:
    r, w = os.pipe()
    cat = started(["cat"], stdin=r)
    os.close(r)
    try:
        snap("slow-stdin", "cat reading a pipe whose writer (this recorder) is outside", cat.pid)
    finally:
        os.close(w)
        ended(cat)


EPOLL = (
    "import selectors, socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "e = selectors.EpollSelector(); e.register(s, selectors.EVENT_READ); e.select({timeout})"
)


def epoll() -> None:
    for name, timeout, about in (("epoll-forever", "None", "with no timeout"), ("epoll-timeout", "30", "30 s")):
        server = started([PY, "-c", EPOLL.format(timeout=timeout)])
        try:
            snap(name, f"a Python server in epoll_wait on its listening socket, {about}", server.pid)
        finally:
            ended(server)


def lock_order() -> None:
    program = started([PY, "tests/programs/lock_order.py"])
    try:
        snap("lock-order", "two threads taking two locks in opposite orders, main joining them", program.pid)
    finally:
        ended(program)


def daemon() -> None:
    watched("daemon", "ipc watch of a program whose double-forked daemon and it deadlock",
            [PY, "tests/programs/daemon_deadlock.py"])  # fmt: skip


CASES = {
    "demos": broken_demos,
    "two-terminals": two_terminals,
    "shell-fifo-open-order": shell_fifo_open_order,
    "fifo-server-behind-a-shell": fifo_server_behind_a_shell,
    "server-in-accept": server_in_accept,
    "slow-stdin": slow_stdin,
    "epoll": epoll,
    "lock-order": lock_order,
    "daemon": daemon,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or CASES:
        CASES[name]()
