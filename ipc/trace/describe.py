"""One short line per call, a person's words for what it did. Pure.

pipe2 (pipe) → pipe #1: 3 read, 4 write
read fd 5 (pipe #2) = 8 "1 HELLO\\n"
"""

from __future__ import annotations

from typing import Optional

from ..waitfor import Edge, End, Reason
from .model import Call, Trace
from .names import MOVES, POLLS, READS, WRITES
from .objects import sockaddr
from .strace import Data, Fd, Raw, Struct

WHY = {
    "EPIPE": " (no reader left)",
    "ECONNREFUSED": " (nobody listens there)",
    "EADDRINUSE": " (address taken)",
    "EAGAIN": " (would block)",
    "EINPROGRESS": " (non-blocking: it goes on)",
    "ENOENT": " (no such file)",
    "ECONNRESET": " (peer reset)",
}
ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", '"': '\\"'}
ESCAPE_TABLE = str.maketrans({**{chr(n): f"\\x{n:02x}" for n in [*range(32), 127]}, **ESCAPES})


def show_bytes(data: bytes, limit: int = 24, complete: bool = True) -> str:
    """Bytes as a quoted string a person can read: "1 HELLO\\n", shortened with an ellipsis after the quote
    (``"abc"…``), which also marks bytes strace did not show (cut at -s). An escape is never cut in two."""
    if not data and not complete:
        return "…"
    # Only the start is shown: at most 4 bytes a character, and one more, say whether it is cut (a megabyte
    # in flight is not escaped whole). A byte that is not UTF-8 becomes a lone surrogate.
    text = data[: limit * 4 + 4].decode("utf-8", "surrogateescape")[: limit + 1]  # each shows as 1 or more
    shown = text.translate(ESCAPE_TABLE)
    if not shown.isprintable():  # beyond ASCII: a byte that is not UTF-8, a control character
        shown = "".join(_escape(ch) for ch in text)
    if len(shown) > limit:
        kept, width = [], 0
        for ch in text:  # whole escapes only: "\\n" is two characters, never one backslash before the quote
            piece = _escape(ch)
            if width + len(piece) > max(limit - 1, 1):
                break
            kept.append(piece)
            width += len(piece)
        return '"' + "".join(kept) + '"…'
    return f'"{shown}"' + ("" if complete else "…")


def _escape(ch: str) -> str:
    return ESCAPES.get(ch, ch if ch.isprintable() else f"\\x{ord(ch) & 0xFF:02x}")


def object_label(trace: Trace, call: Call, position: int = 0) -> str:
    if len(call.objects) <= position:
        return ""
    return trace.objects[call.objects[position]].label


def end_label(trace: Trace, pid: int, fd: int, seq: float) -> str:
    """``pipe #1 read end``: what an fd was at that moment (for a close: just before it)."""
    entry = next(
        (
            change.entry
            for change in reversed(trace.fd_changes)
            if change.pid == pid and change.fd == fd and change.seq <= seq and change.entry is not None
        ),
        None,
    )
    if entry is None:
        return ""
    obj = trace.objects[entry.object]
    if obj.kind in ("pipe", "fifo") and entry.end in ("read", "write"):
        return f"{obj.label} {entry.end} end"
    return obj.label


def describe(trace: Trace, call: Call, limit: int = 24) -> str:
    """What the call did, in one line: what it was asked, then what came of it (and, for a call left out of
    the picture by default, shown with --all, why it is left out where a person may wonder)."""
    head, tail = parts(trace, call, limit)
    return f"{head} {tail}".strip() + (f" ({call.hidden})" if call.hidden else "")


