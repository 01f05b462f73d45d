"""The two axes of sockets: {Unix, IPv4, IPv6} x {stream, datagram}, each tried for real.

What it shows
    socket(family, type, 0) takes two independent choices. The family (axis 1)
    decides what an address looks like: a file name for AF_UNIX, (host, port)
    for AF_INET, (host, port, flowinfo, scope_id) for AF_INET6. The type (axis
    2) decides how the bytes go: SOCK_STREAM connects once, then carries a
    byte stream that needs framing (here a newline) to cut messages apart;
    SOCK_DGRAM carries whole datagrams, each sent to an address.

Run it
    python demos/two_axes.py [MESSAGE]      (or: make axes)
"""

import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.protocol import (
    MAX_MESSAGE_BYTES,
    SAMPLE_REQUESTS,
    ClientConversation,
    ServerConversation,
    decode_datagram,
    encode,
    encode_datagram,
)
from ipc.stream import MessageReader
from ipc.timeouts import timeval

TIMEOUT = 5.0  # seconds any one wait may take
client_log, server_log = Log("client"), Log("server")


def exchange(family: socket.AddressFamily, kind: socket.SocketKind, where, request: str):
    """One request and its answer over a pair of sockets; returns the server's address and the client's as seen."""
    with socket.socket(family, kind) as server, socket.socket(family, kind) as client:
        for sock in (server, client):  # no accept() or recv() waits longer than TIMEOUT: it fails with EAGAIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))
        server.bind(where)
        if kind == socket.SOCK_STREAM:
            server.listen(1)
            client.connect(server.getsockname())  # a stream: the address is given once, here
            connection, peer = server.accept()
            with connection:
                data = encode(request)  # a newline marks the end: a stream keeps no boundaries
                client_log.sent(data)
                client.sendall(data)
                asked = MessageReader(connection.recv).receive()
                server_log.received(asked)
                data = encode(ServerConversation().reply_to(asked))
                server_log.sent(data)
                connection.sendall(data)
                answer = MessageReader(client.recv).receive()
        else:
            if family == socket.AF_UNIX:
                client.bind(f"{where}.client")  # unbound, a Unix datagram socket has no address to answer to
            data = encode_datagram(request)
            client_log.sent(data)
            client.sendto(data, server.getsockname())  # a datagram: the address goes with each one
            data, peer = server.recvfrom(MAX_MESSAGE_BYTES)  # one recvfrom, one whole datagram, and who sent it
            asked = decode_datagram(data)
            server_log.received(asked)
            data = encode_datagram(ServerConversation().reply_to(asked))
            server_log.sent(data)
            server.sendto(data, peer)
            answer = decode_datagram(client.recv(MAX_MESSAGE_BYTES))
        client_log.received(answer)
        ClientConversation().check(request, answer)
        return server.getsockname(), peer


def show(message: str) -> None:
    """Each of the six combinations, tried for real, and a table of what happened."""
    log = Log("axes")

    directory = tempfile.mkdtemp()  # private (0700): the Unix sockets' files go here
    rows = [
        (
            "domain",
            "type",
            "address form (server's getsockname())",
            "client, as the server saw it",
            "works here",
            "messages",
        )
    ]
    try:
        for family, where in [
            (socket.AF_UNIX, os.path.join(directory, "{}.sock")),
            (socket.AF_INET, ("127.0.0.1", 0)),
            (socket.AF_INET6, ("::1", 0)),
        ]:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                address = where.format(kind.name[5:].lower()) if family == socket.AF_UNIX else where
                log.say(f"{family.name} x {kind.name}: the server binds {address!r}")
                try:
                    server_address, peer = exchange(family, kind, address, message)
                except OSError as error:  # the one error taught here: this combination does not work here
                    rows.append((family.name, kind.name, repr(address), "-", f"no: {program.describe(error)}", "0"))
                    continue
                seen = repr(peer) + (" (unnamed)" if peer in ("", b"") else "")
                rows.append((family.name, kind.name, str(server_address), seen, "yes", "2"))
    finally:
        shutil.rmtree(directory)  # a Unix socket's file outlives its socket: remove it, on every way out
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        log.say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("message", nargs="?", default=SAMPLE_REQUESTS[0], help="the request to send (default: hello)")
    args = parser.parse_args()
    show(args.message)


DETAILS = """
What else it shows
    The demo opens a pair of sockets for each of the six combinations,
    exchanges one message and its answer, and tabulates what worked here and
    the address form each one used.

System calls, in order
    per combination: socket() twice, setsockopt(SO_RCVTIMEO) on each (no wait
    over 5 s) -> bind() the server -> stream: listen(),
    connect(), accept(), sendall()/recv() -> datagram: (AF_UNIX: bind() the client
    too) sendto(), recvfrom(), sendto() back, recv() -> close() -> unlink() the files.

Its peer
    Itself: both sockets of each pair live in this one process, one after another.

Expected output (paths and ports vary)
    axes[800]: AF_UNIX x SOCK_STREAM: the server binds '/tmp/tmpvswfeowa/stream.sock'
    client[800]: sent "hello"
    server[800]: received "hello"
    server[800]: sent "1 HELLO"
    client[800]: received "1 HELLO"
    ...
    axes[800]: domain    type         address form (server's getsockname())  client, as the server saw it          works here  messages
    axes[800]: AF_UNIX   SOCK_STREAM  /tmp/tmpvswfeowa/stream.sock           '' (unnamed)                          yes         2
    axes[800]: AF_UNIX   SOCK_DGRAM   /tmp/tmpvswfeowa/dgram.sock            '/tmp/tmpvswfeowa/dgram.sock.client'  yes         2
    axes[800]: AF_INET   SOCK_STREAM  ('127.0.0.1', 46183)                   ('127.0.0.1', 58214)                  yes         2
    axes[800]: AF_INET   SOCK_DGRAM   ('127.0.0.1', 40382)                   ('127.0.0.1', 48137)                  yes         2
    axes[800]: AF_INET6  SOCK_STREAM  ('::1', 50737, 0, 0)                   ('::1', 52326, 0, 0)                  yes         2
    axes[800]: AF_INET6  SOCK_DGRAM   ('::1', 33095, 0, 0)                   ('::1', 47365, 0, 0)                  yes         2
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "axes"))
