"""Clients written with raw system calls, one kind per server program, all with the same few verbs.

The conformance suite (test_conformance.py) runs one set of tests over every
server through these: ``send`` raw bytes, ``end`` (the client's end of file),
``receive`` the next message through the project's one read loop (a stream
keeps no boundaries, so never one ``recv`` per line), ``reset`` (leave with an
answer unread), ``close``. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import select
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from support import DEADLINE, Program

from ipc.protocol import ERROR_PREFIX
from ipc.stream import MessageReader


def read_before(fd: int, deadline: float = DEADLINE) -> Callable[[int], bytes]:
    """os.read for MessageReader, failing the test when nothing comes within the deadline."""

    def read(n: int) -> bytes:
        ready, _, _ = select.select([fd], [], [], deadline)
        assert ready, f"nothing to read on fd {fd} within {deadline} s"
        return os.read(fd, n)

    return read


def open_before(path: str, flags: int, deadline: float = DEADLINE) -> int:
    """open() of a FIFO for writing, with a deadline: with O_NONBLOCK it fails with ENXIO while no reader has it."""
    end = time.monotonic() + deadline
    while True:
        try:
            fd = os.open(path, flags | os.O_NONBLOCK)
        except OSError as error:
            assert error.errno == errno.ENXIO and time.monotonic() < end, f"cannot open {path}: {error}"
            time.sleep(0.005)  # the server has not opened its end yet: look again
            continue
        os.set_blocking(fd, True)
        return fd


class Peer:
    """A client's side of one conversation (a context manager: closed on the way out)."""

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def receive(self) -> Optional[str]:
        """The next message from the server, or None at its end of file."""
        return self.reader.receive()

    def replies(self) -> list[str]:
        """Every message until the server's end of file."""
        return list(iter(self.receive, None))

    def reset(self) -> None:
        """Leave with the answer to what was sent unread."""
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class SocketPeer(Peer):
    def __init__(self, family: int, where: object):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(DEADLINE)
        try:
            self.sock.connect(where)
        except OSError:
            self.sock.close()
            raise
        self.reader = MessageReader(self.sock.recv)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def end(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)  # our end of file; the answers can still come back

    def reset(self) -> None:
        self.sock.recv(1, socket.MSG_PEEK)  # the answer is here, unread: close() now sends a reset (TCP: RST)
        self.close()

    def close(self) -> None:
        self.sock.close()


class FifoPeer(Peer):
    """demos/fifo_client.py by hand: two FIFOs named by a number, announced on the server's well-known FIFO."""

    numbers = itertools.count(os.getpid() * 1000)  # unique names for several clients of one test

    def __init__(self, directory: str):
        self.number = next(self.numbers)
        self.paths = [os.path.join(directory, f"{self.number}.{name}") for name in ("requests", "replies")]
        self.requests_fd = self.replies_fd = -1
        for path in self.paths:
            os.mkfifo(path, 0o600)
        try:
            hello = open_before(os.path.join(directory, "server"), os.O_WRONLY)
            os.write(hello, f"{self.number}\n".encode())
            os.close(hello)
            self.requests_fd = open_before(self.paths[0], os.O_WRONLY)  # once the server has opened it to read
            # Opened for reading at once (O_NONBLOCK); the first read waits in select() until the server has
            # opened its end and written (Linux: a FIFO no writer has opened yet does not poll as end of file).
            self.replies_fd = os.open(self.paths[1], os.O_RDONLY | os.O_NONBLOCK)
        except BaseException:
            self.close()
            raise
        self.reader = MessageReader(read_before(self.replies_fd))

    def send(self, data: bytes) -> None:
        os.write(self.requests_fd, data)

    def end(self) -> None:
        os.close(self.requests_fd)
        self.requests_fd = -1

    def reset(self) -> None:
        assert select.select([self.replies_fd], [], [], DEADLINE)[0]  # the answer is here (so the server opened it)
        os.close(self.replies_fd)  # unread, and no reader left: the server's next write to it fails with EPIPE
        self.replies_fd = -1
        os.write(self.requests_fd, b"and another\n")
        self.close()

    def close(self) -> None:
        for fd in (self.requests_fd, self.replies_fd):
            if fd >= 0:
                os.close(fd)
        self.requests_fd = self.replies_fd = -1
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.paths = []


class StdioPeer(Peer):
    """demos/stdio_server.py behind two pipes: each conversation is a server process of its own."""

    def __init__(self, *args: str):
        self.program = Program("stdio_server.py", *args, stdin=subprocess.PIPE)
        self.reader = MessageReader(read_before(self.program.popen.stdout.fileno()))

    def send(self, data: bytes) -> None:
        os.write(self.program.popen.stdin.fileno(), data)

    def end(self) -> None:
        self.program.popen.stdin.close()

    def reset(self) -> None:
        self.program.popen.stdout.close()  # no reader left: the server's next write to it fails with EPIPE
        self.send(b"and another\n")
        self.close()

    def close(self) -> None:
        if not self.program.popen.stdin.closed:
            self.program.popen.stdin.close()
        if not self.program.popen.stdout.closed:
            self.program.popen.stdout.close()  # a write to it now fails with EPIPE
        self.code = self.program.finish()[0]


