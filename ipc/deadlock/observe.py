"""The live half of the wait-for question: a snapshot of processes, from /proc, for ipc.waitfor to judge.

waits.py has decoded each thread's call into needs on objects (a pipe, a
socket, a FIFO's path). Here each object is looked up: who on the machine
holds which end (every process's fds), what is queued in it, which socket
is at its other end (sock_diag, /proc/net/tcp), in which listener's queue a
connection nobody has accepted waits, and whether a FIFO was made by the
processes watched (it changed after the first of them started). The facts
gathered for a report's words are kept beside the snapshot (``Facts``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional

from .. import procfs, procnet
from ..waitfor import End, Holder, Kind, Motion, Object, Process, Snapshot, Want, World
from .waits import Seen

ACCESS = {"r": End.READ, "w": End.WRITE}


@dataclass
class Facts:
    """What was seen of the objects, for the report's words."""

    sockets: dict[int, procnet.Socket] = field(default_factory=dict)
    handles: dict[str, procfs.Handle] = field(default_factory=dict)  # object id -> a waiter's fd on it
    holders: dict[str, list[procfs.Handle]] = field(default_factory=dict)  # object id -> every fd on it
    fills: dict[str, tuple[int, int]] = field(default_factory=dict)  # pipe or FIFO -> (bytes waiting, capacity)
    could_not_see: list[str] = field(default_factory=list)

    def socket(self, object_id: str) -> Optional[procnet.Socket]:
        if not object_id.startswith("socket:["):
            return None
        return self.sockets.get(int(object_id[8:-1]))


def observe(seen: dict[int, Seen], inside: set[int], world: World) -> tuple[Snapshot, Facts]:
    """The snapshot of these processes (``inside``: the watched ones; the rest were followed outside)."""
    facts = Facts()
    needs = [need for s in seen.values() for d in s.decoded for need in d.thread.needs if need.object]
    for s in seen.values():
        facts.handles.update(s.handles)
    if any(handle.kind == "socket" for handle in facts.handles.values()):
        holder = next(h.pid for h in facts.handles.values() if h.kind == "socket")
        facts.sockets, peers = procnet.sockets(holder)  # in that process's network namespace
        if not peers:
            facts.could_not_see.append("the other ends of Unix sockets (no sock_diag in this kernel)")
    ids = {need.object for need in needs}
    related = {}  # socket -> its peer or the listener holding its connection
    for object_id in ids:
        info = facts.socket(object_id)
        if info is not None and info.peer:
            related[object_id] = f"socket:[{info.peer}]"
        listener = _listener(facts, info)
        if listener is not None:
            related.setdefault(object_id + "/listener", f"socket:[{listener}]")
    found, unseen = procfs.holders(ids | set(related.values()))
    if unseen:
        facts.could_not_see.append(f"the fds of {unseen} processes of other users")
    for object_id, handles in found.items():
        mine = facts.handles.get(object_id)
        facts.holders[object_id] = [h for h in handles if mine is None or h.ident == mine.ident]
    started = _first_start(inside)
    objects = {}
    for object_id in ids:
        objects[object_id] = _object(object_id, facts, started)
    for key, other in related.items():
        if other not in objects:
            kind = Kind.LISTENER if key.endswith("/listener") else Kind.STREAM
            objects[other] = Object(other, kind, _holders(facts.holders.get(other, [])))
        if key.endswith("/listener") and not _held(objects, objects[key[: -len("/listener")]].peer):
            base = key[: -len("/listener")]
            objects[base] = dataclasses.replace(objects[base], listener=other)
    processes = {pid: Process(pid, _threads(s, facts), pid in inside) for pid, s in seen.items()}
    return Snapshot(processes, objects, world), facts


def _held(objects: dict, object_id: Optional[str]) -> bool:
    obj = objects.get(object_id) if object_id else None
    return obj is not None and bool(obj.holders)


def _threads(seen: Seen, facts: Facts) -> tuple:
    threads = []
    for decoded in seen.decoded:
        thread = decoded.thread
        tcp_connect = any(
            need.want is Want.ACCEPTED and (info := facts.socket(need.object or "")) and info.family.startswith("TCP")
            for need in thread.needs
        )
        if tcp_connect:  # the kernel resends the SYN, then gives up: a connect that waits with a timeout
            thread = dataclasses.replace(thread, motion=Motion.TIMED, needs=())
        threads.append(thread)
    return tuple(threads)


def _holders(handles: list[procfs.Handle]) -> tuple[Holder, ...]:
    return tuple(Holder(h.pid, h.fd, ACCESS.get(h.access, End.BOTH)) for h in handles)


def _object(object_id: str, facts: Facts, started: Optional[float]) -> Object:
    handle = facts.handles.get(object_id)
    holders = _holders(facts.holders.get(object_id, []))
    if handle is None:  # a FIFO's path, waited on in open(): not open yet
        return Object(object_id, Kind.FIFO, holders, made_inside=_made_since(object_id, started))
    if handle.kind in ("pipe", "fifo"):
        fill = procfs.pipe_fill(handle.pid, handle.fd)
        if fill is not None:
            facts.fills[object_id] = fill
        kind = Kind.PIPE if handle.kind == "pipe" else Kind.FIFO
        made = handle.kind == "fifo" and _made_since(handle.target, started)
        return Object(object_id, kind, holders, queued=fill[0] if fill else None, made_inside=made)
    if handle.kind == "tty":
        return Object(object_id, Kind.TERMINAL, holders)
    info = facts.socket(object_id)
    if info is None:  # netlink, packet, a socket in a namespace out of sight
        return Object(object_id, Kind.OTHER, holders)
    if info.state == "listening":
        return Object(object_id, Kind.LISTENER, holders)
    peer = f"socket:[{info.peer}]" if info.peer else None
    kind = Kind.STREAM if info.stream else Kind.DATAGRAM
    return Object(object_id, kind, holders, peer=peer, queued=info.recv_queue)


def _listener(facts: Facts, info: Optional[procnet.Socket]) -> Optional[int]:
    """For a connected TCP socket whose other end may not be accepted yet: the listening socket it waits in."""
    if info is None or not info.family.startswith("TCP") or not info.remote:
        return None
    port = info.remote.rsplit(":", 1)[1]
    wildcards = {info.remote, f"0.0.0.0:{port}", f"[::]:{port}"}
    return next((s.inode for s in facts.sockets.values() if s.state == "listening" and s.local in wildcards), None)


def _first_start(pids: set[int]) -> Optional[float]:
    """When the first of these processes started, in seconds since the epoch (None if it cannot be told)."""
    ticks = [t for t in (procfs.start_time(pid) for pid in pids) if t is not None]
    boot = procfs.boot_time()
    if not ticks or boot is None:
        return None
    return boot + min(ticks) / os.sysconf("SC_CLK_TCK")


def _made_since(path: str, started: Optional[float]) -> bool:
    """Whether a FIFO at path was made (or changed) after ``started``: by the processes watched, then."""
    if started is None:
        return False
    try:
        return os.stat(path).st_ctime >= started - 0.05  # start times are counted in clock ticks
    except OSError:
        return False
