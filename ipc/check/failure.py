"""How a check fails: what was expected, what came back, and why, in the lecture's words."""

from __future__ import annotations

from typing import Optional


class CheckFailed(Exception):
    """A check found the program wrong. ``expected`` and ``got`` are shown side by side when given."""

    def __init__(self, message: str, expected: object = None, got: object = None, why: Optional[str] = None):
        super().__init__(message)
        self.message, self.expected, self.got, self.why = message, expected, got, why

    def __str__(self) -> str:
        parts = [self.message]
        if self.expected is not None or self.got is not None:
            parts.append(f"expected {self.expected!r}, got {self.got!r}")
        if self.why:
            parts.append(self.why)
        return "; ".join(parts)


class PeerLeft(CheckFailed, BrokenPipeError):
    """EPIPE: the program closed its end while we wrote. Still a BrokenPipeError, for a caller that catches one."""


class PeerReset(CheckFailed, ConnectionResetError):
    """ECONNRESET: the program closed with bytes unread, or ended. Still a ConnectionResetError."""


class NotStarted(CheckFailed):
    """The server ended, or never became ready, before any check could talk to it."""


class NoAnswer(CheckFailed):
    """Nothing came within the deadline: the program may be blocked (its calls say where)."""


class CheckSkipped(Exception):
    """The check does not apply here; the message says why."""
