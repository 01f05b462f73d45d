"""Checks run around every test: it must leave no child process, no open fd
and no file behind.

Each test gets a private temporary directory as TMPDIR (inherited by every
process it starts), and a tag in its environment, so that even a process
that escaped to init (a grandchild whose parent died) is found and named.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TAG = "IPC_TEST_TAG"


def open_fds() -> set[int]:
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    return {int(name) for name in os.listdir(fd_dir)}


def fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


def tagged_processes(tag: str) -> list[psutil.Process]:
    """Every process whose environment carries this test's tag (Linux: /proc/PID/environ)."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.environ().get(TAG) == tag:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture(autouse=True)
def leaves_nothing_behind(monkeypatch):
    tmpdir = tempfile.mkdtemp(prefix="ipc-test-")
    tag = uuid.uuid4().hex
    monkeypatch.setenv("TMPDIR", tmpdir)
    monkeypatch.setenv(TAG, tag)
    monkeypatch.setattr(tempfile, "tempdir", tmpdir)
    fds_before = open_fds()
    yield tmpdir
    problems = []

    me = psutil.Process()
    leftover = {p.pid: p for p in me.children(recursive=True)}
    if sys.platform.startswith("linux"):
        leftover.update({p.pid: p for p in tagged_processes(tag)})
    leftover = {pid: p for pid, p in leftover.items() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
    if leftover:
        problems.append(f"processes left running: {sorted(leftover)}")
        for process in leftover.values():
            process.kill()
        psutil.wait_procs(list(leftover.values()), timeout=3)
    for child in me.children():  # reap zombies of ours
        try:
            os.waitpid(child.pid, os.WNOHANG)
        except ChildProcessError:
            pass

    new_fds = open_fds() - fds_before
    new_fds = {fd for fd in new_fds if fd_target(fd) != "?"}  # the listing's own fd is already gone
    if new_fds:
        problems.append(f"fds left open: {', '.join(f'{fd} -> {fd_target(fd)}' for fd in sorted(new_fds))}")
        for fd in new_fds:
            os.close(fd)

    left = sorted(str(p.relative_to(tmpdir)) for p in Path(tmpdir).rglob("*"))
    shutil.rmtree(tmpdir, ignore_errors=True)
    if left:
        problems.append(f"files left in TMPDIR: {left}")
    if problems:
        pytest.fail("the test left things behind: " + "; ".join(problems), pytrace=False)
