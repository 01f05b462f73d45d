"""The timed loops over pipes, FIFOs and sockets: raw system calls, and the project's own stack.

raw      os.write / FileIO.readinto on pipes and FIFOs, sendall / recv_into on
         sockets: one call per frame when the kernel takes it all, into one
         buffer reused for every frame; the frame format of frames.py.
project  what the demos do: ipc.protocol.encode, ipc.stream.write_all or
         sendall, ipc.stream.MessageReader over os.read or sock.recv, a
         ServerConversation that numbers the answers and a ClientConversation
         that checks each one in full.

Round trips: the client times each one (send, then receive the whole reply
and check its header) with time.perf_counter_ns, a monotonic clock; the CRC-32
of every frame is taken after the clock stops. Streams: the client asks the
server for N frames and times them until the last one is in and checked;
N is calibrated so one value lasts about ``value_seconds``.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from .. import protocol
from ..stream import MessageReader, write_all
from . import frames
from .channels import End
from .frames import HEADER, HEADER_BYTES, SEQUENCE_LIMIT

WARMUP_MIN = 20  # round trips thrown away before the first sample, at least
FIRST_STREAM_FRAMES = 4


class Schedule:
    """Warm-up, then samples until the budget of time or the cap on samples is reached."""

    def __init__(self, warmup_s: float, budget_s: float, max_samples: int) -> None:
        self.samples: list = []
        self._warm = 0
        self._warm_until = time.perf_counter_ns() + int(warmup_s * 1e9)
        self._budget_ns = int(budget_s * 1e9)
        self._until: Optional[int] = None
        self._max = max_samples

    def keep(self, t0: int, t1: int) -> bool:
        """Record one sample (or count it as warm-up); False once enough are in."""
        if self._until is None:
            self._warm += 1
            if t1 >= self._warm_until and self._warm >= WARMUP_MIN:
                self._until = t1 + self._budget_ns
            return True
        self.samples.append(t1 - t0)
        return t1 < self._until and len(self.samples) < self._max


def read_exact(readinto: Callable, view: memoryview) -> bool:
    """Fill view; False at end of file before its first byte, an error at end of file inside it."""
    total = len(view)
    got = readinto(view)
    while got < total:
        if not got:
            return False
        more = readinto(view[got:])
        if not more:
            raise frames.PeerHungUp(f"the stream ended {got} bytes into a {total}-byte frame")
        got += more
    return True


def receive_frame(end: End, view: memoryview) -> bool:
    if not end.datagram:
        return read_exact(end.readinto, view)
    got = end.readinto(view)
    if got != len(view):
        raise frames.CorruptMessage(f"a datagram of {got} bytes arrived where {len(view)} were sent")
    return True


# Round trips, raw ---------------------------------------------------------------------------

def raw_latency_client(end: End, size: int, schedule: Schedule) -> frames.Checksum:
    out = frames.frame(0, size)
    buffer = bytearray(size)
    view = memoryview(buffer)
    send, clock, pack, unpack = end.send, time.perf_counter_ns, HEADER.pack_into, HEADER.unpack_from
    receive = (lambda: read_exact(end.readinto, view)) if not end.datagram else (lambda: receive_frame(end, view))
    checksum = frames.Checksum()
    sequence = 0
    while True:
        pack(out, 0, sequence, size)
        t0 = clock()
        send(out)
        if not receive():
            raise frames.PeerHungUp(f"the server hung up before answering frame {sequence}")
        if unpack(buffer) != (sequence, size):  # inside the loop: sequence number and length
            raise frames.header_error(sequence, size, buffer)
        t1 = clock()
        checksum.add(out, buffer)  # outside the timed part: every byte of every frame
        sequence = (sequence + 1) % SEQUENCE_LIMIT
        if not schedule.keep(t0, t1):
            break
    if end.datagram:
        end.send(frames.control(0))  # no end of file on datagrams: say stop
    checksum.verify()
    return checksum


def raw_latency_server(end: End, size: int, inject: Optional[tuple] = None) -> None:
    """Echo every frame back until end of file (or a stop frame on datagrams)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    served = 0
    while True:
        if end.datagram:
            got = end.readinto(view)
            if got == HEADER_BYTES:
                return
            if got != size:
                raise frames.CorruptMessage(f"server: a datagram of {got} bytes where {size} were sent")
        elif not read_exact(end.readinto, view):
            return
        if inject and served == inject[1]:
            if inject[0] == "lose":
                served += 1
                continue  # never answered: the client waits until its deadline
            buffer[-1] ^= 0x01  # one bit of the last payload byte: only the checksum can see it
            end.send(buffer)
            buffer[-1] ^= 0x01
        else:
            end.send(buffer)
        served += 1


# Streams, raw -------------------------------------------------------------------------------

def stream_values(end: End, size: int, value_seconds: float, values: int, warmup_s: float) -> list:
    """Ask for streams of frames and time them; the first (calibration) ones are thrown away."""
    expected = frames.frame(0, size)
    buffer = bytearray(size)
    view = memoryview(buffer)
    wrap = frames.window(size)
    clock, pack = time.perf_counter_ns, HEADER.pack_into
    receive = (lambda: read_exact(end.readinto, view)) if not end.datagram else (lambda: receive_frame(end, view))
    count, results, warm_until = FIRST_STREAM_FRAMES, [], clock() + int(warmup_s * 1e9)
    calibrated = False
    while len(results) < values:
        t0 = clock()
        end.send(frames.control(count))
        for index in range(count):
            pack(expected, 0, index % wrap, size)
            if not receive():
                raise frames.PeerHungUp(f"the server hung up after {index} of {count} frames")
            if buffer != expected:  # memcmp of the whole frame: header and every payload byte
                raise frames.mismatch(index % wrap, expected, buffer)
        t1 = clock()
        elapsed = t1 - t0
        if calibrated:
            results.append((count * size, elapsed))
        elif elapsed >= value_seconds * 1e9 * 0.5 and t1 >= warm_until:
            calibrated = True  # pyperf's calibration: double until a value lasts long enough
        if not calibrated or elapsed < value_seconds * 1e9 * 0.8:
            count = max(count * 2, int(count * value_seconds * 1e9 / max(elapsed, 1)))
    end.send(frames.control(0))
    return results


