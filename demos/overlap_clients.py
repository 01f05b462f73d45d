"""Clients that overlap: a slow client connects first, a fast one after it, and the fast one is answered first.

What it shows
    A server that serves one client at a time (demos/tcp_server.py) would
    keep the fast client waiting behind the slow one. The fork server gives
    each client a process of its own, the poll server one entry in its
    table: both hold two connections at once, 1 fd per client, and answer
    whoever speaks. Here the slow client connects, then says nothing until
    the fast one has had every answer; the transcript and the trace show
    the two conversations overlapping on one server.

Run it
    python demos/overlap_clients.py --host 127.0.0.1 --port PORT
    (start demos/fork_server.py or demos/select_server.py first; or: make overlap-fork, make overlap-select)
"""

import os
import select
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, encode
from ipc.timeouts import TimedReader

PATIENCE = program.CLIENT_PATIENCE  # seconds for every wait
log = Log("clients")


def overlap(host: str, port: int) -> None:
    connected_r, connected_w = os.pipe()  # the slow client says "connected" on it
    go_r, go_w = os.pipe()  # and waits on this one until the fast client is done
    slow = os.fork()
    if slow == 0:
        os.close(connected_r)
        os.close(go_w)
        os._exit(program.child("client", client, host, port, "slow", connected_w, go_r))
    os.close(connected_w)
    os.close(go_r)
    wait_readable(connected_r, "the slow client did not connect")  # it holds its connection now, silent
    fast = os.fork()
    if fast == 0:
        os._exit(program.child("client", client, host, port, "fast", -1, -1))
    log.say(f"slow client {slow} connected and silent; fast client {fast} started")
    codes = {"fast": wait(fast)}  # the whole fast conversation, while the slow client says nothing
    os.write(go_w, b"go")  # now the slow client speaks
    codes["slow"] = wait(slow)
    for fd in (connected_r, go_w):
        os.close(fd)
    log.say(f"fast client exited with {codes['fast']}, slow client with {codes['slow']}")
    if any(codes.values()):
        raise ChildProcessError(f"a client failed: {codes}")


def client(host: str, port: int, speed: str, connected_w: int, go_r: int) -> None:
    with socket.create_connection((host, port), timeout=PATIENCE) as sock:
        sock.settimeout(None)  # blocking again: TimedReader below sets the kernel's deadline
        log_ = Log("client")
        log_.say(f"{speed} client connected {address(sock.getsockname())} -> {address(sock.getpeername())}")
        if speed == "slow":
            os.write(connected_w, b"connected")
            wait_readable(go_r, "no word to go on")  # silent until the fast client is done
            log_.say("slow client speaks now: the fast one has had every answer")
        replies = TimedReader(sock, PATIENCE, f"no answer within {PATIENCE:g} s")
        conversation = ClientConversation()
        for request in SAMPLE_REQUESTS:
            data = encode(request)
            log_.sent(data)
            sock.sendall(data)
            reply = replies.receive()
            if reply is None:
                raise ConnectionError("the server closed the connection before answering")
            log_.received(reply)
            conversation.check(request, reply)
    log_.say(f"{speed} client closed the connection")


def wait_readable(fd: int, why: str) -> None:
    """Read the word on this pipe: select() first, so that the wait has a deadline."""
    if not select.select([fd], [], [], PATIENCE)[0]:
        raise TimeoutError(f"{why} within {PATIENCE:g} s")
    os.read(fd, 64)


def wait(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--host", type=program.host_name, default="127.0.0.1", help="the server's name or address")
    parser.add_argument("--port", type=program.port_number, required=True, help="the server's port")
    args = parser.parse_args()
    overlap(args.host, args.port)


DETAILS = """
System calls, in order
    pipe() twice -> fork() the slow client: socket(), connect(), write() to
    the first pipe, then select() and read() the second (select(): a deadline)
    -> fork() the fast client: socket(), connect(), send() a request,
    recv() its answer, ... close() -> waitpid() -> write() "go": the slow
    client send()s and recv()s -> waitpid().

Its peer
    demos/fork_server.py or demos/select_server.py, with --clients 2.

Expected output
    client[301]: slow client connected 127.0.0.1:53012 -> 127.0.0.1:41234
    clients[300]: slow client 301 connected and silent; fast client 302 started
    client[302]: fast client connected 127.0.0.1:53014 -> 127.0.0.1:41234
    client[302]: sent "hello"
    client[302]: received "1 HELLO"
    ...
    client[302]: fast client closed the connection
    client[301]: slow client speaks now: the fast one has had every answer
    client[301]: sent "hello"
    client[301]: received "1 HELLO"
    ...
    clients[300]: fast client exited with 0, slow client with 0
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "clients"))
