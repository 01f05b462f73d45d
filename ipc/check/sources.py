"""Which line of a program's source made each system call, where that can be known.

Two ways, one per kind of program:

- a compiled program runs under ``strace -k``: after each call strace prints its
  stack (``> /path/prog(main+0x2d) [0x1176]``); the first frame in the program
  itself (not in a library) is given to ``addr2line`` (binutils), which names the
  file and line when the program was compiled with ``-g`` (else its function);
- a Python program records, just before each call of the lesson (os.read,
  sock.recv, os.fork...), its own file and line (ipc/check/inject); the record
  is matched to the system call the same thread made next, when the call is of
  that kind, on that fd, and no other recorded call came between.

Anything else (a shell script, a program without either) has no line: a finding
then names the call and the process only. ``parse_stacks`` and ``match`` are
pure; ``traced`` reads the records and runs addr2line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from typing import Optional

FAMILIES = {  # the kernel's call -> the kind of call a Python record names
    "pipe": "pipe", "pipe2": "pipe", "clone": "fork", "clone3": "fork", "fork": "fork", "vfork": "fork",
    "execve": "exec", "execveat": "exec", "read": "read", "readv": "read", "pread64": "read",
    "recvfrom": "read", "recvmsg": "read", "recvmmsg": "read", "write": "write", "writev": "write",
    "pwrite64": "write", "sendto": "write", "sendmsg": "write", "sendmmsg": "write", "socket": "socket",
    "socketpair": "socket", "bind": "bind", "listen": "listen", "accept": "accept", "accept4": "accept",
    "connect": "connect", "wait4": "wait", "waitid": "wait", "mknod": "mkfifo", "mknodat": "mkfifo",
    "open": "open", "openat": "open", "dup2": "dup2", "dup3": "dup2", "unlink": "unlink", "unlinkat": "unlink",
}  # fmt: skip
_LINE = re.compile(r"^(?:\[pid\s+)?(?P<tid>\d+)\]?\s+(?P<time>\d+\.\d+)\s+(?P<rest>.*)$")
_FRAME = re.compile(r"^ > (?P<binary>[^(\[]+?)(?:\((?P<function>[^)]*)\))? \[(?P<address>0x[0-9a-f]+)\]$")
LIBRARIES = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/")
CLOCK_SLACK = 0.00002  # a record is written just before its call, and strace stamps the call once it began


@dataclass(frozen=True)
class Source:
    path: str
    line: Optional[int]  # None: only the function is known (a program compiled without -g)
    function: str = ""
    text: str = ""  # the line itself, when the file can be read

    @property
    def where(self) -> str:
        shown = _shown(self.path)
        if self.line is None:
            return f"{shown} (in {self.function})" if self.function else shown
        return f"{shown}:{self.line}"


@dataclass(frozen=True)
class Record:
    """One call a Python program recorded: when, which process and thread, what kind, on which fd, where."""

    time: float
    pid: int
    tid: int
    family: str
    fd: int
    line: int
    path: str


def parse_stacks(text: str) -> tuple[str, dict]:
    """strace's text without its ``-k`` stack lines, and (tid, start time as printed) -> the frames
    [(binary, function, address)] of each call that returned (a call still blocked has none)."""
    kept, stacks = [], {}
    started: dict[str, str] = {}  # tid -> start time of its unfinished call
    current: Optional[tuple] = None
    for line in text.splitlines(keepends=True):
        if line.startswith(" > "):
            frame = _FRAME.match(line.rstrip("\n"))
            if current is not None and frame is not None:
                stacks.setdefault(current, []).append((frame["binary"], frame["function"] or "", frame["address"]))
            continue
        kept.append(line)
        current = None
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        tid, time, rest = match["tid"], match["time"], match["rest"]
        if rest.startswith(("---", "+++")):
            continue
        if rest.endswith("<unfinished ...>"):
            started[tid] = time
        elif rest.startswith("<..."):
            current = (int(tid), started.pop(tid, time))
        else:
            current = (int(tid), time)
    return "".join(kept), stacks


def read_records(directory: str) -> list[Record]:
    """Every record the Python programs of a run wrote (one file per process)."""
    records = []
    try:
        names = os.listdir(directory)
    except OSError:
        return records
    for name in names:
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="surrogateescape") as file:
                for line in file:
                    parts = line.rstrip("\n").split(" ", 6)
                    if len(parts) == 7:
                        time, pid, tid, family, fd, number, path = parts
                        records.append(Record(float(time), int(pid), int(tid), family, int(fd), int(number), path))
        except (OSError, ValueError):
            continue
    return sorted(records, key=lambda record: record.time)


def match(trace, records: list[Record]) -> dict[int, Record]:
    """call index -> the Python record that made it, by the rule in this module's docstring."""
    by_tid: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        by_tid[record.tid].append(record)
    found = {}
    for call in trace.calls:
        family = FAMILIES.get(call.name)
        mine = by_tid.get(call.tid)
        if family is None or not mine:
            continue
        when = trace.origin + call.start + CLOCK_SLACK
        latest = _latest(mine, when)
        if latest is None or latest.family != family:
            continue
        fd = call.fds[0] if call.fds and family in ("read", "write", "dup2") else None
        if fd is not None and latest.fd >= 0 and latest.fd != fd:
            continue
        found[call.index] = latest
    return found


