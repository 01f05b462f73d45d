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

from bisect import bisect_right
from typing import Optional

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
    """Lay the writes and the reads end to end; a message is where a write's bytes and a read's overlap.

    The reads of one task come in its order. Writes of several tasks at once are ordered by when strace
    printed their return, which is not always the kernel's order: where the bytes the reads got disagree
    with that order, the writes are put in the order of those bytes (see ``_by_data``)."""
    writes, reads = _order(channel.writes), _order(channel.reads)
    _lay(reads)
    _lay(writes)
    if any(_agrees(write, read, low, high) is False for write, read, low, high in _overlaps(writes, reads)):
        writes = _by_data(writes, reads)
    channel.writes, channel.reads = writes, reads
    total_read = reads[-1].offset + reads[-1].length if reads else 0
    found = []
    covered: dict = {}  # read call -> [(low, high)]: its bytes some traced write put there
    for write, read, low, high in _overlaps(writes, reads):
        covered.setdefault(read.call, []).append((low, high))
        if _agrees(write, read, low, high) is False:  # no order of the writes gives the read these bytes
            unmatched.append(Unmatched(channel.name, write.call, write.pid, low, high - low,
                                       _slice(write, low, high), "order uncertain"))  # fmt: skip
            unmatched.append(Unmatched(channel.name, read.call, read.pid, low, high - low,
                                       _slice(read, low, high), "order uncertain", "read"))  # fmt: skip
            continue
        found.append(_message(channel, write, read, low, high))
        if read.end_seq is not None and (write.in_seq is None or read.end_seq < write.in_seq):
            write.in_seq = read.end_seq  # read before the write returned: its bytes were in by then
    _uncertain(found, writes, reads)
    for peek in channel.peeks:  # tee, MSG_PEEK: the bytes at the front when it looked, left for the next read
        before = [read for read in reads if read.end_seq is not None and peek.end_seq is not None
                  and read.end_seq < peek.end_seq]  # fmt: skip
        peek.offset = before[-1].offset + before[-1].length if before else 0
        found += [_message(channel, w, peek, low, high) for w, _, low, high in _overlaps(writes, [peek])]
    _count_parts(found)  # (a peek's piece is the read's after it: the write is not cut any further)
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
    for read in reads:  # bytes no traced write put there: past the last, or between two (an untraced writer's)
        for low, high in _gaps(read.offset, read.offset + read.length, covered.get(read.call, [])):
            unmatched.append(
                Unmatched(
                    channel.name,
                    read.call,
                    read.pid,
                    low,
                    high - low,
                    _slice(read, low, high),
                    "no traced writer",
                    "read",
                )  # fmt: skip
            )


def _lay(ops: list) -> None:
    """Each op's offset in the stream: the ops end to end, in their order."""
    position = 0
    for op in ops:
        op.offset, position = position, position + op.length


def _overlaps(writes: list, reads: list):
    """(write, read, low, high) for every write and read whose byte ranges overlap, laid end to end."""
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
                yield write, read, low, high
            index += 1


def _agrees(write: Op, read: Op, low: int, high: int) -> Optional[bool]:
    """Do the bytes both sides show for [low, high) agree? None: one side shows none of them (cut at -s)."""
    shown = min(high, write.offset + len(write.data), read.offset + len(read.data))
    if shown <= low:
        return None
    return _slice(write, low, shown) == _slice(read, low, shown)


def _by_data(writes: list, reads: list) -> list:
    """The writes in the order the reads got their bytes. From the first place where the printed order
    disagrees with the bytes, the next write is, among those that may come next (no other write left had
    returned before it began: within one strace text the order of its lines is the kernel's), the earliest
    whose bytes are the ones read there; where no byte can tell (strace cut them), the earliest; where
    several writes of other tasks have the very same bytes, which of them went first is not known (``alike``)."""
    first_bad = next(write for write, read, low, high in _overlaps(writes, reads)
                     if _agrees(write, read, low, high) is False)  # fmt: skip
    index = writes.index(first_bad)
    placed, remaining = writes[:index], writes[index:]
    starts = [read.offset for read in reads]
    position = placed[-1].offset + placed[-1].length if placed else 0
    while remaining:
        first_end = remaining[0].end_seq if remaining[0].end_seq is not None else float("inf")
        candidates = [remaining[0]] + [
            w for w in remaining[1:WINDOW] if w.seq < first_end or w.source != remaining[0].source
        ]  # may come next: begun before the earliest end (looked for among the next few, by their ends)
        verdicts = []
        for write in candidates:
            write.offset = position
            verdicts.append(_agrees_all(write, reads, starts))
        good = [w for w, v in zip(candidates, verdicts) if v is True]
        unknown = [w for w, v in zip(candidates, verdicts) if v is None]
        if not good and not unknown and (later := _found_later(candidates, reads, starts, position)) is not None:
            good, position = [later[0]], later[1]  # the bytes before it came from a writer outside the trace
        pick = (good or unknown or candidates)[0]
        pick.alike = [w for w in (good or unknown)[1:] if w.tid != pick.tid]
        for other in pick.alike:
            other.alike = other.alike + [pick]
        remaining.remove(pick)
        pick.offset, position = position, position + pick.length
        placed.append(pick)
    return placed


