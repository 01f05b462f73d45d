"""Does each call's source name a line that makes that call? Read from the program's file here, not from the model.

Shared by the tests that trace programs (the demos, programs written in a test): a call of the lesson made
by a program that kept records must have a source, and the line of the file at that number (read by this
module, independently of the model's text) must make the call: its Python name is on it (``os.fork()``,
``sock.recv``), or the library call that wraps it (``reader.receive()``, ``write_all(``, ``with ... as``).
"""

from __future__ import annotations

from ipc.trace.sources import coverage, lesson_call, unknown

WORDS = {  # the kernel's call -> words of which one is on the Python line that makes it, or wraps it
    "pipe": ("pipe(",),
    "pipe2": ("pipe(",),
    "clone": ("fork(", ".start(", "Popen(", "run(", "Pool(", "Process("),
    "clone3": ("fork(", ".start(", "Popen(", "run(", "Pool(", "Process("),
    "execve": ("exec",),
    "dup2": ("dup2(",),
    "dup3": ("dup2(",),
    "mknodat": ("mkfifo(",),
    "mknod": ("mkfifo(",),
    "openat": ("open(",),
    "open": ("open(",),
    "socket": ("socket(", "create_connection(", "create_server("),
    "socketpair": ("socketpair(", "Pipe("),
    "bind": ("bind(", "create_server("),
    "listen": ("listen(", "create_server("),
    "accept": ("accept(",),
    "accept4": ("accept(",),
    "connect": ("connect(", "create_connection("),
    "sendto": ("send",),
    "sendmsg": ("send",),
    "recvfrom": ("recv", "receive"),
    "recvmsg": ("recv", "receive"),
    "read": ("read(", "recv", "receive", "MessageReader(", ".get("),
    "readv": ("read",),
    "write": ("write(", "write_all(", "send", ".put(", "print("),
    "writev": ("write",),
    "shutdown": ("shutdown(",),
    "close": ("close(", "with "),
    "wait4": ("wait", "join(", "run("),
    "waitid": ("wait", "join("),
}


def file_line(path: str, number: int, cache: dict) -> str:
    """Line ``number`` (from 1) of the file at ``path``, as the file says it now ("" where there is no such file:
    ``<string>``, a ``python -c`` program's)."""
    if path not in cache:
        try:
            with open(path, encoding="utf-8") as file:
                cache[path] = file.read().splitlines()
        except FileNotFoundError:
            cache[path] = []
    lines = cache[path]
    return lines[number - 1] if 0 < number <= len(lines) else ""


def unexplained(trace, wrappers: tuple = (), among=None) -> list:
    """Every call of the lesson, made by a program that kept records, whose source is missing or names a line
    that does not make it: as text, for an assertion's message. Empty when every one is right. ``wrappers``:
    what else a line may call that makes any call of the lesson for it (a test's own program's library calls);
    ``among``: only the calls of these pids."""
    problems = [f"source unknown: {trace.calls[index].text[:90]}" for index in unknown(trace)
                if among is None or trace.calls[index].pid in among]  # fmt: skip
    files: dict = {}
    for call in trace.calls:
        if call.source is None or not lesson_call(trace, call) or call.source.line is None:
            continue
        if among is not None and call.pid not in among:
            continue
        text = file_line(call.source.file, call.source.line, files)
        wrapper = call.source.library.function.rsplit(".", 1)[-1] if call.source.library else None
        words = WORDS.get(call.name, ()) + wrappers
        if not any(word in text for word in words) and not (wrapper and wrapper in text):
            problems.append(f"{call.name} at {call.source.short}: {text.strip()!r} does not make it")
    return problems


def share(trace) -> str:
    """``27/27``: the calls of the lesson with a source, of those a program that kept records made."""
    known, counted = coverage(trace)
    return f"{known}/{counted}"
