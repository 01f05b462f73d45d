r"""FIFO server: answers the exchange over named pipes, two of them per client, one client after another.

What it shows
    A FIFO is a pipe with a name in the file system, so two processes that
    share no parent can find it: mkfifo() makes it, open() joins it, and
    open() blocks until some process opens the other end. A FIFO cannot tell
    its writers apart, so (as TLPI's fifo_seqnum server) clients only say
    who they are, their pid, on the server's well-known FIFO, and each brings
    two FIFOs of its own, named by its pid: PID.requests and PID.replies.

Run it
    python demos/fifo_server.py [--dir DIR] [--clients N] [--idle SECONDS]   (or: make fifo)
    then python demos/fifo_client.py --dir DIR (DIR from the ready line)
"""

import contextlib
import os
import stat
import sys
import tempfile
from typing import Iterator, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, write_all
from ipc.timeouts import alarm

log = Log("server")


def serve(directory: str, clients: int, idle: float) -> None:
    well_known = os.path.join(directory, "server")
    try:
        os.mkfifo(well_known, 0o600)  # clients say who they are here
    except FileExistsError:
        raise FileExistsError(
            f"{well_known} is in use: another server runs there, or a dead one left it (remove it if none runs)"
        ) from None
    try:
        log.ready(dir=directory)
        log.say(f"waiting for a client on {well_known}: open() blocks until one opens it to write")
        hello = os.open(well_known, os.O_RDONLY)  # blocks until a client opens it for writing
        spare = os.open(well_known, os.O_WRONLY)  # a write end of our own: read() never sees end of file
        try:  # ...between two clients, when a client's pid written just then would be lost with the FIFO's buffer
            serve_clients(hello, well_known, directory, clients, idle)
        finally:
            os.close(spare)
            os.close(hello)
    finally:
        os.unlink(well_known)  # a FIFO is a file: it outlives every process that used it until unlinked
        log.say(f"removed {well_known}")


def serve_clients(hello: int, well_known: str, directory: str, clients: int, idle: float) -> None:
    """Read pids from the well-known FIFO and serve each client in turn, `clients` of them (0: for ever)."""
    served = 0
    while True:
        try:
            for line in MessageReader(lambda n: os.read(hello, n), max_bytes=32):  # a pid per line
                pid = client_pid(line)
                if pid is None:
                    log.say(f"ignored {line[:40]!r} on {well_known}: not a client's pid")
                    continue
                with one_bad_client(pid, idle):
                    serve_client(directory, pid, idle)
                served += 1
                if served == clients:
                    return
            return  # end of file: never, while our spare write end is open
        except ProtocolError as error:  # a stranger's bytes: dropped, with whatever else was read with them
            log.say(f"ignored bytes on {well_known} that are no client's pid ({error})")


def serve_client(directory: str, pid: int, idle: float) -> None:
    """One conversation, over the client's own two FIFOs; every wait ends after `idle` seconds."""
    paths = [os.path.join(directory, f"{pid}.{name}") for name in ("requests", "replies")]
    for path in paths:  # lstat(), not stat(): the name itself, never what a planted symlink points to
        if not stat.S_ISFIFO(os.lstat(path).st_mode):  # a stranger's name must not make us open a file
            raise FileNotFoundError(f"{pid}.requests and {pid}.replies are not both FIFOs")
    log.say(f"client {pid} is here; opening {pid}.requests and {pid}.replies: each open() waits for the client's")
    with alarm(idle, f"client {pid} kept us waiting") as again:  # open() and read() take no timeout: SIGALRM
        requests = open_fifo(paths[0], os.O_RDONLY)  # blocks until the client opens it for writing
        try:
            replies = open_fifo(paths[1], os.O_WRONLY)  # same order as the client: requests, then replies
            try:
                conversation = ServerConversation()
                for request in MessageReader(lambda n: os.read(requests, n)):
                    log.received(request)
                    reply = encode(conversation.reply_to(request))  # MessageTooLong if the answer would not fit
                    log.sent(reply)
                    write_all(lambda data: os.write(replies, data), reply)  # EPIPE if the client left unread
                    again()  # a new deadline, for the next request
                log.say(f"client {pid} closed {pid}.requests: end of file")
            except ProtocolError as error:  # tell the client what was wrong, then hang up on it
                log.say(f"error from client {pid}: {error}")
                reply = encode(error_reply(error))
                log.sent(reply)
                write_all(lambda data: os.write(replies, data), reply)
            finally:
                os.close(replies)  # the client's read() now returns b""
        finally:
            os.close(requests)  # what the client wrote and we did not read goes with it: no one else reads it


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--dir", type=program.non_empty, help="where to make the FIFOs (default: a new private directory)"
    )
    program.clients_options(parser, idle="drop a client that sends no whole request")
    args = parser.parse_args()

    made = args.dir is None or not os.path.isdir(args.dir)
    directory = tempfile.mkdtemp(prefix="ipc-fifo-") if args.dir is None else args.dir  # mode 0700: our user only
    if args.dir is not None and made:
        os.mkdir(directory, 0o700)
    try:
        serve(directory, args.clients, args.idle)
    finally:
        if made:
            remove_directory(directory)