def parts(trace: Trace, call: Call, limit: int = 24) -> tuple:
    """(what the call was asked, what came of it): ``("read fd 5 (pipe #2)", '= 8 "1 HELLO\\n"')``."""
    name, args, title = call.name, call.args, call.title
    fd = call.fds[0] if call.fds else None
    label = object_label(trace, call)
    on = f" ({label})" if label else ""
    if call.errno and (call.errno.startswith("ERESTART") or call.errno == "EINTR"):
        failed = "interrupted"
    elif call.errno:
        failed = f"= -1 {call.errno}" + WHY.get(call.errno, "")
    elif call.end_seq is None and name not in ("exit", "exit_group"):
        failed = "…"
    else:
        failed = ""
    number = failed or f"= {call.result}"
    if name in ("pipe", "pipe2") and len(call.fds) >= 2:
        return title, failed or f"→ {label}: {call.fds[0]} read, {call.fds[1]} write"
    if name == "socketpair" and len(call.fds) >= 2:
        return f"{title}: {label}", failed or f"fds {call.fds[0]} and {call.fds[1]}"
    if name in ("clone", "clone3", "fork", "vfork"):
        child = trace.processes.get(call.result or -1)
        return title, failed or f"→ {child.label if child else call.result}"
    if name in ("execve", "execveat"):  # the whole command line: a drawing shortens it, with …, if it must
        argv = args[1] if len(args) > 1 and isinstance(args[1], list) else []
        words = [a.value.decode("utf-8", "replace") for a in argv if isinstance(a, Data)]
        if words and words[0].startswith("/") and " " not in words[0]:
            words[0] = words[0].rsplit("/", 1)[-1]  # the program by its name: python, not /usr/bin/python3
        more = "…" if len(argv) > len(words) or any(a.truncated for a in argv if isinstance(a, Data)) else ""
        return f"{title} {' '.join(words)}{more}", failed
    if name in ("exit", "exit_group"):
        return f"{title} status {args[0] if args else '?'}", ""
    if name in ("wait4", "waitid"):
        child = trace.processes.get(call.result or -1)
        return title, failed or (f"→ {child.label} {child.ending}" if child and call.result > 0 else number)
    if name in ("kill", "tgkill"):
        target = trace.processes.get(args[-2]) if len(args) > 1 and isinstance(args[-2], int) else None
        return f"{title} {args[-1]} → {target.label if target else args[-2] if len(args) > 1 else '?'}", failed
    if name == "socket":  # what it is, not yet where: a bind or connect gives it its address later
        obj = trace.objects.get(call.objects[0]) if call.objects else None
        kind = SOCKET_KINDS.get(obj.kind, "socket") if obj is not None else "socket"
        return title, failed or f"→ fd {call.result}: {kind}"
    if name in ("bind", "connect"):
        address = sockaddr(args[1]) if len(args) > 1 else None
        return f"{title} fd {fd} {'→' if name == 'connect' else 'to'} {address or '?'}", failed
    if name == "listen":
        return f"{title} fd {fd} (backlog {args[1] if len(args) > 1 else '?'})", failed
    if name in ("accept", "accept4"):
        peer = sockaddr(args[1]) if len(args) > 1 else None
        source = f" from {peer}" if peer and peer != "(unnamed)" else ""
        return f"{title} fd {fd}", failed or f"→ fd {call.result}{source}"
    if name == "shutdown":
        return f"{title} fd {fd} {args[1] if len(args) > 1 else ''}{on}", failed
    if name == "setsockopt":
        option, value = (args + ["", ""])[2:4]
        return f"{title} fd {fd} {_option(option, value)}", failed
    if name == "getsockopt":
        return f"{title} fd {fd} {args[2] if len(args) > 2 else ''}", failed
    if name in ("mknod", "mknodat"):
        return f"{title} {_path(args)}", failed
    if name in ("open", "openat", "openat2", "creat"):
        mode = next((m for m in ("O_RDONLY", "O_WRONLY", "O_RDWR") if any(m in str(a) for a in args)), "")
        return f"{title} {label or _path(args)} {mode}", failed or f"→ fd {call.result}"
    if name.startswith("rename"):
        paths = [a.value.decode("utf-8", "replace").rsplit("/", 1)[-1] for a in args if isinstance(a, Data)]
        return f"{title} {' → '.join(paths)}", failed
    if name.startswith("unlink"):
        return f"{title} {label or _path(args)}", failed
    if name == "close":
        what = end_label(trace, call.pid, fd, call.seq) if fd is not None else ""
        return f"{title} fd {fd}" + (f" ({what})" if what else ""), failed
    if name == "close_range":
        closed = [f"{n} ({what})" if (what := end_label(trace, call.pid, n, call.seq)) else str(n) for n in call.fds]
        first, last = (args + [None, None])[:2]
        asked = f"{first}-{'∞' if last in (-1, 4294967295, 2147483647) else last}" if first is not None else ""
        done = "marked close-on-exec: fd " if "CLOSE_RANGE_CLOEXEC" in call.text else "closed fd "
        return f"{title} {asked}".rstrip(), failed or (done + ", ".join(closed) if closed else "no fd open")
    if name in ("dup", "dup2", "dup3") or (name == "fcntl" and call.lecture == "dup"):
        what = end_label(trace, call.pid, fd, call.seq) if fd is not None else ""
        return f"{title} fd {fd} → fd {call.result}" + (f" ({what})" if what else ""), failed
    if name in WRITES or name == "vmsplice":
        shown = show_bytes(call.data or b"", limit, call.data_complete) if call.data is not None else ""
        to = sockaddr(args[4]) if name == "sendto" and len(args) > 4 else None
        passing = _passing(trace, call, sent=True)
        return f"{title} fd {fd}{on}" + (f" → {to}" if to else ""), f"{number} {shown}{passing}".strip()
    if name in READS:
        obj = trace.objects.get(call.objects[0]) if call.objects else None
        if not failed and call.result == 0 and obj is not None and obj.kind not in ("udp", "unix-dgram"):
            return f"{title} fd {fd}{on}", "= 0: end of file"
        shown = "" if failed else show_bytes(call.data or b"", limit, call.data_complete)
        return f"{title} fd {fd}{on}", f"{number} {shown}{_passing(trace, call, sent=False)}".strip()
    if name in MOVES:  # bytes out of one object, into another, never through the program's memory
        source, destination = (1, 0) if name == "sendfile" else (0, 1)
        ends = [f"fd {call.fds[i]} ({trace.objects[call.objects[i]].label})" for i in (source, destination)
                if i < len(call.fds) and i < len(call.objects)]  # fmt: skip
        if not failed and call.result == 0:
            return f"{title} {' → '.join(ends)}", "= 0: end of file"
        shown = "" if failed or call.data is None else show_bytes(call.data, limit, call.data_complete)
        kept = f"; left in {ends[0].split('(', 1)[-1][:-1]}" if name == "tee" and ends and not failed else ""
        return f"{title} {' → '.join(ends)}", f"{number} {shown}".strip() + f" (zero-copy{kept})" * (not failed)
    if name in POLLS:
        watched = list(dict.fromkeys(n for n, _ in call.watched)) if call.watched is not None else call.fds
        head = f"{title} fd {fd}{on} on fds" if name.startswith("epoll") else f"{title} fds"
        ready = f": fd {', '.join(str(n) for n in call.ready)} ready" if call.ready else ""
        return f"{head} {', '.join(str(n) for n in watched)}", failed or (
            "timed out" if call.result == 0 else number + ready
        )
    if name == "rt_sigaction":
        return f"{title} {_short(args[1]) if len(args) > 1 else ''}", ""
    return title + (f" fd {fd}{on}" if fd is not None else ""), number


