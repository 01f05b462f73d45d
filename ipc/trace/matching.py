"""Messages: every write matched to the read that took its bytes. Pure.

A stream (a pipe, a FIFO, one direction of a Unix or TCP connection) is a
sequence of bytes: the n-th byte written is the n-th byte read. So each
direction is a *channel*, its writes and reads are laid end to end in the
order they completed, and a message is the overlap of one write's byte range
with one read's. One write taken by two reads is two messages (a fan-out);
two writes taken by one read, two messages into that read (a fan-in).

A datagram is one message: a send is matched to the receive, on the socket
bound to its destination, that got the same bytes (or their start, when the
receiver's buffer was too short). A regular file is read at offsets: a read
is matched to the latest writes of the bytes it read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .model import FdEntry, KernelObject, Message, Unmatched
from .names import WRITES
from .objects import same_address, sockaddr
from .strace import Data, Struct, Syscall

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
    reader_traced: bool = False  # a traced process held the end this channel is read from

    def in_flight(self, seq: float, own: Optional[int] = None):
        """Bytes written and not yet read at ``seq`` ('?' where strace cut them); datagrams: the queue.

        ``own``: a call whose bytes count as done (the call of the step being shown)."""

        def done(op: Op, at: Optional[float]) -> bool:
            return op.call == own or (at is not None and at <= seq)

        if self.kind == "datagram":
            return [
                op.data
                for op in self.writes
                if done(op, op.in_seq)
                and not (op.call in self.delivered and done(self.delivered[op.call], self.delivered[op.call].end_seq))
            ]
        if self.kind == "file":
            return b""
        written = b"".join(op.data.ljust(op.length, b"?") for op in self.writes if done(op, op.in_seq))
        taken = sum(op.length for op in self.reads if done(op, op.end_seq))
        return written[taken:]


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

    def channel(self, name: str, kind: str) -> Channel:
        return self.channels.setdefault(name, Channel(name, kind))

    def record(self, call, record: Syscall, objects: list, entry: Optional[FdEntry]) -> None:
        if not objects or not record.ok:
            return
        obj, target = objects[0], record.args[0].target if hasattr(record.args[0], "target") else None
        writing = call.name in WRITES
        length = record.result if record.result and record.result > 0 else 0
        data, complete = _payload(call.name, record.args, length if writing else None)
        call.data, call.data_complete = data, complete
        op = Op(call.index, call.pid, call.seq, call.end_seq, length, data, complete, in_seq=call.end_seq)
        if call.name in ("sendmmsg", "recvmmsg"):
            return  # their result counts messages, not bytes: left out of the matching
        if obj.kind in DATAGRAMS:
            op.socket = obj.id
            op.length = length if writing else _kept(record, length)
            address = _address(call.name, record.args)
            op.address = address or obj.remote
            (self.sends if writing else self.receives).append(op)
        elif obj.kind == "file":
            op.offset = self._file_offset(record, entry, obj, length)
            channel = self.channel(obj.id, "file")
            (channel.writes if writing else channel.reads).append(op)
        elif length or not writing:  # its channel is named once the whole trace is read: a socket used
            self.streams.append((op, obj, target, writing))  # right after connect may not show its peer yet

    def _file_offset(self, record: Syscall, entry: Optional[FdEntry], obj: KernelObject, length: int) -> int:
        if record.name in ("pread64", "pwrite64") and len(record.args) > 3 and isinstance(record.args[3], int):
            return record.args[3]
        key = entry.open_file if entry is not None else None
        offset = self.offsets.get(key, 0)
        if offset is None:  # O_APPEND: every write goes to the end
            offset = self.file_sizes.get(obj.id, 0)
        else:
            self.offsets[key] = offset + length
        if record.name in WRITES:
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

    # -- matching ---------------------------------------------------------------------------------
    def match(self, objects: dict, calls: list, holders: list) -> tuple:
        messages: list = []
        unmatched: list = []
        self._datagram_channels(objects)
        for op, obj, target, writing in self.streams:
            channel = self.channel(stream_channel(obj, target, writing), "stream")
            (channel.writes if writing else channel.reads).append(op)
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
            if channel.kind == "file":
                made = name in objects and objects[name].created_by is not None
                _match_file(channel, messages, unmatched, made)
            elif channel.kind == "datagram":
                _match_datagrams(channel, messages, unmatched)
            else:
                _match_stream(channel, messages, unmatched)
        messages.sort(
            key=lambda m: (
                calls[m.reader].end_seq if calls[m.reader].end_seq is not None else 0,
                calls[m.writer].seq,
                m.offset,
            )
        )
        for number, message in enumerate(messages):
            message.id = number
            writer, reader = calls[message.writer], calls[message.reader]
            message.write_time = writer.end if writer.end is not None else writer.start
            message.read_time = reader.end if reader.end is not None else reader.start
        return self.channels, messages, unmatched

    def _datagram_channels(self, objects: dict) -> None:
        """Each datagram goes to the channel of the socket bound to its destination (or to a lost-and-found)."""
        receivers: dict = {}
        for op in self.receives:
            obj = objects[op.socket]
            name = f"dgram:{obj.local or obj.id}"
            receivers.setdefault(obj.local, name)
            self.channel(name, "datagram").reads.append(op)
        for op in self.sends:
            local = next((address for address in receivers if same_address(op.address, address)), None)
            name = receivers[local] if local in receivers else f"dgram:{op.address or '?'}"
            op.own = objects[op.socket].local  # the sender's address, once it was known
            self.channel(name, "datagram").writes.append(op)


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


def _order(ops: list) -> list:
    return sorted(ops, key=lambda op: (op.end_seq if op.end_seq is not None else float("inf"), op.seq))


def _match_stream(channel: Channel, messages: list, unmatched: list) -> None:
    writes, reads = _order(channel.writes), _order(channel.reads)
    channel.writes, channel.reads = writes, reads
    position = 0
    for op in writes:
        op.offset, position = position, position + op.length
    total_written, position = position, 0
    for op in reads:
        op.offset, position = position, position + op.length
    total_read = position
    found = []
    w = 0
    for read in reads:
        start, end = read.offset, read.offset + read.length
        while w < len(writes) and writes[w].offset + writes[w].length <= start:
            w += 1
        index = w
        while index < len(writes) and writes[index].offset < end:
            write = writes[index]
            low, high = max(start, write.offset), min(end, write.offset + write.length)
            if high > low:
                found.append(_message(channel, write, read, low, high))
                if read.end_seq is not None and (write.in_seq is None or read.end_seq < write.in_seq):
                    write.in_seq = read.end_seq  # read before the write returned: its bytes were in by then
            index += 1
    _count_parts(found)
    messages.extend(found)
    for write in writes:
        if write.offset + write.length > total_read:
            low = max(write.offset, total_read)
            reason = "left unread" if reads or channel.reader_traced else "no traced reader"
            unmatched.append(
                Unmatched(
                    channel.name,
                    write.call,
                    write.pid,
                    low,
                    write.offset + write.length - low,
                    _slice(write, low, write.offset + write.length),
                    reason,
                )
            )
    for read in reads:
        if read.offset + read.length > total_written:
            low = max(read.offset, total_written)
            unmatched.append(
                Unmatched(
                    channel.name,
                    read.call,
                    read.pid,
                    low,
                    read.offset + read.length - low,
                    _slice(read, low, read.offset + read.length),
                    "no traced writer",
                )
            )


def _slice(op: Op, low: int, high: int) -> bytes:
    return op.data[low - op.offset : high - op.offset]


def _message(channel: Channel, write: Op, read: Op, low: int, high: int) -> Message:
    data = _slice(write, low, high)
    complete = write.complete or high - write.offset <= len(write.data)
    if len(data) < high - low:  # the writer's bytes were cut by -s: the reader's may show more
        data = _slice(read, low, high) if len(_slice(read, low, high)) > len(data) else data
        complete = len(data) == high - low
    return Message(
        0,
        channel.name,
        channel.kind,
        write.call,
        read.call,
        write.pid,
        read.pid,
        0.0,
        0.0,
        low,
        high - low,
        data,
        complete,
    )


def _count_parts(found: list) -> None:
    by_writer: dict = {}
    by_reader: dict = {}
    for message in found:
        by_writer[message.writer] = by_writer.get(message.writer, 0) + 1
        by_reader[message.reader] = by_reader.get(message.reader, 0) + 1
    for message in found:
        message.write_parts, message.read_parts = by_writer[message.writer], by_reader[message.reader]


def _match_datagrams(channel: Channel, messages: list, unmatched: list) -> None:
    """Each receive takes the earliest send from its sender with the same bytes; failing that (a short
    buffer), one whose bytes begin with what it got. Not by time: two straces' clocks may disagree by
    a little, and a receive can seem to end before the send that fed it began."""
    sends, receives = _order(channel.writes), _order(channel.reads)
    channel.writes, channel.reads = sends, receives
    waiting = list(sends)
    for receive in receives:
        senders = [
            send
            for send in waiting
            if not (receive.address and send.own and not same_address(receive.address, send.own))
        ]
        send = next((s for s in senders if s.length == receive.length and _same_start(s, receive)), None)
        if send is None and receive.length:
            send = next((s for s in senders if receive.length < s.length and _same_start(s, receive)), None)
        if send is None:
            unmatched.append(
                Unmatched(channel.name, receive.call, receive.pid, 0, receive.length, receive.data, "no traced writer")
            )
            continue
        waiting.remove(send)
        channel.delivered[send.call] = receive
        if receive.end_seq is not None and (send.in_seq is None or receive.end_seq < send.in_seq):
            send.in_seq = receive.end_seq
        message = _message(channel, send, receive, 0, min(send.length, receive.length))
        message.kind, message.length = "datagram", receive.length
        message.source_address, message.destination = send.own, send.address
        messages.append(message)
        if receive.length < send.length:
            unmatched.append(
                Unmatched(
                    channel.name,
                    send.call,
                    send.pid,
                    receive.length,
                    send.length - receive.length,
                    send.data[receive.length :],
                    "truncated",
                )
            )
    for send in waiting:
        reason = "lost: never received" if receives else "no traced reader"
        unmatched.append(Unmatched(channel.name, send.call, send.pid, 0, send.length, send.data, reason))


def _same_start(send: Op, receive: Op) -> bool:
    shown = min(len(send.data), len(receive.data), receive.length)
    return receive.length <= send.length and send.data[:shown] == receive.data[:shown]


def _match_file(channel: Channel, messages: list, unmatched: list, made_here: bool = True) -> None:
    """A read takes, byte by byte, what the latest write before it put at that offset."""
    writes, reads = _order(channel.writes), _order(channel.reads)
    found = []
    read_bytes: set = set()
    for read in reads:
        start, end = read.offset, read.offset + read.length
        painted: dict = {}
        for write in writes:
            if write.end_seq is not None and read.end_seq is not None and write.end_seq > read.end_seq:
                break
            for offset in range(max(start, write.offset), min(end, write.offset + write.length)):
                painted[offset] = write
        runs: list = []
        for offset in sorted(painted):
            if runs and runs[-1][0] is painted[offset] and runs[-1][2] == offset:
                runs[-1][2] = offset + 1
            else:
                runs.append([painted[offset], offset, offset + 1])
        for write, low, high in runs:
            message = _message(channel, write, read, low, high)
            message.kind = "file"
            found.append(message)
            read_bytes.update((write.call, offset) for offset in range(low, high))
    _count_parts(found)
    messages.extend(found)
    for write in writes:
        missing = [o for o in range(write.offset, write.offset + write.length) if (write.call, o) not in read_bytes]
        if missing:
            unmatched.append(
                Unmatched(
                    channel.name,
                    write.call,
                    write.pid,
                    missing[0],
                    len(missing),
                    _slice(write, missing[0], missing[-1] + 1),
                    "never read" if made_here else "no traced reader",
                )
            )


def _payload(name: str, args: list, limit: Optional[int]) -> tuple:
    """The bytes a call wrote or read, as far as strace showed them, and whether all of them were shown."""
    pieces: list = []
    for value in args[1:2]:
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
