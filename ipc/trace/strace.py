"""strace's text, parsed: one record per system call, signal and exit. Pure: text in, records out.

The text is what ``strace -f -ttt -T -yy -s N -o FILE`` writes (see
ipc.trace.runner for why those flags)::

    5882  1796133701.411677 pipe2([3<pipe:[14365]>, 4<pipe:[14365]>], O_CLOEXEC) = 0 <0.000009>
    5882  1796133701.412532 read(5<pipe:[14366]>,  <unfinished ...>
    5893  1796133701.415834 write(6<pipe:[14366]>, "1 HELLO\\n", 8) = 8 <0.000052>
    5882  1796133701.415888 <... read resumed>"1 HELLO\\n", 4096) = 8 <0.003350>
    5893  1796133701.417109 +++ exited with 0 +++
    5882  1796133701.417136 --- SIGCHLD {si_signo=SIGCHLD, si_pid=5893, ...} ---

With ``-e read=all -e write=all`` strace also dumps, after the line where a
read or write returned, every byte it moved (`` | 00000  68 65 6c ...  hel |``,
per buffer for readv and sendmsg): those bytes are kept in ``Syscall.dumped``,
whole where the quoted strings were cut at ``-s``.

A call that another process's line interrupted is printed in two halves;
they are joined here into one ``Syscall`` that keeps both moments: ``time``
(when it began, which for a call that blocks is when it started waiting)
and ``end_time``. A call still in progress when the text ends (a deadlock,
or a process killed inside it) has ``end_line`` None, or a result of None.

Arguments are decoded into values: ``Fd`` (a number and its ``-yy``
decoration, itself parsed into a ``Target``), ``Data`` (a string, as
bytes), ``int``, ``Struct`` ({...}), ``list`` ([...]) and ``Raw`` (flags,
NULL, anything else, as written).
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass, field
from typing import Optional, Union

AT_FDCWD = -100


class Raw(str):
    """An argument kept as strace wrote it: flags, NULL, an expression."""


@dataclass(frozen=True)
class Target:
    """What an fd is, from strace's ``-yy`` decoration."""

    kind: str  # pipe | path | unix | tcp | udp | socket | anon | other
    text: str  # the decoration as written: pipe:[14365], /tmp/x, TCP:[1.2.3.4:5->6.7.8.9:10]
    inode: Optional[int] = None
    peer: Optional[int] = None  # a Unix socket's peer inode
    local: Optional[str] = None  # a socket's own address: 127.0.0.1:5000, [::1]:5000, or a path
    remote: Optional[str] = None  # a connected socket's peer address
    socktype: Optional[str] = None  # stream | dgram | seqpacket
    path: Optional[str] = None
    device: Optional[str] = None  # "char 1:3" for /dev/null

    @property
    def is_socket(self) -> bool:
        return self.kind in ("unix", "tcp", "udp", "socket")


@dataclass(frozen=True)
class Fd:
    number: int
    target: Optional[Target]  # None when strace printed no decoration


@dataclass(frozen=True)
class Data:
    value: bytes
    truncated: bool = False  # strace cut it at -s: value is only the start


@dataclass
class Struct:
    fields: dict = field(default_factory=dict)  # name=value entries
    items: list = field(default_factory=list)  # entries without a name
    text: str = ""

    def __str__(self) -> str:  # as strace wrote it: where a flag is looked for ("CLONE_THREAD" in str(...))
        return self.text or repr(self)


Value = Union[int, Fd, Data, Struct, list, Raw]