# -- below the lesson: a client that misbehaves, a name planted where a FIFO should be ----------------------------


@contextlib.contextmanager
def one_bad_client(pid: int, idle: float) -> Iterator[None]:
    """A client that dawdles or vanishes ends its own conversation, in one line; the server goes on."""
    try:
        yield
    except TimeoutError:  # the alarm: iterative, while one client dawdles the others wait
        log.say(
            f"client {pid} kept us waiting {idle:g} s (no whole request, or its replies unread): dropped, next client"
        )
    except BrokenPipeError:
        log.say(f"client {pid} closed {pid}.replies before reading its answer: next client")
    except OSError as error:  # its FIFOs are gone, or never were: one bad client is not the end
        log.say(f"client {pid}: {program.describe(error)}: next client")


def client_pid(line: str) -> Optional[int]:
    """The pid a client wrote on the well-known FIFO, or None: ASCII digits only ("²" is a digit to isdigit())."""
    if not (line.isascii() and line.isdigit() and len(line) <= 10):  # a pid is at most 4194304 on Linux
        return None
    return int(line)


def open_fifo(path: str, flags: int) -> int:
    """open() a FIFO the client made, refusing anything else that took its name since lstat()."""
    fd = os.open(path, flags | os.O_NOFOLLOW)  # O_NOFOLLOW: a symlink swapped in is refused, not followed
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):  # fstat(): what we really opened (a file swapped in opens at once)
        os.close(fd)
        raise FileNotFoundError(f"{os.path.basename(path)} is no longer a FIFO")
    return fd


def remove_directory(directory: str) -> None:
    """With any FIFOs a killed client left (it holds nothing else)."""
    for name in os.listdir(directory):
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:  # its client unlinked it as we went: client and server both clean up
            pass
    os.rmdir(directory)


DETAILS = """
What else it shows
    But a FIFO cannot tell its writers apart: two clients writing to one
    FIFO mix their bytes, and what one leaves unread goes to the next. So
    (as TLPI's fifo_seqnum server) the server has one well-known FIFO where a
    client only says who it is, its pid, in one short write (a write of up
    to PIPE_BUF bytes to a pipe is never mixed with another), and each
    client brings two FIFOs of its own, named by its pid: PID.requests and
    PID.replies. An iterative server: one client at a time; one that sends
    no whole request for --idle seconds is dropped, so it cannot hold up the
    others for long.

    Or, in a shell: mkfifo DIR/42.requests DIR/42.replies; cat DIR/42.replies &
    echo 42 > DIR/server; printf 'hello\\nworld\\n' > DIR/42.requests;
    rm DIR/42.requests DIR/42.replies

System calls, in order
    mkdir() -> mkfifo(DIR/server) -> open(DIR/server, O_RDONLY), blocking until
    a client opens it for writing -> open(DIR/server, O_WRONLY) too, a spare
    write end of its own (as TLPI's server does), so that read() never returns
    end of file between two clients -> read() a pid -> per client: lstat() both
    (FIFOs, not symlinks?) -> open(PID.requests, O_RDONLY|O_NOFOLLOW) and
    open(PID.replies, O_WRONLY|O_NOFOLLOW), each blocking until the client
    opens its end, and fstat() each -> read()/write() until read() returns b""
    -> close() both -> read() the next pid -> ... -> finally close() and
    unlink(DIR/server), and rmdir() a directory it made.
    The idle deadline is an alarm (setitimer): open() and read() take no timeout.

Its peer
    demos/fifo_client.py, or a shell that does what the client does.

Expected output
    server[200]: ready: dir=/tmp/ipc-fifo-k2j4
    server[200]: waiting for a client on /tmp/ipc-fifo-k2j4/server: open() blocks until one opens it to write
    server[200]: client 300 is here; opening 300.requests and 300.replies: each open() waits for the client's
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: client 300 closed 300.requests: end of file
    server[200]: removed /tmp/ipc-fifo-k2j4/server
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
