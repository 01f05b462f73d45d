"""File client: sends the exchange's requests as files and polls for the answers.

What it shows
    The client's side of talking through regular files: each request is
    written as "PID.request.n.tmp" and renamed to "PID.request.n", so the
    server never reads half of one; the client then polls for "PID.reply.n",
    reads it and deletes it. Its names start with its pid, which no other
    live process has: a client started at the same moment uses names of its
    own, and neither reads the other's answers. Closing a file tells its
    reader nothing, so the client ends with an empty request file, its end
    marker: zero bytes, like the b"" a read() returns at the end of a pipe.
    Every wait has a deadline: nothing else would tell the client that the
    server died (or serves another client first). If it gives up, it removes
    the requests it left.

Run it
    python demos/file_client.py --dir DIR [--timeout SECONDS] [MESSAGE...]
    (start demos/file_server.py first; its ready line gives DIR)

System calls, in order
    for each request: open("PID.request.n.tmp", O_CREAT | O_EXCL), write(),
    close(), rename() to "PID.request.n" -> listdir() every 10 ms until
    "PID.reply.n" appears -> open(O_NOFOLLOW | O_NONBLOCK), read(), close(),
    unlink() it -> ... -> the end marker, an empty request file written the
    same way: open(), close(), rename().

Its peer
    demos/file_server.py.

Expected output
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: wrote an empty request, the end marker: the server stops looking
"""

import contextlib
import os
import sys
import time
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader, write_all

POLL = 0.01  # seconds between looks in the directory
TIMEOUT = program.CLIENT_PATIENCE  # seconds to wait for each answer
log = Log("client")


def put(directory: str, name: str, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it to its real name."""
    temporary = os.path.join(directory, name + ".tmp")  # same directory: rename() cannot cross file systems
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)  # O_EXCL: ours, not planted
    try:
        write_all(lambda chunk: os.write(fd, chunk), data)
    finally:
        os.close(fd)
    os.rename(temporary, os.path.join(directory, name))  # atomic: readers see no file, or all of it


def take(directory: str, name: str) -> Optional[str]:
    """The one message in a file (None if it is empty), then the file deleted: reading a pipe uses its bytes up."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a symlink or a FIFO there: refused, not waited on
    try:
        return MessageReader(lambda n: os.read(fd, n)).receive()
    finally:
        os.close(fd)
        os.unlink(path)


def wait_for(directory: str, name: str, timeout: float) -> None:
    """Look for the file until it is there."""
    deadline = time.monotonic() + timeout
    while name not in os.listdir(directory):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name} within {timeout:g} s: is a server using {directory}?")
        time.sleep(POLL)  # nothing can wake us when a file appears: look again later


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument(
        "--dir", type=program.non_empty, required=True, help="the server's directory (its ready line says)"
    )
    parser.add_argument(
        "--timeout",
        type=program.seconds(),
        default=TIMEOUT,
        help=f"seconds to wait for each answer (default {TIMEOUT:g}: longer than a server's default --idle, "
        f"{program.SERVER_IDLE:g} s, so one idle client ahead of us is dropped in time)",
    )
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    conversation = ClientConversation()
    me, n = os.getpid(), 0  # our names start with our pid: no other live process has it
    try:
        for n, request in enumerate(args.messages, start=1):
            message = encode(request)  # a request that cannot be sent is refused before it is said
            log.sent(message)
            put(args.dir, f"{me}.request.{n}", message)
            wait_for(args.dir, f"{me}.reply.{n}", args.timeout)
            reply = take(args.dir, f"{me}.reply.{n}")
            if reply is None:
                raise ConnectionError(f"{me}.reply.{n} is empty: the server ended the conversation")
            log.received(reply)
            conversation.check(request, reply)
    except BaseException:  # giving up: a request left unanswered would be served to no one
        for name in (f"{me}.request.{n}", f"{me}.request.{n}.tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(args.dir, name))
        raise
    put(args.dir, f"{me}.request.{len(args.messages) + 1}", b"")  # no close() makes an end of file: an empty file does
    log.say("wrote an empty request, the end marker: the server stops looking")


if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
