"""Deadlines the kernel keeps, so that a demo's calls can block as the lecture teaches them.

Python's ``sock.settimeout()`` would make every socket non-blocking: a trace then shows
``connect() = -1 EINPROGRESS``, ``getsockopt(SO_ERROR)`` and a ``poll()`` before each
``recv()``, Python's machinery instead of the lecture's calls. So a demo's sockets stay
blocking, and where a wait needs an end the kernel keeps it:

- ``setsockopt(SOL_SOCKET, SO_RCVTIMEO, timeval(seconds))``: a ``recv()`` (or ``accept()``)
  that has waited that long returns -1 EAGAIN, which Python raises as BlockingIOError.
  ``SO_SNDTIMEO`` does the same for ``send()`` (and for ``connect()``, with EINPROGRESS).
  One ``setsockopt()`` in the trace, made where the demo asks for its deadline.
- an alarm, ``setitimer(ITIMER_REAL)``, for what has no such option (``open()`` of a FIFO,
  ``read()`` of a pipe): SIGALRM interrupts the call, and the handler raises TimeoutError.

What this module adds is the policy around them, written once: one deadline for a whole
message (a peer that sends a byte just before each ``recv()`` expires cannot stretch it),
and the clear one-line error when it expires.
"""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import struct
import time
from typing import Callable, Iterator, Optional

from .stream import MessageReader

EXPIRED = (BlockingIOError,)  # EAGAIN (SO_RCVTIMEO, SO_SNDTIMEO) and EINPROGRESS (connect() under SO_SNDTIMEO)


def timeval(seconds: float) -> bytes:
    """A struct timeval, as SO_RCVTIMEO and SO_SNDTIMEO take it. 0: no deadline (wait for ever)."""
    micro = math.ceil(seconds * 1_000_000)  # never round a short wait down to 0, which means no deadline at all
    return struct.pack("@ll", *divmod(micro, 1_000_000))


@contextlib.contextmanager
def on_expiry(message: str) -> Iterator[None]:
    """Say `message` (as TimeoutError) when a call under SO_RCVTIMEO or SO_SNDTIMEO runs out of time."""
    try:
        yield
    except EXPIRED:
        raise TimeoutError(message) from None


class Deadline:
    """One deadline for several recv() calls on a socket, kept by the kernel: SO_RCVTIMEO.

    It sets SO_RCVTIMEO to `seconds` (and SO_SNDTIMEO too, with send_too: a send() that finds no
    room for that long fails the same way). The first recv() after ``restart()`` gets the whole
    time; each later one only what is left of it, by one more setsockopt(), made only then: a
    message that comes in one recv() costs none. When it expires: TimeoutError(expired).
    seconds 0: no deadline, and no setsockopt() at all.
    """

    def __init__(self, sock: socket.socket, seconds: float, expired: str, send_too: bool = False, recv=None):
        self.sock, self.seconds, self.expired = sock, seconds, expired
        self._recv: Callable[[int], bytes] = recv or sock.recv
        self._began: Optional[float] = None
        if seconds:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(seconds))
            if send_too:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(seconds))
        self._set = seconds  # what SO_RCVTIMEO holds now

    def restart(self) -> None:
        self._began = None

    def recv(self, size: int) -> bytes:
        if self.seconds:
            if self._began is None:  # the first recv() of this message: the whole time
                self._began, left = time.monotonic(), self.seconds
            else:
                left = self._began + self.seconds - time.monotonic()
            if left <= 0:
                raise TimeoutError(self.expired)
            if left != self._set:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(left))
                self._set = left
        with on_expiry(self.expired):
            return self._recv(size)


class TimedReader(MessageReader):
    """ipc.stream's read loop on a socket, each whole message within one Deadline (which sets SO_RCVTIMEO)."""

    def __init__(self, sock: socket.socket, seconds: float, expired: str, send_too: bool = False, recv=None, **kwargs):
        self.deadline = Deadline(sock, seconds, expired, send_too, recv)
        super().__init__(self.deadline.recv, **kwargs)

    def receive(self):
        self.deadline.restart()  # each message has the whole time again
        return super().receive()


@contextlib.contextmanager
def alarm(seconds: float, expired: str) -> Iterator[Callable[[], None]]:
    """An alarm for calls that take no timeout (open() of a FIFO, read() of a pipe): after `seconds`,
    SIGALRM interrupts whatever call is waiting, and TimeoutError(expired) is raised from it.
    Yields ``again()``, which starts the time over (for the next message). seconds 0: no alarm."""

    def ring(signum: int, frame: object) -> None:
        raise TimeoutError(expired)

    def again() -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)  # alarm(), in fractions of a second; 0 cancels it

    previous = signal.signal(signal.SIGALRM, ring)
    try:
        again()
        yield again
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
