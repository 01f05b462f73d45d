"""Two traces side by side: a Python demo and its C twin (``ipc trace tcp4 --beside tcp-c``). Pure: models in,
text out.

It draws nothing itself: each side is drawn by the renderer that draws one trace (ipc.trace.picture for the
terminal, svg.render for an SVG, page.render for the step-through page), and the two are set next to each
other. Then ``differences`` says where one program makes calls the other does not, process by process (the
server beside the server, the first client beside the first client), and why, from ADDED: a student sees that
``socket.connect()`` is the same connect(2), and what Python adds around it.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from .model import Trace

# What Python adds (or does differently) around the calls a C program makes, and why; by call name or by flag.
ADDED = {
    "accept4": "Python's socket.accept() is accept4(..., SOCK_CLOEXEC): the new socket closes itself at exec "
    "(PEP 446: Python's fds are not inherited); C's accept() leaves it open across exec",
    "SOCK_CLOEXEC": "Python opens every socket close-on-exec, socket(..., SOCK_STREAM|SOCK_CLOEXEC) (PEP 446); "
    "a C program's fds survive exec unless it asks (demos/c/dup2_parent.c closes its originals for that)",
    "O_CLOEXEC": "Python's os.pipe() is pipe2(O_CLOEXEC), for the same reason (PEP 446); glibc's pipe() is "
    "pipe2(fds, 0): both ends survive exec",
    "getsockname": "the Python demo calls sock.getsockname() for each line that prints an address "
    "(listener.getsockname()[0], [1]...); the C twin keeps what the first call filled in",
    "getpeername": "the Python demo asks for the peer's address where the C twin kept what accept() gave",
    "rt_sigaction": "Python sets signal handlers at start (SIGINT: KeyboardInterrupt; SIGPIPE: ignored) and the "
    "demo one for SIGTERM (ipc.program); the C twin sets only SIGPIPE's, as Python does",
    "ioctl": "Python's socket.settimeout() and setblocking() set O_NONBLOCK with ioctl(FIONBIO); C uses fcntl()",
    "fcntl": "the C twin sets O_NONBLOCK with fcntl(F_SETFL); Python's setblocking() uses ioctl(FIONBIO)",
    "poll": "a Python socket with a timeout (settimeout()) polls before every recv() and send()",
    "fstat": "Python's open() asks what the file is (fstat) to choose a buffer size",
    "lseek": "Python's open() asks where the file is (lseek) for its buffered reader",
}
NOT_EXPLAINED = "a difference the table in ipc/trace/beside.py does not explain"
FLAGS = ("SOCK_CLOEXEC", "O_CLOEXEC", "SOCK_NONBLOCK", "O_NONBLOCK")
COUNTERPARTS = {"accept4": "accept"}  # Python's call -> the C call it stands for


def _processes(trace: Trace) -> dict:
    """role -> that role's processes, in the order they began (a process with no role: its program's name)."""
    found: dict = {}
    for process in sorted(trace.processes.values(), key=lambda process: process.seq):
        found.setdefault(process.role or process.program, []).append(process)
    return found


def _calls(trace: Trace, pid: int) -> list:
    return [call for call in trace.calls if call.pid == pid and call.name not in ("execve", "write", "read")]


def differences(left: Trace, right: Trace, left_name: str = "Python", right_name: str = "C") -> list[str]:
    """Each call (or flag) one side's process makes and its counterpart on the other does not, or makes more
    often, with why: ``server: accept4 twice, C: accept twice: Python's socket.accept() is accept4(...)``."""
    found = []
    theirs = _processes(right)
    for role, processes in _processes(left).items():
        for number, process in enumerate(processes):
            if number >= len(theirs.get(role, [])):
                continue
            twin = theirs[role][number]
            who = role if number == 0 or role == "server" else f"{role} {number + 1}"
            if role != "server" and number > 0:
                continue  # every client makes the same calls: the first one says it
            found += _compare(who, _calls(left, process.pid), _calls(right, twin.pid), left_name, right_name)
    return found