def stream_server(end: End, size: int, path: str = "plain", memfd: Optional[int] = None,
                  send_span: Optional[Callable] = None, inject: Optional[tuple] = None) -> None:
    """Send as many frames as each control frame asks for; stop at 0 or end of file."""
    out = frames.frame(0, size)
    request = bytearray(HEADER_BYTES)
    wrap = frames.window(size)
    pack = HEADER.pack_into
    sent = skipped = 0
    while True:
        if end.datagram:
            if end.readinto(request) != HEADER_BYTES:
                raise frames.CorruptMessage("server: expected a control frame")
        elif not read_exact(end.readinto, memoryview(request)):
            return
        count = frames.read_control(request)
        if count == 0:
            return
        for index in range(count):
            if inject and sent == inject[1] and inject[0] == "lose":
                skipped = 1  # this frame is never sent: the next one comes in its place
            sequence = (index + skipped) % wrap
            if send_span is not None:
                send_span(sequence * size, size)  # zero copy: from the file of frames
            else:
                pack(out, 0, sequence, size)
                if inject and sent == inject[1]:
                    out[-1] ^= 0x01
                    end.send(out)
                    out[-1] ^= 0x01
                else:
                    end.send(out)
            sent += 1


# The project's stack ------------------------------------------------------------------------

def project_text(size: int) -> str:
    """A request whose line is at most size bytes, and whose numbered answer fits the protocol's limit."""
    room = min(size, protocol.MAX_MESSAGE_BYTES - 8) - 1  # "n " before the answer; n < 10**6
    if room < 1:
        raise ValueError(f"{size} bytes is too short for a line")
    return ("abcdefghijklmnopqrstuvwxyz" * (room // 26 + 1))[:room]


def project_latency_client(end: End, size: int, schedule: Schedule) -> int:
    """What demos/pipe_fork.py and the socket clients do, timed."""
    text = project_text(size)
    conversation = protocol.ClientConversation()
    clock = time.perf_counter_ns
    if end.datagram:
        def exchange() -> Optional[str]:
            end.send(protocol.encode_datagram(text))
            return protocol.decode_datagram(end.read(protocol.MAX_MESSAGE_BYTES))
    else:
        reader = MessageReader(end.read)

        def exchange() -> Optional[str]:
            end.write_all(protocol.encode(text))
            return reader.receive()
    while True:
        t0 = clock()
        reply = exchange()
        if reply is None:
            raise frames.PeerHungUp(f"the server hung up before answering request {conversation.checked + 1}")
        conversation.check(text, reply)  # every byte of the answer, and its number
        t1 = clock()
        if not schedule.keep(t0, t1):
            break
    if end.datagram:
        end.send(b"")  # the protocol's end of a datagram conversation
    return conversation.checked


def project_latency_server(end: End) -> None:
    """What demos/pipe_fork.py's child and the socket servers do."""
    conversation = protocol.ServerConversation()
    if end.datagram:
        while (data := end.read(protocol.MAX_MESSAGE_BYTES)):
            end.send(protocol.encode_datagram(conversation.reply_to(protocol.decode_datagram(data))))
        return
    for request in MessageReader(end.read):
        reply = conversation.reply_to(request)
        end.write_all(protocol.encode(reply))


def project_stream_values(end: End, size: int, value_seconds: float, values: int, warmup_s: float) -> list:
    """Lines "<number> <text>" streamed one way, read back by MessageReader and checked in full."""
    text = project_text(size)[11:]
    line_bytes = len(protocol.encode(f"{0:010d} {text}"))
    reader = MessageReader(end.read)
    clock = time.perf_counter_ns
    count, results, warm_until, calibrated = FIRST_STREAM_FRAMES, [], clock() + int(warmup_s * 1e9), False
    while len(results) < values:
        t0 = clock()
        end.write_all(frames.control(count))
        for index in range(count):
            message = reader.receive()
            if message is None:
                raise frames.PeerHungUp(f"the server hung up after {index} of {count} lines")
            if message[11:] != text or int(message[:10]) != index:
                raise frames.CorruptMessage(f"line {index}: got {message[:40]!r}...")
        t1 = clock()
        elapsed = t1 - t0
        if calibrated:
            results.append((count * line_bytes, elapsed))
        elif elapsed >= value_seconds * 1e9 * 0.5 and t1 >= warm_until:
            calibrated = True
        if not calibrated or elapsed < value_seconds * 1e9 * 0.8:
            count = max(count * 2, int(count * value_seconds * 1e9 / max(elapsed, 1)))
    end.write_all(frames.control(0))
    return results


def project_stream_server(end: End, size: int) -> None:
    text = project_text(size)[11:]
    request = bytearray(HEADER_BYTES)
    while read_exact(end.readinto, memoryview(request)):
        count = frames.read_control(request)
        if count == 0:
            return
        for index in range(count):
            end.write_all(protocol.encode(f"{index:010d} {text}"))


def pin(cpu: Optional[int]) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


__all__ = ["Schedule", "raw_latency_client", "raw_latency_server", "stream_values", "stream_server",
           "project_latency_client", "project_latency_server", "project_stream_values", "project_stream_server",
           "write_all", "pin"]