@dataclass
class Syscall:
    pid: int  # the task (a thread's own id; the process id for a process's main thread)
    time: float  # when the call began (seconds since the epoch)
    name: str
    args: list
    result: Optional[int]  # None: "?" (it never returned, or no number)
    result_fd: Optional[Fd] = None  # dup2(...) = 1<pipe:[5]>
    errno: Optional[str] = None  # EPIPE, EAGAIN, ERESTARTSYS...
    result_text: str = ""  # what followed the number: "(Timeout)", "([{fd=3, revents=POLLIN}])"
    duration: Optional[float] = None  # strace's -T, when it printed one
    line: int = 0  # where the call began in its text (0-based)
    end_line: Optional[int] = None  # where it returned; None: never, in this text
    end_time: Optional[float] = None
    split: bool = False  # printed in two halves: something else happened while it ran
    source: int = 0  # which text (several straces merged)
    text: str = ""  # the call as one line: name(args) = result
    dumped: Optional[bytearray] = None  # every byte it read or wrote, from strace's hex dump (-e read=, -e write=)
    stack: Optional[list] = None  # strace -k: [(binary, function+offset, return address)], innermost first
    site: Optional[tuple] = None  # (the record that announced it, made by that call's child): ipc.trace.sources

    @property
    def ok(self) -> bool:
        return self.errno is None and self.result is not None


@dataclass
class Signal:
    pid: int
    time: float
    name: str  # SIGPIPE
    info: Optional[Struct]  # {si_signo=..., si_pid=...}
    line: int = 0
    source: int = 0


@dataclass
class Exit:
    pid: int
    time: float
    code: Optional[int]  # exited with N
    signal: Optional[str] = None  # killed by SIGX
    core: bool = False
    line: int = 0
    source: int = 0


Record = Union[Syscall, Signal, Exit]

PREFIX = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)\]?\s+(?P<time>\d+\.\d+)\s+(?P<rest>.*)$")
NO_PID = re.compile(r"^(?P<time>\d+\.\d+)\s+(?P<rest>.*)$")
CALL_START = re.compile(r"^(?P<name>[\w?]+)\(")
RESUMED = re.compile(r"^<\.\.\. (?P<name>[\w?]+) resumed>\s?")
UNFINISHED = " <unfinished ...>"
COMPLETE = re.compile(r"\) += (?:\?|-?\d+|0x[0-9a-f]+)(?:<.*>)?(?: E[A-Z0-9_]+ \(.*\))?(?: \(.*\))?(?: <\d+\.\d+>)?$")
SIGNAL = re.compile(r"^--- (?P<name>SIG\w+)(?: (?P<info>\{.*\}))? ---$")
EXITED = re.compile(r"^\+\+\+ exited with (?P<code>-?\d+) \+\+\+$")
KILLED = re.compile(r"^\+\+\+ killed by (?P<sig>SIG\w+)(?P<core> \(core dumped\))? \+\+\+$")
RESULT = re.compile(
    r"^=\s+(?P<value>\?|-?\d+|0x[0-9a-fA-F]+)(?P<deco><.*?>(?=\s|$|\(deleted\)))?(?:\(deleted\))?"
    r"(?:\s+(?P<errno>E[A-Z0-9_]+)(?:\s+\((?P<errmsg>[^)]*)\))?)?"
    r"(?P<more>.*?)\s*(?:<(?P<dur>\d+\.\d+)>)?$"
)


