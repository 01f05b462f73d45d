r"""File server: answers the exchange through ordinary files in a private directory.

What it shows
    Processes can talk through regular files if no one ever reads a half-
    written one: each message is a file of its own, written under a
    temporary name, then rename()d into place. rename is atomic, so a reader
    finds no file or all of it. (fcntl() locks on one shared file would also
    work, at the cost of a lock on every access.) But no regular file can
    wake its reader: read() at its end returns b"" at once. So the waiting
    side polls, with a deadline, since nothing tells it its peer died. That
    is why pipes exist: a pipe's read() sleeps until there are bytes or EOF.

Run it
    python demos/file_server.py [--clients N]      (or: make files)
    then python demos/file_client.py --dir DIR (DIR from the ready line), or in a shell:
    printf 'hi\n' >DIR/r.tmp && mv DIR/r.tmp DIR/request.1   then   cat DIR/reply.1 && rm DIR/reply.1
    (take the answer away, as the client does: a reply.1 left behind would pass for the next client's)
    and to end (an empty request is the end marker):   touch DIR/request.2

System calls, in order
    mkdtemp() -> then per client, for n = 1, 2, ...: listdir() every 10 ms
    until "request.n" appears -> open(), read(), close(), unlink() it ->
    open("reply.n.tmp"), write(), close(), rename() it to "reply.n" -> ...
    until a request file is empty (the end marker) -> finally remove the directory.

Its peer
    demos/file_client.py, or a shell with printf, mv and cat.

Expected output
    server[200]: ready: dir=/tmp/files-k2j4
    server[200]: polling for request.1 every 0.01 s: no file can wake its reader
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: request.5 is empty: the client's end marker
"""

import contextlib
import os
import shutil
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
TIMEOUT = 10.0  # a client silent this long in mid-conversation is taken for dead: no EOF will say so
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
    fd = os.open(path, os.O_RDONLY)
    try:
        return MessageReader(lambda n: os.read(fd, n)).receive()
    finally:
        os.close(fd)
        os.unlink(path)


def wait_for(directory: str, name: str, deadline: float) -> None:
    """Look for the file until it is there."""
    while name not in os.listdir(directory):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {name} within {TIMEOUT:g} s: the client is gone")
        time.sleep(POLL)  # nothing can wake us when a file appears: look again later


def linger(directory: str, name: str) -> None:
    """Let the client take our last answer: unlike bytes in a pipe, it goes when we remove the directory."""
    deadline = time.monotonic() + TIMEOUT
    while name in os.listdir(directory) and time.monotonic() < deadline:
        time.sleep(POLL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, name))  # never taken: it must not pass for a later client's answer


def serve_client(directory: str) -> None:
    conversation = ServerConversation()
    deadline = float("inf")  # the first request may be long in coming, like a client to accept()
    log.say(f"polling for request.1 every {POLL:g} s: no file can wake its reader")
    while True:
        n = conversation.answered + 1
        wait_for(directory, f"request.{n}", deadline)
        try:
            request = take(directory, f"request.{n}")
            if request is None:  # zero bytes: the client's end marker, its end of file
                log.say(f"request.{n} is empty: the client's end marker")
                return
            log.received(request)
            reply = conversation.reply_to(request)  # MessageTooLong if the answer would not fit: nothing said yet
        except ProtocolError as error:  # tell the client what was wrong, then stop answering it
            log.say(f"error from the client: {error}")
            put(directory, f"reply.{n}", encode(error_reply(error)))
            linger(directory, f"reply.{n}")
            return
        data = encode(reply)
        log.sent(data)
        put(directory, f"reply.{n}", data)
        deadline = time.monotonic() + TIMEOUT


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--clients", type=int, default=1, help="serve this many clients, then exit (default 1; 0: forever)")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="files-")  # mode 0700: only this user can put messages in it
    try:
        log.ready(dir=directory)
        served = 0
        while args.clients == 0 or served < args.clients:
            try:
                serve_client(directory)
            except TimeoutError as error:  # a client that went silent: give up on it, not on every later one
                log.say(f"error: {error}: next client")
                for name in os.listdir(directory):  # what it left would pass for the next client's messages
                    os.unlink(os.path.join(directory, name))
            served += 1
    finally:
        shutil.rmtree(directory)  # with any message a client left behind


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
