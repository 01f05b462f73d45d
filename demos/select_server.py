"""Select server: one process serves every client at once, waiting on all their sockets with poll().

What it shows
    The notes' server juggles "1 FD per client and 1 FD to wait for new
    clients". demos/tcp_server.py serves them one after another, and
    demos/fork_server.py gives each a process; this one waits on every fd at
    once in one call, poll() (select() does the same with bit masks), which
    returns those that are ready: the listener (a client to accept), a client
    with bytes to read, a client whose buffer has room for our answers. Every
    socket is non-blocking, so no recv() or send() can hold up the others: an
    idle client costs nothing, a slow one is read as its bytes come, one that
    reads nothing fills only its own queue (we stop reading its requests).
    Between two poll() calls nothing else remembers a client, so its state is
    in a table: its bytes so far (a Decoder: the exchange without I/O), the
    answers not yet sent, its deadline (--idle: no progress for that long).
    Each client holds an fd: out of them, accept() fails with EMFILE, and
    the server says so once, stops polling its listener for half a second
    (new clients wait in the listen queue), and serves the ones it has.

Run it
    python demos/select_server.py [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make select-server)
    Then, in several terminals at once:  nc -N 127.0.0.1 PORT   (all are answered)

System calls, in order
    getaddrinfo() -> socket() -> setsockopt(SO_REUSEADDR) -> bind() ->
    listen(SOMAXCONN) -> then, over and over: poll() on the listener and every
    client -> the listener ready: accept(), set the new socket non-blocking;
    a client ready to read: recv(), answers queued; ready to write: send()
    what fits -> close() each client at its end of file (after an error line:
    shutdown(SHUT_WR), recv() until b"", then close(), as tcp_server.py).

Its peer
    demos/tcp_client.py, nc, any number of them at once.

Expected output
    server[200]: listening on 127.0.0.1:41234; poll() waits on it and on every client
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012 (1 client)
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: closed 127.0.0.1:53012: its end of file (0 clients left)
"""

import math
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address, plural
from ipc.protocol import END, NEED_DATA, Decoder, ProtocolError, ServerConversation, encode, error_reply

BACKLOG = 64 * 1024  # answers a client has not read, past which we stop reading its requests
DRAIN = 1.0  # seconds to read what a refused client still sends, after our shutdown(SHUT_WR)
log = Log("server")


class Client:
    """What the one process must remember about a client between two poll() calls."""

    def __init__(self, sock: socket.socket, peer: str, idle: float):
        self.sock, self.peer, self.idle = sock, peer, idle
        self.decoder, self.conversation = Decoder(), ServerConversation()
        self.outgoing = bytearray()  # answers not sent yet: send() takes what fits
        self.state = "talking"  # then "closing" (its EOF came), "refusing" (an error line), "draining", "done"
        self.why = "its end of file"  # why it is done, for the last line about it
        self.moved()

    def moved(self, seconds: float = 0) -> None:
        self.deadline = time.monotonic() + (seconds or self.idle or math.inf)

    def events(self) -> int:
        reading = self.state == "draining" or self.state == "talking" and len(self.outgoing) < BACKLOG
        return (select.POLLIN if reading else 0) | (select.POLLOUT if self.outgoing else 0)

    def refuse(self, why: object) -> None:
        log.say(f"error from {self.peer}: {why}")
        self.why = "after its error line"
        reply = encode(error_reply(why))
        log.sent(reply)  # queued: it goes out as the client's buffer takes it
        self.outgoing += reply
        self.state = "refusing"

    def readable(self) -> None:
        data = self.sock.recv(4096)  # never waits: poll() said there are bytes, or an end of file
        if self.state == "draining":
            self.state = self.state if data else "done"
            return
        self.decoder.feed(data)  # b"" says the stream ended
        try:
            while (message := self.decoder.next_message()) not in (NEED_DATA, END):
                log.received(message)
                reply = encode(self.conversation.reply_to(message))
                log.sent(reply)  # queued: it goes out as the client's buffer takes it
                self.outgoing += reply
                self.moved()
            if message is END:  # its end of file: done once its answers are out
                self.state = "closing" if self.outgoing else "done"
        except ProtocolError as error:
            self.refuse(error)

    def writable(self) -> None:
        del self.outgoing[: self.sock.send(self.outgoing)]  # what fits now; the rest waits for the next POLLOUT
        self.moved()
        if not self.outgoing and self.state == "refusing":
            self.sock.shutdown(socket.SHUT_WR)  # the error line went first; then read what it still sends:
            self.state = "draining"  # closed with bytes unread, the socket would send a reset (see tcp_server.py)
            self.moved(DRAIN)
        elif not self.outgoing and self.state == "closing":
            self.state = "done"

    def late(self) -> None:
        if self.state == "draining":  # drained long enough
            self.state = "done"
        elif self.outgoing:  # our answers have moved nowhere for that long: it reads nothing, let it go
            self.state, self.why = "done", "it reads nothing"
        else:
            self.refuse(f"no whole request within {self.idle:g} s")


