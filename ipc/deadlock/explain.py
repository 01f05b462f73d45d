"""The words of a live diagnosis: what each fd is, who holds its other end, and why each wait waits for whom.

ipc.waitfor found the edges (who waits for whom, for what reason) and
ipc.deadlock.observe the facts (what each fd is, how full each pipe is, who
holds each end); this module only says them, the way an expert would.
"""

from __future__ import annotations

from typing import Callable, Optional

from .. import procfs
from ..waitfor import Edge, End, Kind, Outside, Reason, Resolution, Snapshot, Want, World
from .observe import Facts
from .report import join_and

Label = Callable[[int], str]


class Explainer:
    def __init__(self, snapshot: Snapshot, facts: Facts, label: Label):
        self.snapshot, self.facts, self.label = snapshot, facts, label

    def lines(self, resolution: Resolution) -> list[str]:
        """What one wait is, in words: its fd, its object's state, who holds the other end."""
        need = resolution.need
        if need.want is Want.CHILD:
            names = join_and([self.label(kid) for kid in sorted(need.children)])
            if len(need.children) == 1:
                return [f"it waits for its child {names} to exit"]
            return [f"it waits for any of its children, {names}, to exit"]
        if need.want is Want.SIGNAL:
            return ["it waits for a signal, which anyone may send it"]
        if need.want is Want.LOCK:
            return []
        if need.want is Want.PARTNER:
            return self._fifo_open(resolution)
        handle = self.facts.handles.get(need.object or "")
        obj = self.snapshot.objects.get(need.object or "")
        if handle is None or obj is None:
            return [f"fd {need.fd} cannot be seen into"]
        if obj.kind is Kind.TERMINAL:
            return [f"fd {handle.fd} is the terminal {handle.target}: it waits for someone to type"]
        if obj.kind in (Kind.PIPE, Kind.FIFO):
            return self._pipe(resolution, handle)
        if obj.kind is Kind.OTHER:
            return [f"fd {handle.fd} is {handle.target}, a socket this watcher cannot see into"]
        return self._socket(resolution, handle)

    def _others(self, resolution: Resolution) -> str:
        others = [edge.holder for edge in resolution.edges]
        return join_and([self.label(o) for o in others]) if others else "none"

    def _fifo_open(self, resolution: Resolution) -> list[str]:
        need = resolution.need
        direction, other = ("writ", "reading") if need.opening is End.WRITE else ("read", "writing")
        if resolution.outside is not None:
            return [f"a FIFO's open() for {direction}ing waits until a process opens {need.object} for {other}; "
                    f"anyone may"]  # fmt: skip
        first = f"a FIFO's open() for {direction}ing waits until a process opens it for {other}; none has"
        if self.snapshot.world is World.CLOSED:
            return [first, f"only the other watched processes know this path, and they are blocked too: "
                           f"{self._others(resolution)}"]  # fmt: skip
        return [first, f"the watched processes made this FIFO and no other holds it open; those that could open it "
                       f"are blocked in opens too: {self._others(resolution)}"]  # fmt: skip

    def _pipe(self, resolution: Resolution, handle: procfs.Handle) -> list[str]:
        fill = self.facts.fills.get(handle.target)
        state = ""
        if fill is not None:
            waiting, capacity = fill
            if waiting == 0:
                state = ", empty"
            elif waiting >= capacity:
                state = f", full ({waiting} of {capacity} bytes)"
            else:
                state = f", {waiting} bytes waiting"
        reading = resolution.need.want is Want.DATA
        end_name = "write end" if reading else "read end"
        ends = [h for h in self.facts.holders.get(handle.target, []) if (h.writes if reading else h.reads)]
        lines = [f"fd {handle.fd} is {self.describe(handle)}{state}; its {end_name} is held by "
                 f"{self._held(ends, resolution.pid)}"]  # fmt: skip
        if handle.kind == "fifo" and resolution.outside is Outside.ANYONE_MAY_OPEN:
            lines.append(f"its own write end keeps end of file away; anyone who opens {handle.target} may write to it")
        elif reading and any(h.pid == resolution.pid for h in ends):
            lines.append("it holds a write end itself: until it closes it, read() cannot return end of file")
        return lines

    def _socket(self, resolution: Resolution, handle: procfs.Handle) -> list[str]:
        need, info = resolution.need, self.facts.socket(handle.target)
        what = self.describe(handle)
        verbs = {Want.CONNECTION: "a connection", Want.ACCEPTED: "its connection to be accepted"}
        verb = verbs.get(need.want, "a datagram")
        if resolution.outside in (Outside.ANYONE_MAY_CONNECT, Outside.ANYONE_MAY_SEND, Outside.ANYONE_MAY_ACCEPT):
            return [f"fd {handle.fd} is {what}; it waits for {verb}, which anyone may give it"]
        anyone = (Reason.COULD_CONNECT, Reason.COULD_SEND, Reason.COULD_ACCEPT)
        if resolution.edges and resolution.edges[0].reason in anyone or resolution.outside is Outside.NOBODY_SEEN:
            return [
                f"fd {handle.fd} is {what}; it waits for {verb}",
                f"only the other watched processes could send it, and they are blocked too: {self._others(resolution)}",
            ]
        state = ""
        if info is not None and need.want is Want.DATA:
            state = ", nothing to read" if not info.recv_queue else f", {info.recv_queue} bytes to read"
        elif info is not None:
            peer = self.facts.sockets.get(info.peer) if info.peer else None
            unread = peer.recv_queue if peer and peer.recv_queue is not None else info.send_queue
            state = f", its buffers full: {unread} bytes sent and not read by the other end" if unread else ""
        reason = resolution.edges[0].reason if resolution.edges else None
        if reason is Reason.HOLDS_OTHER_END:
            ends = self.facts.holders.get(f"socket:[{info.peer}]", []) if info and info.peer else []
            return [f"fd {handle.fd} is {what}{state}; its other end is held by {self._held(ends, resolution.pid)}"]
        if reason is Reason.NOT_ACCEPTED and info is not None:
            listener = self.snapshot.objects[self.snapshot.objects[handle.target].listener or ""]
            queued = self.facts.holders.get(listener.id, [])
            return [
                f"fd {handle.fd} is {what}{state}; nobody has accept()ed its other end yet: it waits in the queue "
                f"of the socket listening on {info.remote}, held by {self._held(queued, resolution.pid)}"
            ]
        return [f"fd {handle.fd} is {what}{state}; its other end cannot be seen"]

    def reason(self, edge: Edge) -> str:
        """Why the waiter waits for the holder, in a few words."""
        need, reason = edge.need, edge.reason
        handle = self.facts.handles.get(need.object or "")
        short = (handle.target if handle.kind != "fifo" else f"the FIFO {handle.target}") if handle else need.object
        if reason is Reason.HOLDS_WRITE_END:
            return f"holds the write end of {short}"
        if reason is Reason.HOLDS_READ_END:
            return f"holds the read end of {short}"
        if reason is Reason.HOLDS_OTHER_END:
            return f"holds the other end of {short}"
        if reason is Reason.NOT_ACCEPTED:
            info = self.facts.socket(need.object or "")
            return f"has not accepted the connection {info.local} -> {info.remote}" if info else reason.value
        if reason is Reason.COULD_OPEN:
            other = "reading" if need.opening is End.WRITE else "writing"
            return f"could open {need.object} for {other}"
        if reason in (Reason.COULD_CONNECT, Reason.COULD_SEND, Reason.COULD_ACCEPT):
            verbs = {Reason.COULD_CONNECT: "a connection", Reason.COULD_SEND: "a datagram"}
            return f"could give it {verbs.get(reason, 'its connection accepted')}"
        return reason.value

    def _held(self, handles: list[procfs.Handle], waiter: int) -> str:
        by_pid: dict[int, list[int]] = {}
        for h in handles:
            by_pid.setdefault(h.pid, []).append(h.fd)
        parts = []
        for pid, fds in by_pid.items():
            where = ", ".join(f"fd {fd}" for fd in sorted(fds))
            parts.append(f"{self.label(pid)} itself ({where})" if pid == waiter else f"{self.label(pid)} ({where})")
        return join_and(parts) if parts else "no process"

    def describe(self, handle: procfs.Handle) -> str:
        """What an fd is, in words: "the read end of pipe:[123]", "a TCP socket 1.2.3.4:5 -> ..."."""
        if handle.kind == "pipe":
            return f"the {'read' if handle.access == 'r' else 'write'} end of {handle.target}"
        if handle.kind == "fifo":
            how = {"r": "for reading", "w": "for writing", "rw": "for reading and writing"}.get(handle.access, "")
            return f"the FIFO {handle.target}, opened {how}"
        if handle.kind == "tty":
            return f"the terminal {handle.target}"
        info = self.facts.socket(handle.target)
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

    def fd_text(self, resolution: Resolution) -> Optional[tuple[int, str]]:
        handle = self.facts.handles.get(resolution.need.object or "")
        return (handle.fd, self.describe(handle)) if handle is not None else None
