"""The watcher's side of ipc.stacks: ask a waiting Python process for its stack, and read it."""

from __future__ import annotations

import os
import re
import shutil
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import procfs
from .stacks import DUMP_SIGNAL, ENV

ROOT = Path(__file__).resolve().parents[1]
_STDLIB = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_FRAME = re.compile(r'^\s+File "(?P<path>.*)", line (?P<line>\d+) in (?P<function>.*)$')


@dataclass
class Frame:
    path: str
    line: int
    function: str

    @property
    def where(self) -> str:
        path = Path(self.path)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        return f"{shown}:{self.line} in {self.function}"

    @property
    def source(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as file:
                for number, text in enumerate(file, start=1):
                    if number == self.line:
                        return text.strip()
        except (OSError, UnicodeDecodeError):
            pass
        return ""

    @property
    def library(self) -> bool:
        """Part of Python's standard library or of the ipc package, not the program's own code."""
        return (
            self.path.startswith(_STDLIB) or Path(self.path).is_relative_to(ROOT / "ipc") or self.path.startswith("<")
        )


@dataclass
class Stack:
    frames: list[Frame]  # innermost first

    @property
    def own(self) -> Optional[Frame]:
        """The line it is stuck on: the innermost of the program's own code, not counting the lambdas
        it handed to a library (``MessageReader(lambda n: os.read(fd, n))``), which show as ``inner``."""
        own = [frame for frame in self.frames if not frame.library]
        return next(
            (frame for frame in own if frame.function != "<lambda>"),
            own[0] if own else (self.frames[0] if self.frames else None),
        )

    @property
    def innermost(self) -> Optional[Frame]:
        return self.frames[0] if self.frames else None


def parse(text: str) -> Optional[Stack]:
    """The stack of the thread that handled the signal (faulthandler's "Current thread")."""
    sections, current = [], None
    for line in text.splitlines():
        if line.startswith(("Current thread", "Thread ", "Stack (")):
            current = (line.startswith(("Current thread", "Stack (")), [])
            sections.append(current)
        elif current is not None and (match := _FRAME.match(line)):
            path = (
                match["path"] if match["path"].startswith("<") else os.path.normpath(match["path"])
            )  # demos/broken/../../ipc
            current[1].append(Frame(path, int(match["line"]), match["function"]))
    chosen = next((frames for is_current, frames in sections if is_current), None)
    if chosen is None and sections:
        chosen = sections[0][1]
    return Stack(chosen) if chosen else None


class StackDumps:
    """The watcher's side: a private directory for the dumps, and the asking."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="ipc-stacks-")

    @property
    def environment(self) -> dict[str, str]:
        return {ENV: self.directory}

    def can_ask(self, pid: int) -> bool:
        """It asked for dumps, and still has the handler (an exec would have reset it to "terminate")."""
        if not os.path.exists(os.path.join(self.directory, str(pid))):
            return False
        return procfs.catches(pid, DUMP_SIGNAL) is not False  # without /proc: trust the file

    def collect(self, threads: dict[int, int], timeout: float = 0.3) -> dict[int, Stack]:
        """pid -> the stack of thread tid, for each pid -> tid given whose process can answer."""
        offsets, stacks = {}, {}
        for pid, tid in threads.items():
            if not self.can_ask(pid):
                continue
            path = os.path.join(self.directory, str(pid))
            offsets[pid] = os.path.getsize(path)
            if not procfs.signal_thread(pid, tid, DUMP_SIGNAL):
                del offsets[pid]
        deadline = time.monotonic() + timeout
        sizes: dict[int, int] = {}
        while offsets and time.monotonic() < deadline:
            time.sleep(0.005)
            for pid in list(offsets):
                path = os.path.join(self.directory, str(pid))
                size = os.path.getsize(path)
                if size > offsets[pid] and sizes.get(pid) == size:  # it wrote, then stopped writing
                    with open(path, encoding="utf-8", errors="replace") as file:
                        file.seek(offsets.pop(pid))
                        stack = parse(file.read())
                    if stack is not None:
                        stacks[pid] = stack
                sizes[pid] = size
        return stacks

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
