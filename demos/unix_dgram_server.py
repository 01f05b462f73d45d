"""Unix-domain datagram server: answers the exchange one datagram at a time, a conversation per client path.

What it shows
    demos/udp_server.py with a path for an address, as in
    demos/unix_stream_server.py. An answer needs an address to go to: a
    Unix datagram client that never bound a path has no name, recvfrom()
    gives None, and the server cannot answer. So each client binds a path
    of its own, and each program unlinks its own file on every way out.
    Unlike UDP, nothing is lost: a full receiver blocks the sender, and a
    send to a path nobody is bound to fails at once instead of vanishing.

Run it
    python demos/unix_dgram_server.py [--path PATH] [--clients N]
    (or: make unix-dgram, which also runs the client)
    Without --path the socket file goes in a new directory from mkdtemp();
    the ready line says where.
    Talk to it by hand:  nc -uU PATH   (nc binds a path of its own for the
    answers) then type lines; each goes as one datagram, newline included.

System calls, in order
    mkdtemp() -> socket(AF_UNIX, SOCK_DGRAM) -> bind(path), which creates
    the file -> then per datagram: recvfrom() -> sendto() the path recvfrom()
    gave -> at the end: close() -> unlink(path) -> rmdir().

Its peer
    demos/unix_dgram_client.py, nc -uU, or anything that sends datagrams from a bound path.

Expected output
    server[200]: bound to /tmp/ipc-unix-dgram-k2j4/server.sock (no listen(), no accept())
    server[200]: ready: path=/tmp/ipc-unix-dgram-k2j4/server.sock
    server[200]: datagram of 5 bytes from /tmp/ipc-unix-dgram-client-x7q1/client.sock
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: empty datagram from /tmp/ipc-unix-dgram-client-x7q1/client.sock: the end of its conversation
    server[200]: removed /tmp/ipc-unix-dgram-k2j4/server.sock
"""

import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import (MAX_MESSAGE_BYTES, ProtocolError, ServerConversation, decode_datagram,
                          encode_datagram, error_reply)

log = Log("server")


def answer(sock: socket.socket, data: bytes, peer: str, conversation: ServerConversation) -> bool:
    """Answer one datagram; False if it broke the rules, which ends its conversation."""
    newline = b"\n" if data.endswith(b"\n") else b""  # nc -uU sends a line per datagram, newline and all
    try:
        request = decode_datagram(data.removesuffix(newline))
        log.received(request)
        reply = encode_datagram(conversation.reply_to(request)) + newline
        log.sent(reply)
        sock.sendto(reply, peer)  # one sendto(), one datagram, to whoever sent
        return True
    except ProtocolError as error:  # tell the peer what was wrong; its next datagram starts afresh
        log.say(f"error from {address(peer)}: {error}")
        sock.sendto(encode_datagram(error_reply(error)) + newline, peer)
        return False


def main() -> None:
    parser = program.argument_parser(__doc__)
    parser.add_argument("--path", help="the socket file to create (default: server.sock in a new private directory)")
    parser.add_argument("--clients", type=int, default=0, help="end after this many conversations (default: never)")
    args = parser.parse_args()

    directory = None if args.path else tempfile.mkdtemp(prefix="ipc-unix-dgram-")  # mode 0700: only our user may send
    path = args.path or os.path.join(directory, "server.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound = False
    try:
        sock.bind(path)  # creates the file; if one is there already, even a stale one: EADDRINUSE
        bound = True
        log.say(f"bound to {address(sock.getsockname())} (no listen(), no accept())")
        log.ready(path=path)
        conversations: dict[str, ServerConversation] = {}  # client path -> its conversation
        ended = 0
        while args.clients == 0 or ended < args.clients:
            data, peer = sock.recvfrom(MAX_MESSAGE_BYTES)  # one whole datagram; what a longer one has past this is lost
            if peer is None:  # the sender never bound a path: there is nowhere to send an answer
                log.say(f"datagram of {len(data)} bytes from an unnamed socket: no address to answer, dropped")
                continue
            if not data:  # datagrams have no end of file: an empty one is the client's goodbye
                log.say(f"empty datagram from {address(peer)}: the end of its conversation")
                conversations.pop(peer, None)
                ended += 1
                continue
            log.say(f"datagram of {len(data)} bytes from {address(peer)}")
            try:
                if answer(sock, data, peer, conversations.setdefault(peer, ServerConversation())):
                    continue
            except (FileNotFoundError, ConnectionRefusedError) as error:  # unlike UDP, a send to nobody fails at once
                log.say(f"cannot answer {address(peer)}: {error.strerror}; the end of its conversation")
            del conversations[peer]
            ended += 1
    finally:
        sock.close()
        if bound:  # only the file our bind() made: a failed bind leaves someone else's file alone
            os.unlink(path)  # close() leaves the file behind, and the next bind() would fail
            log.say(f"removed {path}")
        if directory:
            os.rmdir(directory)


if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
