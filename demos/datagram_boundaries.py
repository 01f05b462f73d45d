"""Datagrams keep their boundaries, and may be cut short, lost or reordered.

What it shows
    Over UDP one sendto() is one recvfrom(): three datagrams sent before the
    receiver reads come out as three, never merged (a stream may merge them).
    A buffer smaller than the datagram truncates it: the rest is gone, and
    MSG_TRUNC says so. A full receive queue drops datagrams and tells nobody:
    with a small SO_RCVBUF and a burst sent before the receiver reads, most
    are lost (sequence numbers count them; Linux also counts its drops,
    SO_RXQ_OVFL).

Run it
    python demos/datagram_boundaries.py [--burst N]      (or: make datagrams)
"""

import os
import socket
import string
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import SAMPLE_REQUESTS, decode_datagram, encode_datagram
from ipc.timeouts import timeval

TIMEOUT = 10.0  # no datagram waits longer than this
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40 if sys.platform.startswith("linux") else None)  # Linux's number
sender, receiver = Log("sender"), Log("receiver")


def udp(bind: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))  # no recvfrom() waits longer: EAGAIN
    if bind:
        sock.bind(("127.0.0.1", 0))  # port 0: the kernel picks a free one
    return sock


def show(burst: int) -> None:
    """Four lessons, each on sockets of this one process: boundaries, truncation, loss, order."""
    with udp(False) as out, udp(True) as inbox, udp(True) as relay:
        where = inbox.getsockname()
        # 1. One send is one receive: all three are waiting before the first recvfrom().
        for text in SAMPLE_REQUESTS[:3]:
            datagram = encode_datagram(text)
            sender.sent(datagram)
            out.sendto(datagram, where)
        sizes = []
        for _ in range(3):
            data, _ = inbox.recvfrom(4096)  # room for all three, yet it returns exactly one
            sizes.append(len(data))
            receiver.received(decode_datagram(data))
        each = ", ".join(map(str, sizes))
        receiver.say(f"3 sendto() -> 3 recvfrom() of {each} bytes: one datagram each, never merged")

        # 2. A buffer smaller than the datagram: the kernel keeps what fits and discards the rest.
        datagram = (string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/").encode()
        sender.say(f"sendto() {len(datagram)} bytes {datagram!r}")
        out.sendto(datagram, where)
        buffer = bytearray(16)
        size, _, flags, _ = inbox.recvmsg_into([buffer], 0, socket.MSG_TRUNC)  # Linux: returns the full size
        gone = datagram[len(buffer) : size]  # shown as the sender sent them: the receiver never gets them now
        truncated = "MSG_TRUNC" if flags & socket.MSG_TRUNC else "no MSG_TRUNC flag"
        receiver.say(
            f"truncated: kept {len(buffer)} of {size} bytes ({truncated}), lost {size - len(buffer)}: {gone!r}"
        )
        out.sendto(b"next", where)
        receiver.say(f"the next recvfrom() returns the next datagram, not the rest: {inbox.recvfrom(4096)[0]!r}")

        # 3. Loss: a small receive queue, a burst, and a receiver that reads only afterwards.
        inbox.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # Linux doubles it, for its bookkeeping
        if SO_RXQ_OVFL is not None:
            inbox.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)  # stamp each datagram with the drops so far
        sender.say(
            f"burst: {burst} datagrams of 60 bytes into a receive queue of "
            f"{inbox.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)} bytes, before any recvfrom()"
        )
        for number in range(burst):
            out.sendto(f"{number:06d}".encode().ljust(60, b"."), where)  # no error, no matter how many are dropped
        inbox.setblocking(False)
        received, dropped = [], None
        while True:
            try:
                data, ancillary, _, _ = inbox.recvmsg(4096, socket.CMSG_SPACE(4))
            except BlockingIOError:  # the queue is empty: now one more datagram surely fits
                out.sendto(b"end", where)  # it carries the kernel's count of drops before it
                inbox.setblocking(True)  # (SO_RCVTIMEO still bounds the wait)
                continue
            for level, kind, value in ancillary:
                if (level, kind) == (socket.SOL_SOCKET, SO_RXQ_OVFL):
                    dropped = struct.unpack("I", value)[0]
            if data == b"end":
                break
            received.append(int(data[:6]))
        counted = "" if dropped is None else f" (the kernel counted {dropped} drops)"
        lost = burst - len(received)
        receiver.say(
            f"burst: sent {burst}, received {len(received)}, lost {lost}{counted}; "
            f"the datagrams that got in: #{received[0]} to #{received[-1]}"
        )

        # 4. Order: four straight to the receiver, then four through a relay that swaps each pair.
        for path, via in (("straight", where), ("through the relay", relay.getsockname())):
            for number in range(1, 5):
                out.sendto(b"%d" % number, via)
            if via != where:
                held = [relay.recvfrom(4096)[0] for _ in range(4)]
                Log("relay").say(
                    "swaps each pair, on purpose, as two routes of different speed could (loopback never reorders)"
                )
                for data in (held[1], held[0], held[3], held[2]):
                    relay.sendto(data, where)
            order = [int(inbox.recvfrom(4096)[0]) for _ in range(4)]  # the numbers are ours: UDP has none
            in_order = "in order" if order == sorted(order) else "out of order"
            receiver.say(f"{path}: arrival order {', '.join(map(str, order))}: {in_order}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--burst",
        type=program.whole_number(1, 100_000),
        default=200,
        help="how many datagrams to send before the receiver reads (default 200)",
    )
    args = parser.parse_args()
    show(args.burst)


DETAILS = """
What else it shows
    Loopback keeps the order; a relay that swaps each pair plays a network
    whose datagrams took routes of different speed, and says it does so.
    Datagram sockets need no connection, so one process holds all the sockets
    (sender, receiver, relay) and the order of events is certain.

System calls, in order
    socket(AF_INET, SOCK_DGRAM) x3, each with setsockopt(SO_RCVTIMEO) (no
    wait over 10 s) -> bind() the receiver and the relay ->
    sendto() x3, recvfrom() x3 -> sendto() 64 bytes, recvmsg() into 16 ->
    setsockopt(SO_RCVBUF, SO_RXQ_OVFL) -> sendto() xN, recvmsg() what is left ->
    sendto() x4, recvfrom() x4 -> sendto() the relay x4, which recvfrom()s them
    and sendto()s them on in another order -> recvfrom() x4.

Its peer
    Itself: its own sockets, each with its own address.

Expected output (pids vary; the numbers are this machine's)
    sender[100]: sent "hello"
    ... two more sent, then three received ...
    receiver[100]: 3 sendto() -> 3 recvfrom() of 5, 12, 20 bytes: one datagram each, never merged
    sender[100]: sendto() 64 bytes b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    receiver[100]: truncated: kept 16 of 64 bytes (MSG_TRUNC), lost 48: b'QRSTUVWXYZabcdef...'
    receiver[100]: the next recvfrom() returns the next datagram, not the rest: b'next'
    sender[100]: burst: 200 datagrams of 60 bytes into a receive queue of 8192 bytes, before any recvfrom()
    receiver[100]: burst: sent 200, received 9, lost 191 (the kernel counted 191 drops); the datagrams that got in: #0 to #8
    receiver[100]: straight: arrival order 1, 2, 3, 4: in order
    relay[100]: swaps each pair, on purpose, as two routes of different speed could (loopback never reorders)
    receiver[100]: through the relay: arrival order 2, 1, 4, 3: out of order
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "receiver"))
