r"""Fork server: one child per client, its socket on fds 0 and 1, then exec (the inetd way).

What it shows
    A concurrent server: 1 fd waits for new clients (the listening socket),
    and each client gets 1 fd of its own (the connected socket), in a child
    of its own, so a slow client holds up no one else. A socket is a file
    descriptor like any other: the child dup2()s it onto fds 0 and 1 and
    exec()s demos/stdio_server.py, a program that only reads stdin and
    writes stdout, and never knows it talks to the network.

Run it
    python demos/fork_server.py [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make fork-server, which also runs two clients)
    Then, in two more terminals at once:  nc -N 127.0.0.1 PORT   (both answered)
"""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log, address
from ipc.serving import explaining_bind

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdio_server.py")
GRACE = 10.0  # seconds the children get to finish once the server stops accepting
log = Log("server")
children: set[int] = set()


def serve(host: str, port: int, clients: int, idle: float) -> None:
    family, kind, proto, _, where = socket.getaddrinfo(  # AI_PASSIVE: no host means any address
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
        with explaining_bind(where):  # a port below 1024, a port in use: the error says which, and why
            listener.bind(where)
        listener.listen(socket.SOMAXCONN)  # room for a burst of clients (demos/backlog.py shows a small queue)
        log.say(f"listening on {address(listener.getsockname())}")  # port 0 became a real port: ask which
        log.ready(host=listener.getsockname()[0], port=listener.getsockname()[1])
        for _ in program.up_to(clients):
            connection, peer = listener.accept()  # blocks until a client connects
            pid = os.fork()
            if pid == 0:  # the child; if exec fails, 127 (as a shell's "not found"), never back into the accept loop
                os._exit(program.child("server", serve_in_child, listener, connection, idle, failure=127))
            children.add(pid)
            log.say(f"accepted {address(connection.getsockname())} <- {address(peer)}; forked child {pid}")
            connection.close()  # else the connection outlives the child: no FIN, the client never reads EOF
            reap(deadline=0)  # the children that ended: each stays a zombie until waitpid() collects it


def serve_in_child(listener: socket.socket, connection: socket.socket, idle: float) -> None:
    listener.close()  # the child never accepts: only the parent waits for new clients
    os.dup2(connection.fileno(), 0)  # a socket is a file descriptor like any other: it can be stdin
    os.dup2(connection.fileno(), 1)  # and stdout: one socket, read and written both ways
    connection.close()  # fds 0 and 1 keep the connection open
    log.say("fds 0 and 1 are the connection now; exec'ing demos/stdio_server.py")
    os.execv(sys.executable, [sys.executable, SERVER, "--idle", str(idle)])  # never returns when it works


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    program.listen_options(parser)
    program.clients_options(parser, idle="each child drops a client that sends no whole request")
    args = parser.parse_args()
    try:
        serve(args.host, args.port, args.clients, args.idle)
    except BaseException:  # an error or a signal: the children are stopped at once
        stop_children(grace=0.0)
        raise
    stop_children(grace=GRACE)  # let the children finish their clients


def stop_children(grace: float) -> None:
    reap(deadline=time.monotonic() + grace)
    for pid in children:
        os.kill(pid, signal.SIGTERM)  # still busy after the grace period (or we were stopped): stop them
    reap(deadline=time.monotonic() + GRACE)


def reap(deadline: float) -> None:
    """waitpid() the children that ended; wait for the others until the deadline."""
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)  # WNOHANG: 0 if no child has ended yet
        if pid == 0 and time.monotonic() >= deadline:
            return
        if pid == 0:
            time.sleep(0.05)
            continue
        children.discard(pid)
        log.say(f"child {pid} exited with status {os.waitstatus_to_exitcode(status)}")


DETAILS = """
What else it shows
    The parent closes its copy of each connection at once, so the child's
    exit is the last close and the client reads end of file. A child that
    ended stays a zombie until the parent's waitpid(), at the next accept()
    or at the end. Each child's stdio_server.py drops a client that sends no
    whole request within --idle seconds (an alarm: its read() of fd 0 takes
    no timeout).

System calls, in order
    getaddrinfo(host, port, AI_PASSIVE) -> socket() -> setsockopt(SO_REUSEADDR)
    -> bind() -> listen(SOMAXCONN) -> getsockname() -> then per client: accept() ->
    fork() -> child: close(listener), dup2(conn, 0), dup2(conn, 1), close(conn),
    execv(python, stdio_server.py --idle N) -> parent: close(conn), waitpid(WNOHANG)
    -> accept() ... -> at the end, waitpid() every child left.

Its peer
    demos/tcp_client.py, nc, or anything that writes lines to a TCP socket.

Expected output (pids vary; a child's lines may come before or after the
parent's "forked child" line, and a child is reaped at the next accept or the end)
    server[200]: listening on 127.0.0.1:41234
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012; forked child 201
    server[201]: fds 0 and 1 are the connection now; exec'ing demos/stdio_server.py
    server[201]: fd 0 is a socket, fd 1 is a socket
    server[201]: received "hello"
    ...
    server[201]: end of file on fd 0 (a socket): the peer shut down its sending side
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53014; forked child 202
    server[200]: child 201 exited with status 0
    server[200]: child 202 exited with status 0
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