def _found_later(candidates: list, reads: list, starts: list, position: int) -> Optional[tuple]:
    """(write, where) for the first of ``candidates`` whose bytes the reads got a little later (within a
    pipe's buffer) than ``position``: the bytes between were written by a process outside the trace."""
    stream, start = _shown(_around(reads, starts, position, position + GAP + PROBE), position, position + GAP + PROBE)
    for write in candidates:
        probe = write.data[: min(PROBE, write.length)]
        if write.complete or len(probe) >= PROBE:
            at = stream.find(probe, 1) if probe else -1
            if at > 0:
                write.offset = start + at
                if _agrees_all(write, reads, starts) is True:
                    return write, start + at
    return None


def _shown(reads: list, low: int, high: int) -> tuple:
    """The bytes the reads got from ``low`` on, as far as they are shown without a hole (up to ``high``)."""
    out = bytearray()
    for read in reads:
        if read.offset + read.length <= low + len(out):
            continue
        if read.offset > low + len(out) or low + len(out) >= high:
            break
        piece = _slice(read, low + len(out), min(high, read.offset + read.length))
        out += piece
        if len(piece) < min(high, read.offset + read.length) - (low + len(out) - len(piece)):
            break  # cut at -s: what follows is not shown
    return bytes(out), low


GAP = 65536  # the most bytes an untraced writer is looked for between two traced writes (a pipe's buffer)
PROBE = 32  # bytes of a write looked for


WINDOW = 64  # how many writes, in the order of their returns, may be the next one (bounds the work on a long run)


def _agrees_all(write: Op, reads: list, starts: list) -> Optional[bool]:
    """Do the bytes of ``write``, at its offset, agree with every read they would fall into?"""
    verdict = None
    for _, read, low, high in _overlaps([write], _around(reads, starts, write.offset, write.offset + write.length)):
        this = _agrees(write, read, low, high)
        if this is False:
            return False
        verdict = verdict or this
    return verdict


def _around(reads: list, starts: list, low: int, high: int) -> list:
    """The reads (laid end to end, beginning at ``starts``) whose ranges meet [low, high)."""
    start = bisect_right(starts, low) - 1
    found = []
    for read in reads[max(start, 0) :]:
        if read.offset >= high:
            break
        found.append(read)
    return found


def _uncertain(found: list, writes: list, reads: list) -> None:
    """A message is uncertain where a write of another task ran at the same time (neither returned before the
    other began), so that the kernel may have taken that one first, and the bytes cannot tell: they are not all
    shown (cut at -s) on both sides, or the other write's are the very same and went to other reads."""
    partners = _concurrent(writes)
    if not partners:
        return
    ops = {op.call: op for op in writes + reads}
    reads_of: dict = {}
    for message in found:
        reads_of.setdefault(message.writer, set()).add(message.reader)
    for message in found:
        others = partners.get(message.writer)
        if not others:
            continue
        write, read = ops[message.writer], ops[message.reader]
        high = message.offset + message.length
        shown = write.offset + len(write.data) >= high and read.offset + len(read.data) >= high
        same = [o for o in others if o.complete and write.complete and o.data == write.data]
        if not shown or any(reads_of.get(o.call, set()) != reads_of[message.writer] for o in same):
            message.certain = False


def _concurrent(writes: list) -> dict:
    """write call -> the writes of other tasks at the same time: neither had returned before the other began
    (within one strace text; across two, whose clocks differ, every pair of other tasks' writes)."""
    found: dict = {write.call: list(write.alike) for write in writes if write.alike}
    if len({write.tid for write in writes}) < 2:
        return found
    active: list = []
    for write in sorted(writes, key=lambda w: w.seq):
        active = [a for a in active if a.end_seq is None or a.end_seq > write.seq or a.source != write.source]
        for other in active:
            if other.tid != write.tid:
                found.setdefault(write.call, []).append(other)
                found.setdefault(other.call, []).append(write)
        active.append(write)
    return found


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
    """Into how many pieces each write was cut, and from how many each read was made. A piece read twice
    (a file read again, bytes a tee or MSG_PEEK saw before a read took them) is still one piece."""
    by_writer: dict = {}
    by_reader: dict = {}
    for message in found:
        by_writer.setdefault(message.writer, set()).add((message.offset, message.length))
        by_reader[message.reader] = by_reader.get(message.reader, 0) + 1
    for message in found:
        message.write_parts, message.read_parts = len(by_writer[message.writer]), by_reader[message.reader]


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
                Unmatched(
                    channel.name, receive.call, receive.pid, 0, receive.length, receive.data, "no traced writer", "read"
                )
            )
            continue
        message = _message(channel, send, receive, 0, min(send.length, receive.length))
        message.kind, message.length = "datagram", receive.length
        message.source_address, message.destination = send.own, send.address
        messages.append(message)
        if receive.peek:  # MSG_PEEK: it saw the datagram, and left it for the next receive
            continue
        waiting.remove(send)
        channel.delivered[send.call] = receive
        if receive.end_seq is not None and (send.in_seq is None or receive.end_seq < send.in_seq):
            send.in_seq = receive.end_seq
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
        reason = "lost: never received" if receives else "left unread" if channel.reader_traced else "no traced reader"
        unmatched.append(Unmatched(channel.name, send.call, send.pid, 0, send.length, send.data, reason))


