"""The kernel's deadlines the demos use (ipc.timeouts): SO_RCVTIMEO's timeval, one deadline per whole message.

A demo's sockets block as the lecture teaches them; SO_RCVTIMEO ends a recv() that waits too long (EAGAIN).
A message that comes in one recv() costs one setsockopt() for the whole conversation; a message cut in pieces
gets only what is left of its time, so a peer that sends a byte just before each recv() expires cannot stretch it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time

import pytest

from ipc.timeouts import Deadline, TimedReader, on_expiry, timeval


def test_a_timeval_is_seconds_and_microseconds_and_never_rounds_a_wait_down_to_none():
    assert timeval(0) == struct.pack("@ll", 0, 0)  # 0: no deadline
    assert timeval(2.5) == struct.pack("@ll", 2, 500_000)
    assert timeval(1e-9) == struct.pack("@ll", 0, 1)  # the shortest wait, not "for ever"


class Counting(socket.socket):
    """A socket that counts its setsockopt() calls."""

    options = 0

    def setsockopt(self, *args) -> None:
        self.options += 1
        super().setsockopt(*args)


@contextlib.contextmanager
def pair():
    ours, theirs = socket.socketpair()
    counting = Counting(fileno=os.dup(ours.fileno()))
    ours.close()
    with counting, theirs:
        yield counting, theirs


def test_whole_messages_cost_one_setsockopt_for_the_whole_conversation():
    with pair() as (sock, peer):
        reader = TimedReader(sock, 5.0, "no whole message in time")
        for line in ("hello", "how are you?", "bye"):
            peer.sendall(line.encode() + b"\n")
            assert reader.receive() == line
        assert sock.options == 1
        assert struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)) == (5, 0)


def test_a_message_cut_short_gets_only_what_is_left_of_its_time():
    with pair() as (sock, peer):
        reader = TimedReader(sock, 0.4, "no whole message within 0.4 s")
        peer.sendall(b"hel")  # and then nothing
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="no whole message within 0.4 s"):
            reader.receive()
        waited = time.monotonic() - started
        assert 0.35 < waited < 1.0  # one deadline for the message: not 0.4 s for each recv()
        assert sock.options == 2  # the first, and one with the time left, for the recv() after "hel"


def test_without_seconds_there_is_no_deadline_and_no_setsockopt():
    with pair() as (sock, peer):
        reader = TimedReader(sock, 0, "never said")
        peer.sendall(b"hello\n")
        assert reader.receive() == "hello"
        assert sock.options == 0


def test_one_deadline_for_several_datagrams_and_the_eagain_said_in_words():
    with pair() as (sock, peer):
        answers = Deadline(sock, 0.3, "no answer within 0.3 s")
        peer.send(b"a stray")
        assert answers.recv(100) == b"a stray"
        with pytest.raises(TimeoutError, match="no answer within 0.3 s"):
            answers.recv(100)  # what is left of the 0.3 s, not 0.3 s more
    with pair() as (sock, _), pytest.raises(TimeoutError, match="said so"), on_expiry("said so"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(0.05))
        sock.recv(1)  # EAGAIN: BlockingIOError, said as TimeoutError
