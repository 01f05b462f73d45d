"""fork + pipe: a parent and its child hold a conversation over two pipes.

What it shows
    A pipe carries bytes one way only, so a conversation needs two: one for
    requests (parent -> child) and one for replies (child -> parent). Both are
    made before fork(), so both processes inherit all four ends; each then
    closes the two ends it does not use. That close matters: a reader sees end
    of file only once *every* write end is closed, its own copy included.

Run it
    python demos/pipe_fork.py [MESSAGE...]      (or: make pipe)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader, write_all


def converse(requests: list) -> None:
    """The parent: two pipes, a child to answer, then each request and its answer."""
    log = Log("client")
    requests_r, requests_w = os.pipe()  # parent -> child
    replies_r, replies_w = os.pipe()  # child -> parent
    pid = os.fork()
    if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("server", serve, requests_r, requests_w, replies_r, replies_w))

    log.say(f"forked server child {pid}")
    os.close(requests_r)  # the parent never reads requests
    os.close(replies_w)  # else the parent would never see EOF on replies if the child died
    try:
        replies = MessageReader(lambda n: os.read(replies_r, n))  # read() until a whole line is in
        conversation = ClientConversation()
        for request in requests:
            message = encode(request)  # a request that cannot be sent is refused before it is said
            log.sent(message)
            write_all(lambda data: os.write(requests_w, data), message)
            reply = replies.receive()
            if reply is None:
                raise ConnectionError("the child closed its pipe before answering")
            log.received(reply)
            conversation.check(request, reply)
    finally:
        os.close(requests_w)  # the child's read() now returns b"": end of file
        os.close(replies_r)
        _, status = os.waitpid(pid, 0)  # reap the child, or it stays a zombie
        log.say(f"child {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def serve(requests_r: int, requests_w: int, replies_r: int, replies_w: int) -> None:
    """The child: answer every request until the parent closes its end."""
    os.close(requests_w)  # else the child's own copy keeps it from ever seeing EOF
    os.close(replies_r)  # the child never reads replies
    log = Log("server")
    conversation = ServerConversation()
    for request in MessageReader(lambda n: os.read(requests_r, n)):
        log.received(request)
        reply = encode(conversation.reply_to(request))
        log.sent(reply)  # from the very bytes written, and before the write: cause before effect in the output
        write_all(lambda data: os.write(replies_w, data), reply)
    log.say("end of file: the parent closed its write end")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    converse(parser.parse_args().messages)


DETAILS = """
System calls, in order
    pipe() twice -> fork() -> in each process: close() the unused ends ->
    parent: write() a request, read() the reply, ... close() its write end ->
    child: read() requests until end of file, write() each reply -> _exit() ->
    parent: waitpid() reaps the child.

Its peer
    The child, forked from the same program: pipes only join relatives.

Expected output (pids vary; parent and child lines interleave in order)
    client[100]: forked server child 101
    client[100]: sent "hello"
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    client[100]: received "1 HELLO"
    ...
    server[101]: end of file: the parent closed its write end
    client[100]: child 101 exited with status 0
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