SOCKET_KINDS = {"tcp": "TCP socket", "udp": "UDP socket", "unix-stream": "Unix stream socket",
                "unix-dgram": "Unix datagram socket"}  # fmt: skip


def _passing(trace: Trace, call: Call, sent: bool) -> str:
    """The fds a sendmsg passed, or a recvmsg received (SCM_RIGHTS): " · fd 4 → fd 3: pipe #1 read end"."""
    passes = [p for p in trace.passes if (p.sender if sent else p.receiver) == call.index]
    if not passes:
        return ""
    words = []
    for passed in passes:
        obj = trace.objects[passed.object]
        end = f" {passed.end} end" if obj.kind in ("pipe", "fifo") and passed.end in ("read", "write") else ""
        words.append(f"fd {passed.sender_fd} → fd {passed.receiver_fd}: {obj.label}{end}")
    return " · " + "; ".join(words)


def _path(args: list) -> str:
    data = next((a for a in args if isinstance(a, Data)), None)
    return data.value.decode("utf-8", "replace") if data else "?"


def _option(option: object, value: object) -> str:
    """``SO_RCVTIMEO=10 s``: a socket option as the program set it. A deadline's struct timeval, which strace
    gives as raw bytes (two little-endian 64-bit numbers), in seconds; an int option as the number."""
    name = str(option).removesuffix("_OLD")  # strace's name for the 64-bit-time-era constant: the same option
    if isinstance(value, Data) and not value.truncated:
        raw = value.value
        if "TIMEO" in name and len(raw) == 16:
            seconds = int.from_bytes(raw[:8], "little") + int.from_bytes(raw[8:], "little") / 1e6
            return f"{name}={seconds:g} s" if seconds else f"{name}=0 (no deadline)"
        if len(raw) == 4:
            return f"{name}={int.from_bytes(raw, 'little', signed=True)}"
    return f"{name}={_short(value)}"


def _short(value: object) -> str:
    if isinstance(value, Struct):
        handler = value.fields.get("sa_handler")
        return str(handler) if handler is not None else value.text[:20]
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    if isinstance(value, (Raw, int)):
        return str(value)
    if isinstance(value, Fd):
        return str(value.number)
    return str(value)[:20]


def wait_text(trace: Trace, call: Call) -> Optional[str]:
    wait = next((w for w in trace.waits if w.call == call.index), None)
    if wait is None:
        return None
    if wait.duration is None:
        return wait.reason
    return f"waited {milliseconds(wait.duration)}, {wait.reason}"


def held(trace: Trace, edge: Edge) -> str:
    """What makes ``edge.holder`` the one a wait waits for, in words: "fd 6, pipe #2's write end"."""
    obj = trace.objects.get(edge.need.object) if edge.need.object else None
    label = obj.label if obj is not None else "it"
    words = {
        Reason.HOLDS_WRITE_END: f"{label}'s write end",
        Reason.HOLDS_READ_END: f"{label}'s read end",
        Reason.HOLDS_OTHER_END: f"the other end of {label}",
        Reason.CHILD: "its child",
        Reason.COULD_OPEN: f"could open it for {'reading' if edge.need.opening is End.WRITE else 'writing'}"
        + " (only the traced processes know its path)",
    }
    if edge.reason is Reason.NOT_ACCEPTED:
        listener = trace.objects.get(trace_listener(trace, edge))
        text = f"{listener.label if listener else 'the listening socket'}: it has not accept()ed the connection"
    else:
        text = words.get(edge.reason, edge.reason.value)
    return f"fd {edge.fd}, {text}" if edge.fd is not None else text


def trace_listener(trace: Trace, edge: Edge) -> Optional[str]:
    obj = trace.objects.get(edge.need.object) if edge.need.object else None
    if obj is None:
        return None
    return next((o.id for o in trace.objects.values() if o.listening and o.local and o.local == obj.remote), None)


def milliseconds(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 1000:
        return f"{seconds:.2f} s"
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