def parse(text: str, source: int = 0) -> list[Record]:
    """Every call, signal and exit in strace's text, in the order they began."""
    records: list[Record] = []
    pending: dict[int, tuple[int, Syscall, str]] = {}  # pid -> (index in records, call, its first half)
    dumping: Optional[Syscall] = None  # the call whose return was the last line: a hex dump that follows is its
    stacked: Optional[Syscall] = None  # ...and a stack that follows (strace -k), frame by frame
    for number, line in enumerate(text.splitlines()):
        if not line:
            stacked = None
            continue  # (a line the start-up filter took out: the others keep their numbers)
        if line.startswith(FRAME):
            if stacked is not None and (frame := STACK_FRAME.match(line)) is not None:
                stacked.stack = stacked.stack or []
                stacked.stack.append((frame["binary"], frame["function"] or "", frame["address"]))
            continue
        if line.startswith(DUMP):
            if dumping is not None:
                dumping.dumped = dumping.dumped or bytearray()
                dumping.dumped += dump_bytes(line)
            continue
        if line.startswith(BUFFER):  # " * 5 bytes in buffer 1": the next buffer of a readv's dump
            continue
        dumping = stacked = None
        match = PREFIX.match(line) or NO_PID.match(line)
        if not match:
            continue  # "strace: Process 5 attached", a blank line: nothing to keep
        pid = int(match.groupdict().get("pid") or 0)
        time = float(match.group("time"))
        rest = match.group("rest")
        if (event := _event(rest, pid, time, number, source)) is not None:
            records.append(event)
            continue
        if (resumed := RESUMED.match(rest)) is not None:
            if pid not in pending:
                continue  # its first half came before the text began
            index, call, first = pending.pop(pid)
            body = rest[resumed.end() :]
            if body.startswith("<unfinished ...>)"):  # killed inside: "<... read resumed> <unfinished ...>) = ?"
                body = body[len("<unfinished ...>") :]
            joined = _complete(call.name, first.rstrip() + " " + body, call)
            joined.split, joined.end_line, joined.end_time = True, number, time
            if joined.result is None and joined.errno is None:
                joined.end_line = joined.end_time = None  # it never returned
            records[index] = dumping = stacked = joined
            continue
        if (start := CALL_START.match(rest)) is None:
            continue
        call = Syscall(pid=pid, time=time, name=start.group("name"), args=[], result=None, line=number, source=source)
        if rest.endswith(UNFINISHED) or (not COMPLETE.search(rest) and _unterminated(rest[start.end() :])):
            # The first half of a call; the text may also end in the middle of one (still blocked).
            first = rest[start.end() : -len(UNFINISHED)] if rest.endswith(UNFINISHED) else rest[start.end() :]
            call.args = split_args(first)
            call.text = f"{call.name}({first.rstrip().rstrip(',')} ..."
            if pid in pending:  # a half never resumed (the task vanished): keep it as it was
                pending.pop(pid)
            pending[pid] = (len(records), call, first)
            records.append(call)
            continue
        records.append(dumping := _complete(call.name, rest[start.end() :], call, number, time))
        stacked = dumping
    return records


DUMP, BUFFER = " | ", " * "
FRAME = " > "  # strace -k: after a call's line, its stack, a frame per line
STACK_FRAME = re.compile(r"^ > (?P<binary>[^(\[]+?)(?:\((?P<function>[^)]*)\))? \[(?P<address>0x[0-9a-f]+)\]$")


HEX_PAIR = re.compile(r"[0-9a-f]{2}(?= |$)")


def dump_bytes(line: str) -> bytes:
    """The bytes of one line of strace's hex dump: `` | 00010  61 62 63 ...  abc... |`` (a line cut short,
    the last of a text strace was still writing, gives the bytes it holds)."""
    offset_end = line.find(" ", 3)
    if offset_end < 0:
        return b""
    area = line[offset_end + 2 : offset_end + 2 + 49]  # 16 bytes: "xx " each, a space after 8
    try:
        return bytes.fromhex(area)
    except ValueError:
        return bytes.fromhex("".join(HEX_PAIR.findall(area)))


def _unterminated(body: str) -> bool:
    """True when the argument list never closes: a last line cut off while the call waits."""
    return _close_paren(body) is None


def _event(rest: str, pid: int, time: float, line: int, source: int) -> Optional[Record]:
    if rest.startswith("---"):
        if (match := SIGNAL.match(rest)) is None:
            return None  # "--- stopped by SIGSTOP ---" and the like
        info = parse_value(match.group("info")) if match.group("info") else None
        return Signal(pid, time, match.group("name"), info if isinstance(info, Struct) else None, line, source)
    if rest.startswith("+++"):
        if (match := EXITED.match(rest)) is not None:
            return Exit(pid, time, int(match.group("code")), line=line, source=source)
        if (match := KILLED.match(rest)) is not None:
            return Exit(pid, time, None, match.group("sig"), bool(match.group("core")), line, source)
    return None


def _complete(name: str, body: str, call: Syscall, line: Optional[int] = None, time: Optional[float] = None) -> Syscall:
    """Fill a call in from ``args) = result <duration>``."""
    close = _close_paren(body)
    args_text, tail = (body, "") if close is None else (body[:close], body[close + 1 :].strip())
    call.args = split_args(args_text)
    call.text = f"{name}({args_text.strip()}) {tail}".rstrip()
    if line is not None:
        call.end_line, call.end_time = line, time
    if (match := RESULT.match(tail)) is None:
        return call
    value = match.group("value")
    call.result = None if value == "?" else int(value, 16) if value.startswith("0x") else int(value)
    if match.group("deco"):
        call.result_fd = Fd(call.result, parse_target(match.group("deco")[1:-1]))
    call.errno = match.group("errno")
    call.result_text = (match.group("more") or "").strip()
    if match.group("dur"):
        call.duration = float(match.group("dur"))
        if line is not None:
            call.end_time = call.time + call.duration
    return call


