r"""File server: answers the exchange through ordinary files in a directory, one client after another.

What it shows
    Processes can talk through regular files if no one ever reads a half-
    written one: each message is a file of its own, written under a
    temporary name, then rename()d into place. rename is atomic, so a reader
    finds no file or all of it. (fcntl() locks on one shared file would also
    work, at the cost of a lock on every access.) But no regular file can
    wake its reader: read() at its end returns b"" at once. So the waiting
    side polls, with a deadline, since nothing tells it its peer died. That
    is why pipes exist: a pipe's read() sleeps until there are bytes or EOF.
    Nor can files tell two writers apart: one client at a time, and one that
    writes no next request for --idle seconds is dropped.

Run it
    python demos/file_server.py [--dir DIR] [--clients N] [--idle SECONDS]      (or: make files)
    then python demos/file_client.py --dir DIR (DIR from the ready line), or in a shell:
    printf 'hi\n' >DIR/r.tmp && mv DIR/r.tmp DIR/request.1   then   cat DIR/reply.1 && rm DIR/reply.1
    (take the answer away, as the client does: a reply.1 left behind would pass for the next client's)
    and to end (an empty request is the end marker):   touch DIR/request.2

System calls, in order
    mkdir() -> then per client, for n = 1, 2, ...: listdir() every 10 ms
    until "request.n" appears -> open(O_NONBLOCK | O_NOFOLLOW), fstat() (a
    regular file?), read(), close(), unlink() it -> open("reply.n.tmp"),
    write(), close(), rename() it to "reply.n" -> ... until a request file is
    empty (the end marker) -> finally remove the directory, if it made it.

Its peer
    demos/file_client.py, or a shell with printf, mv and cat.

Expected output
    server[200]: ready: dir=/tmp/ipc-files-k2j4
    server[200]: polling for request.1 every 0.01 s: no file can wake its reader
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: request.5 is empty: the client's end marker
"""

import os
import shutil
import stat
import sys
import tempfile
import time
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, write_all

POLL = 0.01  # seconds between looks in the directory
log = Log("server")


def put(directory: str, name: str, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it to its real name."""
    temporary = os.path.join(directory, name + ".tmp")  # same directory: rename() cannot cross file systems
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(lambda chunk: os.write(fd, chunk), data)
    finally:
        os.close(fd)
    os.rename(temporary, os.path.join(directory, name))  # atomic: readers see no file, or all of it


def take(directory: str, name: str) -> Optional[str]:
    """The one message in a file (None if it is empty), then the file deleted: reading a pipe uses its bytes up."""
    path = os.path.join(directory, name)
    if not stat.S_ISREG(os.lstat(path).st_mode):  # a directory, a symlink, a FIFO (whose open() would block us)
        remove(path)
        raise ProtocolError(f"{name} is not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)  # and if it changed since lstat(): never block
    try:
        reader = MessageReader(lambda n: os.read(fd, n))
        message = reader.receive()
        if message is not None and reader.receive() is not None:
            raise ProtocolError(f"{name} holds more than one message: one file, one message")
        return message
    finally:
        os.close(fd)
        os.unlink(path)


def wait_for(directory: str, name: str, deadline: float, idle: float) -> None:
    """Look for the file until it is there."""
    while name not in os.listdir(directory):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name} within {idle:g} s")
        time.sleep(POLL)  # nothing can wake us when a file appears: look again later


def serve_client(directory: str, idle: float) -> None:
    conversation = ServerConversation()
    deadline = float("inf")  # the first request may be long in coming, like a client to accept()
    log.say(f"polling for request.1 every {POLL:g} s: no file can wake its reader")
    while True:
        n = conversation.answered + 1
        wait_for(directory, f"request.{n}", deadline, idle)
        try:
            request = take(directory, f"request.{n}")
            if request is None:  # zero bytes: the client's end marker, its end of file
                log.say(f"request.{n} is empty: the client's end marker")
                return
            log.received(request)
            reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit
        except ProtocolError as error:  # tell the client what was wrong, then stop answering it
            log.say(f"error from the client: {error}")
            reply = encode(error_reply(error))
            log.sent(reply)
            put(directory, f"reply.{n}", reply)
            linger(directory, f"reply.{n}", idle)
            return clear(directory)  # what else the client wrote would pass for the next client's messages
        log.sent(reply)
        put(directory, f"reply.{n}", reply)
        deadline = time.monotonic() + (idle or float("inf"))


def linger(directory: str, name: str, idle: float) -> None:
    """Let the client take our last answer: unlike bytes in a pipe, it stays for whoever comes next."""
    deadline = time.monotonic() + (idle or float("inf"))
    while name in os.listdir(directory) and time.monotonic() < deadline:
        time.sleep(POLL)


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def clear(directory: str, keep: tuple = ("request.1", "request.1.tmp")) -> None:
    """Remove what a client left, which would pass for the next client's messages; keep a new client's first."""
    for name in set(os.listdir(directory)) - set(keep):
        remove(os.path.join(directory, name))


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--dir", type=program.non_empty, help="the directory to use (default: a new private one)")
    program.clients_options(parser, idle="drop a client that writes no next request")
    args = parser.parse_args()

    made = args.dir is None or not os.path.isdir(args.dir)
    directory = tempfile.mkdtemp(prefix="ipc-files-") if args.dir is None else args.dir  # 0700: our user only
    if args.dir is not None and made:
        os.mkdir(directory, 0o700)
    elif os.listdir(directory):  # not ours to clean: refuse it before touching it
        raise FileExistsError(f"{directory} is not empty: its files would pass for a client's messages")
    try:
        log.ready(dir=directory)
        served = 0
        while args.clients == 0 or served < args.clients:
            try:
                serve_client(directory, args.idle)
            except TimeoutError as error:  # iterative: while one client dawdles, the others wait
                log.say(f"the client wrote nothing for {args.idle:g} s ({error}): dropped, next client")
                clear(directory)
            served += 1
    finally:
        if made:
            shutil.rmtree(directory)  # with any message a client left behind
        else:
            clear(directory, keep=())


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
