"""Clients written with raw system calls, one kind per mechanism, all with the same few verbs.

The conformance suite (ipc.check.suite) talks to every server through these:
``send`` raw bytes, ``end`` (the client's end of file), ``receive`` the next
message through the project's one read loop (a stream keeps no boundaries, so
never one ``recv`` per line), ``reset`` (leave with an answer unread),
``close``. Every wait has a deadline; what goes wrong raises CheckFailed in
words (NoAnswer when nothing came in time), never an assertion.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import select
import shutil
import socket
import tempfile
import time
from typing import Callable, Optional

from ..protocol import ERROR_PREFIX, ProtocolError
from ..stream import MessageReader
from .failure import CheckFailed, NoAnswer, PeerLeft, PeerReset

DEADLINE = 5.0  # seconds to wait for one answer, one connection, one open()


def read_before(fd: int, deadline: float = DEADLINE) -> Callable[[int], bytes]:
    """os.read for MessageReader, raising NoAnswer when nothing comes within the deadline."""

    def read(n: int) -> bytes:
        ready, _, _ = select.select([fd], [], [], deadline)
        if not ready:
            raise NoAnswer(f"nothing came back within {deadline:g} s")
        return os.read(fd, n)

    return read


def open_before(path: str, flags: int, deadline: float = DEADLINE) -> int:
    """open() of a FIFO for writing, with a deadline: with O_NONBLOCK it fails with ENXIO while no reader has it."""
    end = time.monotonic() + deadline
    while True:
        try:
            fd = os.open(path, flags | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != errno.ENXIO:
                raise CheckFailed(f"cannot open {path}: {error.strerror}") from None
            if time.monotonic() >= end:
                raise NoAnswer(f"no one opened {path} for reading within {deadline:g} s") from None
            time.sleep(0.005)  # the server has not opened its end yet: look again
            continue
        os.set_blocking(fd, True)
        return fd


class Peer:
    """A client's side of one conversation (a context manager: closed on the way out)."""

    deadline = DEADLINE
    reader: MessageReader

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
        try:
            return self.reader.receive()
        except (socket.timeout, TimeoutError):
            raise NoAnswer(f"nothing came back within {self.deadline:g} s") from None
        except ConnectionResetError:
            raise PeerReset(
                "the connection was reset (ECONNRESET): the server closed it with bytes unread, or ended"
            ) from None
        except ProtocolError as error:
            raise CheckFailed(f"what came back breaks the exchange: {error}") from None

    def replies(self) -> list[str]:
        """Every message until the server's end of file."""
        return list(iter(self.receive, None))

    def reset(self) -> None:
        """Leave with the answer to what was sent unread."""
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class SocketPeer(Peer):
    def __init__(self, family: int, where: object, deadline: float = DEADLINE):
        self.deadline = deadline
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(deadline)
        try:
            self.sock.connect(where)
        except OSError as error:
            self.sock.close()
            raise CheckFailed(f"cannot connect to {_shown(where)}: {error.strerror or error}") from None
        self.reader = MessageReader(self.sock.recv)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except BrokenPipeError:
            raise PeerLeft("the server hung up while we were sending (EPIPE)") from None
        except ConnectionResetError:
            raise PeerReset("the server reset the connection while we were sending (ECONNRESET)") from None
        except socket.timeout:
            raise NoAnswer(f"the server took none of our bytes within {self.deadline:g} s") from None

    def end(self) -> None:
        with contextlib.suppress(OSError):  # already reset by the server: the next receive() says so
            self.sock.shutdown(socket.SHUT_WR)  # our end of file; the answers can still come back

    def reset(self) -> None:
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # the answer is here, unread: close() now sends a reset (TCP: RST)
        except socket.timeout:
            raise NoAnswer(f"nothing came back within {self.deadline:g} s") from None
        self.close()

    def close(self) -> None:
        self.sock.close()


