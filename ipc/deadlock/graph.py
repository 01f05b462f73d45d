"""The wait-for graph: for each wait, which processes could end it, and how to say so.

Built once every watched process is blocked. A reader of a pipe or FIFO
waits for every process holding a write end (itself included: the forgotten
close); a writer waits for the readers; a stream socket waits for the
holders of the socket at its other end (sock_diag, /proc/net/tcp), and a
connection nobody has accepted yet for the holders of the listening socket.
Those holders may be outside the watched processes (a server started in
another terminal): the graph names them, and the detector looks at them too.

For waits any process could end (accept, open of a FIFO nobody has opened,
an unconnected datagram socket), the world is taken to be closed when the
watcher launched every process (the harness): only the other watched
processes know these private paths and ports. ``ipc watch`` does not know
who else may connect, so there they count as waits on the world outside, as
a read from a terminal always does. waitpid() waits for the children it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import procfs, procnet
from .report import join_and
from .waits import Blocked, Wait


@dataclass
class Resolution:
    """Whom one wait waits for."""

    waits_for: set[int] = field(default_factory=set)  # the pids that could end it
    outside: bool = False  # the world outside could end it (anyone may connect), or who could is unknown
    lines: list[str] = field(default_factory=list)  # what the fd is and who holds its other end, in words
    reasons: dict[int, str] = field(default_factory=dict)  # pid -> why this wait waits for it


class WaitForGraph:
    """Who holds the other ends of the waits of the blocked processes given.

    ``blocked`` holds every process looked at: the watched ones and those found
    outside at the other end of their waits; ``watched`` the ones the watcher
    runs. Only the watched ones share the closed world of the harness."""

    def __init__(
        self, blocked: dict[int, Blocked], name: Callable[[int], str], watched: set[int], closed_world: bool = True
    ):
        self.blocked, self.name, self.watched, self.closed_world = blocked, name, watched, closed_world
        self.could_not_see: list[str] = []
        self.sockets: dict[int, procnet.Socket] = {}
        holder = next(
            (pid for pid, b in blocked.items() for w in b.waits if w.handle and w.handle.kind == "socket"), None
        )
        if holder is not None:
            self.sockets, peers = procnet.sockets(holder)  # in that process's network namespace
            if not peers:
                self.could_not_see.append("the other ends of Unix sockets (no sock_diag in this kernel)")
        targets = set()
        for b in blocked.values():
            for w in b.waits:
                if w.handle is not None:
                    targets.add(w.handle.target)
                    for inode in (self._peer(w.handle), self._listener(w.handle)):
                        if inode is not None:
                            targets.add(f"socket:[{inode}]")
                if w.path:
                    targets.add(w.path)
        self.holders, unseen = procfs.holders(targets)
        if unseen:
            self.could_not_see.append(f"the fds of {unseen} processes of other users")

    def _peer(self, handle: procfs.Handle) -> Optional[int]:
        info = self.sockets.get(handle.ident[1]) if handle.kind == "socket" else None
        return info.peer if info else None

    def _listener(self, handle: procfs.Handle) -> Optional[int]:
        """For a connected TCP socket whose other end nobody holds yet: the listening socket it waits in."""
        info = self.sockets.get(handle.ident[1]) if handle.kind == "socket" else None
        if info is None or not info.family.startswith("TCP") or not info.remote:
            return None
        port = info.remote.rsplit(":", 1)[1]
        wildcards = {info.remote, f"0.0.0.0:{port}", f"[::]:{port}"}
        return next((s.inode for s in self.sockets.values() if s.state == "listening" and s.local in wildcards), None)

    def label(self, pid: int) -> str:
        if pid in self.watched:
            return f"{self.name(pid)}[{pid}]"
        return f"{procfs.command(pid)}[{pid}] (not watched)"

    def _held(self, handles: list[procfs.Handle], waiter: int) -> str:
        by_pid: dict[int, list[int]] = {}
        for h in handles:
            by_pid.setdefault(h.pid, []).append(h.fd)
        parts = []
        for pid, fds in by_pid.items():
            where = ", ".join(f"fd {fd}" for fd in sorted(fds))
            parts.append(f"{self.label(pid)} itself ({where})" if pid == waiter else f"{self.label(pid)} ({where})")
        return join_and(parts) if parts else "no process"

    def resolve(self, pid: int, wait: Wait) -> Resolution:
        """Whom this wait waits for, and the words that explain it."""
        if wait.want == "child":
            return self._child(wait)
        if wait.want.startswith("open-"):
            return self._fifo_open(pid, wait)
        assert wait.handle is not None
        if wait.handle.kind == "tty":
            line = f"fd {wait.handle.fd} is the terminal {wait.handle.target}: it waits for someone to type"
            return Resolution(outside=True, lines=[line])
        if wait.handle.kind in ("pipe", "fifo"):
            return self._pipe(pid, wait, wait.handle)
        return self._socket(pid, wait, wait.handle)

    def _outside(self, targets: set[int]) -> bool:
        """Some of these could be woken by nobody the graph knows of: they are not among those looked at."""
        return bool(targets - set(self.blocked))

    def _closed(self, pid: int) -> bool:
        """Whether only the watched processes could give this process what it waits for."""
        return self.closed_world and pid in self.watched

    def _child(self, wait: Wait) -> Resolution:
        kids = set(wait.children)
        names = join_and([self.label(kid) for kid in sorted(kids)])
        if len(kids) == 1:
            text = f"it waits for its child {names} to exit"
        else:
            text = f"it waits for any of its children, {names}, to exit"
        return Resolution(kids, self._outside(kids), [text], {kid: "its child, which has not exited" for kid in kids})

    def _fifo_open(self, pid: int, wait: Wait) -> Resolution:
        direction = wait.want[5:]
        other = "writing" if direction == "read" else "reading"
        if not self._closed(pid):  # its other side is whoever opens this path next: anyone may
            line = f"a FIFO's open() for {direction}ing waits until a process opens {wait.path} for {other}"
            return Resolution(outside=True, lines=[line + "; anyone may"])
        others = sorted(self.watched - {pid})
        others_text = join_and([self.label(o) for o in others]) if others else "none"
        lines = [
            f"a FIFO's open() for {direction}ing waits until a process opens it for {other}; none has",
            f"only the other watched processes know this path, and they are blocked too: {others_text}",
        ]
        return Resolution(set(others), False, lines, {o: f"could open {wait.path} for {other}" for o in others})

    def _pipe(self, pid: int, wait: Wait, handle: procfs.Handle) -> Resolution:
        ends = [h for h in self.holders.get(handle.target, []) if h.ident == handle.ident]
        other = [h for h in ends if (h.writes if wait.want == "read" else h.reads)]
        fill = procfs.pipe_fill(pid, handle.fd)
        state = ""
        if fill is not None:
            waiting, capacity = fill
            if waiting == 0:
                state = ", empty"
            elif waiting >= capacity:
                state = f", full ({waiting} of {capacity} bytes)"
            else:
                state = f", {waiting} bytes waiting"
        end_name = "write end" if wait.want == "read" else "read end"
        lines = [
            f"fd {handle.fd} is {self.describe(handle)}{state}; its {end_name} is held by {self._held(other, pid)}"
        ]
        if wait.want == "read" and any(h.pid == pid for h in other):
            lines.append("it holds a write end itself: until it closes it, read() cannot return end of file")
        targets = {h.pid for h in other}
        reasons = {t: f"holds the {end_name} of {_short(handle)}" for t in targets}
        return Resolution(targets, self._outside(targets), lines, reasons)

    def _socket(self, pid: int, wait: Wait, handle: procfs.Handle) -> Resolution:
        info = self.sockets.get(handle.ident[1])
        if info is None:  # netlink, packet, a socket in a namespace out of sight: who could end this wait is unknown
            line = f"fd {handle.fd} is {handle.target}, a socket this watcher cannot see into"
            return Resolution(outside=True, lines=[line])
        what = self.describe(handle)
        if wait.want in ("accept", "connect") or (not info.stream and info.peer is None):
            verb = {"accept": "a connection", "connect": "its connection to be accepted"}.get(wait.want, "a datagram")
            if not self._closed(pid):  # anyone on this machine may connect or send
                return Resolution(
                    outside=True, lines=[f"fd {handle.fd} is {what}; it waits for {verb}, which anyone may give it"]
                )
            others = sorted(self.watched - {pid})
            others_text = join_and([self.label(o) for o in others]) if others else "none"
            lines = [
                f"fd {handle.fd} is {what}; it waits for {verb}",
                f"only the other watched processes could send it, and they are blocked too: {others_text}",
            ]
            return Resolution(set(others), False, lines, {o: f"could give it {verb}" for o in others})
        if wait.want == "read":
            state = ", nothing to read" if not info.recv_queue else f", {info.recv_queue} bytes to read"
        else:
            peer = self.sockets.get(info.peer) if info.peer else None
            unread = peer.recv_queue if peer and peer.recv_queue is not None else info.send_queue
            state = f", its buffers full: {unread} bytes sent and not read by the other end" if unread else ""
        ends = self.holders.get(f"socket:[{info.peer}]", []) if info.peer else []
        if ends:
            targets = {h.pid for h in ends}
            lines = [f"fd {handle.fd} is {what}{state}; its other end is held by {self._held(ends, pid)}"]
            reasons = {t: f"holds the other end of {_short(handle)}" for t in targets}
            return Resolution(targets, self._outside(targets), lines, reasons)
        listener = self._listener(handle)
        queued = self.holders.get(f"socket:[{listener}]", []) if listener else []
        if queued:  # connected, but waiting in the listener's queue: nobody has accept()ed it yet
            targets = {h.pid for h in queued}
            lines = [
                f"fd {handle.fd} is {what}{state}; nobody has accept()ed its other end yet: it waits in the queue "
                f"of the socket listening on {info.remote}, held by {self._held(queued, pid)}"
            ]
            reasons = {t: f"has not accepted the connection {info.local} -> {info.remote}" for t in targets}
            return Resolution(targets, self._outside(targets), lines, reasons)
        return Resolution(outside=True, lines=[f"fd {handle.fd} is {what}{state}; its other end cannot be seen"])

    def describe(self, handle: procfs.Handle) -> str:
        """What an fd is, in words: "the read end of pipe:[123]", "a TCP socket 1.2.3.4:5 -> ..."."""
        if handle.kind == "pipe":
            return f"the {'read' if handle.access == 'r' else 'write'} end of {handle.target}"
        if handle.kind == "fifo":
            how = {"r": "for reading", "w": "for writing", "rw": "for reading and writing"}.get(handle.access, "")
            return f"the FIFO {handle.target}, opened {how}"
        if handle.kind == "tty":
            return f"the terminal {handle.target}"
        info = self.sockets.get(handle.ident[1])
        if info is None:
            return f"{handle.target}, a socket"
        if info.state == "listening":
            return f"a {info.family} socket listening on {info.local or '(unnamed)'}"
        if info.family.startswith("Unix"):
            if info.peer is None:
                return f"a {info.family} socket {info.local or '(unnamed)'}, {handle.target} ({info.state})"
            if not info.local and not info.remote:
                pair = "(both unnamed: a socketpair)"
                return f"a {info.family} socket, {handle.target}, connected to socket:[{info.peer}] {pair}"
            local, remote = info.local or "(unnamed)", info.remote or "(unnamed)"
            return f"a {info.family} socket {local} -> {remote}, {handle.target}"
        ends = f"{info.local} -> {info.remote}" if info.remote else info.local
        return f"a {info.family} socket {ends}" + ("" if info.state == "connected" else f" ({info.state})")


def _short(handle: procfs.Handle) -> str:
    return handle.target if handle.kind != "fifo" else f"the FIFO {handle.target}"
