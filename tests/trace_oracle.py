"""An oracle for ipc.trace, independent of it: what plain strace says each call read or wrote.

``strace -f -yy -e read=all -e write=all`` prints, after the line where a read
or write returned, every byte it moved as a hex dump (not the strings cut at
``-s``). This module reads that text with its own few regular expressions
(none of ipc.trace's parser) into one ``Said`` per call: its task, the object
its fd is (from the ``-yy`` decoration), its result, and its bytes. ``check``
then holds the model built from the same text against it:

- every message joins bytes that are the same on both sides: what the writer
  gave at the message's place is what the reader got there (a wrong join, a
  write paired with a read that got other bytes, is counted); a message the
  model calls uncertain (another task wrote at the same time, and the bytes
  shown cannot tell which write went first) is counted apart, unchecked;
- for every pipe and socket, the bytes written into it and read from it, by
  the model's count (messages and what it left unmatched), are the bytes
  strace says were written and read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

LINE = re.compile(r"^(?P<pid>\d+)\s+[\d.]+\s+(?P<rest>.*)$")
START = re.compile(r"^(?P<name>\w+)\((?P<args>.*)$")
RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<args>.*)$")
RESULT = re.compile(r"\)\s+=\s+(?P<result>-?\d+)(?:<[^>]*>)?(?:\s+E[A-Z]+.*)?(?:\s+\(.*\))?(?:\s+<[\d.]+>)?$")
FD_AT = re.compile(r"(?:^|, )(\d+)<(.*?)>(?=, |\)|$| <unfinished)")  # an fd argument and its decoration
HEX = re.compile(r"^ \| [0-9a-f]+  (.{1,49})")  # 16 bytes as "xx " and a space after 8: the ASCII column follows

READS = {"read", "readv", "pread64", "preadv", "recvfrom", "recvmsg", "recv"}
WRITES = {"write", "writev", "pwrite64", "pwritev", "sendto", "sendmsg", "send"}
MOVES = {"splice": (0, 1), "tee": (0, 1), "sendfile": (1, 0), "copy_file_range": (0, 1)}  # fds: (from, into)
NOT_DUMPED = {*MOVES, "vmsplice"}  # strace dumps no bytes for them: they pass no buffer of the program's


@dataclass
class Said:
    """What strace said of one call that read, wrote or moved bytes."""

    line: int  # where it began in the text
    pid: int
    name: str
    read_from: Optional[str]  # the object it took bytes from (a decoration's key), or None
    written_to: Optional[str]  # the object it put bytes into
    result: Optional[int] = None
    data: bytearray = field(default_factory=bytearray)  # the dump: every byte (None for a move: not dumped)
    peek: bool = False  # MSG_PEEK or tee: it left the bytes where they were


def key(decoration: str) -> str:
    """An object's key from its decoration: pipe:[5] -> pipe:5, UNIX-STREAM:[7->8] -> socket:7, a path."""
    inode = re.match(r"^(?:pipe|socket|UNIX(?:-STREAM|-DGRAM|-SEQPACKET)?|TCPv?6?|UDPv?6?):\[(\d+)", decoration)
    if inode:
        return ("pipe:" if decoration.startswith("pipe") else "socket:") + inode.group(1)
    if decoration.startswith(("TCP", "UDP")):
        return "socket:" + decoration.split("->")[0]  # an address, where strace shows no inode
    return decoration


def read_text(text: str) -> dict:
    """line -> Said, for every call of the text that read, wrote or moved bytes and returned."""
    said: dict = {}
    pending: dict = {}  # pid -> (line, name, the arguments so far)
    dumping: Optional[Said] = None
    for number, line in enumerate(text.splitlines()):
        if line.startswith(" | "):
            if dumping is not None and (match := HEX.match(line)):
                dumping.data += bytes.fromhex(match.group(1))
            continue
        if line.startswith(" * "):
            continue
        dumping = None
        match = LINE.match(line)
        if not match:
            continue
        pid, rest = int(match.group("pid")), match.group("rest")
        if (start := START.match(rest)) is not None:
            name, args = start.group("name"), start.group("args")
            if rest.endswith("<unfinished ...>"):
                pending[pid] = (number, name, args)
                continue
            begun = number
        elif (resumed := RESUMED.match(rest)) is not None and pid in pending:
            begun, name, first = pending.pop(pid)
            args = first.replace(" <unfinished ...>", "") + resumed.group("args")
        else:
            continue
        if name not in READS | WRITES | NOT_DUMPED:
            continue
        result = RESULT.search(args)
        if result is None or int(result.group("result")) < 0:
            continue
        call = _said(begun, pid, name, args)
        if call is not None:
            call.result = int(result.group("result"))
            said[begun] = dumping = call
    return said


