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
from ..stream import MessageReader
from . import frames
from .channels import End
from .frames import HEADER, HEADER_BYTES, SEQUENCE_LIMIT

WARMUP_MIN = 20  # round trips thrown away before the first sample, at least
FIRST_STREAM_FRAMES = 4  # a stream's first value; calibration doubles it


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


class Calibration:
    """pyperf's calibration for streams: double the frames per value until one lasts long enough (those
    values are thrown away, as warm-up), then keep values of about value_seconds each."""

    def __init__(self, value_seconds: float, values: int, warmup_s: float) -> None:
        self.count = FIRST_STREAM_FRAMES
        self.results: list = []
        self._value_ns = value_seconds * 1e9
        self._values = values
        self._warm_until = time.perf_counter_ns() + int(warmup_s * 1e9)
        self._calibrated = False

    def done(self) -> bool:
        return len(self.results) >= self._values

    def record(self, t0: int, t1: int, nbytes: int) -> None:
        elapsed = t1 - t0
        if self._calibrated:
            self.results.append((nbytes, elapsed))
        elif elapsed >= self._value_ns * 0.5 and t1 >= self._warm_until:
            self._calibrated = True
        if not self._calibrated or elapsed < self._value_ns * 0.8:
            self.count = max(self.count * 2, int(self.count * self._value_ns / max(elapsed, 1)))


def read_exact(readinto: Callable, view: memoryview) -> bool:
    """Fill view; False at end of file before its first byte, an error at end of file inside it."""
    return finish_read(readinto, view, readinto(view))


def finish_read(readinto: Callable, view: memoryview, got: int) -> bool:
    """After a read that returned got bytes: read the rest of the frame (a stream may hand it over in parts)."""
    total = len(view)
    while got < total:
        if not got:
            return False
        more = readinto(view[got:])
        if not more:
            raise frames.PeerHungUp(f"the stream ended {got} bytes into a {total}-byte frame")
        got += more
    return True


def finish_write(write: Callable, data, done: int) -> None:
    """After a write that took done bytes: write the rest (a pipe or socket may take fewer than it was given)."""
    view = memoryview(data)
    while done < len(view):
        done += write(view[done:])


def receive_rest(end: End, view: memoryview, got: int) -> bool:
    """After a read of got bytes that was not a whole frame: finish it, or say why not (False: the peer stopped)."""
    if end.datagram:
        if got == HEADER_BYTES:
            return False  # a control frame: stop
        raise frames.CorruptMessage(f"a datagram of {got} bytes arrived where {len(view)} were sent")
    return finish_read(end.readinto, view, got)


# Round trips, raw ---------------------------------------------------------------------------


def raw_latency_client(end: End, size: int, schedule: Schedule) -> frames.Checksum:
    out = frames.frame(0, size)
    buffer = bytearray(size)
    view = memoryview(buffer)
    write, readinto = end.write, end.readinto
    clock, pack, unpack = time.perf_counter_ns, HEADER.pack_into, HEADER.unpack_from
    checksum = frames.Checksum()
    sequence = 0
    while True:
        pack(out, 0, sequence, size)
        t0 = clock()
        sent = write(out)
        if sent != size:  # the usual case is one call each way; the rest only when the kernel splits a frame
            finish_write(write, out, sent)
        got = readinto(view)
        if got != size and not receive_rest(end, view, got):
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
    write, readinto = end.write, end.readinto
    served = 0
    while True:
        got = readinto(view)
        if got != size and not receive_rest(end, view, got):
            return
        if inject and served == inject[1]:
            if inject[0] == "lose":
                served += 1
                continue  # never answered: the client waits until its deadline
            buffer[-1] ^= 0x01  # one bit of the last payload byte: only the checksum can see it
            end.send(buffer)
            buffer[-1] ^= 0x01
        else:
            sent = write(buffer)
            if sent != size:
                finish_write(write, buffer, sent)
        served += 1


# Streams, raw -------------------------------------------------------------------------------


def stream_values(end: End, size: int, value_seconds: float, values: int, warmup_s: float) -> list:
    """Ask for streams of frames and time them; each frame compared in full with the one expected."""
    expected = frames.frame(0, size)
    buffer = bytearray(size)
    view = memoryview(buffer)
    wrap = frames.window(size)
    readinto, clock, pack = end.readinto, time.perf_counter_ns, HEADER.pack_into
    calibration = Calibration(value_seconds, values, warmup_s)
    while not calibration.done():
        count = calibration.count
        t0 = clock()
        end.send(frames.control(count))
        for index in range(count):
            pack(expected, 0, index % wrap, size)
            got = readinto(view)
            if got != size and not receive_rest(end, view, got):
                raise frames.PeerHungUp(f"the server hung up after {index} of {count} frames")
            if buffer != expected:  # memcmp of the whole frame: header and every payload byte
                raise frames.mismatch(index % wrap, expected, buffer)
        calibration.record(t0, clock(), count * size)
    end.send(frames.control(0))
    return calibration.results


def stream_server(end: End, size: int, send_span: Optional[Callable] = None, inject: Optional[tuple] = None) -> None:
    """Send as many frames as each control frame asks for; stop at 0 or end of file."""
    out = frames.frame(0, size)
    request = bytearray(HEADER_BYTES)
    wrap = frames.window(size)
    write, pack = end.write, HEADER.pack_into
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
                    done = write(out)
                    if done != size:
                        finish_write(write, out, done)
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
        while data := end.read(protocol.MAX_MESSAGE_BYTES):
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
    calibration = Calibration(value_seconds, values, warmup_s)
    while not calibration.done():
        count = calibration.count
        t0 = clock()
        end.write_all(frames.control(count))
        for index in range(count):
            message = reader.receive()
            if message is None:
                raise frames.PeerHungUp(f"the server hung up after {index} of {count} lines")
            if message[11:] != text or int(message[:10]) != index:
                raise frames.CorruptMessage(f"line {index}: got {message[:40]!r}...")
        calibration.record(t0, clock(), count * line_bytes)
    end.write_all(frames.control(0))
    return calibration.results


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
