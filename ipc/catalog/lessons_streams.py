"""Lessons on streams and datagrams: boundaries, loss and order, broken pipes, full duplex and half-close.

Each is a demo of kind "runs": the programs say what they observed, and the
check below fails the run unless the behaviour the lesson teaches was seen.
"""

from __future__ import annotations

import re

from ..transcript import Transcript
from . import Demo, Program

FOUR_READS = (
    "part of the first chunk",
    "exactly the first chunk",
    "the first chunk and part of the second",
    "both chunks",
)


def _find(texts: list[str], pattern: str):
    """The first match of pattern among the lines, or None."""
    return next((m for m in (re.search(pattern, text) for text in texts) if m), None)


def check_boundaries(transcript: Transcript) -> list[str]:
    problems = []
    reader = transcript.texts("reader")
    first_reads = [
        m for m in (re.search(r"^round (\d+): recv\((\d+)\) -> (\d+) bytes .*?: (.+?) \(", t) for t in reader) if m
    ]
    seen = [m[4] for m in first_reads]
    for case in FOUR_READS:
        if case not in seen:
            problems.append(f"no round showed a first read of {case!r} (saw {seen})")
    for m in first_reads:  # the label must match the byte count really read
        if m[4] != FOUR_READS[_case(int(m[3]))]:
            problems.append(f"round {m[1]}: {m[3]} bytes labelled {m[4]!r}")
    received = [t for t in reader if t.startswith("received ")]
    if received != ['received "hello"', 'received "how are you?"'] * 4:
        problems.append(f"the framing did not give back both lines every round: {received}")
    return problems


def _case(count: int, first: int = 6, both: int = 19) -> int:
    """Which of FOUR_READS a first read of count bytes is (chunks of 6 and 13 bytes)."""
    return 0 if count < first else 1 if count == first else 2 if count < both else 3


def check_datagrams(transcript: Transcript) -> list[str]:
    problems = []
    receiver = transcript.texts("receiver")
    if not _find(receiver, r"^3 sendto\(\) -> 3 recvfrom\(\) of 5, 12, 20 bytes"):
        problems.append("three datagrams did not come out as three receives of 5, 12 and 20 bytes")
    truncated = _find(receiver, r"^truncated: kept (\d+) of (\d+) bytes \((MSG_TRUNC)\), lost (\d+)")
    if not truncated or (int(truncated[1]), int(truncated[2]), int(truncated[4])) != (16, 64, 48):
        problems.append("a 64-byte datagram read into 16 bytes was not seen truncated (MSG_TRUNC, 48 lost)")
    burst = _find(receiver, r"^burst: sent (\d+), received (\d+), lost (\d+)(?: \(the kernel counted (\d+) drops\))?")
    if not burst:
        problems.append("the burst's counts are missing")
    else:
        sent, received, lost = int(burst[1]), int(burst[2]), int(burst[3])
        if not (received > 0 and lost > 0 and sent == received + lost):
            problems.append(f"the burst did not show loss: sent {sent}, received {received}, lost {lost}")
        # A datagram the receiver missed is either counted by the kernel or (very rarely) still on its way.
        if burst[4] is not None and not 0 < int(burst[4]) <= lost:
            problems.append(f"the kernel counted {burst[4]} drops, but {lost} datagrams never arrived")
    if not _find(receiver, r"^through the relay: arrival order 2, 1, 4, 3: out of order"):
        problems.append("the relay's reordering was not seen")
    return problems


