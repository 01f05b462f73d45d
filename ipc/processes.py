"""The keeper of processes: launch them, follow all they fork, end them with deadlines, reap them.

The harness and ``ipc watch`` both start programs that fork, exec and, when
they are broken, never end by themselves. One ``Keeper`` per run:

- ``launch()`` starts a program, by default in a session of its own (its own
  process group, so that it and whatever it forks can be signalled as one);
- ``tree`` follows every process under the launched ones: their children,
  grandchildren, and orphans once seen. On Linux the keeper is also a *child
  subreaper* (prctl PR_SET_CHILD_SUBREAPER) for the length of the run: a
  process that double-forks and calls setsid() to escape (a daemon) is given
  to the keeper, not to init, so it is found and ended with the rest;
- ``end()`` sends SIGTERM to everything still alive, gives it GRACE seconds
  to clean up (following the tree while it ends: a shell's trap may fork an
  rm, which must get its time too), then SIGKILL, and reaps.

Nothing here prints; the caller says what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Iterable, Iterator, Optional, Sequence

from . import procfs

TICK = 0.05  # how often a watcher looks at its processes while they are quiet
GRACE = 1.0  # how long a process has to end after SIGTERM before SIGKILL
LINGER = 0.5  # how long output may stay open after a process exits (its forked children still writing)
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37
TAG = "IPC_KEEPER"  # in the environment of every process a keeper launches, and of all they fork
LAUNCHED: set[int] = set()  # every process any keeper of this process launched (their Popen reaps them)


def start_time(pid: int) -> Optional[int]:
    """When the process started: with the pid, it names one process for good. None if it ended (or is a zombie)."""
    if procfs.AVAILABLE:
        return procfs.start_time(pid)
    import psutil

    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else int(process.create_time() * 1000)
    except psutil.Error:
        return None


def children(pid: int) -> list[int]:
    found = procfs.children(pid) if procfs.AVAILABLE else None
    if found is not None:
        return found
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def send(pid: int, sig: int) -> None:
    """Signal one process, if it is still there."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def send_group(pgid: int, sig: int) -> None:
    """Signal a whole process group, if any member is left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill or timeout, a closed terminal


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold back Ctrl-C, SIGTERM and SIGHUP for the block's length (a cleanup that must not be cut
    short), then act on the first that came as it would have acted: its handler, or its default."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can set signal handlers; nothing to defer elsewhere
        return
    arrived: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: arrived.append(signum)) for sig in STOPPING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if arrived:
        handler = previous[arrived[0]]
        if callable(handler):
            handler(arrived[0], None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(arrived[0])


def describe_exit(code: int) -> str:
    """A Popen return code in words: "exit code 1", "signal SIGKILL"."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class Tree:
    """The processes under some roots: the roots, all they fork, and orphans once seen.

    A forked child whose parent has died is reparented, but it is still one of
    ours: once seen, a process is kept until it ends. A pid is remembered with
    its start time, so a reused pid is not mistaken for it. ``root_of`` says
    under which root each process was found.
    """

    def __init__(self) -> None:
        self.known: dict[int, Optional[int]] = {}  # pid -> start time
        self.root_of: dict[int, int] = {}

    def update(self, roots: Iterable[int]) -> list[int]:
        """Every live process of the tree, roots first (in the order given), then in the order found."""
        for pid in roots:
            if pid not in self.known:
                self.known[pid] = start_time(pid)
                self.root_of[pid] = pid
        queue = list(self.known)
        while queue:
            pid = queue.pop(0)
            for child in children(pid):
                if child not in self.known:
                    self.known[child] = start_time(child)
                    self.root_of[child] = self.root_of.get(pid, pid)
                    queue.append(child)
        for pid, started in list(self.known.items()):
            now = start_time(pid)
            if now is None or (started is not None and now != started):
                del self.known[pid]  # it ended (or is a zombie, or its pid was reused)
        return list(self.known)

    def under(self, root: int) -> list[int]:
        """The live processes found under this root, the root itself left out."""
        return [pid for pid in self.known if self.root_of.get(pid) == root and pid != root]