def _compare(who: str, mine: list, theirs: list, left_name: str, right_name: str) -> list[str]:
    lines = []
    counts, their_counts = Counter(c.name for c in mine), Counter(c.name for c in theirs)
    for name, count in counts.items():
        other = COUNTERPARTS.get(name)
        if their_counts.get(name, 0) >= count:
            continue
        if other and their_counts.get(other):
            said = f"{name} {_times(count)}, {right_name}: {other} {_times(their_counts[other])}"
        else:
            said = f"{name} {_times(count)}, {right_name} {_times(their_counts.get(name, 0))}"
        lines.append(f"{who}: {left_name}: {said}: {ADDED.get(name, NOT_EXPLAINED)}")
    for name in sorted(set(their_counts) - set(counts) - set(COUNTERPARTS.values())):
        lines.append(f"{who}: {right_name}: {name} {_times(their_counts[name])}, {left_name} never: "
                     f"{ADDED.get(name, NOT_EXPLAINED)}")  # fmt: skip
    for flag in FLAGS:
        pattern = re.compile(rf"\b{flag}\b")
        flagged = sorted({c.name for c in mine if pattern.search(c.text.split(") = ")[0])})
        if flagged and not any(pattern.search(c.text.split(") = ")[0]) for c in theirs):
            lines.append(f"{who}: {left_name}: {flag} on {', '.join(flagged)}, {right_name} never: "
                         f"{ADDED.get(flag, NOT_EXPLAINED)}")  # fmt: skip
    return lines


def _times(count: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(count, f"{count} times")


def terminal(left: str, right: str, left_title: str, right_title: str, width: int) -> str:
    """Two terminal pictures (each drawn width // 2 - 2 wide), line by line in two columns."""
    column = width // 2 - 2
    left_lines = [left_title, "=" * len(left_title), *left.splitlines()]
    right_lines = [right_title, "=" * len(right_title), *right.splitlines()]
    rows = max(len(left_lines), len(right_lines))
    left_lines += [""] * (rows - len(left_lines))
    right_lines += [""] * (rows - len(right_lines))
    return "\n".join(f"{a[:column]:<{column}}  │ {b[:column]}".rstrip() for a, b in zip(left_lines, right_lines)) + "\n"


def svg(left: str, right: str, title: str, notes: list[str], gap: int = 40) -> str:
    """One SVG: two SVG documents (each drawn by svg.render, with ids of its own) at x=0 and beside it, a title
    above and the differences below."""
    (lw, lh), (rw, rh) = _size(left), _size(right)
    top, line = 40, 18
    height = top + max(lh, rh) + 20 + line * (len(notes) + 1)
    texts = [f'<text x="12" y="{top + max(lh, rh) + 20 + line * (n + 1)}" font-size="13" font-family="sans-serif">'
             f"{html.escape(note)}</text>" for n, note in enumerate(notes)]  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + gap + rw}" height="{height}" '
        f'viewBox="0 0 {lw + gap + rw} {height}">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="12" y="24" font-size="18" font-family="sans-serif" font-weight="bold">{html.escape(title)}</text>'
        f"{_placed(left, 0, top)}{_placed(right, lw + gap, top)}{''.join(texts)}</svg>\n"
    )


def _size(document: str) -> tuple[int, int]:
    match = re.search(r'<svg[^>]*?\bwidth="([\d.]+)"[^>]*?\bheight="([\d.]+)"', document)
    return (round(float(match[1])), round(float(match[2]))) if match else (800, 600)


def _placed(document: str, x: int, y: int) -> str:
    """An SVG document as an element of another, at (x, y): its XML declaration dropped, x and y added."""
    body = re.sub(r"^<\?xml[^>]*>\s*", "", document.strip())
    return re.sub(r"^<svg\b", f'<svg x="{x}" y="{y}"', body, count=1)


def page(left: str, right: str, left_title: str, right_title: str, notes: list[str], title: str) -> str:
    """One HTML page: each side's step-through page (page.render) in a frame of its own, side by side, and the
    differences below them."""
    frames = "".join(
        f'<div class="side"><h2>{html.escape(name)}</h2><iframe srcdoc="{html.escape(document)}"></iframe></div>'
        for name, document in ((left_title, left), (right_title, right))
    )
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes) or "<li>the same calls, the same flags</li>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:1em} .sides{display:flex;gap:1em} .side{flex:1;min-width:0}"
        "iframe{width:100%;height:80vh;border:1px solid #ccc}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='sides'>{frames}</div>"
        f"<h2>Where the calls differ, and why</h2><ul>{items}</ul></body></html>\n"
    )


def title_of(left_name: str, right_name: str) -> str:
    return f"ipc trace {left_name} --beside {right_name}"
