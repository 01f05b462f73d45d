"""When "the queue is full" IS an error: the cases where a client of a full listen queue is told so.

What it shows
    The notes say a client of a full queue "will see an error"; over TCP it
    usually does not (make backlog: its SYN is dropped, it waits). Here are
    the cases where it does. A Unix socket's non-blocking connect() fails at
    once with EAGAIN (a blocking one waits until accept() makes room). TCP
    with fewer SYN retries (TCP_SYNCNT, on the client's socket) gives up:
    ETIMEDOUT. And with the sysctl tcp_abort_on_overflow, a connection the
    full queue cannot take is reset: ECONNRESET. That one is set only in a
    network namespace of its own, where it cannot touch the machine's.

Run it
    python demos/queue_full.py      (or: make queue-full; the namespace needs root or user namespaces)
"""

import ctypes
import errno
import fcntl
import os
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

server, client = Log("server"), Log("client")
DEADLINE = 5.0  # seconds, for every wait


def unix_full_queue(directory: str) -> None:
    path = os.path.join(directory, "full.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(0)  # room for backlog + 1 = 1 connection nobody accept()ed
        first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        first.connect(path)  # takes the one place
        server.say("Unix listener, listen(0): one client connected, never accept()ed: the queue is full")
        with first, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as second:
            second.setblocking(False)
            try:
                second.connect(path)
                client.say("non-blocking connect() to the full queue -> connected (no error)")
            except BlockingIOError as error:  # the error taught here
                client.say(f"non-blocking connect() to the full queue -> errno {error.errno} (EAGAIN), at once")
        blocking_connect_waits(listener, path)
    os.unlink(path)


def blocking_connect_waits(listener: socket.socket, path: str) -> None:
    """A child's blocking connect() waits in the kernel (unix_wait_for_peer) until accept() makes room."""
    pid = os.fork()
    if pid == 0:
        os._exit(program.child("client", blocking_connect, path))
    waiting = wait_in(pid, "unix_wait_for_peer")
    server.say(f"client {pid} is blocked in connect() ({waiting}); accept() makes room")
    listener.accept()[0].close()  # the first client leaves the queue: the waiting one gets in
    os.waitpid(pid, 0)


def blocking_connect(path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(DEADLINE), 0))  # its deadline
        started = time.monotonic()
        sock.connect(path)  # blocks: the queue is full
        client.say(
            f"blocking connect() returned after {(time.monotonic() - started) * 1000:.1f} ms, once accept() made room"
        )


def tcp_fewer_syn_retries() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        with socket.create_connection(listener.getsockname(), timeout=DEADLINE):  # fills the queue (1 place)
            server.say("TCP listener, listen(0): one connection completed, never accept()ed: SYNs now dropped")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 1)  # resend the SYN once, not 6 times
                started = time.monotonic()
                try:
                    sock.connect(listener.getsockname())
                    said = "connected"
                except TimeoutError as error:  # the error taught here: the kernel's, not a Python timeout
                    said = f"errno {error.errno} (ETIMEDOUT): {error.strerror}"
                client.say(f"connect() with TCP_SYNCNT=1 -> {said} after {time.monotonic() - started:.1f} s")


def abort_on_overflow() -> None:
    """In a child, in a new network namespace: tcp_abort_on_overflow at 0 (the default), then at 1."""
    pid = os.fork()
    if pid == 0:
        os._exit(program.child("server", in_a_namespace_of_its_own))
    os.waitpid(pid, 0)


def in_a_namespace_of_its_own() -> None:
    why = enter_new_network_namespace()
    if why:
        server.say(f"tcp_abort_on_overflow: not shown here: {why}")
        return
    for value in (0, 1):
        with open("/proc/sys/net/ipv4/tcp_abort_on_overflow", "w") as sysctl:  # this namespace's, not the machine's
            sysctl.write(str(value))
        overflow(value)