def _said(line: int, pid: int, name: str, args: str) -> Optional[Said]:
    if name in MOVES:
        fds = FD_AT.findall(args)
        source, into = MOVES[name]
        if len(fds) <= max(source, into):
            return None
        return Said(line, pid, name, key(fds[source][1]), key(fds[into][1]), peek=name == "tee")
    first = FD_AT.match(args)
    if first is None:
        return None
    object_key = key(first.group(2))
    if name in READS:
        return Said(line, pid, name, object_key, None, peek="MSG_PEEK" in args)
    return Said(line, pid, name, None, object_key)


@dataclass
class Verdict:
    joins: int = 0  # messages checked byte for byte
    uncertain: int = 0  # messages the model says may be another write's (same bytes, or bytes not shown)
    wrong: list = field(default_factory=list)  # messages whose two sides' bytes differ
    totals: dict = field(default_factory=dict)  # object -> (strace's written, read; the model's written, read)
    unequal: dict = field(default_factory=dict)  # the objects whose totals differ

    def __str__(self) -> str:
        return (f"{self.joins} joins, {len(self.wrong)} wrong: {self.wrong[:3]}; {self.uncertain} uncertain; "
                f"totals unequal: {self.unequal}")  # fmt: skip


def check(trace, text: str, source: int = 0) -> Verdict:
    """The model of ``text`` (built by ipc.trace.build) held against what strace said in it."""
    said = read_text(text)
    calls = {call.index: call for call in trace.calls if call.strace_text == source}
    by_index = {index: said.get(call.strace_line) or _restarted(said, call) for index, call in calls.items()}
    offsets = {}  # (call, channel) -> where its bytes begin in the channel
    for name, channel in trace.channels.items():
        for op in channel.writes + channel.reads + list(getattr(channel, "peeks", [])):
            offsets[(op.call, name)] = op.offset
    verdict = Verdict()
    for message in trace.messages:
        writer, reader = by_index.get(message.writer), by_index.get(message.reader)
        if writer is None or reader is None or (writer.name in NOT_DUMPED and reader.name in NOT_DUMPED):
            continue  # a move into a move: neither side's bytes were dumped
        if not message.certain:
            verdict.uncertain += 1  # said so (and drawn so), not claimed: its bytes are not checked
            continue
        low = message.offset
        if message.kind == "datagram":
            given, got = bytes(writer.data[: message.length]), bytes(reader.data[: message.length])
        else:
            w, r = offsets[(message.writer, message.channel)], offsets[(message.reader, message.channel)]
            given = bytes(writer.data[low - w : low - w + message.length])
            got = bytes(reader.data[low - r : low - r + message.length])
        # a move's bytes were not dumped: the model's (what it carried from the move's source) stand for them
        given, got = (
            (message.data if writer.name in NOT_DUMPED else given),
            (message.data if reader.name in NOT_DUMPED else got),
        )
        verdict.joins += 1
        if given != got:
            writer, reader = trace.calls[message.writer], trace.calls[message.reader]
            verdict.wrong.append((message.id, writer.strace_line, reader.strace_line, given[:20], got[:20]))
    _totals(trace, said, by_index, verdict)
    return verdict


def _restarted(said: dict, call) -> Optional[Said]:
    """A call a signal interrupted (ERESTARTSYS) and the kernel restarted is one call to the program, and to the
    model, which names it by the line where it began: its bytes are those of the restart, the next such call
    of that task."""
    if call.result is None or call.result <= 0:
        return None
    later = [s for s in said.values() if s.pid == call.tid and s.name == call.name and s.line > call.strace_line]
    return min(later, key=lambda s: s.line) if later else None


def _totals(trace, said: dict, by_index: dict, verdict: Verdict) -> None:
    """Bytes into and out of each pipe and socket: strace's sums against the model's messages and rest."""
    told: dict = {}
    for call in said.values():
        if call.written_to and call.written_to.startswith(("pipe:", "socket:")):
            told.setdefault(call.written_to, [0, 0])[0] += call.result
        if call.read_from and call.read_from.startswith(("pipe:", "socket:")) and not call.peek:
            told.setdefault(call.read_from, [0, 0])[1] += call.result
    model: dict = {}
    for message in trace.messages:
        writer, reader = by_index.get(message.writer), by_index.get(message.reader)
        if reader is not None and reader.peek:
            continue  # it saw the bytes, and left them for a read: that read's message counts them
        if writer is not None and writer.written_to:
            model.setdefault(writer.written_to, [0, 0])[0] += message.length
        if reader is not None and reader.read_from:
            model.setdefault(reader.read_from, [0, 0])[1] += message.length
    for item in trace.unmatched:
        call = by_index.get(item.call)
        if call is None:
            continue
        if item.side == "write" and call.written_to:
            model.setdefault(call.written_to, [0, 0])[0] += item.length
        elif item.side == "read" and call.read_from:
            model.setdefault(call.read_from, [0, 0])[1] += item.length
    for object_key, (written, read) in told.items():
        if not written and not read:
            continue
        mine = tuple(model.get(object_key, (0, 0)))
        verdict.totals[object_key] = (written, read) + mine
        if (written, read) != mine:
            verdict.unequal[object_key] = ((written, read), mine)
