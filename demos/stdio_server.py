r"""stdio server: answers the exchange on its standard input and output, nothing else.

What it shows
    A program that reads fd 0 and writes fd 1 does not know, and need not
    know, what they are: a terminal, a shell's pipe, or pipes a parent put
    there with dup2() before exec(). The same server works in all three. It
    says what it found on fds 0 and 1, and logs to stderr (fd 2), so that
    stdout carries the answers and nothing else.

Run it
    printf 'hello\nworld\n' | python demos/stdio_server.py     prints 1 HELLO, 2 WORLD
    python demos/stdio_server.py        then type lines; Ctrl-D ends
    python demos/stdio_server.py < requests.txt > replies.txt
        the shell does the same dup2() with files before exec: the program
        then logs "fd 0 is a regular file, fd 1 is a regular file"
    (or: make dup2, where demos/dup2_parent.py starts it behind two pipes)
    Bad input (not UTF-8, over 4096 bytes) gets an error line on stdout, a
    one-line error on stderr, and exit code 1.

System calls, in order
    fstat(0), fstat(1) -> read(0) until a whole line is in hand -> write(1)
    its answer -> ... until read(0) returns b"" (end of file) -> exit.

Its peer
    Whoever holds the other ends of fds 0 and 1: demos/dup2_parent.py,
    a shell pipeline, or a person at a terminal.

Expected output (stdout carries only the answers; these lines are stderr)
    server[101]: fd 0 is a pipe, fd 1 is a pipe
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    ...
    server[101]: end of file on fd 0: whoever wrote to it closed it
"""

import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ProtocolError, ServerConversation, encode, error_reply
from ipc.stream import MessageReader, write_all

log = Log("server")


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
    return "a character device" if stat.S_ISCHR(mode) else "something else"


def write_stdout(data: bytes) -> None:
    write_all(lambda chunk: os.write(1, chunk), data)  # fd 1, not sys.stdout: no buffer between us and the pipe


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.parse_args()

    log.say(f"fd 0 is {kind(0)}, fd 1 is {kind(1)}")  # inherited across exec: the program never opened them
    conversation = ServerConversation()
    try:
        for request in MessageReader(lambda n: os.read(0, n)):
            log.received(request)
            reply = encode(conversation.reply_to(request))
            log.sent(reply)
            write_stdout(reply)
    except ProtocolError as error:  # tell the peer what was wrong, then end: exit 1 with one line on stderr
        write_stdout(encode(error_reply(error)))
        raise
    log.say("end of file on fd 0: whoever wrote to it closed it")


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