NESTING = re.compile(r'["()\[\]{}<>]')
OPENING, CLOSING = ("(", "[", "{"), (")", "]", "}")
# A whole string is one token (written as runs between escapes: a 4 KiB message is not matched a character at a time)
TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[()\[\]{}<>,]|[^"()\[\]{}<>,]+', re.S)


def _close_paren(body: str) -> Optional[int]:
    """Index of the parenthesis that closes an argument list whose "(" came before ``body``."""
    if '"' not in body and body.count(") = ") == 1:  # no string, no path, to hide another ") = "
        return body.index(") = ")
    depth, at = 0, 0
    for token in TOKENS.findall(body):  # the tokens cover the text: each starts where the last ended
        if token in OPENING:
            depth += 1
        elif token in CLOSING:
            if depth == 0 and token == ")":
                return at
            depth -= 1
        at += len(token)
    return None


def split_args(text: str) -> list:
    """``a, "b, c", [d, e]`` -> three values: commas inside quotes, brackets and fd decorations do not split."""
    return [parse_value(part) for part in _split_top(text) if part]


def _split_top(text: str, separator: str = ",") -> list[str]:
    if not NESTING.search(text):  # most argument lists: nothing to keep together
        return [part.strip() for part in text.split(separator)]
    parts, start, depth, at, before = [], 0, 0, 0, ""
    angles: list[int] = []  # the bracket depth at which each open fd decoration began
    for token in TOKENS.findall(text):  # the tokens cover the text: each starts where the last ended
        if token == "<" and at > 0 and (before.isalnum() or angles):
            angles.append(depth)  # an fd's decoration: 3<pipe:[5]>, 2</dev/null<char 1:3>>
        elif token == ">" and angles and angles[-1] == depth and before != "-":
            angles.pop()
        elif token in OPENING:
            depth += 1
        elif token in CLOSING:
            depth -= 1
        elif token == separator and depth == 0 and not angles:
            parts.append(text[start:at].strip())
            start = at + 1
        at += len(token)
        before = token[-1]
    parts.append(text[start:].strip())
    return parts


FD_SET = re.compile(r"^-?\d+(?:<|\s)")  # an fd set (select) is fds apart by spaces, not commas


def _fd_set(text: str) -> list:
    """``3<pipe:[5]> 7<TCP:[1.2.3.4:5]>`` -> its fds' texts: spaces outside a decoration part them."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">" and depth:
            depth -= 1
        elif char == " " and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    return [part for part in parts if part]


FD_VALUE = re.compile(r"^(?P<number>-?\d+|AT_FDCWD)<(?P<target>.*)>(?:\(deleted\))?$", re.S)
NUMBER = re.compile(r"^-?\d+$|^0x[0-9a-fA-F]+$")


def parse_value(text: str) -> Value:
    text = text.strip()
    if text.startswith('"'):
        return parse_string(text)
    if (match := FD_VALUE.match(text)) is not None:
        number = AT_FDCWD if match.group("number") == "AT_FDCWD" else int(match.group("number"))
        return Fd(number, parse_target(match.group("target")))
    if NUMBER.match(text):
        return int(text, 16) if text.startswith("0x") else int(text)
    if text.startswith("[") and text.endswith("]"):
        parts = _split_top(text[1:-1])
        if len(parts) == 1 and " " in parts[0] and FD_SET.match(parts[0]):  # select's sets: [3<pipe:[5]> 7<...>]
            parts = _fd_set(parts[0])
        return [parse_value(part) for part in parts if part]
    if text.startswith("{") and text.endswith("}"):
        struct = Struct(text=text)
        for part in _split_top(text[1:-1]):
            key, equals, value = part.partition("=")
            if equals and re.fullmatch(r"[A-Za-z_]\w*", key):
                struct.fields[key] = parse_value(value)
            elif part:
                struct.items.append(parse_value(part))
        return struct
    return Raw(text)


ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "e": 27, '"': 34, "\\": 92, "'": 39}


def parse_string(text: str) -> Data:
    """strace's quoted string (C escapes, octal or hex bytes, ``...`` when cut) -> bytes."""
    truncated = text.endswith("...")
    body = text[1:].rsplit('"', 1)[0] if '"' in text[1:] else text[1:]
    if "\\" not in body:
        return Data(body.encode("utf-8", "surrogateescape"), truncated)
    if "\\e" not in body:  # strace writes C's escapes: the codec's own, done in C
        try:
            return Data(codecs.escape_decode(body.encode("utf-8", "surrogateescape"))[0], truncated)
        except ValueError:  # a lone backslash at the end (a string cut short): byte by byte, below
            pass
    out = bytearray()
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 == len(body):
            out.extend(char.encode("utf-8"))
            index += 1
            continue
        nxt = body[index + 1]
        if nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[index + 1 :]).group()
            out.append(int(digits, 8) & 0xFF)
            index += 1 + len(digits)
        elif nxt == "x" and re.match(r"[0-9a-fA-F]{2}", body[index + 2 : index + 4]):
            out.append(int(body[index + 2 : index + 4], 16))
            index += 4
        else:
            out.append(ESCAPES.get(nxt, ord(nxt) if nxt.isascii() else 63))
            index += 2
    return Data(bytes(out), truncated)