def main() -> None:
    parser = program.argument_parser(__doc__)
    program.listen_options(parser)
    program.clients_options(parser, idle="drop a client that makes no progress")
    args = parser.parse_args()

    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        args.host or None, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    clients: dict[int, Client] = {}  # fd -> its client: all the state there is
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        try:
            listener.bind(where)
        except OSError as error:  # say which address, and why: a port below 1024, a port in use
            raise program.explain_bind(error, where) from None
        listener.listen(socket.SOMAXCONN)
        listener.setblocking(False)
        poller = select.poll()  # the set of fds to wait on, and for what
        poller.register(listener, select.POLLIN)  # readable: a client is waiting to be accepted
        log.say(f"listening on {address(listener.getsockname())}; poll() waits on it and on every client")
        log.ready(host=listener.getsockname()[0], port=listener.getsockname()[1])
        accepted, paused_until = 0, math.inf  # paused: out of fds, the listener is left out of poll() a while
        shortage = program.Shortage(log)
        while clients or args.clients == 0 or accepted < args.clients:
            if time.monotonic() >= paused_until:
                poller.register(listener, select.POLLIN)  # try accept() again
                paused_until = math.inf
            soonest = min([paused_until, *(client.deadline for client in clients.values())])
            wait = None if soonest == math.inf else max(0, soonest - time.monotonic()) * 1000
            for fd, events in poller.poll(wait):  # sleeps until an fd is ready or a deadline comes
                if fd == listener.fileno():
                    try:
                        sock, peer = listener.accept()  # ready: will not block (or another took it: EAGAIN)
                    except BlockingIOError:
                        continue
                    except OSError as error:  # EMFILE: no fd for it. Still readable: poll() would spin on it
                        if error.errno not in program.OUT_OF_FDS:
                            raise
                        shortage.ran_out(
                            "file descriptors",
                            f"{plural(len(clients), 'client')} hold them; not accepting for {program.SHED_PAUSE:g} s "
                            "at a time, new clients wait in the listen queue",
                        )
                        poller.unregister(listener)
                        paused_until = time.monotonic() + program.SHED_PAUSE
                        continue
                    shortage.recovered()
                    sock.setblocking(False)  # no recv() or send() on it may ever wait
                    clients[sock.fileno()] = Client(sock, address(peer), args.idle)
                    poller.register(sock, select.POLLIN)
                    accepted += 1
                    log.say(
                        f"accepted {address(sock.getsockname())} <- {address(peer)} ({plural(len(clients), 'client')})"
                    )
                    if accepted == args.clients:
                        poller.unregister(listener)  # that was the last one it will take
                    continue
                client = clients[fd]
                try:
                    if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        client.readable()
                    if events & select.POLLOUT and client.state != "done":
                        client.writable()
                except (ConnectionResetError, BrokenPipeError) as error:  # one bad peer must not end the server
                    client.state, client.why = "done", f"it reset the connection ({type(error).__name__})"
                except OSError as error:  # gone some other way (ENOTCONN after its reset)
                    client.state, client.why = "done", f"lost it ({program.describe(error)})"
            for fd, client in list(clients.items()):
                if client.state != "done" and time.monotonic() >= client.deadline:
                    client.late()
                if client.state == "done":
                    poller.unregister(fd)
                    client.sock.close()
                    del clients[fd]
                    log.say(f"closed {client.peer}: {client.why} ({plural(len(clients), 'client')} left)")
                else:
                    poller.modify(fd, client.events())
    finally:
        for client in clients.values():
            client.sock.close()
        listener.close()


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