class FilePeer(Peer):
    """demos/file_client.py by hand: each line a file of its own, written as NAME.tmp and renamed to ID.request.N."""

    numbers = itertools.count(os.getpid() * 1000)  # names of its own, as a client's pid gives them

    def __init__(self, directory: str):
        self.directory = directory
        self.number = next(self.numbers)
        self.pending = b""  # bytes of a message not yet whole: still in request.N.tmp
        self.written = self.taken = 0
        self.over = False  # the server ended the conversation: an error, or our end marker
        self.ended = False  # we wrote the end marker

    def _put(self, data: bytes) -> None:
        self.written += 1
        temporary = os.path.join(self.directory, f"{self.number}.request.{self.written}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
        os.rename(temporary, os.path.join(self.directory, f"{self.number}.request.{self.written}"))

    def send(self, data: bytes) -> None:
        self.pending += data
        while b"\n" in self.pending:  # a whole line: its file is complete, rename it into place
            line, self.pending = self.pending.split(b"\n", 1)
            self._put(line + b"\n")

    def end(self) -> None:
        self.ended = not self.pending  # an empty file is the end marker; a cut message is answered with an error
        self._put(self.pending)
        self.pending = b""

    def receive(self) -> Optional[str]:
        if self.over or (self.ended and self.taken == self.written - 1):
            return None
        self.taken += 1
        path = os.path.join(self.directory, f"{self.number}.reply.{self.taken}")
        end = time.monotonic() + DEADLINE
        while not os.path.exists(path):  # a file cannot wake its reader: poll, with a deadline
            assert time.monotonic() < end, f"no {self.number}.reply.{self.taken} within {DEADLINE} s"
            time.sleep(0.005)
        with open(path, "rb") as file:
            reply = MessageReader(file.read).receive()
        os.unlink(path)
        self.over = reply is None or reply.startswith(ERROR_PREFIX)
        return reply

    def close(self) -> None:
        pass  # nothing is open between two messages: a client that leaves just stops writing files


class DatagramPeer(Peer):
    """A datagram client: one datagram per message, an empty one for the end; a Unix one binds a path of its own."""

    def __init__(self, family: int, where: object):
        self.where, self.own = where, None
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(DEADLINE)
        if family == socket.AF_UNIX:  # else the server has no address to answer to
            self.own = os.path.join(tempfile.mkdtemp(), "client.sock")
            self.sock.bind(self.own)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.where)

    def end(self) -> None:
        self.sock.sendto(b"", self.where)

    def receive(self) -> Optional[str]:
        return self.sock.recv(1 << 16).decode("utf-8", "backslashreplace")

    def close(self) -> None:
        self.sock.close()
        if self.own and os.path.exists(self.own):
            os.unlink(self.own)
            os.rmdir(os.path.dirname(self.own))


@dataclass
class Mechanism:
    """One server program and the raw client that talks to it."""

    name: str
    script: str
    args: tuple = ()
    connect: Callable[[dict], Peer] = None  # the server's ready fields -> a new client
    concurrent: bool = False  # serves several clients at once
    one_process_per_client: bool = False  # stdio_server: no "next client" for one process
    resets: bool = True  # a client can leave with unread data and the server see a reset
    files: bool = False
    family: Optional[int] = None  # a socket server's address family

    @contextlib.contextmanager
    def server(self, *extra: str) -> Iterator[Optional[Program]]:
        """The server, running (serving forever) until the block ends; then SIGTERM, and it must exit 143."""
        if self.one_process_per_client:
            yield None
            return
        with Program(self.script, *self.args, *extra) as program:
            program.ready()
            yield program
            assert program.stop() == 143, program.lines
        assert not any("Traceback" in line for line in program.lines), program.lines


def tcp(fields: dict) -> Peer:
    return SocketPeer(socket.AF_INET, (fields["host"], int(fields["port"])))


def unix(fields: dict) -> Peer:
    return SocketPeer(socket.AF_UNIX, fields["path"])


STREAM_SERVERS = [
    Mechanism("tcp", "tcp_server.py", ("--host", "127.0.0.1"), tcp, family=socket.AF_INET),
    Mechanism("unix", "unix_stream_server.py", (), unix, family=socket.AF_UNIX),
    Mechanism("fifo", "fifo_server.py", (), lambda fields: FifoPeer(fields["dir"])),
    Mechanism("stdio", "stdio_server.py", (), lambda fields: StdioPeer(), one_process_per_client=True),
    Mechanism("fork-server", "fork_server.py", (), tcp, concurrent=True, family=socket.AF_INET),
    Mechanism("select-server", "select_server.py", (), tcp, concurrent=True, family=socket.AF_INET),
    Mechanism("files", "file_server.py", (), lambda fields: FilePeer(fields["dir"]), resets=False, files=True),
]


DATAGRAM_SERVERS = [
    Mechanism(
        "udp4",
        "udp_server.py",
        ("--host", "127.0.0.1"),
        lambda fields: DatagramPeer(socket.AF_INET, (fields["host"], int(fields["port"]))),
        family=socket.AF_INET,
    ),
    Mechanism(
        "udp6",
        "udp_server.py",
        ("--host", "::1"),
        lambda fields: DatagramPeer(socket.AF_INET6, (fields["host"], int(fields["port"]))),
        family=socket.AF_INET6,
    ),
    Mechanism(
        "unix-dgram",
        "unix_dgram_server.py",
        (),
        lambda fields: DatagramPeer(socket.AF_UNIX, fields["path"]),
        family=socket.AF_UNIX,
    ),
]