SOCKET = re.compile(
    r"^(?P<proto>UNIX-STREAM|UNIX-DGRAM|UNIX-SEQPACKET|UNIX|TCPv6|TCP|UDPv6|UDP|UDPLITE|UDPLITEv6)"
    r":\[(?P<inside>.*)\]$"
)
UNIX_INSIDE = re.compile(r'^(?P<inode>\d+)(?:->(?P<peer>\d+))?(?:,"(?P<path>.*)")?$')
INET_INSIDE = re.compile(r"^(?P<local>.+?)(?:->(?P<remote>.+))?$")


@functools.lru_cache(maxsize=4096)  # a trace names the same few fds again and again; a Target is frozen
def parse_target(text: str) -> Target:
    """The inside of a ``-yy`` decoration: pipe:[5], /a/path, UNIX-STREAM:[1->2], TCP:[a:1->b:2]..."""
    if (match := re.fullmatch(r"pipe:\[(\d+)\]", text)) is not None:
        return Target("pipe", text, inode=int(match.group(1)))
    if (match := re.fullmatch(r"socket:\[(\d+)\]", text)) is not None:
        return Target("socket", text, inode=int(match.group(1)))
    if text.startswith("anon_inode:"):
        return Target("anon", text)
    if (match := SOCKET.match(text)) is not None:
        proto, inside = match.group("proto"), match.group("inside")
        if proto.startswith("UNIX"):
            socktype = {"UNIX-STREAM": "stream", "UNIX-SEQPACKET": "seqpacket"}.get(proto, "dgram")
            unix = UNIX_INSIDE.match(inside)
            if unix is None:
                return Target("unix", text, socktype=socktype)
            return Target(
                "unix",
                text,
                inode=int(unix.group("inode")),
                peer=int(unix.group("peer")) if unix.group("peer") else None,
                local=unix.group("path"),
                socktype=socktype,
            )
        kind = "tcp" if proto.startswith("TCP") else "udp"
        socktype = "stream" if kind == "tcp" else "dgram"
        if inside.isdigit():
            return Target(kind, text, inode=int(inside), socktype=socktype)
        inet = INET_INSIDE.match(inside)
        return Target(kind, text, local=inet.group("local"), remote=inet.group("remote"), socktype=socktype)
    if text.startswith("/"):
        device = re.search(r"<(char|block) (\d+:\d+)>$", text)
        path = text[: device.start()] if device else text
        return Target("path", text, path=path, device=f"{device.group(1)} {device.group(2)}" if device else None)
    return Target("other", text)
