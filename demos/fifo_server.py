"""FIFO server: answers the exchange over two named pipes, one client after another.

What it shows
    A FIFO is a pipe with a name in the file system, so two processes that
    share no parent can find it: mkfifo() makes it, open() joins it. Opening
    one end blocks until some process opens the other end; the lines around
    each open() show the wait. Once open, it is a pipe: one-way, so two
    FIFOs, and end of file when the writer closes. One client at a time:
    two at once would mix their bytes in the same FIFOs.

Run it
    python demos/fifo_server.py [--clients N]      (or: make fifo)
    The ready line gives the private directory that holds the FIFOs; then
    python demos/fifo_client.py --dir DIR, or by hand in a shell:
    (echo hello; echo world) > DIR/requests & cat DIR/replies

System calls, in order
    mkdtemp() -> mkfifo(requests), mkfifo(replies) -> then per client:
    open(requests, O_RDONLY), blocking until a writer opens it ->
    open(replies, O_WRONLY), blocking until a reader opens it -> read()/
    write() until read() returns b"" -> close() both -> finally unlink()
    both and rmdir().

Its peer
    demos/fifo_client.py, or any program that opens the FIFOs in that order.

Expected output
    server[200]: ready: dir=/tmp/fifo-k2j4
    server[200]: opening requests FIFO for reading: blocks until a writer opens it
    server[200]: opened requests FIFO after 0.052 s: a client opened it for writing
    server[200]: opening replies FIFO for writing: blocks until a reader opens it
    server[200]: opened replies FIFO after 0.000 s
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: end of file: the client closed the requests FIFO
    server[200]: removed /tmp/fifo-k2j4/requests
    server[200]: removed /tmp/fifo-k2j4/replies
"""

import contextlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, write_all

log = Log("server")


def serve_client(requests_path: str, replies_path: str) -> None:
    log.say("opening requests FIFO for reading: blocks until a writer opens it")
    started = time.monotonic()
    requests = os.open(requests_path, os.O_RDONLY)  # a FIFO's open() waits until the other end is opened too
    log.say(f"opened requests FIFO after {time.monotonic() - started:.3f} s: a client opened it for writing")
    try:
        log.say("opening replies FIFO for writing: blocks until a reader opens it")
        started = time.monotonic()
        replies = os.open(replies_path, os.O_WRONLY)  # same order as the client: requests, then replies
        log.say(f"opened replies FIFO after {time.monotonic() - started:.3f} s")
        try:
            conversation = ServerConversation()
            for request in MessageReader(lambda n: os.read(requests, n)):
                log.received(request)
                reply = encode(conversation.reply_to(request))
                log.sent(reply)
                write_all(lambda data: os.write(replies, data), reply)
            log.say("end of file: the client closed the requests FIFO")
        except ProtocolError as error:  # tell the client what was wrong, then hang up on it
            log.say(f"error from the client: {error}")
            write_all(lambda data: os.write(replies, data), encode(error_reply(error)))
        finally:
            os.close(replies)  # the client's read() now returns b""
    finally:
        os.close(requests)


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=1, help="serve this many clients, then exit (default 1; 0: forever)")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="fifo-")  # mode 0700: only this user can reach the FIFOs
    requests_path = os.path.join(directory, "requests")
    replies_path = os.path.join(directory, "replies")
    try:
        os.mkfifo(requests_path, 0o600)  # client -> server
        os.mkfifo(replies_path, 0o600)  # server -> client
        log.ready(dir=directory)
        served = 0
        while args.clients == 0 or served < args.clients:
            try:
                serve_client(requests_path, replies_path)
            except BrokenPipeError:  # the client closed its replies FIFO before reading: one bad client, not the end
                log.say("the client closed the replies FIFO before reading its answer: next client")
            served += 1
    finally:
        for path in (requests_path, replies_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # a FIFO is a file: it outlives every process that used it until unlinked
                log.say(f"removed {path}")
        os.rmdir(directory)


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