def overflow(value: int) -> None:
    """A connection the full accept queue cannot take: dropped (0), or reset (1). TCP_DEFER_ACCEPT keeps one
    client's handshake unfinished until it sends, so the queue can fill meanwhile (see DETAILS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
        listener.listen(2)  # full at 3
        late = socket.create_connection(listener.getsockname(), timeout=DEADLINE)  # unfinished: it sent nothing
        others = [socket.create_connection(listener.getsockname(), timeout=DEADLINE) for _ in range(3)]
        for other in others:
            other.sendall(b"hi\n")  # their handshakes end now: 3 in the accept queue, which is full
        late.settimeout(0.5 if value == 0 else DEADLINE)
        late.sendall(b"hello\n")  # ends its handshake: the queue is full
        try:
            said = f"recv() -> {late.recv(100)!r}"
        except ConnectionResetError as error:  # the error taught here
            said = f"recv() -> errno {error.errno} (ECONNRESET): reset"
        except TimeoutError:
            said = "recv() -> nothing within 0.5 s: its bytes were dropped, to be resent"
        client.say(f"tcp_abort_on_overflow={value}: the accept queue was full when this client sent: {said}")
        for sock in (late, *others):
            sock.close()


def enter_new_network_namespace() -> str:
    """unshare(CLONE_NEWNET), with a user namespace of its own where not root; then lo up. Why not, or ""."""
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(clone_newnet if uid == 0 else clone_newnet | clone_newuser) != 0:
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())} (needs root or user namespaces)"
    if uid != 0:  # root inside the user namespace: our user outside
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as file:
                file.write(text)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # a new namespace's lo is down
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock, 0x8913, struct.pack("16sh22x", b"lo", 0)))[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))  # SIOCSIFFLAGS: IFF_UP
    server.say("in a network namespace of its own (unshare(CLONE_NEWNET)): its sysctls are its own")
    return ""


def wait_in(pid: int, function: str) -> str:
    """Until the child waits in that kernel function (its wchan), within DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/wchan") as wchan:
            if wchan.read() == function:
                return f"wchan {function}"
        time.sleep(0.005)
    raise TimeoutError(errno.ETIMEDOUT, f"client {pid} never blocked in {function}")


def main() -> None:
    program.argument_parser(__doc__, DETAILS).parse_args()
    with tempfile.TemporaryDirectory(prefix="ipc-queue-") as directory:  # 0700
        unix_full_queue(directory)
    tcp_fewer_syn_retries()
    abort_on_overflow()


DETAILS = """
How the reset is provoked
    tcp_abort_on_overflow acts when a handshake's last ACK finds the accept
    queue full; but a SYN that finds it full is dropped first, so that ACK
    must come later. TCP_DEFER_ACCEPT on the listener does that: a client's
    bare ACK is ignored until it sends data. One client connects and waits,
    three others connect and send (the queue of listen(2) is full at 3),
    then the first sends: the kernel drops its bytes (0) or resets it (1).

System calls, in order
    socket(AF_UNIX) -> bind() -> listen(0) -> connect() -> socket(),
    connect() non-blocking: EAGAIN -> fork(): the child's connect() blocks
    (SO_SNDTIMEO its deadline) -> accept() -> socket(AF_INET) -> listen(0)
    -> connect() -> setsockopt(TCP_SYNCNT, 1) -> connect(): ETIMEDOUT ->
    fork() -> unshare(CLONE_NEWNET) -> ioctl(SIOCSIFFLAGS) lo up -> write
    tcp_abort_on_overflow -> setsockopt(TCP_DEFER_ACCEPT) -> listen(2) ->
    connect() x 4, send() -> recv(): nothing, or ECONNRESET.

Its peer
    Itself: listeners and clients in one process, two forked children.

Expected output
    server[100]: Unix listener, listen(0): one client connected, never accept()ed: the queue is full
    client[100]: non-blocking connect() to the full queue -> errno 11 (EAGAIN), at once
    server[100]: client 101 is blocked in connect() (wchan unix_wait_for_peer); accept() makes room
    client[101]: blocking connect() returned after 4.2 ms, once accept() made room
    server[100]: TCP listener, listen(0): one connection completed, never accept()ed: SYNs now dropped
    client[100]: connect() with TCP_SYNCNT=1 -> errno 110 (ETIMEDOUT): Connection timed out after 3.0 s
    server[102]: in a network namespace of its own (unshare(CLONE_NEWNET)): its sysctls are its own
    client[102]: tcp_abort_on_overflow=0: the accept queue was full when this client sent: recv() -> nothing within 0.5 s: its bytes were dropped, to be resent
    client[102]: tcp_abort_on_overflow=1: the accept queue was full when this client sent: recv() -> errno 104 (ECONNRESET): reset
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "server"))
