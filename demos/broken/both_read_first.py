"""Broken on purpose: both sides read first, over two pipes, and wait for each other forever.

What it shows
    The deadlock the lecture warns about, on the simplest channel there is:
    the exchange of demos/pipe_fork.py, but the client (the parent) reads
    the answer before it has written the request, while the server (the
    child) reads first too, as a server should. Both block in read(). The
    fix (--fixed) is the order of two lines: write the request, then read.

Run it
    ipc run both-read-first     (the deadlock, explained; then the fix runs)
    python demos/broken/both_read_first.py [--fixed] [MESSAGE...]
    By hand it hangs: Ctrl-C ends it.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, quote
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader, write_all


def converse(requests: list, fixed: bool) -> None:
    log = Log("client")
    requests_r, requests_w = os.pipe()  # parent -> child
    replies_r, replies_w = os.pipe()  # child -> parent
    pid = os.fork()
    if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("server", serve, requests_r, requests_w, replies_r, replies_w))

    log.say(f"forked server child {pid}")
    os.close(requests_r)
    os.close(replies_w)
    reader = MessageReader(lambda n: os.read(replies_r, n))
    conversation = ClientConversation()
    try:
        for request in requests:
            if fixed:
                message = encode(request)
                log.sent(message)
                write_all(lambda data: os.write(requests_w, data), message)  # the fix: speak first...
                reply = reader.receive()  # ...then listen
            else:
                log.say(f"waiting for the answer to {quote(request)} before sending it (the bug)")
                reply = reader.receive()  # the bug: listens first, while the server listens too
                message = encode(request)
                log.sent(message)
                write_all(lambda data: os.write(requests_w, data), message)
            if reply is None:
                raise ConnectionError("the child closed its pipe before answering")
            log.received(reply)
            conversation.check(request, reply)
    finally:
        os.close(requests_w)  # the child sees end of file
        os.close(replies_r)
        os.waitpid(pid, 0)


def serve(requests_r: int, requests_w: int, replies_r: int, replies_w: int) -> None:
    """The child: a correct server, which reads a request before it answers."""
    os.close(requests_w)
    os.close(replies_r)
    log = Log("server")
    conversation = ServerConversation()
    log.say("waiting for a request")
    for request in MessageReader(lambda n: os.read(requests_r, n)):
        log.received(request)
        reply = encode(conversation.reply_to(request))
        log.sent(reply)  # from the very bytes written, and before the write: cause before effect in the output
        write_all(lambda data: os.write(replies_w, data), reply)


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--fixed", action="store_true", help="send each request before reading its answer")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.messages, args.fixed)


DETAILS = """
What else it shows
    Each pipe is empty, and the one process that could fill it is blocked
    in read() itself. No error, no timeout: a hang. If both sides listen,
    nobody speaks. (No deadline on the read, on purpose, so the hang lasts
    forever, as in the notes.) ipc watch -- python demos/broken/both_read_first.py
    explains it.

System calls, in order
    pipe() twice -> fork() -> each close()s the ends it does not use ->
    parent: read() on the replies pipe (blocks: nothing was asked) ->
    child: read() on the requests pipe (blocks: nothing was sent).
    With --fixed: the parent write()s a request, then read()s its answer;
    the child read()s it and write()s the answer, ...; at the end the
    parent close()s its ends and waitpid()s.

Its peer
    Its forked child. The fixed twin: this program with --fixed
    (ipc run both-read-first-fixed); demos/pipe_fork.py does the same.

Expected output
    client[100]: forked server child 101
    client[100]: waiting for the answer to "hello" before sending it (the bug)
    server[101]: waiting for a request
    ...then nothing. The harness reports, within a second:
    The cycle: client waits for server, server waits for client.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
