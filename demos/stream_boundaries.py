r"""Stream boundaries: two writes, and the four ways one read can see them.

What it shows
    A stream keeps bytes and their order, not the writer's chunks. The writer
    sends "hello\n" (6 bytes), then "how are you?\n" (13 bytes); one read may
    return part of the first chunk, exactly the first, the first and part of
    the second, or both.

Run it
    python demos/stream_boundaries.py      (or: make boundaries)
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import encode
from ipc.stream import MessageReader
from ipc.timeouts import timeval

CHUNK1, CHUNK2 = encode("hello"), encode("how are you?")
TIMEOUT = 10.0  # seconds either side waits for the other before giving up
ROUNDS = (  # (bytes the reader asks for first, is chunk 2 written only after that read?, how it is provoked)
    (3, False, "asked for fewer bytes than it holds"),
    (4096, True, "asked for plenty, but chunk 2 was sent only after this read"),
    (len(CHUNK1) + 4, False, "both were waiting; asked for 4 bytes more than chunk 1"),
    (4096, False, "both were waiting; asked for plenty"),
)


def read_rounds() -> None:
    """The reader: a stream and a side channel, a writer child, then each round's reads."""
    log = Log("reader")
    sock, writer_sock = socket.socketpair()  # AF_UNIX, SOCK_STREAM: a stream, like TCP
    control, writer_control = socket.socketpair()
    for end in (sock, writer_sock, control, writer_control):  # a recv() that waits TIMEOUT s fails (EAGAIN)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))
    pid = os.fork()
    if pid == 0:  # the writer child: its errors are its own line; it never returns into the reader's code
        os._exit(program.child("writer", write, writer_sock, writer_control, (sock, control)))
    writer_sock.close()  # the writer's ends
    writer_control.close()
    try:
        for number, (first, late, how) in enumerate(ROUNDS, 1):
            if not late:
                wait_for(control)  # both chunks are in our socket now
            reader = MessageReader(round_reads(sock, number, first, how))  # each round starts on a line boundary
            for line in range(2):
                message = reader.receive()
                if message is None:
                    raise ConnectionError("the writer closed the stream in the middle of a round")
                log.received(message)
                if late and line == 0:
                    control.send(b"r")  # the writer may now send chunk 2
            control.send(b"d")  # round over
        log.say("the reads differed every round; the lines came out the same every round")
    finally:
        sock.close()
        control.close()  # if we failed, the writer's next wait ends at once
        _, status = os.waitpid(pid, 0)  # the writer ends by itself: its waits time out after TIMEOUT (SO_RCVTIMEO)
        log.say(f"writer {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def seen(count: int) -> str:
    """What a first read of `count` bytes caught, of the two chunks."""
    if count < len(CHUNK1):
        return "part of the first chunk"
    if count == len(CHUNK1):
        return "exactly the first chunk"
    return "the first chunk and part of the second" if count < len(CHUNK1 + CHUNK2) else "both chunks"


def wait_for(control: socket.socket) -> None:
    if not control.recv(1):  # one byte: "go on"
        raise ConnectionError("the other side went away")


def write(sock: socket.socket, control: socket.socket, readers_ends: tuple) -> None:
    """The writer child: two sendall()s per round, the second one before or after the reader's read."""
    for end in readers_ends:
        end.close()  # the reader's ends, ours only by inheritance
    log = Log("writer")
    for number, (_, late, _) in enumerate(ROUNDS, 1):
        wait = "wait for the reader's read, " if late else ""
        log.say(f"round {number}: sendall() {len(CHUNK1)} bytes, {wait}sendall() {len(CHUNK2)} bytes")
        sock.sendall(CHUNK1)  # on a socketpair the bytes are in the reader's socket when sendall() returns
        if late:
            wait_for(control)  # chunk 2 goes only once the reader has read
        sock.sendall(CHUNK2)
        if not late:
            control.send(b"w")  # tell the reader: both chunks are waiting in your socket
        wait_for(control)  # the reader has finished this round


def round_reads(sock: socket.socket, number: int, first: int, how: str):
    """MessageReader's read for one round: its first recv() asks for this round's size, and says what it got."""
    sizes = []

    def read(n: int) -> bytes:
        size = n if sizes else first
        data = sock.recv(size)
        sizes.append(len(data))
        caught = f": {seen(len(data))} ({how})" if len(sizes) == 1 else ""
        Log("reader").say(f"round {number}: recv({size}) -> {len(data)} bytes {data!r}{caught}")
        return data

    return read


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.parse_args()
    read_rounds()


DETAILS = r"""
What else it shows
    Each round provokes one case for real on a stream socket: the reader picks
    how many bytes it asks for, and the writer sends chunk 2 before or after
    that read, told when by notes on a side channel (no sleeps, no luck). The
    fix is framing: one message is one line, and the one read loop
    (ipc.stream.MessageReader) gives the same two lines each time.

System calls, in order
    socketpair() twice (the stream; a side channel for notes) ->
    setsockopt(SO_RCVTIMEO) on each end (no wait lasts over 10 s) -> fork() ->
    per round: writer sendall() chunk 1, [waits for a note], sendall() chunk 2;
    reader recv(N), N chosen by the round, then recv() until the lines are
    whole -> the writer _exit()s; the reader waitpid()s.

Its peer
    The writer child, forked from the same program.

Expected output (pids vary)
    writer[101]: round 1: sendall() 6 bytes, sendall() 13 bytes
    reader[100]: round 1: recv(3) -> 3 bytes b'hel': part of the first chunk (asked for fewer bytes than it holds)
    reader[100]: round 1: recv(4096) -> 16 bytes b'lo\nhow are you?\n'
    reader[100]: received "hello"
    reader[100]: received "how are you?"
    ... round 2: exactly the first chunk; 3: the first and part of the second; 4: both chunks
    reader[100]: the reads differed every round; the lines came out the same every round
    reader[100]: writer 101 exited with status 0
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "reader"))
