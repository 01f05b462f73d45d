r"""File server: answers the exchange through ordinary files in a directory, one client after another.

What it shows
    Processes can talk through regular files if no one ever reads a half-
    written one: each message is a file of its own, written under a
    temporary name, then rename()d into place. rename is atomic, so a reader
    finds no file or all of it. But no regular file can wake its reader:
    read() at its end returns b"" at once. So the waiting side polls, with a
    deadline, since nothing tells it its peer died. That is why pipes exist:
    a pipe's read() sleeps until there are bytes or EOF. Nor can a file tell
    two writers apart, so (as the FIFO server) each client uses names of its
    own, its pid first: PID.request.1, PID.reply.1, ... Two clients at once
    never read each other's answers; the server takes the one that has
    waited longest, and drops one that writes no next request for --idle
    seconds. And a directory others can write to may hold a name planted
    before we write it: the server creates each file with O_EXCL, so it never
    writes through a symlink someone left there.

Run it
    python demos/file_server.py [--dir DIR] [--clients N] [--idle SECONDS]      (or: make files)
    then python demos/file_client.py --dir DIR (DIR from the ready line), or in a shell:
    printf 'hi\n' >DIR/42.request.1.tmp && mv DIR/42.request.1.tmp DIR/42.request.1
    then  cat DIR/42.reply.1 && rm DIR/42.reply.1   and to end (an empty request is the end marker):
    touch DIR/42.request.2

System calls, in order
    mkdir() -> listdir() every 10 ms until some "PID.request.1" appears ->
    lstat() each (the oldest first) -> per request, n = 1, 2, ...:
    open(O_NONBLOCK | O_NOFOLLOW), fstat() (a regular file?), read(), close(),
    unlink() it -> open("PID.reply.n.tmp", O_CREAT | O_EXCL | O_NOFOLLOW),
    write(), close(), rename() it to "PID.reply.n" -> listdir() every 10 ms
    for "PID.request.n+1" ... until a request file is empty (the end marker)
    -> unlink() what is left of that client's -> finally remove the
    directory, if it made it.

Its peer
    demos/file_client.py, or a shell with printf, mv and cat.

Expected output
    server[200]: ready: dir=/tmp/ipc-files-k2j4
    server[200]: polling for a client's first request, PID.request.1, every 0.01 s: no file can wake its reader
    server[200]: client 300 is here: 300.request.1
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: 300.request.5 is empty: the client's end marker
"""

import os
import re
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
FIRST_REQUEST = re.compile(r"([0-9]+)\.request\.1")  # a client's first message: it is waiting to be served
log = Log("server")


def put(directory: str, name: str, data: bytes) -> None:
    """Write a whole file under a temporary name, then rename it to its real name."""
    temporary = os.path.join(directory, name + ".tmp")  # same directory: rename() cannot cross file systems
    # O_EXCL: a new file, made now by us; a name planted here before us (a symlink to write through) fails
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
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
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # what we really opened
            raise ProtocolError(f"{name} is not a regular file")
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


def next_client(directory: str) -> Optional[str]:
    """The client that has waited longest: the pid of the oldest PID.request.1 in the directory, if any."""
    waiting = []
    for name in os.listdir(directory):
        if match := FIRST_REQUEST.fullmatch(name):
            try:
                waiting.append((os.lstat(os.path.join(directory, name)).st_mtime_ns, match[1]))
            except FileNotFoundError:  # its client removed it as we looked
                continue
    return min(waiting)[1] if waiting else None


def serve_client(directory: str, client: str, idle: float) -> None:
    conversation = ServerConversation()
    deadline = float("inf")  # its first request is here already
    log.say(f"client {client} is here: {client}.request.1")
    while True:
        n = conversation.answered + 1
        wait_for(directory, f"{client}.request.{n}", deadline, idle)
        try:
            request = take(directory, f"{client}.request.{n}")
            if request is None:  # zero bytes: the client's end marker, its end of file
                log.say(f"{client}.request.{n} is empty: the client's end marker")
                return linger(directory, client, idle)  # answers it has not taken yet (it may send all first)
            log.received(request)
            reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit
        except ProtocolError as error:  # tell the client what was wrong, then stop answering it
            log.say(f"error from client {client}: {error}")
            reply = encode(error_reply(error))
            log.sent(reply)
            put(directory, f"{client}.reply.{n}", reply)
            return linger(directory, client, idle)
        log.sent(reply)
        put(directory, f"{client}.reply.{n}", reply)
        deadline = time.monotonic() + (idle or float("inf"))


def linger(directory: str, client: str, idle: float) -> None:
    """Let the client take our last answers: unlike bytes in a pipe, they stay for whoever comes next."""
    deadline = time.monotonic() + (idle or float("inf"))
    while any(name.startswith(f"{client}.reply.") for name in os.listdir(directory)) and time.monotonic() < deadline:
        time.sleep(POLL)


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)  # a symlink: the link goes, never what it points to


def clear(directory: str, client: Optional[str] = None) -> None:
    """Remove what a client left (every file, if client is None): it would pass for its next messages."""
    for name in os.listdir(directory):
        if client is None or name.startswith(f"{client}."):
            try:
                remove(os.path.join(directory, name))
            except FileNotFoundError:  # its client removed it as we went
                pass


def wait_for_client(directory: str) -> str:
    """Poll until a client's first request is there, however long: like a server in accept()."""
    while (client := next_client(directory)) is None:
        time.sleep(POLL)
    return client


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
        log.say(f"polling for a client's first request, PID.request.1, every {POLL:g} s: no file can wake its reader")
        served = 0
        while args.clients == 0 or served < args.clients:
            client, dropped = wait_for_client(directory), None
            try:
                serve_client(directory, client, args.idle)
            except TimeoutError as error:  # iterative: while one client dawdles, the others wait
                dropped = f"client {client} wrote nothing for {args.idle:g} s ({error})"
            except OSError as error:  # a name planted where we write, a file gone: one bad client is not the end
                dropped = f"client {client}: {program.describe(error)}"
            clear(directory, client)  # what it left would pass for its next messages
            if dropped:
                log.say(f"{dropped}: dropped, next client")
            served += 1
    finally:
        if made:
            shutil.rmtree(directory)  # with any message a client left behind
        else:
            clear(directory)


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
