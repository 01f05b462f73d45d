"""The benchmark's own wire format, shared by the Python loops and the C reference. Pure: no I/O.

A frame is SIZE bytes: an 8-byte header, then a payload that fills it up.

    offset 0   u32 sequence number, network byte order
    offset 4   u32 frame length, header included (= SIZE)
    offset 8   payload: byte i is (i * 31 + 7) % 251, the same in every frame

The reader always knows SIZE, reads exactly that many bytes, and checks the
header inside its loop: a lost, repeated or reordered frame shows as a wrong
sequence number, a lost or extra byte as a wrong length or a header that is
not one. The payload is checked by a CRC-32 of every frame, sent and received,
computed outside the timed part of each sample (round trips) or by comparing
each frame with the one expected (streams): a corrupted byte fails the run.

A header alone (length 8) is a control frame: in a round trip it says stop
(where there is no end of file, as on datagrams); in a stream it asks the
sender for ``sequence`` frames, and 0 means stop. The sequence numbers of a
stream wrap at ``window(size)``, so a sender may loop over a file of frames
(splice, sendfile) and still number them.
"""

from __future__ import annotations

import struct
import zlib

HEADER = struct.Struct("!II")
HEADER_BYTES = HEADER.size
MIN_SIZE = 16  # a data frame carries at least 8 payload bytes: shorter ones are control frames
MAX_SIZE = 64 * 1024 * 1024
SEQUENCE_LIMIT = 1 << 32
WINDOW_BYTES = 8 * 1024 * 1024  # a stream's sequence numbers wrap after about this many bytes
PATTERN_PERIOD = 251  # prime, so a shifted payload never lines up with the expected one


class PayloadError(Exception):
    """The bytes that arrived are not the bytes that were sent: the run is void."""


class LostMessage(PayloadError):
    pass


class CorruptMessage(PayloadError):
    pass


class PeerHungUp(LostMessage):
    """The other side closed or died: its own error, if it said one, is the better reason."""


def window(size: int) -> int:
    """After how many frames of this size a stream's sequence numbers start again from 0."""
    return max(4, WINDOW_BYTES // size)


def payload(length: int) -> bytes:
    """The payload of every frame: a pattern that a lost or moved byte cannot imitate."""
    period = bytes((i * 31 + 7) % 251 for i in range(PATTERN_PERIOD))
    return (period * (length // PATTERN_PERIOD + 1))[:length]


def frame(sequence: int, size: int) -> bytearray:
    """One whole frame, ready to send."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"a frame is {MIN_SIZE} to {MAX_SIZE} bytes, not {size}")
    data = bytearray(HEADER_BYTES) + payload(size - HEADER_BYTES)
    HEADER.pack_into(data, 0, sequence % SEQUENCE_LIMIT, size)
    return data


def control(count: int) -> bytes:
    """A control frame: a header alone."""
    return HEADER.pack(count, HEADER_BYTES)


def read_control(data: bytes) -> int:
    count, length = HEADER.unpack_from(data)
    if length != HEADER_BYTES:
        raise CorruptMessage(f"expected a control frame (length {HEADER_BYTES}), got a header saying length {length}")
    return count


def header_error(expected_sequence: int, size: int, data) -> PayloadError:
    """Why a frame's header is wrong, as the error to raise (call only when it is)."""
    sequence, length = HEADER.unpack_from(data)
    if length != size:
        return CorruptMessage(
            f"frame {expected_sequence}: header says {length} bytes where {size} were sent "
            f"(a byte lost or added before it, or a corrupted header)"
        )
    if sequence > expected_sequence:
        return LostMessage(f"frame {expected_sequence} lost: frame {sequence} arrived in its place")
    return LostMessage(f"frame {expected_sequence}: frame {sequence} arrived again or out of order")


def mismatch(expected_sequence: int, expected, got) -> PayloadError:
    """Why a whole frame differs from the one expected (call only when it does)."""
    size = len(expected)
    if HEADER.unpack_from(got) != HEADER.unpack_from(expected):
        return header_error(expected_sequence, size, got)
    first = next(i for i in range(size) if got[i] != expected[i])
    return CorruptMessage(
        f"frame {expected_sequence}: byte {first} of {size} is {got[first]:#04x}, {expected[first]:#04x} was sent"
    )


class Checksum:
    """CRC-32 of every frame sent and of every frame received, compared once the run is over."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.frames = 0

    def add(self, sent, received) -> None:
        self.sent = zlib.crc32(sent, self.sent)
        self.received = zlib.crc32(received, self.received)
        self.frames += 1

    def verify(self) -> None:
        if self.sent != self.received:
            raise CorruptMessage(
                f"payload checksum differs: CRC-32 {self.received:08x} over the {self.frames} frames "
                f"received, {self.sent:08x} over those sent (a corrupted byte)"
            )


def crc32(data, start: int = 0) -> int:
    return zlib.crc32(data, start)
