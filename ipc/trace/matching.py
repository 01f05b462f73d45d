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

from .channels import Channel, Op
from .model import Message, Unmatched
from .objects import same_address


def match(channels: dict, objects: dict, calls: list) -> tuple:
    """The messages of every channel, in the order they were read, numbered; and what was left unmatched."""
    messages: list = []
    unmatched: list = []
    for name, channel in channels.items():
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
    return messages, unmatched


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