def check_sigpipe(transcript: Transcript) -> list[str]:
    problems = []
    parent = transcript.texts("parent")
    writer = transcript.texts("writer")
    if not _find(parent, r"^Python set SIGPIPE to SIG_IGN at startup"):
        problems.append("Python's SIGPIPE action at startup was not SIG_IGN")
    for case in ("pipe write()", "socket send()"):
        if not _find(
            parent,
            rf"^{re.escape(case)}, SIGPIPE SIG_DFL: writer \d+ was killed by signal 13 \(SIGPIPE\): "
            r"a shell reports 141$",
        ):
            problems.append(f"{case} with SIGPIPE at SIG_DFL: the writer was not killed by signal 13")
    survivors = (
        "pipe write(), SIGPIPE SIG_IGN",
        "socket send(), SIGPIPE SIG_IGN",
        "socket send(MSG_NOSIGNAL), SIGPIPE SIG_DFL",
    )
    for case in survivors:
        if "NOSIGNAL" in case and not _find(parent, r"MSG_NOSIGNAL"):
            continue  # not on this platform (the demo says so by leaving it out)
        if not (
            _find(writer, rf"^{re.escape(case)}: BrokenPipeError: errno \d+ \(EPIPE\)")
            and _find(parent, rf"^{re.escape(case)}: writer \d+ exited with status 0$")
        ):
            problems.append(f"{case}: the write did not fail with EPIPE in a writer that lived on")
    if not _find(parent, r"restore_signals=True: the shell printed 141$"):
        problems.append("the shell did not report 141 for head killed by SIGPIPE")
    if not _find(parent, r"restore_signals=False: head said .*Broken pipe.*the shell printed 1$"):
        problems.append("with SIGPIPE left ignored through exec(), head did not report EPIPE")
    return problems


def check_half_close(transcript: Transcript) -> list[str]:
    problems = []
    client, server = transcript.texts("client"), transcript.texts("server")
    overlap = _find(client, r"^sent all (\d+) requests; meanwhile (\d+) answers had come back")
    if not overlap or int(overlap[2]) == 0:
        problems.append("no answer came back while the client was still sending: full duplex not shown")
    # The answers may all be in before the writer thread says it shut down; the server's last line may not.
    steps = ("shutdown(SHUT_WR)", 'received "after your end of file', "end of file: the server closed")
    where = [next((i for i, t in enumerate(client) if t.startswith(step)), None) for step in steps]
    if None in where or where != sorted(where) or not _find(client, r"^received and checked all \d+ answers"):
        problems.append("the client did not half-close, then read all answers, the server's last line and EOF")
    if not _find(server, r"^end of file from .* after (\d+) requests, all answered"):
        problems.append("the server did not see end of file")
    if not _find(server, r'^sent "after your end of file: \d+ answered"'):
        problems.append("the server did not send after the client's end of file")
    return problems


DEMOS = [
    Demo(
        name="boundaries",
        mechanism="stream socket (socketpair) + fork",
        teaches="a stream keeps no message boundaries: two writes, four ways one read sees them; a newline frames them",
        client=Program("stream_boundaries.py"),
        kind="runs",
        check=check_boundaries,
    ),
    Demo(
        name="datagrams",
        mechanism="UDP over IPv4 loopback",
        teaches="one send is one receive; a short buffer truncates; a full queue drops; a relay reorders",
        client=Program("datagram_boundaries.py"),
        kind="runs",
        check=check_datagrams,
    ),
    Demo(
        name="sigpipe",
        mechanism="pipe and socketpair + fork",
        teaches="writing where nobody reads: SIGPIPE kills (signal 13, a shell's 141), or EPIPE when ignored",
        client=Program("sigpipe.py"),
        kind="runs",
        check=check_sigpipe,
    ),
    Demo(
        name="half-close",
        mechanism="TCP over IPv4 loopback, two threads",
        teaches="full duplex: both directions at once; shutdown(SHUT_WR) sends EOF while the other way still works",
        server=Program("half_close_server.py", ("--clients", "1", "--buffer", "4096")),
        client=Program("half_close_client.py", ("--host", "{host}", "--port", "{port}", "--buffer", "4096")),
        kind="runs",
        check=check_half_close,
        slow="2000 requests and answers, each a system call: under strace, and drawn",
    ),
]