def _same_start(send: Op, receive: Op) -> bool:
    shown = min(len(send.data), len(receive.data), receive.length)
    return receive.length <= send.length and send.data[:shown] == receive.data[:shown]


def _match_file(channel: Channel, messages: list, unmatched: list, made_here: bool = True) -> None:
    """A read takes, byte by byte, what the latest write before it put at that offset (worked out on
    ranges of bytes, not byte by byte: a file may hold megabytes)."""
    writes, reads = _order(channel.writes), _order(channel.reads)
    found = []
    taken: dict = {}  # write call -> [(low, high)]: its bytes that some read took
    for read in reads if writes else []:
        start, end = read.offset, read.offset + read.length
        painted: list = []  # [low, high, write], apart, in order of offset
        for write in writes:
            if write.end_seq is not None and read.end_seq is not None and write.end_seq > read.end_seq:
                break
            low, high = max(start, write.offset), min(end, write.offset + write.length)
            if high > low:
                painted = _paint(painted, low, high, write)
        for low, high, write in painted:
            message = _message(channel, write, read, low, high)
            message.kind = "file"
            found.append(message)
            taken.setdefault(write.call, []).append((low, high))
    _count_parts(found)
    messages.extend(found)
    for write in writes:
        gaps = _gaps(write.offset, write.offset + write.length, taken.get(write.call, []))
        if gaps:
            unmatched.append(
                Unmatched(
                    channel.name,
                    write.call,
                    write.pid,
                    gaps[0][0],
                    sum(high - low for low, high in gaps),
                    _slice(write, gaps[0][0], gaps[-1][1]),
                    "never read" if made_here else "no traced reader",
                )
            )


def _paint(painted: list, low: int, high: int, write: Op) -> list:
    """``painted`` (ranges apart, by offset) with [low, high) painted over by ``write``."""
    out = []
    for a, b, by in painted:
        if b <= low or a >= high:
            out.append((a, b, by))
            continue
        if a < low:
            out.append((a, low, by))
        if b > high:
            out.append((high, b, by))
    out.append((low, high, write))
    out.sort(key=lambda piece: piece[0])
    merged: list = []
    for a, b, by in out:  # next to each other, the same write: one range
        if merged and merged[-1][2] is by and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b, by)
        else:
            merged.append((a, b, by))
    return merged


def _gaps(low: int, high: int, ranges: list) -> list:
    """The parts of [low, high) that no range covers."""
    gaps, at = [], low
    for a, b in sorted(ranges):
        if a > at:
            gaps.append((at, min(a, high)))
        at = max(at, b)
        if at >= high:
            break
    if at < high:
        gaps.append((at, high))
    return [(a, b) for a, b in gaps if b > a]


def carry(moves: list, messages: list, unmatched: list) -> None:
    """What a splice, sendfile or tee moved, from what its source's writers put there: its call's bytes, and
    the bytes of the messages and the unread rest it made, taken in the order the moves returned (so that
    one move fed by another gets its bytes after it)."""
    if not moves:
        return
    into: dict = {}
    out: dict = {}
    for message in messages:
        into.setdefault(message.reader, []).append(message)
        out.setdefault(message.writer, []).append(message)
    for call, source, destination in sorted(moves, key=lambda move: (move[0].end_seq or 0, move[0].seq)):
        got = sorted(into.get(call.index, []), key=lambda message: message.offset)
        data = b"".join(message.data for message in got)
        complete = all(message.complete for message in got) and len(data) == source.length
        call.data, call.data_complete = data, complete
        source.data, source.complete = data, complete
        destination.data, destination.complete = data[: destination.length], complete
        for message in out.get(call.index, []):
            if len(message.data) < message.length:
                message.data = _slice(destination, message.offset, message.offset + message.length) or message.data
                message.complete = len(message.data) == message.length
        for item in unmatched:
            if item.call == call.index and item.side == "write" and item.channel == destination.channel:
                item.data = _slice(destination, item.offset, item.offset + item.length)
