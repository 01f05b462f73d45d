"""The recorder: every read and write collected, with its channel, while the builder replays a trace. Pure.

The builder hands it each call that moved bytes (``record``), each fd that went
away (``released``), and each accept, connect and FIFO open. Once the whole
trace is read every stream's direction is known, so ``match`` puts each
read and write in its channel, labels the channels, and has ipc.trace.matching
pair the writes with the reads.
"""

from __future__ import annotations

from typing import Optional

from . import matching
from .channels import DATAGRAMS, Channel, Op, channel_label, stream_channel
from .model import FdEntry, KernelObject
from .names import WRITES
from .objects import same_address, sockaddr
from .strace import Data, Struct, Syscall


class Recorder:
    """Collects every read and write (with its channel) while the builder replays a trace."""

    def __init__(self, offsets: dict):
        self.offsets = offsets  # open file description -> offset (None: O_APPEND), kept by the builder
        self.channels: dict = {}
        self.sends: list = []  # datagrams sent: their channel is known only once every socket's address is
        self.receives: list = []
        self.accepts: list = []  # (call, object)
        self.connects: list = []
        self.fifo_opens: list = []  # (call, object, end)
        self.streams: list = []  # (op, object, decoration, writing): stream reads and writes
        self.shuts: list = []  # (object, seq, call, pid): a socket's sending side closed
        self.file_sizes: dict = {}
        self.moves: list = []  # (call, out of the source, into the destination): splice, sendfile, tee...
        self.sources: dict = {}  # pid -> which strace text it came from (set by the builder)

    def channel(self, name: str, kind: str) -> Channel:
        return self.channels.setdefault(name, Channel(name, kind))

    def record(self, call, record: Syscall, objects: list, entry: Optional[FdEntry]) -> None:
        """A read or a write (vmsplice: a write from memory into a pipe, which takes the pages themselves)."""
        if not objects or not record.ok:
            return
        obj, target = objects[0], record.args[0].target if hasattr(record.args[0], "target") else None
        writing = call.name in WRITES or (call.name == "vmsplice" and (entry is None or entry.end != "read"))
        length = record.result if record.result and record.result > 0 else 0
        data, complete = _payload(record, length if writing else None)
        call.data, call.data_complete = data, complete
        op = self._op(call, length, data, complete)
        op.move = call.name == "vmsplice"
        if call.name in ("sendmmsg", "recvmmsg"):
            return  # their result counts messages, not bytes: left out of the matching
        peek = not writing and "MSG_PEEK" in _flags_argument(record)
        if obj.kind in DATAGRAMS:
            op.socket = obj.id
            op.length = length if writing else _kept(record, length)
            address = _address(call.name, record.args)
            op.address = address or obj.remote
            op.peek = peek
            (self.sends if writing else self.receives).append(op)
        else:
            self._place(op, obj, target, writing, entry, _explicit_offset(record), peek)

    def move(self, call, record: Syscall, source: tuple, destination: tuple) -> None:
        """splice, tee, sendfile, copy_file_range: bytes out of one object and into another, inside the kernel.
        ``source`` and ``destination``: (object, decoration, fd entry, explicit offset or None). The bytes are
        not shown by strace: they are those the source's writers put there (``carry``, once matched)."""
        if not record.ok:
            return
        length = record.result if record.result and record.result > 0 else 0
        out, into = self._op(call, length, b"", False), self._op(call, length, b"", False)
        out.move = into.move = True
        (obj, target, entry, offset), (to, to_target, to_entry, to_offset) = source, destination
        self._place(out, obj, target, False, entry, offset, peek=call.name == "tee")
        self._place(into, to, to_target, True, to_entry, to_offset)
        self.moves.append((call, out, into))

    def _op(self, call, length: int, data: bytes, complete: bool) -> Op:
        return Op(call.index, call.pid, call.seq, call.end_seq, length, data, complete, in_seq=call.end_seq,
                  tid=call.tid, source=call.strace_text)  # fmt: skip

    def _place(self, op: Op, obj: KernelObject, target, writing: bool, entry: Optional[FdEntry],
               offset: Optional[int], peek: bool = False) -> None:  # fmt: skip
        """An op into the channel of its object: a file's at its offset; a stream's once the trace is read."""
        if obj.kind in DATAGRAMS:
            return  # a move into or out of a datagram socket: its bytes are not known, nor matched
        if obj.kind == "file":
            op.offset = self._file_offset(entry, obj, op.length, writing, offset)
            channel = self.channel(obj.id, "file")
            op.channel = channel.name
            (channel.writes if writing else channel.reads).append(op)
        elif op.length or not writing:  # its channel is named once the whole trace is read: a socket used
            self.streams.append((op, obj, target, writing, peek))  # right after connect may not show its peer yet

    def _file_offset(self, entry: Optional[FdEntry], obj: KernelObject, length: int, writing: bool,
                     explicit: Optional[int] = None) -> int:  # fmt: skip
        """Where in the file: the offset given (pread, a splice's), which leaves the file's own alone; else the
        open file description's, which moves on (O_APPEND: every write goes to the end)."""
        if explicit is not None:
            offset = explicit
        else:
            key = entry.open_file if entry is not None else None
            offset = self.offsets.get(key, 0)
            if offset is None:  # O_APPEND: every write goes to the end
                offset = self.file_sizes.get(obj.id, 0)
            else:
                self.offsets[key] = offset + length
        if writing:
            self.file_sizes[obj.id] = max(self.file_sizes.get(obj.id, 0), offset + length)
        return offset

    def released(
        self, entry: FdEntry, obj: KernelObject, holders: list, seq: float, call: Optional[int], pid: int
    ) -> None:
        """An fd went away: when it was the last way to write into a stream, that stream has reached its end."""
        if obj.kind in ("pipe", "fifo"):
            if entry.end != "read" and not any(h.end != "read" for h in holders):
                self.channel(obj.id, "stream").eofs.append((seq, call, pid))
            if entry.end != "write" and not any(h.end != "write" for h in holders):
                self.channel(obj.id, "stream").readers_gone.append((seq, call, pid))
        elif obj.kind in ("unix-stream", "tcp") and not holders:
            self.shut(obj, seq, call, pid)

    def shut(self, obj: KernelObject, seq: float, call: Optional[int], pid: int) -> None:
        self.shuts.append((obj, seq, call, pid))

    def accepted(self, call, obj: KernelObject) -> None:
        self.accepts.append((call, obj))

    def connected(self, call, obj: KernelObject) -> None:
        self.connects.append((call, obj))

    def fifo_opened(self, call, obj: KernelObject, end: str) -> None:
        self.fifo_opens.append((call, obj, end))

    # -- once the whole trace is read ---------------------------------------------------------
    def match(self, objects: dict, calls: list, holders: list) -> tuple:
        """Every read and write put in its channel, each channel labelled, then their messages and what
        was left unmatched (ipc.trace.matching)."""
        self._datagram_channels(objects)
        for op, obj, target, writing, peek in self.streams:
            channel = self.channel(stream_channel(obj, target, writing), "stream")
            op.channel = channel.name
            (channel.writes if writing else channel.peeks if peek else channel.reads).append(op)
        for obj, seq, call, pid in self.shuts:
            if (name := stream_channel(obj, None, True)) != obj.id:
                self.channel(name, "stream").eofs.append((seq, call, pid))
        readers = {entry.object for entry in holders if entry.end != "write"}
        for name, channel in self.channels.items():
            if channel.kind == "stream":
                kind, _, rest = name.partition(":")
                reading_end = f"unix:{rest.split('->')[-1]}" if kind == "unix" else name
                channel.reader_traced = (
                    reading_end in readers
                    or kind == "tcp"
                    and any(o.kind == "tcp" and f"{o.remote}->{o.local}" == rest for o in objects.values())
                )
            channel.label = channel_label(name, objects)
        messages, unmatched = matching.match(self.channels, objects, calls)
        matching.carry(self.moves, messages, unmatched)
        return self.channels, messages, unmatched

    def _datagram_channels(self, objects: dict) -> None:
        """Each datagram goes to the channel of the socket bound to its destination (or to a lost-and-found)."""
        receivers: dict = {}
        for op in self.receives:
            obj = objects[op.socket]
            name = f"dgram:{obj.local or obj.id}"
            receivers.setdefault(obj.local, name)
            self.channel(name, "datagram").reads.append(op)
        bound = [o for o in objects.values() if o.kind in DATAGRAMS and o.local]
        for op in self.sends:
            local = next((address for address in receivers if same_address(op.address, address)), None)
            name = receivers[local] if local in receivers else f"dgram:{op.address or '?'}"
            op.own = objects[op.socket].local  # the sender's address, once it was known
            channel = self.channel(name, "datagram")
            channel.writes.append(op)
            if any(same_address(op.address, o.local) for o in bound):
                channel.reader_traced = True  # a traced process bound that address: it could have read them


