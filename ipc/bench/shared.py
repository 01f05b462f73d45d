"""The mechanisms that are not a file descriptor you read: multiprocessing's Pipe and Queue,
shared memory (woken by the kernel, or spinning), and plain files renamed into place.

Each has a client (times, checks) and a server (echoes, or streams frames on
request), in the same frame format and with the same checks as loops.py.

Shared memory: one segment from multiprocessing.shared_memory. For a round
trip it holds a request slot and a reply slot; for a stream, a ring of slots.
"kernel" wakes the other side with an eventfd (a pipe where there is no
eventfd): one write() and one read() per hand-over, no copy through the
kernel. "spin" polls a counter in the segment instead, and calls sched_yield()
between looks so that it also works with both processes on one CPU: no system
call sleeps, but it burns a CPU while it waits.

Files: each message is written to a temporary name and rename()d into place;
nothing can wake the reader, so it polls (without sleeping: the figure is the
cost of the file system calls, the floor under any polling interval).
"""

from __future__ import annotations

import multiprocessing
import os
import struct
import time
from typing import Optional

from . import frames
from .frames import HEADER, HEADER_BYTES
from .loops import Calibration, Schedule

COUNTER = struct.Struct("Q")
CONTROL_AREA = 64  # two counters, then the slots start on a cache line of their own
RING_BYTES = 8 * 1024 * 1024
MAX_RING_SLOTS = 64


# Notifications the kernel can wake -----------------------------------------------------------


class Notifier:
    """A counting semaphore between two processes: an eventfd (EFD_SEMAPHORE), or a pipe of tokens."""

    def __init__(self, initial: int = 0) -> None:
        if hasattr(os, "eventfd"):
            self.fds = (os.eventfd(initial, os.EFD_SEMAPHORE),) * 2
            self.post = lambda: os.eventfd_write(self.fds[1], 1)
            self.wait = lambda: os.eventfd_read(self.fds[0])  # blocks at 0, else takes 1
        else:
            self.fds = os.pipe()
            os.write(self.fds[1], b"t" * initial)
            self.post = lambda: os.write(self.fds[1], b"t")
            self.wait = lambda: os.read(self.fds[0], 1)

    def close(self) -> None:
        for fd in set(self.fds):
            os.close(fd)


def spin_until_above(buffer, offset: int, floor: int) -> int:
    """Poll a counter in shared memory until it exceeds floor; sched_yield() between looks."""
    unpack = COUNTER.unpack_from
    while (value := unpack(buffer, offset)[0]) <= floor:
        os.sched_yield()  # with both processes on one CPU, let the other one run
    return value


