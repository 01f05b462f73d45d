"""FIFO client: sends the exchange's requests through a FIFO server's named pipes.

What it shows
    The client's side of two FIFOs: it needs no parent in common with the
    server, only the paths. It opens them in the server's order (requests,
    then replies), each open() waiting for the server's. Neither open() nor
    read() takes a timeout, so an alarm gives the whole conversation a
    deadline: against a dead server the client ends with one clear line.

Run it
    python demos/fifo_client.py --dir DIR [--timeout SECONDS] [MESSAGE...]
    (start demos/fifo_server.py first; its ready line gives DIR)

System calls, in order
    setitimer() (an alarm) -> open(DIR/requests, O_WRONLY) -> open(DIR/replies,
    O_RDONLY) -> write() a request, read() its answer, ... -> close(replies)
    -> close(requests), which the server reads as end of file -> cancel the alarm.

Its peer
    demos/fifo_server.py.

Expected output
    client[300]: opening requests FIFO for writing: blocks until the server opens it for reading
    client[300]: opening replies FIFO for reading: blocks until the server opens it for writing
    client[300]: opened both FIFOs
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed both FIFOs: the server reads end of file
"""

import os
import signal
import sys
from typing import Sequence

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.stream import MessageReader, write_all

TIMEOUT = 10.0  # seconds for the whole conversation, opens included
log = Log("client")


def converse(requests: int, replies: int, messages: Sequence[str]) -> None:
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
    parser.add_argument("--dir", required=True, help="the directory holding the server's FIFOs (its ready line says)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help=f"give up after this many seconds (default {TIMEOUT:g})")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()

    def give_up(signum: int, frame: object) -> None:
        raise TimeoutError(f"nothing from the server within {args.timeout:g} s: is one running on these FIFOs?")

    # A blocked open() of a FIFO takes no timeout, so SIGALRM interrupts it and give_up() raises.
    # (O_NONBLOCK is no deadline: a non-blocking open for reading succeeds at once with no writer,
    # and the first read() then returns b"" as if the server had already gone.)
    signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)  # alarm(), in fractions of a second
    try:
        # Same order as the server: requests, then replies. The other way round both sides wait in
        # open() for good (the client for a writer on replies, the server for a writer on requests):
        # demos/broken/fifo_open_order.py does exactly that (ipc run fifo-open-order).
        log.say("opening requests FIFO for writing: blocks until the server opens it for reading")
        requests = os.open(os.path.join(args.dir, "requests"), os.O_WRONLY)
        try:
            log.say("opening replies FIFO for reading: blocks until the server opens it for writing")
            replies = os.open(os.path.join(args.dir, "replies"), os.O_RDONLY)
            log.say("opened both FIFOs")
            try:
                converse(requests, replies, args.messages)
            finally:
                os.close(replies)
        finally:
            os.close(requests)  # the server's read() now returns b"": end of file
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)  # cancel the alarm
    log.say("closed both FIFOs: the server reads end of file")


if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
