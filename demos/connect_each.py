"""Connect to each address in turn: a client that walks getaddrinfo()'s list until one answers.

What it shows
    A name can have several addresses (IPv6 and IPv4, several servers) and a
    server may listen on only some of them, so a client tries each result of
    getaddrinfo() in order until connect() succeeds. To make that happen for
    real, the demo forks a server on the LAST address only and holds the
    earlier ones bound but not listening: each earlier attempt is refused, for
    certain. No name (None), without AI_PASSIVE, is getaddrinfo's loopback:
    ::1 and 127.0.0.1.

Run it
    python demos/connect_each.py [--host NAME] [MESSAGE...]      (or: make connect-each)
    python demos/connect_each.py --host localhost --port PORT     (against any server)
"""

import errno
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.protocol import SAMPLE_REQUESTS, ClientConversation, ServerConversation, encode
from ipc.stream import MessageReader
from ipc.timeouts import TimedReader, timeval

TIMEOUT = 10.0  # seconds any one wait may take
log = Log("client")


def connect(host, port: int) -> socket.socket:
    """Try each address getaddrinfo() gives until one accepts the connection."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    log.say(f"getaddrinfo({host!r}, {port}) gave {len(infos)}: {', '.join(address(info[4]) for info in infos)}")
    for attempt, (family, kind, proto, _, where) in enumerate(infos, start=1):
        sock = socket.socket(family, kind, proto)
        # across a network, an address that never answers costs this much: connect() then fails (EINPROGRESS)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(TIMEOUT))
        started = time.monotonic()
        try:
            sock.connect(where)
            outcome = f"connected from {address(sock.getsockname())}"
        except OSError as error:  # the error taught here: this address did not take it, so on to the next
            sock.close()
            sock, outcome = None, f"{type(error).__name__}: {error.strerror or error}"
        log.say(
            f"try {attempt} of {len(infos)}: connect({address(where)}): {outcome}"
            f" after {(time.monotonic() - started) * 1000:.1f} ms"
        )
        if sock is not None:
            return sock
    raise ConnectionError(f"none of the {len(infos)} addresses of {host!r} took the connection")


def converse(host, port, messages: list) -> None:
    """Connect (to our own server, unless given a port), then the exchange."""
    pid, port, held = start_server(host) if port is None else (None, port, [])
    try:
        with connect(host, port) as sock:
            reader = TimedReader(sock, TIMEOUT, f"no answer within {TIMEOUT:g} s")  # setsockopt(SO_RCVTIMEO)
            conversation = ClientConversation()
            for request in messages:
                data = encode(request)
                log.sent(data)
                sock.sendall(data)
                reply = reader.receive()
                if reply is None:
                    raise ConnectionError("the server closed the connection before answering")
                log.received(reply)
                conversation.check(request, reply)
    except BaseException:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)  # else our server would wait for a client that is not coming
        raise
    finally:
        for sock in held:
            sock.close()
        if pid is not None:
            _, status = os.waitpid(pid, 0)  # reap the child, or it stays a zombie
            log.say(f"server child {pid} exited with status {os.waitstatus_to_exitcode(status)}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--host", type=program.host_name, default=None, help="a name or address (default: none, meaning this host)"
    )
    parser.add_argument("--port", type=program.port_number, help="a server's port (default: start a server of our own)")
    parser.add_argument("messages", nargs="*", default=SAMPLE_REQUESTS, metavar="MESSAGE")
    args = parser.parse_args()
    converse(args.host, args.port, args.messages)


# -- below the lesson: the experiment, a server on the last address only ------------------------------------------


def start_server(host):
    """The experiment: a server on the LAST address getaddrinfo() gives; the earlier ones held, not listening."""
    *earlier, (family, kind, proto, _, last) = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    for attempt in range(1, 21):
        listener = socket.socket(family, kind, proto)
        listener.bind(last)  # port 0: the kernel picks a port free on THIS address only...
        port = listener.getsockname()[1]
        try:
            held = hold(earlier, port)
            break
        except OSError as error:  # ...on another address someone may have it: EADDRINUSE. Then a new port.
            listener.close()
            if error.errno != errno.EADDRINUSE or attempt == 20:
                raise
            log.say(f"port {port} is free on {address(last)} but taken on another address: another port")
    listener.listen(1)  # before fork(): no client can come before the server listens
    pid = os.fork()
    if pid == 0:  # the child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("server", serve, listener))
    log.say(
        f"forked server child {pid}: it listens on {address(listener.getsockname())} only; "
        f"{', '.join(address(sock.getsockname()) for sock in held) or 'no other address'}: bound, not listening"
    )
    listener.close()  # the child has its own copy
    return pid, port, held


def hold(infos: list, port: int) -> list:
    """Bind each address, on that port, without listen(): a connect() there is refused, and no one else gets it."""
    held = []
    try:
        for family, kind, proto, _, where in infos:
            held.append(socket.socket(family, kind, proto))
            held[-1].bind((where[0], port, *where[2:]))
    except OSError:
        for sock in held:
            sock.close()
        raise
    return held


def serve(listener: socket.socket) -> None:
    """The forked child: answer one client, then _exit()."""
    server_log = Log("server")
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(TIMEOUT))  # accept() waits 10 s at most
    connection, _ = listener.accept()  # no line here: the parent is printing now, and lines would mix
    conversation = ServerConversation()
    for request in MessageReader(connection.recv):
        server_log.received(request)
        reply = encode(conversation.reply_to(request))
        server_log.sent(reply)
        connection.sendall(reply)


DETAILS = """
System calls, in order
    getaddrinfo(host, 0) -> socket()/bind() on the last address, bind() on the
    others to the same port (taken there: close, bind port 0 again) -> listen() ->
    fork(): the child accept()s and answers -> getaddrinfo(host, port)
    -> per result: socket(), setsockopt(SO_SNDTIMEO: a connect() that waits
    10 s fails), connect() (refused: close(), next) -> setsockopt(SO_RCVTIMEO)
    -> sendall()/recv() -> waitpid().

Its peer
    Its own forked child, or with --port any TCP server (demos/tcp_server.py).

Expected output (pids and ports vary; the order of the list is this machine's)
    client[600]: forked server child 601: it listens on 127.0.0.1:41234 only; [::1]:41234: bound, not listening
    client[600]: getaddrinfo(None, 41234) gave 2: [::1]:41234, 127.0.0.1:41234
    client[600]: try 1 of 2: connect([::1]:41234): ConnectionRefusedError: Connection refused after 0.1 ms
    client[600]: try 2 of 2: connect(127.0.0.1:41234): connected from 127.0.0.1:53012 after 0.2 ms
    client[600]: sent "hello"
    server[601]: received "hello"
    ...
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "client"))
