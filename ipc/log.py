"""What a demo process says, one labelled line at a time, on stderr.

Every line starts with the process's role and pid, ``client[4242]: ...``, so
the output of several processes can be told apart when it is interleaved.
The lines go to stderr, which leaves stdout free to carry data (the dup2
demo's server talks to its client through stdout).

The format of a line, and what ``sent``, ``received`` and ``ready:`` mean to
whoever reads them, is ipc.transcript's. ``sent`` is told the very bytes
handed to write() or send(), never the text they were made from: the log says
what went out, even when a demo edited to write something else would rather
claim otherwise.
"""

from __future__ import annotations

import os
import sys

from . import transcript
from .transcript import quote  # noqa: F401  (demos quote messages in lines of their own)


class Log:
    def __init__(self, role: str):
        self.role = role

    def say(self, text: str) -> None:
        # The pid is read on every line: after fork() the child has a new one.
        line = (transcript.format_line(self.role, os.getpid(), text) + "\n").encode("utf-8", "backslashreplace")
        sys.stderr.flush()
        # One write() per line: a pipe keeps a write of up to PIPE_BUF bytes whole,
        # so lines from several processes never merge (print() may write twice).
        os.write(sys.stderr.fileno(), line)

    def sent(self, data: bytes) -> None:
        """Say what these bytes carry, one line per message: pass the same bytes object the write is given."""
        for message in messages_in(data):
            self.say(transcript.sent_text(message))

    def received(self, message: str) -> None:
        self.say(transcript.received_text(message))

    def ready(self, **where: object) -> None:
        """Tell whoever started us that we are listening, and where."""
        self.say(transcript.ready_text(**where))


def messages_in(data: bytes) -> list[str]:
    """The messages in bytes about to be written: each line of a stream, or a whole datagram (no newline).

    Bytes that are not UTF-8 are shown escaped (\\xff), so that they cannot pass for the text of a message.
    """
    lines = bytes(data).split(b"\n")
    if len(lines) > 1 and lines[-1] == b"":
        lines.pop()  # the newline that ends the last message
    return [line.decode("utf-8", "backslashreplace") for line in lines]


def plural(count: int, word: str) -> str:
    """1 byte, 2 bytes: a count with its noun."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def address(sockaddr: object) -> str:
    """A socket address as a person writes it: 127.0.0.1:8080, [::1]:8080, or a path."""
    if isinstance(sockaddr, tuple) and len(sockaddr) == 2:
        return f"{sockaddr[0]}:{sockaddr[1]}"
    if isinstance(sockaddr, tuple) and len(sockaddr) == 4:  # IPv6: host, port, flowinfo, scope id
        return f"[{sockaddr[0]}]:{sockaddr[1]}"
    if sockaddr in ("", b"", None):
        return "(unnamed)"  # an AF_UNIX socket that was never bound
    return str(sockaddr)
