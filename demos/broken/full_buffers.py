"""Broken on purpose: both sides write more than the socket's buffers hold before reading, and both block in send().

What it shows
    send() (or write() on a pipe) returns at once only while the kernel's
    buffer has room; once it is full, it blocks until the other side reads.
    The client sends all its requests, a megabyte, before reading a single
    answer; the server answers each as it arrives, until it blocks in send()
    and stops reading; then the client blocks in send() too. The fix
    (--fixed): keep reading while writing, with a second thread that sends.

Run it
    ipc run full-buffers     (the deadlock, explained; then the fix runs)
    python demos/broken/full_buffers.py [--fixed] [--count N] [--size BYTES]
    By hand it hangs: Ctrl-C ends it (with --count 10 it does not).
"""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader


def converse(requests: list, fixed: bool) -> None:
    log = Log("client")
    client_end, server_end = socket.socketpair()  # AF_UNIX, SOCK_STREAM: connected, both ways
    pid = os.fork()
    if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("server", serve, server_end, client_end))
    log.say(f"forked server child {pid}")
    server_end.close()
    data = b"".join(encode(request) for request in requests)

    def send_all() -> None:
        client_end.sendall(data)
        client_end.shutdown(socket.SHUT_WR)  # end of file for the server

    try:
        if fixed:
            log.say(f"sending {len(requests)} requests ({len(data)} bytes) from a second thread")
            sender = threading.Thread(target=send_all)  # the fix: it writes while this thread reads
            sender.start()
        else:
            log.say(f"sending {len(requests)} requests ({len(data)} bytes) before reading any answer (the bug)")
            send_all()  # the bug: nobody reads the answers until every request is out
        reader = MessageReader(client_end.recv)
        conversation = ClientConversation()
        for request in requests:
            reply = reader.receive()
            if reply is None:
                raise ConnectionError("the server closed the connection before answering")
            conversation.check(request, reply)
        log.say(f"all {conversation.checked} answers received and checked")
        if fixed:
            sender.join()
    finally:
        client_end.close()
        os.waitpid(pid, 0)


def serve(sock: socket.socket, other_end: socket.socket) -> None:
    """The child: answer each request as soon as it has arrived."""
    other_end.close()  # the client's end: ours only by inheritance
    log = Log("server")
    log.say("answering each request as it arrives")
    conversation = ServerConversation()
    for request in MessageReader(sock.recv):
        sock.sendall(encode(conversation.reply_to(request)))  # blocks while the client reads nothing
    log.say(f"end of file after {conversation.answered} requests")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--fixed", action="store_true", help="send from a second thread while reading the answers")
    parser.add_argument(
        "--count",
        type=program.whole_number(1, 10_000),
        default=1000,
        help="how many requests, 1 to 10000 (default 1000)",
    )
    parser.add_argument(
        "--size",
        type=program.whole_number(0, 4000),
        default=1000,
        help="bytes of padding in each request, 0 to 4000 (default 1000)",
    )
    args = parser.parse_args()
    converse([f"request {n:04d} " + "." * args.size for n in range(1, args.count + 1)], args.fixed)


DETAILS = """
What else it shows
    The answers pile up unread until the buffers towards the client are
    full; the server blocks in send() and stops reading; the buffers towards
    the server fill up, and the client blocks in send() too. Small data
    works; the same code hangs once it outgrows the buffers (about 200 KB
    for a Unix socket, 64 KB for a pipe). select() or communicate() keep
    reading while writing in one thread. With --count 10 the buffers hold
    it all.

System calls, in order
    socketpair(AF_UNIX, SOCK_STREAM) -> fork() ->
    parent: send() all requests (blocks once the buffers are full) ->
    child: recv() a request, send() its answer, ... (blocks in send()).
    With --fixed: a thread send()s and shutdown(SHUT_WR)s while the main
    thread recv()s every answer; close(); waitpid().

Its peer
    Its forked child, at the other end of the socket pair. The fixed twin:
    this program with --fixed (ipc run full-buffers-fixed).

Expected output
    client[100]: forked server child 101
    client[100]: sending 1000 requests (1014000 bytes) before reading any answer (the bug)
    server[101]: answering each request as it arrives
    ...then nothing. The harness reports, within a second:
    The cycle: client waits for server, server waits for client.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
