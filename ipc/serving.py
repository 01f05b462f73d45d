"""What a server does when something goes wrong: named once, called below each demo's lesson.

The shape of socketserver's ``handle_error`` and ``handle_timeout``: a demo's accept loop
fits on one screen, and what to do with a peer that resets, stalls or breaks the rules is
a named hook defined here, not branches inside the loop.

- ``explaining_bind(where)``: bind()'s error names the address and says what to do.
- ``one_bad_peer(log, peer)``: a peer that resets or vanishes ends its conversation, never the server.
- ``refuse(connection, log, peer, why)``: the error line, then ``hang_up()``.
- ``hang_up(connection)``: a graceful close: shutdown(SHUT_WR), then read what the peer still
  sends until its end of file (a second at most), then the caller's close().
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Iterator

from .log import Log
from .program import describe, explain_bind
from .protocol import encode, error_reply
from .stream import CHUNK_SIZE
from .timeouts import EXPIRED, timeval

HANG_UP_SECONDS = 1.0  # how long a server reads what a refused peer still sends before it closes
DRAIN_LIMIT = 1 << 20  # and how much of it, at most


@contextlib.contextmanager
def explaining_bind(where: object) -> Iterator[None]:
    """Around bind(): EADDRINUSE, EACCES, EADDRNOTAVAIL... say which address, and why (program.explain_bind)."""
    try:
        yield
    except OSError as error:
        raise explain_bind(error, where) from None


@contextlib.contextmanager
def one_bad_peer(log: Log, peer: str, then: str = "back to accept()") -> Iterator[None]:
    """A peer that resets, vanishes or stalls ends its own conversation, in one line; the server goes on."""
    try:
        yield
    except (ConnectionResetError, BrokenPipeError) as error:
        log.say(f"{peer} reset the connection ({type(error).__name__}): {then}")
    except EXPIRED:  # SO_SNDTIMEO: our answers waited that long for room: it reads nothing
        log.say(f"{peer} reads nothing: our answer found no room in time: {then}")
    except OSError as error:  # gone some other way (ENOTCONN after its reset)
        log.say(f"lost {peer} ({describe(error)}): {then}")


def refuse(connection: socket.socket, log: Log, peer: str, why: object) -> None:
    """Tell the peer what was wrong in one error line of the exchange, then hang up on it."""
    log.say(f"error from {peer}: {why}")
    reply = encode(error_reply(why))
    log.sent(reply)
    connection.sendall(reply)
    hang_up(connection)


def hang_up(connection: socket.socket, seconds: float = HANG_UP_SECONDS) -> int:
    """shutdown(SHUT_WR), then read and throw away what the peer still sends, until its end of file.

    A socket closed while bytes wait unread in it sends a reset (TCP: RST; a Unix socket makes
    the peer's recv() fail with ECONNRESET), and a reset can overtake our last answer, which the
    peer then never reads. So: our end of file after the answer, then read until the peer's,
    `seconds` and DRAIN_LIMIT bytes at most (SO_RCVTIMEO keeps the time). Returns the bytes thrown away.
    """
    connection.shutdown(socket.SHUT_WR)  # the peer reads our answer, then end of file
    end, thrown = time.monotonic() + seconds, 0
    try:
        while thrown < DRAIN_LIMIT and (left := end - time.monotonic()) > 0:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(left))
            data = connection.recv(CHUNK_SIZE)
            if not data:
                break
            thrown += len(data)
    except OSError:  # its time ran out (EAGAIN), or a reset: we stop listening either way
        pass
    return thrown
