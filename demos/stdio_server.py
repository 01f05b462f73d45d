r"""stdio server: answers the exchange on its standard input and output, nothing else.

What it shows
    A program that reads fd 0 and writes fd 1 does not know, and need not
    know, what they are: a terminal, a shell's pipe, or pipes a parent put
    there with dup2() before exec(). The same server works in all three. It
    says what it found on fds 0 and 1, and logs to stderr (fd 2), so that
    stdout carries the answers and nothing else.

Run it
    printf 'hello\nworld\n' | python demos/stdio_server.py     prints 1 HELLO, 2 WORLD
    python demos/stdio_server.py [--idle SECONDS]   then type lines; Ctrl-D ends
        (--idle: give up on a peer that sends no whole request that long; the fork server sets it)
    python demos/stdio_server.py < requests.txt > replies.txt
        the shell does the same dup2() with files before exec: the program
        then logs "fd 0 is a regular file, fd 1 is a regular file", and at the
        end "end of file on fd 0 (a regular file): the whole file has been read"
    (or: make dup2, where demos/dup2_parent.py starts it behind two pipes)
    Bad input (not UTF-8, over 4096 bytes) gets an error line on stdout, a
    one-line error on stderr, and exit code 1.

System calls, in order
    fstat(0), fstat(1) -> read(0) until a whole line is in hand -> write(1)
    its answer -> ... until read(0) returns b"" (end of file) -> exit. With
    --idle, select() waits for fd 0 first, with a timeout. After an error
    line on a socket: shutdown(SHUT_WR), read() until b"" (see tcp_server.py).

Its peer
    Whoever holds the other ends of fds 0 and 1: demos/dup2_parent.py,
    a shell pipeline, or a person at a terminal.

Expected output (stdout carries only the answers; these lines are stderr)
    server[101]: fd 0 is a pipe, fd 1 is a pipe
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    ...
    server[101]: end of file on fd 0 (a pipe): every write end of the pipe is closed
"""

import os
import select
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, drain, write_all

log = Log("server")
WHY_IT_ENDED = {  # what end of file on fd 0 means, by what fd 0 is
    "a pipe": "every write end of the pipe is closed",
    "a socket": "the peer shut down its sending side",
    "a regular file": "the whole file has been read",
    "a terminal": "Ctrl-D was typed at the start of a line",
    "/dev/null": "/dev/null reads as empty, always",
}


def kind(fd: int) -> str:
    """What an open fd refers to, as fstat() tells it."""
    mode = os.fstat(fd).st_mode
    if os.isatty(fd):
        return "a terminal"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISCHR(mode):
        return "/dev/null" if os.path.samestat(os.fstat(fd), os.stat(os.devnull)) else "a character device"
    return "something else"


def write_stdout(data: bytes) -> None:
    write_all(lambda chunk: os.write(1, chunk), data)  # fd 1, not sys.stdout: no buffer between us and the pipe


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument(
        "--idle",
        type=program.seconds(zero="no deadline"),
        default=0.0,
        help="give up on a peer that sends no whole request for this long (default 0: never)",
    )
    args = parser.parse_args()

    log.say(f"fd 0 is {kind(0)}, fd 1 is {kind(1)}")  # inherited across exec: the program never opened them
    conversation = ServerConversation()
    deadline = time.monotonic() + (args.idle or 0)  # for the next whole request, if there is a deadline

    def read(size: int) -> bytes:
        if args.idle and not select.select([0], [], [], max(deadline - time.monotonic(), 0))[0]:
            raise TimeoutError(f"no whole request within {args.idle:g} s")
        return os.read(0, size)

    try:
        for request in MessageReader(read):
            log.received(request)
            reply = encode(conversation.reply_to(request))
            log.sent(reply)
            write_stdout(reply)
            deadline = time.monotonic() + (args.idle or 0)
    except (ProtocolError, TimeoutError) as error:  # tell the peer what was wrong, then end: exit 1, one line on stderr
        reply = encode(error_reply(error))
        log.sent(reply)
        write_stdout(reply)
        if kind(0) == "a socket":  # the fork server's client: hang up gracefully, as demos/tcp_server.py explains
            with socket.socket(fileno=os.dup(0)) as connection:
                connection.shutdown(socket.SHUT_WR)  # end of file after the error line...
                connection.settimeout(1.0)
                drain(connection.recv)  # ...and nothing left unread: no reset to overtake it
        raise
    what = kind(0)
    log.say(f"end of file on fd 0 ({what}): {WHY_IT_ENDED.get(what, 'it has no more to give')}")


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
