"""Each mechanism's channel, set up for the Python loops: made before fork(), finished in each process.

``open_channel(mechanism, directory, size)`` does what must happen before
fork() (pipe(), mkfifo(), socketpair(), bind() and listen(), ...); after the
fork each process calls ``channel.end("client")`` or ``channel.end("server")``
to finish its side (open() a FIFO, connect() or accept()) and gets an End.
The client sends requests and times; the server answers or streams.

Sockets stay blocking with no timeout: a timeout makes Python poll() before
every call, which would be measured too. The deadline is the worker's: its
parent ends the whole process group when it passes.
"""

from __future__ import annotations

import fcntl
import functools
import io
import os
import socket
from dataclasses import dataclass, field
from typing import Callable, Optional

from .. import stream
from .frames import HEADER

STREAMS = ("pipe", "fifo", "socketpair", "unix", "tcp4", "tcp6")
DATAGRAMS = ("unix-dgram", "udp")
UDP_MAX = 65507  # 65535 minus the IP and UDP headers
BIG_PIPE = 1024 * 1024  # what F_SETPIPE_SZ asks for (the default limit, /proc/sys/fs/pipe-max-size)
BIG_SOCKET = 4 * 1024 * 1024  # what SO_SNDBUF/SO_RCVBUF ask for (the kernel caps it at net.core.wmem_max/rmem_max)


class Unsupported(Exception):
    """This mechanism, size or path cannot run here; the message says why (the row is skipped)."""


@dataclass
class End:
    """One process's side of a channel: the calls its loops make, and what to close."""

    readinto: Callable  # (buffer) -> bytes read, 0 at end of file
    write: Callable  # (bytes) -> bytes written, maybe fewer than given: os.write, sock.send
    write_all: Callable  # (bytes) -> None, every byte written
    read: Callable  # (n) -> bytes: what the demos hand to MessageReader
    send: Callable  # (bytes) -> None: one datagram, or write_all on a stream
    write_fd: int  # where splice()/sendfile() put bytes
    datagram: bool = False
    closers: list = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


def fd_end(read_fd: int, write_fd: int) -> End:
    """A pipe or FIFO side: FileIO.readinto is one read() straight into our buffer."""
    reader = io.FileIO(read_fd, "rb", closefd=False)
    write = functools.partial(os.write, write_fd)
    write_all = functools.partial(stream.write_all, write)  # the project's loop: a pipe may take fewer bytes

    def close() -> None:
        os.close(read_fd)
        os.close(write_fd)

    return End(reader.readinto, write, write_all, lambda n: os.read(read_fd, n), write_all, write_fd, closers=[close])


def enlarge(sock: socket.socket) -> None:
    """Bigger socket buffers: fewer times a full buffer makes the writer sleep and the reader wake."""
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, BIG_SOCKET)


def socket_end(sock: socket.socket, datagram: bool = False) -> End:
    return End(
        sock.recv_into,
        sock.send,
        sock.sendall,
        sock.recv,
        sock.send if datagram else sock.sendall,
        sock.fileno(),
        datagram,
        [sock.close],
    )


class Channel:
    """Base: holds what was made before fork(); end(role) finishes one side in its process."""

    datagram = False

    def __init__(self) -> None:
        self._closers: list = []

    def end(self, role: str) -> End:
        raise NotImplementedError

    def close(self) -> None:
        """Close whatever this process still holds (used on every way out)."""
        while self._closers:
            try:
                self._closers.pop()()
            except OSError:
                pass


class PipeChannel(Channel):
    def __init__(self, big: bool = False) -> None:
        super().__init__()
        self.requests = os.pipe()  # client -> server
        self.replies = os.pipe()  # server -> client
        for fd in (*self.requests, *self.replies):
            self._closers.append(lambda fd=fd: os.close(fd))
        if big:
            if not hasattr(fcntl, "F_SETPIPE_SZ"):
                raise Unsupported("F_SETPIPE_SZ is Linux-only")
            for _, write_fd in (self.requests, self.replies):
                fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, BIG_PIPE)

    def end(self, role: str) -> End:
        mine = (self.replies[0], self.requests[1]) if role == "client" else (self.requests[0], self.replies[1])
        for fd in (*self.requests, *self.replies):
            if fd not in mine:
                os.close(fd)  # else a reader would never see end of file
        self._closers.clear()
        return fd_end(*mine)


class FifoChannel(Channel):
    def __init__(self, directory: str) -> None:
        super().__init__()
        self.requests = os.path.join(directory, "requests.fifo")
        self.replies = os.path.join(directory, "replies.fifo")
        for path in (self.requests, self.replies):
            os.mkfifo(path, 0o600)
            self._closers.append(lambda path=path: os.unlink(path))

    def end(self, role: str) -> End:
        # Both sides open requests first, then replies: opposite orders would deadlock in open().
        if role == "client":
            write_fd = os.open(self.requests, os.O_WRONLY)
            read_fd = os.open(self.replies, os.O_RDONLY)
        else:
            read_fd = os.open(self.requests, os.O_RDONLY)
            write_fd = os.open(self.replies, os.O_WRONLY)
        end = fd_end(read_fd, write_fd)
        if role == "server":  # both ends are open: the names are no longer needed
            end.closers.append(self.close)
        else:
            self._closers.clear()
        return end


