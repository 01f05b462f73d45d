"""Half-close client: sends and receives at once on one socket, then shutdown(SHUT_WR).

What it shows
    Full duplex: a writer thread sends requests while the main thread reads
    the answers, on the same socket at the same time. The buffers are shrunk
    (SO_SNDBUF, SO_RCVBUF) so that neither direction holds much: a client
    that sent everything before reading would deadlock. Then shutdown(SHUT_WR)
    closes only the client's sending direction: the server reads end of
    file, yet the client still reads the last answers.

Run it
    python demos/half_close_client.py --port PORT [--count N] [--buffer BYTES]
    (start demos/half_close_server.py first; it prints the port)
"""

import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import ClientConversation, ProtocolError, encode
from ipc.stream import MessageReader
from ipc.timeouts import on_expiry, timeval

TIMEOUT = 10.0  # seconds any send or recv may wait before giving up
log = Log("client")


def connect(host: str, port: int, buffer: int) -> socket.socket:
    """Try each address getaddrinfo() gives until one accepts the connection."""
    failure = None
    for family, kind, proto, _, where in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        if buffer:  # before connect(): the receive buffer decides the window the server may fill
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(TIMEOUT))  # for both threads: every send
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))  # and recv waits 10 s at most
        try:
            sock.connect(where)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure or ConnectionError(f"no address found for {host}")


def send_requests(sock: socket.socket, requests: list[str], conversation: ClientConversation) -> None:
    """The writer thread: every request, then half-close. The main thread reads meanwhile."""
    try:
        for request in requests:
            sock.sendall(encode(request))  # blocks whenever the server is behind
        back = conversation.checked  # counted by the main thread, which is reading right now
        moved = "both directions at once" if back else "the buffers held everything, so no overlap was needed"
        log.say(f"sent all {len(requests)} requests; meanwhile {back} answers had come back: {moved}")
        log.say("shutdown(SHUT_WR): the server will read end of file; we still read")
        sock.shutdown(socket.SHUT_WR)  # not close(): that would end both directions
    except OSError as error:  # the main thread fails too, on its own recv()
        log.say(f"error while sending: {program.describe(error)}")


def converse(host: str, port: int, requests: list[str], buffer: int) -> None:
    with connect(host, port, buffer) as sock:
        shrunk = f", buffers shrunk to {buffer} bytes" if buffer else ""
        log.say(f"connected {address(sock.getsockname())} -> {address(sock.getpeername())}{shrunk}")
        conversation = ClientConversation()
        writer = threading.Thread(target=send_requests, args=(sock, requests, conversation), daemon=True)
        writer.start()  # from here on both directions are busy at once
        reader = MessageReader(sock.recv)
        for request in requests:  # quiet meanwhile, so the lines below come after the writer's and the server's
            reply = reader.receive()
            if reply is None:
                raise ConnectionError(f"the server closed the connection after {conversation.checked} answers")
            conversation.check(request, reply)
        writer.join(TIMEOUT)  # done already, or about to be: the last answer needed the last request
        last = reader.receive()  # the server sends it after its end of file, and after its own lines
        if last is None:
            raise ConnectionError("the server closed without its line after our end of file")
        log.say(f"received and checked all {conversation.checked} answers")
        log.received(last)
        if reader.receive() is not None:
            raise ProtocolError("expected end of file after the server's last line")
        log.say("end of file: the server closed its side too")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    parser.add_argument(
        "--count",
        type=program.whole_number(0, 1_000_000),
        default=2000,  # the shrunk buffers hold some 540 (measured): sending must wait for reading
        help="how many requests to send (default 2000)",
    )
    parser.add_argument(
        "--buffer",
        type=program.whole_number(0, 1 << 26),
        default=4096,
        metavar="BYTES",
        help="send and receive buffer size to ask for (default 4096; 0: the kernel's)",
    )
    args = parser.parse_args()
    requests = [f"request {number} of {args.count}" for number in range(1, args.count + 1)]
    with on_expiry(f"no progress for {TIMEOUT:g} s: SO_SNDTIMEO or SO_RCVTIMEO ran out"):
        converse(args.host, args.port, requests, args.buffer)


DETAILS = """
What else it shows
    The send and receive buffers are shrunk (SO_SNDBUF, SO_RCVBUF; the
    server's too) so that neither direction holds much: a client that sent
    everything before reading would deadlock, both sides blocked in
    sendall() waiting for the other to read. So by the time the last request
    is out, answers have come back (it counts them): both directions moved
    at once. Then shutdown(SHUT_WR) closes only the client's sending
    direction: the server reads end of file, yet the client still reads the
    last answers, a line the server sent after that end of file, and at last
    the server's own end of file. Every send
    and recv has a deadline, the kernel's: setsockopt(SO_SNDTIMEO,
    SO_RCVTIMEO), and a call blocked that long fails with EAGAIN.

System calls, in order
    getaddrinfo() -> socket() -> setsockopt(SO_SNDBUF, SO_RCVBUF,
    SO_SNDTIMEO, SO_RCVTIMEO) -> connect() -> thread 1: sendall() every
    request, then shutdown(SHUT_WR); meanwhile thread 2: recv() the answers,
    the server's last line, then b"" -> close().

Its peer
    demos/half_close_server.py.

Expected output (the count varies from run to run; it is never 0)
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234, buffers shrunk to 4096 bytes
    client[300]: sent all 2000 requests; meanwhile 1497 answers had come back: both directions at once
    client[300]: shutdown(SHUT_WR): the server will read end of file; we still read
    client[300]: received and checked all 2000 answers
    client[300]: received "after your end of file: 2000 answered"
    client[300]: end of file: the server closed its side too
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
