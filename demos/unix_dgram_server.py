"""Unix-domain datagram server: answers the exchange one datagram at a time, a conversation per client path.

What it shows
    demos/udp_server.py with a path for an address, as in
    demos/unix_stream_server.py. An answer needs an address to go to: a
    Unix datagram client that never bound a path has no name, recvfrom()
    gives None, and the server cannot answer. So each client binds a path
    of its own, and each program unlinks its own file on every way out.

Run it
    python demos/unix_dgram_server.py [--path PATH] [--clients N]
    (or: make unix-dgram, which also runs the client)
    Talk to it by hand:  nc -uU PATH   (nc binds a path of its own for the
    answers) then type lines; each goes as one datagram, newline included.
"""

import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address, plural
from ipc.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    ServerConversation,
    decode_datagram,
    encode_datagram,
    error_reply,
)
from ipc.serving import explaining_bind

log = Log("server")
dropped: dict[str, int] = {}  # client path -> answers we could not deliver


def serve(path: str, clients: int) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound = False
    try:
        with explaining_bind(path):  # a file already there, even a stale one, is EADDRINUSE: say whose it is
            sock.bind(path)  # creates the socket file
        bound = True
        log.say(f"bound to {address(sock.getsockname())} (no listen(), no accept())")
        log.ready(path=path)
        conversations: dict[str, ServerConversation] = {}  # client path -> its conversation
        buffer = bytearray(MAX_MESSAGE_BYTES)
        ended = 0
        while clients == 0 or ended < clients:
            # One whole datagram; past the buffer's size, the rest is lost. With MSG_TRUNC, Linux returns the
            # datagram's real size all the same, so the error can say how long it was.
            size, peer = sock.recvfrom_into(buffer, 0, socket.MSG_TRUNC)
            data = bytes(buffer[: min(size, len(buffer))])
            if peer is None:  # the sender never bound a path: there is nowhere to send an answer
                log.say(f"datagram of {plural(size, 'byte')} from an unnamed socket: no address to answer, dropped")
                continue
            if not data and peer not in conversations:  # a conversation is an address: a stranger's goodbye ends none
                log.say(f"empty datagram from {address(peer)}, which has no conversation: ignored")
                continue
            if not data:  # datagrams have no end of file: an empty one is the client's goodbye
                log.say(f"empty datagram from {address(peer)}: the end of its conversation")
            else:
                log.say(f"datagram of {plural(size, 'byte')} from {address(peer)}")
                try:
                    if answer(sock, data, size, peer, conversations.setdefault(peer, ServerConversation())):
                        continue
                except (FileNotFoundError, ConnectionRefusedError) as error:  # unlike UDP, a send to nobody fails
                    log.say(f"cannot answer {address(peer)}: {error.strerror}; the end of its conversation")
            del conversations[peer]
            ended += 1
    finally:
        sock.close()
        if bound:  # only the file our bind() made: a failed bind leaves someone else's file alone
            os.unlink(path)  # close() leaves the file behind, and the next bind() would fail
            log.say(f"removed {path}")


def answer(sock: socket.socket, data: bytes, size: int, peer: str, conversation: ServerConversation) -> bool:
    """Answer one datagram (size: its real length); False if it broke the rules, which ends its conversation."""
    newline = b"\n" if data.endswith(b"\n") else b""  # nc -uU sends a line per datagram, newline and all
    try:
        request = decode_datagram(data.removesuffix(newline), size - len(newline))
        log.received(request)
        reply = encode_datagram(conversation.reply_to(request)) + newline
        ok = True
    except ProtocolError as error:  # tell the peer what was wrong; its next datagram starts afresh
        log.say(f"error from {address(peer)}: {error}")
        reply, ok = encode_datagram(error_reply(error)) + newline, False
    try:
        sock.sendto(reply, socket.MSG_DONTWAIT, peer)  # one sendto(), one datagram, to whoever sent; never wait:
    except BlockingIOError:  # unlike UDP, the kernel never drops a Unix datagram: a full receiver makes the sender
        # wait (its queue holds net.unix.max_dgram_qlen datagrams). A client that reads nothing would stop us for
        # everyone; so we drop its answer ourselves, and say so.
        dropped[peer] = dropped.get(peer, 0) + 1
        log.say(
            f"dropped the answer to {address(peer)}: its queue is full, it reads nothing "
            f"({plural(dropped[peer], 'answer')} dropped)"
        )
        return ok
    log.sent(reply)
    return ok


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--path",
        type=program.non_empty,
        help="the socket file to create (default: server.sock in a new private directory)",
    )
    parser.add_argument(
        "--clients",
        type=program.whole_number(0, 2**31),
        default=0,
        help="end after this many conversations (default 0: never)",
    )
    args = parser.parse_args()

    directory = None if args.path else tempfile.mkdtemp(prefix="ipc-unix-dgram-")  # mode 0700: only our user may send
    try:
        serve(args.path or os.path.join(directory, "server.sock"), args.clients)
    finally:
        if directory:
            os.rmdir(directory)


DETAILS = """
What else it shows
    Unlike UDP, the kernel loses nothing: a full receiver makes the sender
    wait, and a send to a path nobody is bound to fails at once instead of
    vanishing. So a client that never reads its answers would stop this
    server for everyone: it sends with MSG_DONTWAIT, and drops (and counts)
    an answer that would have to wait. Without --path the socket file goes
    in a new directory from mkdtemp(); the ready line says where.

System calls, in order
    mkdtemp() -> socket(AF_UNIX, SOCK_DGRAM) -> bind(path), which creates
    the file -> then per datagram: recvfrom(MSG_TRUNC) (into a buffer) ->
    sendto(MSG_DONTWAIT) the path recvfrom() gave -> at the end: close() ->
    unlink(path) -> rmdir().

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

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
