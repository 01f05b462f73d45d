"""Channels: the directions bytes travel in, named, each with the reads and writes that used it. Pure.

A stream (a pipe, a FIFO, one direction of a Unix or TCP connection) is one
channel per direction: ``stream_channel`` names the one a call wrote into or
read from. Datagrams go to the channel of the socket bound to their
destination; a regular file is a channel of its own. ``Channel.in_flight``
says what a channel held at any step of the trace; ipc.trace.recorder fills
the channels, ipc.trace.matching pairs their writes with their reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .model import KernelObject

STREAMS = ("pipe", "fifo", "unix-stream", "tcp", "terminal", "socket", "other")
DATAGRAMS = ("udp", "unix-dgram")


@dataclass
class Op:
    call: int
    pid: int
    seq: float  # when it began
    end_seq: float  # when its bytes went in or came out
    length: int
    data: bytes
    complete: bool
    offset: int = 0  # in the channel (streams: filled in when matched; files: the file offset)
    address: Optional[str] = None  # datagrams: the destination of a send, the source of a receive
    socket: Optional[str] = None  # datagrams: the object id of the sending or receiving socket
    own: Optional[str] = None  # datagrams: the sender's own address, once known
    in_seq: Optional[float] = None  # when its bytes were surely in: its return, or the first read that took them
    tid: Optional[int] = None  # the task that made the call (a thread's own id)
    source: int = 0  # which strace text it came from: within one, the order of lines is the kernel's
    peek: bool = False  # a read that left the bytes in (tee, MSG_PEEK)
    move: bool = False  # one side of a splice, sendfile, tee...: its bytes never passed through user memory
    channel: str = ""  # the channel it was put in
    alike: list = field(default_factory=list)  # concurrent writes with the same bytes: which went first is unknown


@dataclass(frozen=True)
class Queued:
    """Bytes in a channel, written and not yet read: how many, the first of them as strace recorded them,
    and whose they are. Never a byte strace did not show: where it cut a write short (``-s``), ``recorded``
    stops there and ``length`` still counts every byte."""

    length: int
    recorded: bytes = b""  # the first bytes, as far as strace recorded them without a gap
    writers: tuple = ()  # the pids whose bytes they are, in the order they were written

    def __len__(self) -> int:
        return self.length

    @property
    def complete(self) -> bool:
        return len(self.recorded) == self.length


@dataclass
class Channel:
    name: str
    kind: str  # stream | datagram | file
    label: str = ""
    writes: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    eofs: list = field(default_factory=list)  # (seq, call or None, pid): the last writer went away here
    readers_gone: list = field(default_factory=list)  # (seq, call or None, pid): the last reader went away here
    delivered: dict = field(default_factory=dict)  # datagrams: write call -> the read that got it
    peeks: list = field(default_factory=list)  # reads that left the bytes in (tee, MSG_PEEK): each sees, none takes
    reader_traced: bool = False  # a traced process held the end this channel is read from

    def in_flight(self, seq: float, own: Optional[int] = None):
        """What the channel held at ``seq``: a ``Queued`` (streams; nothing for a file), or the list of
        datagrams queued, each a ``Queued``.

        ``own``: a call whose bytes count as done (the call of the step being shown)."""

        def done(op: Op, at: Optional[float]) -> bool:
            return op.call == own or (at is not None and at <= seq)

        if self.kind == "datagram":
            return [
                Queued(op.length, op.data[: op.length], (op.pid,))
                for op in self.writes
                if done(op, op.in_seq)
                and not (op.call in self.delivered and done(self.delivered[op.call], self.delivered[op.call].end_seq))
            ]
        if self.kind == "file":
            return Queued(0)
        taken = sum(op.length for op in self.reads if done(op, op.end_seq))
        length, writers, position = 0, [], 0
        for op in self.writes:
            if done(op, op.in_seq):
                if position + op.length > taken:
                    length += op.length - max(0, taken - position)
                    writers.append(op.pid)
                position += op.length
        return Queued(length, self.recorded(taken, length), tuple(dict.fromkeys(writers)))

    def recorded(self, start: int, length: int) -> bytes:
        """The stream's bytes from ``start`` on, at most ``length``, as far as strace recorded them without a
        gap: from the write that gave them or, where strace cut the write short (``-s``), the read that took them."""
        out = bytearray()
        while len(out) < length:
            at = start + len(out)
            piece = max((_from(ops, at) for ops in (self.writes, self.reads)), key=len)
            if not piece:
                break
            out += piece[: length - len(out)]
        return bytes(out)


def _from(ops: list, at: int) -> bytes:
    """The bytes recorded from place ``at`` of a stream on, in the one op of ``ops`` (in order) holding it."""
    position = 0
    for op in ops:
        if position <= at < position + op.length:
            return op.data[at - position : op.length]
        position += op.length
    return b""


def channel_label(name: str, objects: dict) -> str:
    """The label of the object a channel goes through: pipe #1, TCP #1, UDP 127.0.0.1:5000."""
    kind, _, rest = name.partition(":")
    if name in objects:
        return objects[name].label
    if kind == "dgram" and not any(o.local == rest for o in objects.values()):
        return f"datagrams to {rest}"
    if kind == "unix":
        return objects[f"unix:{rest.split('->')[0]}"].label if f"unix:{rest.split('->')[0]}" in objects else name
    for obj in objects.values():
        if kind == "tcp" and obj.kind == "tcp" and f"{obj.local}->{obj.remote}" == rest:
            return obj.label
        if kind == "dgram" and obj.kind in DATAGRAMS and rest in (obj.local, obj.id):
            return obj.label
    return name


def stream_channel(obj: KernelObject, target, writing: bool) -> str:
    """The name of the direction a write goes into, or a read comes out of."""
    if obj.kind == "unix-stream":
        inode = obj.inode if obj.inode is not None else (target.inode if target else None)
        peer = (
            target.peer
            if target is not None and target.peer is not None
            else (int(obj.peer.split(":")[1]) if obj.peer and obj.peer.split(":")[1].isdigit() else None)
        )
        if inode is not None and peer is not None:
            return f"unix:{inode}->{peer}" if writing else f"unix:{peer}->{inode}"
    if obj.kind == "tcp":
        local = target.local if target is not None and target.local else obj.local
        remote = target.remote if target is not None and target.remote else obj.remote
        if local and remote:
            return f"tcp:{local}->{remote}" if writing else f"tcp:{remote}->{local}"
    return obj.id
