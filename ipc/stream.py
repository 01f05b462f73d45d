"""The one read loop, written once, and its twin for writing.

A read on a pipe or a stream socket returns whatever bytes are there: part
of a message, exactly one, or several at once. Nothing keeps the sender's
chunks apart. So a reader must read again until a whole message is in hand,
and must stop, not spin, when read returns b"" (end of file).

Demos pass in the call that does the reading (``os.read`` on an fd,
``sock.recv``) so the system call stays visible where it is taught. The
framing is the decoder's: the exchange's lines by default, or any decoder
with the same two methods (ipc.http_messages frames HTTP requests and responses).
"""

from __future__ import annotations

from typing import Callable, Iterator

from .protocol import END, MAX_MESSAGE_BYTES, NEED_DATA, Decoder

CHUNK_SIZE = 4096


class MessageReader:
    """Whole messages from a byte source, restarting after short reads.

    ``read(n)`` must return up to n bytes, and b"" at end of file, the way
    ``os.read(fd, n)`` and ``sock.recv(n)`` do. ``decoder`` (``feed(data)``,
    ``next_message()`` giving a message, NEED_DATA or END) cuts the bytes into
    messages; by default, the exchange's lines.
    """

    def __init__(self, read: Callable[[int], bytes], *, max_bytes: int = MAX_MESSAGE_BYTES, decoder=None):
        self._read = read
        self._decoder = decoder if decoder is not None else Decoder(max_bytes)
        self.reads = 0  # how many read calls it took, for demos that show it

    def receive(self):
        """The next message (a str, or what the decoder gives), or None when the peer closed between messages."""
        while True:
            message = self._decoder.next_message()
            if message is END:
                return None
            if message is not NEED_DATA:
                return message
            self._decoder.feed(self._read(CHUNK_SIZE))  # may be a few bytes, or b"" at EOF
            self.reads += 1

    def __iter__(self) -> Iterator[str]:
        while (message := self.receive()) is not None:
            yield message


def write_all(write: Callable[[bytes], int], data: bytes) -> None:
    """Write every byte: a write may take fewer than it was given, so loop.

    ``write(data)`` returns how many bytes it took, like ``os.write(fd, data)``
    and ``sock.send(data)``.
    """
    if not data:
        return  # nothing to write: no call at all (an empty send() on a datagram socket would send something)
    written = write(data)
    if written == len(data):  # the usual case: the kernel took it all at once
        return
    view = memoryview(data)[written:]
    while view:
        view = view[write(view) :]
