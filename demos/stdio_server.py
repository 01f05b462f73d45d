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
    python demos/stdio_server.py < requests.txt > replies.txt
    (or: make dup2, where demos/dup2_parent.py starts it behind two pipes)
"""

import os
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.serving import hang_up
from ipc.stream import MessageReader, write_all
from ipc.timeouts import alarm

log = Log("server")


def serve(idle: float) -> None:
    """Answer each line read from fd 0 on fd 1, until read(0) returns b"": end of file."""
    log.say(f"fd 0 is {kind(0)}, fd 1 is {kind(1)}")  # inherited across exec: the program never opened them
    conversation = ServerConversation()
    with alarm(idle, f"no whole request within {idle:g} s") as again:  # read() takes no timeout: SIGALRM ends it
        try:
            for request in MessageReader(lambda n: os.read(0, n)):  # read(0) until a whole line is in hand
                log.received(request)
                reply = encode(conversation.reply_to(request))
                log.sent(reply)
                write_stdout(reply)
                again()  # the next request has the whole time again
        except (ProtocolError, TimeoutError) as error:  # tell the peer what was wrong, then end: exit 1
            refuse(error)
            raise
    what = kind(0)
    log.say(f"end of file on fd 0 ({what}): {WHY_IT_ENDED.get(what, 'it has no more to give')}")


def write_stdout(data: bytes) -> None:
    write_all(lambda chunk: os.write(1, chunk), data)  # fd 1, not sys.stdout: no buffer between us and the pipe


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--idle",
        type=program.seconds(zero="no deadline"),
        default=0.0,
        help="give up on a peer that sends no whole request for this long (default 0: never)",
    )
    serve(parser.parse_args().idle)


# -- below the lesson: what fd 0 is, what its end of file means, and a refusal ----------------------------------

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


def refuse(error: Exception) -> None:
    """The error line on fd 1; on a socket (the fork server's client), then a graceful hang-up."""
    reply = encode(error_reply(error))
    log.sent(reply)
    write_stdout(reply)
    if kind(0) == "a socket":  # as demos/tcp_server.py explains: our end of file, then nothing left unread
        with socket.socket(fileno=os.dup(0)) as connection:
            hang_up(connection)


DETAILS = """
What else it shows
    --idle: give up on a peer that sends no whole request that long (the
    fork server sets it). Bad input (not UTF-8, over 4096 bytes) gets an
    error line on stdout, a one-line error on stderr, and exit code 1.
    With < requests.txt > replies.txt the shell does the same dup2() with
    files before exec: the program then logs "fd 0 is a regular file, fd 1
    is a regular file", and at the end "end of file on fd 0 (a regular
    file): the whole file has been read".

System calls, in order
    fstat(0), fstat(1) -> read(0) until a whole line is in hand -> write(1)
    its answer -> ... until read(0) returns b"" (end of file) -> exit. With
    --idle, an alarm (setitimer(), SIGALRM) ends a read() that waits that
    long: read() takes no timeout. After an error line on a socket:
    shutdown(SHUT_WR), read() until b"" (see tcp_server.py).

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

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
