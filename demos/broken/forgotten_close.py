"""Broken on purpose: the reader still holds the write end of its own pipe, so it never sees end of file.

What it shows
    After fork() both processes hold all four ends of the two pipes. The
    server (the child) reads requests until end of file, which comes only
    once EVERY write end of the requests pipe is closed. The client closes
    its own when done; the server forgot the copy it inherited. So its last
    read() blocks, and the client waits in waitpid() for a child that never
    exits. The fix (--fixed) is the close() of demos/pipe_fork.py.

Run it
    ipc run forgotten-close     (the deadlock, explained; then the fix runs)
    python demos/broken/forgotten_close.py [--fixed] [MESSAGE...]
    By hand it hangs after the last answer: Ctrl-C ends it.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader, write_all


def serve(requests_r: int, requests_w: int, replies_r: int, replies_w: int, fixed: bool) -> None:
    """The child: answer every request until end of file."""
    if fixed:
        os.close(requests_w)  # the fix: else the child's own copy keeps it from ever seeing EOF
    os.close(replies_r)  # (the bug: without --fixed, requests_w stays open here)
    log = Log("server")
    conversation = ServerConversation()
    for request in MessageReader(lambda n: os.read(requests_r, n)):
        log.received(request)
        reply = encode(conversation.reply_to(request))
        log.sent(reply)  # from the very bytes written, and before the write: cause before effect in the output
        write_all(lambda data: os.write(replies_w, data), reply)
    log.say("end of file: every write end is closed")


def converse(requests: list, fixed: bool) -> None:
    log = Log("client")
    requests_r, requests_w = os.pipe()  # parent -> child
    replies_r, replies_w = os.pipe()  # child -> parent
    pid = os.fork()
    if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("server", serve, requests_r, requests_w, replies_r, replies_w, fixed))

    log.say(f"forked server child {pid}")
    os.close(requests_r)
    os.close(replies_w)
    try:
        reader = MessageReader(lambda n: os.read(replies_r, n))
        conversation = ClientConversation()
        for request in requests:
            message = encode(request)
            log.sent(message)
            write_all(lambda data: os.write(requests_w, data), message)
            reply = reader.receive()
            if reply is None:
                raise ConnectionError("the child closed its pipe before answering")
            log.received(reply)
            conversation.check(request, reply)
        os.close(requests_w)  # the child should now see end of file...
        log.say("closed my write end; waiting for the child to exit")
        _, status = os.waitpid(pid, 0)  # ...and exit; without the fix it never does
    except BaseException:  # Ctrl-C, kill, an error: without the fix the child would wait for good
        program.stop_child(pid)  # SIGKILL (it has nothing to clean up), unless the waitpid() above reaped it already
        raise
    log.say(f"child {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--fixed", action="store_true", help="the child closes the write end it does not use")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.messages, args.fixed)


DETAILS = """
What else it shows
    The whole exchange goes through, then the server's last read() blocks:
    the only process that could still write to that pipe is the server
    itself. The fix: os.close(requests_w) in the child, right after fork().

System calls, in order
    pipe() twice -> fork() -> child: close() the replies read end only ->
    parent: close() its unused ends -> write()/read() each message ->
    close() its write end -> waitpid() (blocks; if interrupted, kill() the child unless reaped) ->
    child: read() each request, write() its answer, ..., then read() (blocks:
    its own write end keeps the pipe open).
    With --fixed the child also close()s the requests write end, and its
    last read() returns b"": end of file.

Its peer
    Its forked child. The fixed twin: this program with --fixed
    (ipc run forgotten-close-fixed); demos/pipe_fork.py does the same.

Expected output
    client[100]: forked server child 101
    server[101]: received "hello"
    ... the whole exchange ...
    client[100]: closed my write end; waiting for the child to exit
    ...then nothing. The harness reports, within a second:
    The cycle: server waits for itself.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