def _payload(record: Syscall, limit: Optional[int]) -> tuple:
    """The bytes a call wrote or read, as far as strace showed them (all of them, where it dumped them in hex:
    -e read=, -e write=), and whether all of them were shown."""
    if record.dumped is not None:
        whole = len(record.dumped) >= (record.result or 0)  # (not where the text ends inside the dump)
        return bytes(record.dumped if limit is None else record.dumped[:limit]), whole
    pieces: list = []
    for value in record.args[1:2]:
        if isinstance(value, Data):
            pieces.append(value)
        elif isinstance(value, list):  # readv/writev: [{iov_base="...", iov_len=3}, ...]
            pieces.extend(
                v.fields["iov_base"]
                for v in value
                if isinstance(v, Struct) and isinstance(v.fields.get("iov_base"), Data)
            )
        elif isinstance(value, Struct) and isinstance(value.fields.get("msg_iov"), list):  # sendmsg/recvmsg
            pieces.extend(
                v.fields["iov_base"]
                for v in value.fields["msg_iov"]
                if isinstance(v, Struct) and isinstance(v.fields.get("iov_base"), Data)
            )
    data = b"".join(piece.value for piece in pieces)
    complete = not any(piece.truncated for piece in pieces)
    if limit is not None:
        complete = complete or len(data) >= limit
        data = data[:limit]
    return data, complete and (limit is None or len(data) >= limit)