class FifoPeer(Peer):
    """demos/fifo_client.py by hand: two FIFOs named by a number, announced on the server's well-known FIFO."""

    numbers = itertools.count(os.getpid() * 1000)  # unique names for several clients of one run

    def __init__(self, directory: str, deadline: float = DEADLINE):
        self.deadline = deadline
        self.number = next(self.numbers)
        self.paths = [os.path.join(directory, f"{self.number}.{name}") for name in ("requests", "replies")]
        self.requests_fd = self.replies_fd = -1
        try:
            for path in self.paths:
                os.mkfifo(path, 0o600)
            hello = open_before(os.path.join(directory, "server"), os.O_WRONLY, deadline)
            os.write(hello, f"{self.number}\n".encode())
            os.close(hello)
            self.requests_fd = open_before(self.paths[0], os.O_WRONLY, deadline)  # once the server opened it to read
            # Opened for reading at once (O_NONBLOCK); the first read waits in select() until the server has
            # opened its end and written (Linux: a FIFO no writer has opened yet does not poll as end of file).
            self.replies_fd = os.open(self.paths[1], os.O_RDONLY | os.O_NONBLOCK)
        except BaseException:
            self.close()
            raise
        self.reader = MessageReader(read_before(self.replies_fd, deadline))

    def send(self, data: bytes) -> None:
        try:
            os.write(self.requests_fd, data)
        except BrokenPipeError:
            raise PeerLeft("the server closed the requests FIFO while we were writing (EPIPE)") from None

    def end(self) -> None:
        os.close(self.requests_fd)
        self.requests_fd = -1

    def reset(self) -> None:
        if not select.select([self.replies_fd], [], [], self.deadline)[0]:  # the answer is here (the server opened it)
            raise NoAnswer(f"nothing came back within {self.deadline:g} s")
        os.close(self.replies_fd)  # unread, and no reader left: the server's next write to it fails with EPIPE
        self.replies_fd = -1
        with contextlib.suppress(BrokenPipeError):
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
    """A filter behind two pipes, its stdin and stdout: each conversation is a process of its own.

    ``program`` is launched with stdin and stdout as pipes (ipc.check.launch); ``code`` is its exit
    code once closed."""

    def __init__(self, program, deadline: float = DEADLINE):
        self.program, self.deadline = program, deadline
        self.code: Optional[int] = None
        self.reader = MessageReader(read_before(program.popen.stdout.fileno(), deadline))

    def send(self, data: bytes) -> None:
        try:
            os.write(self.program.popen.stdin.fileno(), data)
        except BrokenPipeError:
            raise PeerLeft("the program closed its stdin while we were writing (EPIPE)") from None

    def end(self) -> None:
        self.program.popen.stdin.close()

    def reset(self) -> None:
        self.program.popen.stdout.close()  # no reader left: the program's next write to it fails with EPIPE
        with contextlib.suppress(BrokenPipeError):
            self.send(b"and another\n")
        self.close()

    def close(self) -> None:
        if not self.program.popen.stdin.closed:
            self.program.popen.stdin.close()
        if not self.program.popen.stdout.closed:
            self.program.popen.stdout.close()  # a write to it now fails with EPIPE
        self.code = self.program.finish(self.deadline)


class FilePeer(Peer):
    """demos/file_client.py by hand: each line a file of its own, written as NAME.tmp and renamed to ID.request.N."""

    numbers = itertools.count(os.getpid() * 1000)  # names of its own, as a client's pid gives them

    def __init__(self, directory: str, deadline: float = DEADLINE):
        self.directory, self.deadline = directory, deadline
        self.number = next(self.numbers)
        self.pending = b""  # bytes of a message not yet whole: still in ID.request.N.tmp
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
        name = f"{self.number}.reply.{self.taken}"
        path = os.path.join(self.directory, name)
        end = time.monotonic() + self.deadline
        while not os.path.exists(path):  # a file cannot wake its reader: poll, with a deadline
            if time.monotonic() > end:
                raise NoAnswer(f"no {name} within {self.deadline:g} s")
            time.sleep(0.005)
        with open(path, "rb") as file:
            try:
                reply = MessageReader(file.read).receive()
            except ProtocolError as error:
                raise CheckFailed(f"{name} breaks the exchange: {error}") from None
        os.unlink(path)
        self.over = reply is None or reply.startswith(ERROR_PREFIX)
        return reply

    def close(self) -> None:
        pass  # nothing is open between two messages: a client that leaves just stops writing files


class DatagramPeer(Peer):
    """A datagram client: one datagram per message, an empty one for the end; a Unix one binds a path of its own."""

    def __init__(self, family: int, where: object, deadline: float = DEADLINE):
        self.where, self.own, self.deadline = where, None, deadline
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.settimeout(deadline)
        if family == socket.AF_UNIX:  # else the server has no address to answer to
            self.own = os.path.join(tempfile.mkdtemp(), "client.sock")
            self.sock.bind(self.own)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.where)
        except OSError as error:
            raise CheckFailed(f"cannot send to {_shown(self.where)}: {error.strerror or error}") from None

    def end(self) -> None:
        self.send(b"")

    def receive(self) -> Optional[str]:
        try:
            return self.sock.recv(1 << 16).decode("utf-8", "backslashreplace")
        except socket.timeout:
            raise NoAnswer(f"no datagram came back within {self.deadline:g} s") from None
        except OSError as error:  # ECONNREFUSED: an ICMP "port unreachable" came back, no one is bound there
            raise CheckFailed(f"no answer: {error.strerror or error}") from None

    def close(self) -> None:
        self.sock.close()
        if self.own:
            shutil.rmtree(os.path.dirname(self.own), ignore_errors=True)
            self.own = None


def _shown(where: object) -> str:
    return where if isinstance(where, str) else f"{where[0]}:{where[1]}"  # a path, or (host, port)