class Keeper:
    """The processes of one run. Use as a context manager: on the way out, nothing it started is left.

    Several keepers may run at once in one process, in threads (``ipc run -j``): each tags the
    environment of what it launches (TAG), so an orphan given to this process is claimed by the
    keeper whose tag it carries; and none ever reaps a process another keeper launched."""

    def __init__(self, subreaper: bool = True) -> None:
        self.tag = uuid.uuid4().hex
        self.popens: list[subprocess.Popen] = []
        self.tree = Tree()
        self._groups: list[int] = []  # process groups of our own making, signalled as a whole too
        self._adopted: set[int] = set()  # orphans given to us as the subreaper
        self._before = set(children(os.getpid()))  # our children from before: never ours to end or reap
        self._subreaper = _Subreaper.enter() if subreaper else False

    def __enter__(self) -> "Keeper":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def launch(self, argv: Sequence[str], new_session: bool = True, **popen_options) -> subprocess.Popen:
        """Start a program; new_session=False keeps it in our process group (Ctrl-C reaches it too)."""
        env = dict(popen_options.pop("env", None) or os.environ, **{TAG: self.tag})
        with _Subreaper.lock:  # a pid in LAUNCHED before any keeper could take it for an orphan
            popen = subprocess.Popen(list(argv), start_new_session=new_session, env=env, **popen_options)
            LAUNCHED.add(popen.pid)
        self.popens.append(popen)
        if new_session:
            self._groups.append(popen.pid)
        self.tree.update([popen.pid])
        return popen

    @property
    def roots(self) -> list[int]:
        return [popen.pid for popen in self.popens] + sorted(self._adopted)

    def alive(self, roots: Optional[Sequence[int]] = None) -> list[int]:
        """Every live process of the run (or under the roots given): the tree, orphans given to us included."""
        self.reap()
        return self.tree.update(self.roots if roots is None else roots)

    def _under(self, roots: Optional[list[int]]) -> list[int]:
        """The live processes of the run, or only these roots and the processes found under them."""
        live = self.alive(roots)
        if roots is None:
            return live
        chosen = set(roots)
        return [pid for pid in live if pid in chosen or self.tree.root_of.get(pid) in chosen]

    def reap(self) -> None:
        """Adopt the orphans given to this process that carry our tag; collect every ended orphan's exit."""
        if not self._subreaper:
            return
        with _Subreaper.lock:
            for pid in children(os.getpid()):
                if pid in LAUNCHED or pid in self._before or pid in self._adopted:
                    continue
                if procfs.environment(pid).get(TAG) == self.tag:
                    self._adopted.add(pid)
                elif start_time(pid) is None:  # a zombie nobody launched: no one else will collect it
                    _collect(pid)
            for pid in list(self._adopted):
                if _collect(pid):
                    self._adopted.discard(pid)

    def end(self, pids: Optional[Iterable[int]] = None, grace: float = GRACE) -> list[int]:
        """End every live process of the run (or these and all under them): SIGTERM, then SIGKILL
        after grace. Returns the pids that were alive and had to be ended. Every launched process is reaped."""
        with signals_deferred():  # a second Ctrl-C must not leave half of them running
            return self._end(list(pids) if pids is not None else None, grace)

    def _end(self, roots: Optional[list[int]], grace: float) -> list[int]:
        found = self._under(roots)
        groups = self._groups if roots is None else [pid for pid in roots if pid in self._groups]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            live = self._under(roots)
            if not live and not self._groups_alive(groups):
                break
            # A stopped process (one waiting for strace, ipc.attach) acts on SIGTERM only once continued:
            # SIGCONT after it, as a shell's kill does for a stopped job.
            for each in (sig, signal.SIGCONT) if sig == signal.SIGTERM else (sig,):
                for group in groups:  # what forked and died between two looks is still in its group
                    send_group(group, each)
                for pid in live:  # once each: a second SIGTERM would cut a program's own cleanup short
                    if _group_of(pid) not in groups:
                        send(pid, each)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self._poll()
                if not self._under(roots) and not self._groups_alive(groups):
                    break
                time.sleep(0.01)
        for popen in self.popens:
            if roots is None or popen.pid in roots:
                try:
                    popen.wait(grace)
                except subprocess.TimeoutExpired:  # in uninterruptible sleep, or not ours to kill
                    popen.kill()
                    popen.wait()
        self.reap()
        return found

    def forget(self) -> None:
        """Leave every process of the run to itself: close() will end none of them."""
        self._before.update(self.alive())  # no longer ours: never adopted again, nor reaped by us
        self._poll()
        self.popens, self._groups, self._adopted = [], [], set()
        self.tree = Tree()

    def _poll(self) -> None:
        for popen in self.popens:
            popen.poll()  # reap a launched process as soon as it ends, so it does not linger as a zombie

    @staticmethod
    def _groups_alive(groups: Iterable[int]) -> bool:
        for group in groups:
            try:
                os.killpg(group, 0)
                return True
            except (ProcessLookupError, PermissionError):
                continue
        return False

    def close(self) -> None:
        self.end()
        with _Subreaper.lock:
            LAUNCHED.difference_update(popen.pid for popen in self.popens if popen.returncode is not None)
        if self._subreaper:
            _Subreaper.leave()
            self._subreaper = False


def _group_of(pid: int) -> Optional[int]:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _collect(pid: int) -> bool:
    """Collect the exit status of an orphan given to us, if it has ended; True once it is gone."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return bool(done)


class _Subreaper:
    """This process is the subreaper of its descendants while any keeper needs it to be (counted)."""

    lock = threading.RLock()
    users = 0
    was: Optional[bool] = None

    @classmethod
    def enter(cls) -> bool:
        with cls.lock:
            if cls.users == 0:
                cls.was = _set_subreaper(True)
            if cls.was is None:
                return False  # this system has no subreapers: process groups and the tree must do
            cls.users += 1
            return True

    @classmethod
    def leave(cls) -> None:
        with cls.lock:
            cls.users -= 1
            if cls.users == 0 and cls.was is False:
                _set_subreaper(False)


def _set_subreaper(on: bool) -> Optional[bool]:
    """Make this process the subreaper of its descendants; returns whether it was one before
    (None where the system has no such thing: then only process groups and the tree find orphans)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        before = ctypes.c_int(0)
        if libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0) != 0:
            return None
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
            return None
        return bool(before.value)
    except (OSError, AttributeError):
        return None