def _explicit_offset(record: Syscall) -> Optional[int]:
    """pread64/pwrite64's offset argument: where in the file, the file's own offset left alone."""
    if record.name in ("pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2") and len(record.args) > 3:
        return record.args[3] if isinstance(record.args[3], int) else None
    return None


def _flags_argument(record: Syscall) -> str:
    """A receive's flags (MSG_PEEK...): recvfrom's fourth argument, recvmsg's third."""
    index = {"recvfrom": 3, "recv": 3, "recvmsg": 2}.get(record.name)
    return str(record.args[index]) if index is not None and len(record.args) > index else ""


def _kept(record: Syscall, length: int) -> int:
    """How much of a datagram a receive kept: with MSG_TRUNC the kernel returns the datagram's whole length."""
    args = record.args
    if record.name == "recvfrom" and len(args) > 2 and isinstance(args[2], int):
        return min(length, args[2])
    if (
        record.name == "recvmsg"
        and len(args) > 1
        and isinstance(args[1], Struct)
        and "MSG_TRUNC" in str(args[1].fields.get("msg_flags", ""))
    ):
        iovs = args[1].fields.get("msg_iov")
        return (
            sum(
                v.fields.get("iov_len", 0)
                for v in iovs
                if isinstance(v, Struct) and isinstance(v.fields.get("iov_len"), int)
            )
            if isinstance(iovs, list)
            else length
        )
    return length


def _address(name: str, args: list) -> Optional[str]:
    """The other side's address given to sendto/recvfrom (or inside a msghdr)."""
    if name in ("sendto", "recvfrom") and len(args) > 4:
        return sockaddr(args[4])
    if name in ("sendmsg", "recvmsg") and len(args) > 1 and isinstance(args[1], Struct):
        return sockaddr(args[1].fields.get("msg_name"))
    return None