class SharedChannel:
    """A shared memory segment and what wakes each side; made before fork()."""

    def __init__(self, name: str, size: int, kind: str, stream: bool) -> None:
        from multiprocessing import shared_memory

        self.size, self.spin = size, kind == "shm-spin"
        self.slots = max(2, min(MAX_RING_SLOTS, RING_BYTES // size)) if stream else 2
        self.segment = shared_memory.SharedMemory(name=name, create=True, size=CONTROL_AREA + self.slots * size)
        self.buffer = self.segment.buf
        self.buffer[:CONTROL_AREA] = bytes(CONTROL_AREA)
        self.control = os.pipe() if stream else None  # the client asks for N frames
        if stream:
            self.full, self.free = Notifier(0), Notifier(self.slots)
        else:
            self.full, self.free = Notifier(0), Notifier(0)  # request posted, reply posted

    def slot(self, index: int) -> memoryview:
        start = CONTROL_AREA + (index % self.slots) * self.size
        return self.buffer[start : start + self.size]

    def close(self, unlink: bool) -> None:
        self.buffer.release()
        self.buffer = None
        self.segment.close()
        if unlink:
            self.segment.unlink()
        for notifier in (self.full, self.free):
            notifier.close()
        if self.control:
            for fd in self.control:
                os.close(fd)
        _stop_resource_tracker()


def _stop_resource_tracker() -> None:
    """multiprocessing starts a tracker process for shared memory; end it now rather than after we exit."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if stop is not None and getattr(resource_tracker._resource_tracker, "_pid", None):
        try:
            stop()
        except (OSError, ChildProcessError):
            pass


def shm_latency_client(channel: SharedChannel, size: int, schedule: Schedule) -> frames.Checksum:
    request, reply = channel.slot(0), channel.slot(1)
    out = frames.frame(0, size)
    clock, pack, unpack = time.perf_counter_ns, HEADER.pack_into, HEADER.unpack_from
    checksum, sequence = frames.Checksum(), 0
    while True:
        pack(out, 0, sequence, size)
        t0 = clock()
        request[:] = out  # the one copy in
        if channel.spin:
            COUNTER.pack_into(channel.buffer, 0, sequence + 1)  # after the frame: the server polls this
            spin_until_above(channel.buffer, 8, sequence)  # the reply's number
        else:
            channel.full.post()
            channel.free.wait()
        if unpack(reply) != (sequence, size):
            raise frames.header_error(sequence, size, reply)
        t1 = clock()
        checksum.add(out, reply)  # read where it lies: no copy out
        sequence += 1
        if not schedule.keep(t0, t1):
            break
    request[:HEADER_BYTES] = frames.control(0)
    if channel.spin:
        COUNTER.pack_into(channel.buffer, 0, sequence + 1)
    else:
        channel.full.post()
    checksum.verify()
    return checksum


def shm_latency_server(channel: SharedChannel, size: int) -> None:
    request, reply = channel.slot(0), channel.slot(1)
    sequence = 0
    while True:
        if channel.spin:
            spin_until_above(channel.buffer, 0, sequence)  # the request's number
        else:
            channel.full.wait()
        if HEADER.unpack_from(request)[1] == HEADER_BYTES:
            return
        reply[:] = request  # the echo: one copy from slot to slot
        if channel.spin:
            COUNTER.pack_into(channel.buffer, 8, sequence + 1)
        else:
            channel.free.post()
        sequence += 1


def shm_stream_values(channel: SharedChannel, size: int, value_seconds: float, values: int, warmup_s: float) -> list:
    expected = frames.frame(0, size)
    wrap = frames.window(size)
    clock, pack = time.perf_counter_ns, HEADER.pack_into
    consumed = 0
    calibration = Calibration(value_seconds, values, warmup_s)
    while not calibration.done():
        count = calibration.count
        t0 = clock()
        os.write(channel.control[1], frames.control(count))
        for index in range(count):
            if channel.spin:
                spin_until_above(channel.buffer, 0, consumed)  # produced > consumed
            else:
                channel.full.wait()
            pack(expected, 0, index % wrap, size)
            slot = channel.slot(consumed)
            if expected != slot:  # bytearray first: memcmp, where the frame lies
                raise frames.mismatch(index % wrap, expected, slot)
            consumed += 1
            if channel.spin:
                COUNTER.pack_into(channel.buffer, 8, consumed)
            else:
                channel.free.post()
        calibration.record(t0, clock(), count * size)
    os.write(channel.control[1], frames.control(0))
    return calibration.results


def shm_stream_server(channel: SharedChannel, size: int) -> None:
    out = frames.frame(0, size)
    wrap = frames.window(size)
    produced = 0
    while True:
        request = os.read(channel.control[0], HEADER_BYTES)
        if not request or frames.read_control(request) == 0:
            return
        for index in range(frames.read_control(request)):
            HEADER.pack_into(out, 0, index % wrap, size)
            if channel.spin:
                spin_until_above(channel.buffer, 8, produced - channel.slots)  # a free slot
            else:
                channel.free.wait()
            channel.slot(produced)[:] = out  # the one copy in
            produced += 1
            if channel.spin:
                COUNTER.pack_into(channel.buffer, 0, produced)
            else:
                channel.full.post()


# multiprocessing.Pipe and multiprocessing.Queue -----------------------------------------------


class MultiprocessingChannel:
    def __init__(self, kind: str) -> None:
        context = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing
        self.kind = kind
        if kind == "mp-pipe":
            self.client, self.server = context.Pipe()  # a socketpair on Linux, with a length header per message
            self.send = {"client": self.client.send_bytes, "server": self.server.send_bytes}
            self.receive = {"client": self.client.recv_bytes, "server": self.server.recv_bytes}
        else:
            self.requests, self.replies = context.Queue(), context.Queue()  # a pipe, a lock and a feeder thread each
            self.send = {"client": self.requests.put, "server": self.replies.put}
            self.receive = {"client": self.replies.get, "server": self.requests.get}

    def close(self, role: str) -> None:
        if self.kind == "mp-pipe":
            self.client.close()
            self.server.close()
        else:
            for queue in (self.requests, self.replies):
                queue.close()
                queue.join_thread()  # what was put is flushed before the process ends


def mp_latency_client(channel: MultiprocessingChannel, size: int, schedule: Schedule) -> frames.Checksum:
    send, receive = channel.send["client"], channel.receive["client"]
    out = frames.frame(0, size)
    clock, pack, unpack = time.perf_counter_ns, HEADER.pack_into, HEADER.unpack_from
    checksum, sequence = frames.Checksum(), 0
    while True:
        pack(out, 0, sequence, size)
        t0 = clock()
        send(bytes(out) if channel.kind == "mp-queue" else out)
        reply = receive()
        if len(reply) != size or unpack(reply) != (sequence, size):
            raise frames.header_error(sequence, size, reply)
        t1 = clock()
        checksum.add(out, reply)
        sequence += 1
        if not schedule.keep(t0, t1):
            break
    send(frames.control(0))
    checksum.verify()
    return checksum


def mp_latency_server(channel: MultiprocessingChannel) -> None:
    send, receive = channel.send["server"], channel.receive["server"]
    while len(data := receive()) != HEADER_BYTES:
        send(data)


def mp_stream_values(
    channel: MultiprocessingChannel, size: int, value_seconds: float, values: int, warmup_s: float
) -> list:
    send, receive = channel.send["client"], channel.receive["client"]
    expected = frames.frame(0, size)
    wrap = frames.window(size)
    clock = time.perf_counter_ns
    calibration = Calibration(value_seconds, values, warmup_s)
    while not calibration.done():
        count = calibration.count
        t0 = clock()
        send(frames.control(count))
        for index in range(count):
            data = receive()
            HEADER.pack_into(expected, 0, index % wrap, size)
            if expected != data:
                raise (
                    frames.mismatch(index % wrap, expected, data)
                    if len(data) == size
                    else frames.CorruptMessage(f"frame {index}: {len(data)} bytes where {size} were sent")
                )
        calibration.record(t0, clock(), count * size)
    send(frames.control(0))
    return calibration.results


def mp_stream_server(channel: MultiprocessingChannel, size: int) -> None:
    send, receive = channel.send["server"], channel.receive["server"]
    out = frames.frame(0, size)
    wrap = frames.window(size)
    while count := frames.read_control(receive()):
        for index in range(count):
            HEADER.pack_into(out, 0, index % wrap, size)
            send(bytes(out))  # a Queue pickles later, in its feeder thread: hand it a copy


# Files renamed into place ------------------------------------------------------------------


def put_file(directory: str, name: str, data) -> None:
    temporary = os.path.join(directory, name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    os.rename(temporary, os.path.join(directory, name))  # atomic: the reader sees no file, or all of it


def take_file(directory: str, name: str, size: int) -> bytes:
    """Poll until the file is there, read it, delete it."""
    path = os.path.join(directory, name)
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
            break
        except FileNotFoundError:
            os.sched_yield()  # nothing wakes a reader when a file appears: look again
    try:
        chunks = []
        while chunk := os.read(fd, size):
            chunks.append(chunk)
    finally:
        os.close(fd)
    os.unlink(path)
    return b"".join(chunks)


def files_latency_client(directory: str, size: int, schedule: Schedule) -> frames.Checksum:
    out = frames.frame(0, size)
    clock, unpack = time.perf_counter_ns, HEADER.unpack_from
    checksum, sequence = frames.Checksum(), 0
    while True:
        HEADER.pack_into(out, 0, sequence, size)
        t0 = clock()
        put_file(directory, "request", out)
        reply = take_file(directory, "reply", size)
        if len(reply) != size or unpack(reply) != (sequence, size):
            raise frames.header_error(sequence, size, reply)
        t1 = clock()
        checksum.add(out, reply)
        sequence += 1
        if not schedule.keep(t0, t1):
            break
    put_file(directory, "request", frames.control(0))
    checksum.verify()
    return checksum


def files_latency_server(directory: str, size: int) -> None:
    while len(request := take_file(directory, "request", size)) != HEADER_BYTES:
        put_file(directory, "reply", request)


def stream_unsupported(mechanism: str) -> Optional[str]:
    if mechanism == "files":
        return "latency only: a file has no stream, each message is a file of its own"
    if mechanism == "udp":
        return (
            "no flow control: a sender faster than its reader overflows the receive queue and datagrams "
            "are lost (make datagrams shows it)"
        )
    return None
