"""Broken on purpose: each demo deadlocks, the harness explains it, then runs its fix.

A demo of kind "deadlock" passes when the harness sees its processes block
waiting for each other and its diagnosis names the processes, the calls they
are blocked in, and the cycle this catalog expects (``ExpectedDeadlock``). ``fixed_by`` names the
demo that does it right (the same program with --fixed): it must then pass.
"""

from __future__ import annotations

import shutil
from typing import Callable, Optional

from ..transcript import Transcript
from . import Demo, ExpectedDeadlock, Program


def answered_all(role: str, text: str) -> Callable[[Transcript], list[str]]:
    """A check for a fixed twin that is not a plain exchange: that process said it got everything."""

    def check(transcript: Transcript) -> list[str]:
        said = transcript.texts(role)
        return [] if any(text in line for line in said) else [f"{role} never said {text!r}; it said {said}"]

    return check


def no_cat() -> Optional[str]:
    return None if shutil.which("cat") else "no cat(1) on this system"


EACH_WAITS_FOR_THE_OTHER = "client waits for server, server waits for client"

DEMOS = [
    Demo(
        name="both-read-first",
        mechanism="fork + two pipes, broken",
        teaches="both sides read first: each pipe is empty, and the only writer is blocked reading",
        client=Program("broken/both_read_first.py"),
        kind="deadlock",
        deadlock=ExpectedDeadlock(EACH_WAITS_FOR_THE_OTHER, {"client": "read", "server": "read"}),
        fixed_by="both-read-first-fixed",
        timeout=10.0,
    ),
    Demo(
        name="both-read-first-fixed",
        mechanism="fork + two pipes, fixed",
        teaches="the client writes its request before it reads: request, then response",
        client=Program("broken/both_read_first.py", ("--fixed",)),
    ),
    Demo(
        name="client-reads-first",
        mechanism="TCP over IPv4 loopback, broken",
        teaches="the notes' HTTP case: a client that waits for the answer before sending its request waits forever",
        server=Program("tcp_server.py", ("--host", "127.0.0.1", "--clients", "1", "--idle", "0")),  # no deadline
        client=Program("broken/client_reads_first.py", ("--host", "{host}", "--port", "{port}")),
        kind="deadlock",
        deadlock=ExpectedDeadlock(EACH_WAITS_FOR_THE_OTHER, {"client": "recvfrom", "server": "recvfrom"}),
        fixed_by="client-reads-first-fixed",
        timeout=10.0,
    ),
    Demo(
        name="client-reads-first-fixed",
        mechanism="TCP over IPv4 loopback, fixed",
        teaches="the client sends its request, then reads the answer: the server speaks only when asked",
        server=Program("tcp_server.py", ("--host", "127.0.0.1", "--clients", "1")),
        client=Program("broken/client_reads_first.py", ("--host", "{host}", "--port", "{port}", "--fixed")),
    ),
    Demo(
        name="fifo-open-order",
        mechanism="named pipes (mkfifo), broken",
        teaches="open() of a FIFO waits for the other side: "
        "two processes opening two FIFOs in opposite orders both block",
        client=Program("broken/fifo_open_order.py"),
        kind="deadlock",
        deadlock=ExpectedDeadlock(EACH_WAITS_FOR_THE_OTHER, {"client": "openat", "server": "openat"}),
        fixed_by="fifo-open-order-fixed",
        timeout=10.0,
    ),
    Demo(
        name="fifo-open-order-fixed",
        mechanism="named pipes (mkfifo), fixed",
        teaches="both sides open the FIFOs in the same order, so every open() finds its partner",
        client=Program("broken/fifo_open_order.py", ("--fixed",)),
    ),
    Demo(
        name="forgotten-close",
        mechanism="fork + two pipes, broken",
        teaches="a reader that still holds a write end of its own pipe never sees end of file",
        client=Program("broken/forgotten_close.py"),
        kind="deadlock",
        deadlock=ExpectedDeadlock("server waits for itself", {"client": "wait4", "server": "read"}),
        fixed_by="forgotten-close-fixed",
        timeout=10.0,
    ),
    Demo(
        name="forgotten-close-fixed",
        mechanism="fork + two pipes, fixed",
        teaches="the child closes the write end it does not use, so its last read() returns end of file",
        client=Program("broken/forgotten_close.py", ("--fixed",)),
    ),
    Demo(
        name="full-buffers",
        mechanism="socketpair (Unix stream), broken",
        teaches="both sides write more than the buffers hold before reading: both block in send()",
        client=Program("broken/full_buffers.py"),
        kind="deadlock",
        deadlock=ExpectedDeadlock(EACH_WAITS_FOR_THE_OTHER, {"client": "sendto", "server": "sendto"}),
        fixed_by="full-buffers-fixed",
        timeout=10.0,
    ),
    Demo(
        name="full-buffers-fixed",
        mechanism="socketpair (Unix stream), fixed",
        teaches="one thread sends while another reads, so neither buffer stays full",
        client=Program("broken/full_buffers.py", ("--fixed",)),
        kind="runs",
        check=answered_all("client", "answers received and checked"),
    ),
    Demo(
        name="subprocess-pipe-buffer",
        mechanism="subprocess + pipes to cat, broken",
        teaches="writing all input to a child before reading its output: the child's output pipe fills, then ours",
        client=Program("broken/subprocess_pipe_buffer.py"),
        kind="deadlock",
        deadlock=ExpectedDeadlock("parent waits for cat, cat waits for parent", {"parent": "write", "cat": "write"}),
        fixed_by="subprocess-pipe-buffer-fixed",
        timeout=10.0,
        unavailable=no_cat,
    ),
    Demo(
        name="subprocess-pipe-buffer-fixed",
        mechanism="subprocess + pipes to cat, fixed",
        teaches="communicate() writes and reads at once, as the subprocess documentation advises",
        client=Program("broken/subprocess_pipe_buffer.py", ("--fixed",)),
        kind="runs",
        check=answered_all("parent", "got all"),
        unavailable=no_cat,
    ),
]
