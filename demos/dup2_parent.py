"""dup2 + exec: a parent talks to a program that only knows stdin and stdout.

What it shows
    How a shell builds a pipeline. The parent makes two pipes and forks; the
    child moves its pipe ends onto fd 0 and fd 1 with dup2(), closes the
    originals, and exec()s demos/stdio_server.py. Exec replaces the program
    but keeps the open fds, so the server reads requests from fd 0 and
    writes answers to fd 1 without ever opening a pipe, or knowing it has
    one: at a shell prompt the same server reads a terminal or `printf |`.

Run it
    python demos/dup2_parent.py [MESSAGE...]      (or: make dup2)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader, write_all

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdio_server.py")


def converse(requests: list) -> None:
    """The parent: two pipes, a child that becomes the server, then each request and its answer."""
    log = Log("client")
    requests_r, requests_w = os.pipe()  # parent -> child's fd 0
    replies_r, replies_w = os.pipe()  # child's fd 1 -> parent
    pid = os.fork()
    if pid == 0:  # the child becomes the server; if exec fails, 127 (as a shell's "not found")
        os._exit(program.child("server", become_the_server, requests_r, requests_w, replies_r, replies_w, failure=127))

    log.say(f"forked child {pid}")
    os.close(requests_r)  # the parent never reads requests
    os.close(replies_w)  # else the parent would never see EOF on replies if the server died
    try:
        replies = MessageReader(lambda n: os.read(replies_r, n))  # read() until a whole line is in
        conversation = ClientConversation()
        for request in requests:
            message = encode(request)  # a request that cannot be sent is refused before it is said
            log.sent(message)
            write_all(lambda data: os.write(requests_w, data), message)
            reply = replies.receive()
            if reply is None:
                raise ConnectionError("the server closed its stdout before answering")
            log.received(reply)
            conversation.check(request, reply)
    finally:
        os.close(requests_w)  # the server's read(0) now returns b"": end of file
        os.close(replies_r)
        _, status = os.waitpid(pid, 0)  # reap the child, or it stays a zombie
        code = os.waitstatus_to_exitcode(status)
        log.say(f"child {pid} exited with status {code}")
    if code != 0:
        raise ChildProcessError(f"the server exited with status {code}")


def become_the_server(requests_r: int, requests_w: int, replies_r: int, replies_w: int) -> None:
    """The child: the pipes onto fds 0 and 1, then exec stdio_server.py."""
    for fd, target in ((requests_r, 0), (replies_w, 1)):  # fd 0 reads the requests pipe, fd 1 writes the replies one
        if fd != target:  # as TLPI's pipe_ls_wc.c: run with fd 0 closed (<&-), pipe() returned 0 itself
            os.dup2(fd, target)  # the old stdin (or stdout) is closed first; the copy survives exec
        else:
            os.set_inheritable(fd, True)  # no copy to make: but Python's pipe ends are closed by exec, dup2's are not
    for fd in {requests_r, requests_w, replies_r, replies_w} - {0, 1}:  # never close(0) when the pipe IS fd 0
        os.close(fd)  # dup2 then close the original: in C a spare write end would outlive exec and keep EOF away
    Log("server").say("fds 0 and 1 are the pipes now; exec'ing demos/stdio_server.py")
    # exec keeps fds 0, 1, 2: dup2's copies are inheritable. (Python's os.pipe() ends are
    # close-on-exec, so exec would shut a forgotten original; in C it would leak into the server.)
    os.execv(sys.executable, [sys.executable, SERVER])  # never returns when it works


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    converse(parser.parse_args().messages)


DETAILS = """
System calls, in order
    pipe() twice -> fork() -> child: dup2(requests_r, 0), dup2(replies_w, 1)
    (unless an end is 0 or 1 already: run with fd 0 closed, pipe() returns it)
    -> close() the original ends -> execv(python, stdio_server.py) ->
    parent: close() the ends it does not use -> write() a request, read()
    the reply, ... -> close() its write end (the server reads end of file
    on fd 0) -> waitpid() reaps the child.

Its peer
    demos/stdio_server.py, exec'd in the child: same pid, new program.

Expected output (pids vary; the two processes' lines interleave differently
from run to run; every server line comes from pid 101, before and after exec)
    client[100]: forked child 101
    client[100]: sent "hello"
    server[101]: fds 0 and 1 are the pipes now; exec'ing demos/stdio_server.py
    server[101]: fd 0 is a pipe, fd 1 is a pipe
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    client[100]: received "1 HELLO"
    ...
    server[101]: end of file on fd 0 (a pipe): every write end of the pipe is closed
    client[100]: child 101 exited with status 0
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