class SocketPairChannel(Channel):
    def __init__(self, big: bool = False) -> None:
        super().__init__()
        self.pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closers.extend(sock.close for sock in self.pair)
        for sock in self.pair if big else ():
            enlarge(sock)

    def end(self, role: str) -> End:
        mine, other = self.pair if role == "client" else self.pair[::-1]
        other.close()
        self._closers.clear()
        return socket_end(mine)


class ListeningChannel(Channel):
    """Unix stream or TCP: the server listens before fork(), the client connects after."""

    def __init__(self, mechanism: str, directory: str, big: bool = False) -> None:
        super().__init__()
        self.big = big
        if mechanism == "unix":
            self.family, self.address = socket.AF_UNIX, os.path.join(directory, "server.sock")
        elif mechanism == "tcp4":
            self.family, self.address = socket.AF_INET, ("127.0.0.1", 0)
        else:
            if not socket.has_ipv6:
                raise Unsupported("this Python has no IPv6")
            self.family, self.address = socket.AF_INET6, ("::1", 0)
        self.listener = socket.socket(self.family, socket.SOCK_STREAM)
        self._closers.append(self.listener.close)
        try:
            self.listener.bind(self.address)
        except OSError as error:
            raise Unsupported(f"cannot bind {self.address}: {error.strerror}") from None
        if self.family == socket.AF_UNIX:
            self._closers.append(lambda: _unlink_quietly(self.address))
        self.listener.listen(1)
        self.address = self.listener.getsockname()

    def end(self, role: str) -> End:
        if role == "client":
            self.listener.close()
            sock = socket.socket(self.family, socket.SOCK_STREAM)
            sock.connect(self.address)
        else:
            sock, _ = self.listener.accept()
            self.close()  # the listener and its socket file are no longer needed
        self._closers.clear()
        if self.big:
            enlarge(sock)
        if self.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle holds small messages back
        return socket_end(sock)


class DatagramChannel(Channel):
    """Unix datagram or UDP: two bound sockets, each connect()ed to the other."""

    datagram = True

    def __init__(self, mechanism: str, directory: str, size: int) -> None:
        super().__init__()
        if mechanism == "udp" and size > UDP_MAX:
            raise Unsupported(f"a UDP datagram carries at most {UDP_MAX:,} bytes")
        family = socket.AF_UNIX if mechanism == "unix-dgram" else socket.AF_INET
        self.pair = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(2)]
        self._closers.extend(sock.close for sock in self.pair)
        if family == socket.AF_UNIX:
            addresses = [os.path.join(directory, f"{role}.sock") for role in ("client", "server")]
        else:
            addresses = [("127.0.0.1", 0)] * 2
        for sock, address in zip(self.pair, addresses):
            sock.bind(address)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, max(2 * size + 4096, 212992))
        self.pair[0].connect(self.pair[1].getsockname())
        self.pair[1].connect(self.pair[0].getsockname())
        if family == socket.AF_UNIX:
            for path in addresses:
                os.unlink(path)  # connected: the names are no longer needed
        room = self.pair[0].getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        if family == socket.AF_UNIX and size + 1024 > room:
            raise Unsupported(
                f"a {size:,}-byte datagram does not fit a send buffer of {room:,} bytes (raise net.core.wmem_max)"
            )

    def end(self, role: str) -> End:
        mine, other = self.pair if role == "client" else self.pair[::-1]
        other.close()
        self._closers.clear()
        return socket_end(mine, datagram=True)


def open_channel(mechanism: str, directory: str, size: int, path: str = "plain") -> Channel:
    if mechanism == "pipe":
        return PipeChannel(big="bigpipe" in path)
    if mechanism == "fifo":
        return FifoChannel(directory)
    if mechanism == "socketpair":
        return SocketPairChannel(big=path == "bigbuf")
    if mechanism in ("unix", "tcp4", "tcp6"):
        return ListeningChannel(mechanism, directory, big=path == "bigbuf")
    if mechanism in DATAGRAMS:
        return DatagramChannel(mechanism, directory, size)
    raise ValueError(f"no channel for {mechanism!r}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:  # the server already removed it after accept()
        pass


def memfd_of_frames(count: int, size: int, first_frame: bytes) -> int:
    """A file in memory holding count frames numbered from 0, for splice()/sendfile() to send from."""
    if not hasattr(os, "memfd_create"):
        raise Unsupported("memfd_create is Linux-only")
    frames = bytearray(first_frame) * count
    for sequence in range(1, count):
        HEADER.pack_into(frames, sequence * size, sequence, size)
    fd = os.memfd_create("ipc-bench-frames")
    try:
        view = memoryview(frames)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        raise
    return fd


def sender_path(path: str, end: End, memfd: Optional[int]) -> Callable[[int, int], None]:
    """send(offset, size): one frame from the memfd, through splice() or sendfile(); no copy in user space."""
    fd = end.write_fd
    if "splice" in path:
        if not hasattr(os, "splice"):
            raise Unsupported("os.splice needs Linux and Python 3.10")

        def send(offset: int, size: int) -> None:
            done = 0
            while done < size:
                done += os.splice(memfd, fd, size - done, offset_src=offset + done)

        return send

    def send(offset: int, size: int) -> None:
        done = 0
        while done < size:
            done += os.sendfile(fd, memfd, offset + done, size - done)

    return send
