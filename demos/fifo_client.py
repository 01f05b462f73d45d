"""FIFO client: makes two FIFOs of its own, tells the server its pid, and talks through them.

What it shows
    The client's side of a FIFO server: it needs no parent in common with the
    server, only the server's directory. A FIFO cannot tell its writers apart,
    so the client makes two FIFOs named by its own pid (no other live process
    has it), PID.requests and PID.replies, and writes its pid to the server's
    well-known FIFO in one short write, which no other client's can split.
    It then opens its FIFOs in the server's order (requests, then replies),
    each open() waiting for the server's. Neither open() nor read() takes a
    timeout, so an alarm gives the whole conversation a deadline: against a
    dead server the client ends with one clear line. Its FIFOs are files: it
    unlinks them on every way out.

Run it
    python demos/fifo_client.py --dir DIR [--timeout SECONDS] [MESSAGE...]
    (start demos/fifo_server.py first; its ready line gives DIR)

System calls, in order
    mkfifo(DIR/PID.requests), mkfifo(DIR/PID.replies) -> setitimer() (an alarm)
    -> open(DIR/server, O_WRONLY), write() "PID\\n", close() -> open(PID.requests,
    O_WRONLY) -> open(PID.replies, O_RDONLY) -> write() a request, read() its
    answer, ... -> close() both, which the server reads as end of file ->
    cancel the alarm -> unlink() both FIFOs.

Its peer
    demos/fifo_server.py.

Expected output
    client[300]: made 300.requests and 300.replies; telling the server "300" through /tmp/ipc-fifo-k2j4/server
    client[300]: opening 300.requests, then 300.replies: each open() waits for the server's
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed both FIFOs: the server reads end of file
"""

import contextlib
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader, write_all

TIMEOUT = program.CLIENT_PATIENCE  # seconds for the whole conversation, opens included
log = Log("client")


def converse(requests: int, replies: int, messages: list) -> None:
    reader = MessageReader(lambda n: os.read(replies, n))
    conversation = ClientConversation()
    for request in messages:
        message = encode(request)  # a request that cannot be sent is refused before it is said
        log.sent(message)
        write_all(lambda data: os.write(requests, data), message)
        reply = reader.receive()
        if reply is None:
            raise ConnectionError("the server closed the replies FIFO before answering")
        log.received(reply)
        conversation.check(request, reply)


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument(
        "--dir", type=program.non_empty, required=True, help="the server's directory (its ready line says)"
    )
    parser.add_argument(
        "--timeout",
        type=program.seconds(),
        default=TIMEOUT,
        help=f"give up after this many seconds (default {TIMEOUT:g}: longer than a server's default --idle, "
        f"{program.SERVER_IDLE:g} s, so one idle client ahead of us is dropped in time)",
    )
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    def give_up(signum: int, frame: object) -> None:
        raise TimeoutError(f"nothing from the server within {args.timeout:g} s: is one running in {args.dir}?")

    pid = os.getpid()
    mine = [os.path.join(args.dir, f"{pid}.{name}") for name in ("requests", "replies")]
    made = []
    signal.signal(signal.SIGALRM, give_up)
    # A blocked open() of a FIFO takes no timeout, so SIGALRM interrupts it and give_up() raises.
    # (O_NONBLOCK is no deadline: a non-blocking open for reading succeeds at once with no writer,
    # and the first read() then returns b"" as if the server had already gone.)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)  # alarm(), in fractions of a second
    try:
        for path in mine:
            try:
                os.mkfifo(path, 0o600)  # named by our pid: no other live process has it
            except OSError as error:  # mkfifo's error names no file: add it
                raise type(error)(error.errno, error.strerror, path) from None
            made.append(path)
        log.say(f'made {pid}.requests and {pid}.replies; telling the server "{pid}" through {args.dir}/server')
        hello = os.open(os.path.join(args.dir, "server"), os.O_WRONLY)  # blocks until the server opens it to read
        try:
            os.write(hello, f"{pid}\n".encode())  # one write of a few bytes: atomic (up to PIPE_BUF), never mixed
        finally:
            os.close(hello)
        # Same order as the server: requests, then replies. The other way round both sides wait in
        # open() for good: demos/broken/fifo_open_order.py does exactly that (ipc run fifo-open-order).
        log.say(f"opening {pid}.requests, then {pid}.replies: each open() waits for the server's")
        requests = os.open(mine[0], os.O_WRONLY)
        try:
            replies = os.open(mine[1], os.O_RDONLY)
            try:
                converse(requests, replies, args.messages)
            finally:
                os.close(replies)
        finally:
            os.close(requests)  # the server's read() now returns b"": end of file
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # cancel the alarm
        for path in made:  # our FIFOs, on every way out
            with contextlib.suppress(FileNotFoundError):  # a server that has just exited took its directory with it
                os.unlink(path)
    log.say("closed both FIFOs: the server reads end of file")


if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