def _latest(records: list[Record], when: float) -> Optional[Record]:
    low, high = 0, len(records)
    while low < high:
        middle = (low + high) // 2
        if records[middle].time <= when:
            low = middle + 1
        else:
            high = middle
    return records[low - 1] if low else None


class Sources:
    """The source line of each call of one trace, where known."""

    def __init__(self, lines: Optional[dict] = None):
        self.lines: dict[int, Source] = lines or {}

    def of(self, call_index: Optional[int]) -> Optional[Source]:
        return self.lines.get(call_index) if call_index is not None else None

    def where(self, call_index: Optional[int]) -> str:
        source = self.of(call_index)
        return source.where if source else ""


def traced(texts: list[str], records: list[Record], private: str):
    """(the trace model, its Sources) from strace's texts (-k stacks in them or not) and the Python records;
    the lines the recorder itself left (calls on files under ``private``) are taken out first."""
    from ..trace.build import build

    stacks: dict = {}
    cleaned = []
    for text in texts:
        text = "".join(line for line in text.splitlines(keepends=True) if private not in line)
        text, found = parse_stacks(text)
        stacks.update(found)
        cleaned.append(text)
    trace = build(cleaned)
    lines: dict[int, Source] = {}
    for index, record in match(trace, records).items():
        lines[index] = Source(record.path, record.line, text=_text(record.path, record.line))
    lines.update(_native_lines(trace, stacks))
    return trace, Sources(lines)


def _native_lines(trace, stacks: dict) -> dict[int, Source]:
    """The C line of each call whose stack strace printed, through addr2line (one run per program)."""
    if not stacks:
        return {}
    wanted: dict[int, tuple] = {}
    for call in trace.calls:
        frames = stacks.get((call.tid, f"{trace.origin + call.start:.6f}"))
        own = next((f for f in frames or () if not f[0].startswith(LIBRARIES) and ".so" not in f[0]), None)
        if own is not None:
            wanted[call.index] = own
    by_binary: dict[str, list] = defaultdict(list)
    for index, (binary, function, address) in wanted.items():
        by_binary[binary].append((index, function, address))
    lines = {}
    for binary, calls in by_binary.items():
        # The address is where the call returns to: one byte back is the call itself.
        named = _addr2line(binary, [hex(max(int(address, 16) - 1, 0)) for _, _, address in calls])
        for (index, function, _), (path, number) in zip(calls, named):
            function = function.split("+")[0]
            if path and number:
                lines[index] = Source(path, number, function, _text(path, number))
            else:
                lines[index] = Source(binary, None, function)
    return lines


def _addr2line(binary: str, addresses: list[str]) -> list[tuple]:
    """[(path, line)] for each address; (None, None) where it cannot say (no -g, no addr2line)."""
    unknown = [(None, None)] * len(addresses)
    if not shutil.which("addr2line") or not os.path.exists(binary):
        return unknown
    try:
        done = subprocess.run(["addr2line", "-e", binary, *addresses], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return unknown
    named = []
    for line in done.stdout.splitlines():
        path, _, number = line.rpartition(":")
        number = number.split()[0] if number else ""
        named.append(
            (path, int(number)) if path and path != "??" and number.isdigit() and number != "0" else (None, None)
        )
    return named if len(named) == len(addresses) else unknown


def _text(path: str, number: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for index, text in enumerate(file, start=1):
                if index == number:
                    return text.strip()
    except OSError:
        pass
    return ""


def _shown(path: str) -> str:
    """A path as a person gave it: relative to the current directory when it is under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path
