"""Broken on purpose: two processes open two FIFOs in opposite orders, and both block in open().

What it shows
    open() of a FIFO blocks until the other side opens it too (for reading:
    until a writer comes; for writing: until a reader comes), so the ORDER
    in which two processes open two FIFOs matters. The server opens
    "requests", then "replies"; the client opens "replies" first. Each
    waits in open() for the other. The fix (--fixed): the same order on
    both sides, "requests" first.

Run it
    ipc run fifo-open-order     (the deadlock, explained; then the fix runs)
    python demos/broken/fifo_open_order.py [--fixed] [MESSAGE...]
    By hand it hangs: Ctrl-C ends it (and removes the FIFOs).
"""

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader, write_all

log = Log("client")


def converse(directory: str, requests: list, fixed: bool) -> None:
    requests_path, replies_path = os.path.join(directory, "requests"), os.path.join(directory, "replies")
    os.mkfifo(requests_path)
    os.mkfifo(replies_path)
    log.say(f"made FIFOs requests and replies in {directory}")
    pid = os.fork()
    if pid == 0:  # the child, the server: never into the parent's finally (the parent removes the FIFOs)
        os._exit(program.child("server", serve, requests_path, replies_path))
    requests_w = replies_r = -1
    try:
        if fixed:
            requests_w = os.open(requests_path, os.O_WRONLY)  # the fix: the same order as the server
            replies_r = os.open(replies_path, os.O_RDONLY)
        else:
            log.say("opening replies for reading first (the bug)")
            replies_r = os.open(replies_path, os.O_RDONLY)  # the bug: waits for a writer, who waits for us
            requests_w = os.open(requests_path, os.O_WRONLY)
        reader = MessageReader(lambda n: os.read(replies_r, n))
        conversation = ClientConversation()
        for request in requests:
            message = encode(request)
            log.sent(message)
            write_all(lambda data: os.write(requests_w, data), message)
            reply = reader.receive()
            if reply is None:
                raise ConnectionError("the server closed replies before answering")
            log.received(reply)
            conversation.check(request, reply)
    except BaseException:  # Ctrl-C, kill, an error: the child may be blocked in open() for good
        program.stop_child(pid)  # SIGKILL: it has nothing to clean up, the FIFOs are ours to remove
        raise
    finally:
        for fd in (requests_w, replies_r):
            if fd >= 0:
                os.close(fd)  # closing requests: the server sees end of file
    os.waitpid(pid, 0)  # so it exits: reap it


def serve(requests: str, replies: str) -> None:
    """The child: opens requests, then replies (each open() waits for the client's)."""
    log = Log("server")
    log.say("opening requests for reading")
    requests_r = os.open(requests, os.O_RDONLY)  # waits until the client opens it for writing
    replies_w = os.open(replies, os.O_WRONLY)
    conversation = ServerConversation()
    for request in MessageReader(lambda n: os.read(requests_r, n)):
        log.received(request)
        reply = encode(conversation.reply_to(request))
        log.sent(reply)  # from the very bytes written, and before the write: cause before effect in the output
        write_all(lambda data: os.write(replies_w, data), reply)


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--fixed", action="store_true", help="open the FIFOs in the same order as the server")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="ipc-fifo-order-")  # private (0700), in $TMPDIR
    try:
        converse(directory, args.messages, args.fixed)
    finally:
        shutil.rmtree(directory)  # the FIFOs and their directory, on every way out


DETAILS = """
What else it shows
    Each waits in open() for the other, who would open the FIFO it needs only
    after its own open() returns: never. Not a byte has been sent.

System calls, in order
    mkdtemp() -> mkfifo() twice -> fork() -> child (server): open("requests",
    O_RDONLY) (blocks) -> parent (client): open("replies", O_RDONLY) (blocks).
    With --fixed: the client opens "requests" O_WRONLY first, then "replies";
    the server opens both in the same order; the client write()s each
    request and the server read()s it, then write()s its answer, which the
    client read()s; close(); waitpid(); unlink() both FIFOs.

Its peer
    Its forked child (unrelated programs meet the same way: demos/fifo_*.py).
    The fixed twin: this program with --fixed (ipc run fifo-open-order-fixed).

Expected output
    client[100]: made FIFOs requests and replies in /tmp/ipc-fifo-order-x1y2
    server[101]: opening requests for reading
    client[100]: opening replies for reading first (the bug)
    ...then nothing. The harness reports, within a second:
    The cycle: client waits for server, server waits for client.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
