"""A lossy link: UDP loses and reorders, TCP delivers everything in order, and the kernel counts its resends.

What it shows
    Two hosts (network namespaces) joined by a link that drops 10% of the
    packets and delays each by 2 to 18 ms, so that some overtake others (what
    `tc qdisc ... netem loss 10% delay 10ms 8ms` does in the kernel; here this
    program is the link, through a TUN device on each host, as netem is a
    module many machines lack). Over it, 100 UDP datagrams: some never arrive,
    some arrive out of order. Then 200 lines over TCP: all arrive, in order,
    and TCP_INFO counts the segments the kernel sent again.

Run it
    python3 demos/lossy_link.py      (or: make lossy-link; needs root or user namespaces, and /dev/net/tun)
"""

import ctypes
import fcntl
import heapq
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

LOSS, DELAY, JITTER = 0.10, 0.010, 0.008  # the link: 10% lost, 10 ms +- 8 ms
DATAGRAMS, LINES, DEADLINE = 100, 200, 20.0
ADDRESSES = ("10.201.0.1", "10.201.0.2")  # host A (receiver), host B (sender), each in a namespace of its own
link = Log("link")


def relay(tuns: list[int], hosts: list[int], seed: int = 24) -> None:
    """The link: each packet read from one host's TUN is dropped, or written to the other's after a delay."""
    chance, due, counts = random.Random(seed), [], {}  # seeded: the same drops for the same packets
    deadline = time.monotonic() + DEADLINE
    while any(alive(pid) for pid in hosts) and time.monotonic() < deadline:
        wait = min([0.05] + [max(0.0, when - time.monotonic()) for when, *_ in due[:1]])
        for fd in select.select(tuns, [], [], wait)[0]:
            packet = os.read(fd, 65536)  # one whole IP packet per read() from a TUN device
            kind = {6: "tcp", 17: "udp"}.get(packet[9], "other")  # the IPv4 header's protocol byte
            lost = chance.random() < LOSS and kind != "other"
            counts[kind, lost] = counts.get((kind, lost), 0) + 1
            if not lost:
                later = time.monotonic() + DELAY + chance.uniform(-JITTER, JITTER)
                heapq.heappush(due, (later, id(packet), tuns[1 - tuns.index(fd)], packet))
        while due and due[0][0] <= time.monotonic():
            _, _, fd, packet = heapq.heappop(due)
            os.write(fd, packet)  # into the other host's kernel, as if from the cable
    for kind in ("udp", "tcp"):
        sent, dropped = counts.get((kind, False), 0) + counts.get((kind, True), 0), counts.get((kind, True), 0)
        link.say(f"result: {kind} packets={sent} dropped={dropped}")


def host(index: int, control: socket.socket) -> None:
    """A host: a network namespace of its own, its TUN device (handed to the link), then its programs."""
    why = enter_new_network_namespace()
    if why:
        control.send(why.encode())
        return
    tun = make_tun("link0", ADDRESSES[index], ADDRESSES[1 - index])
    socket.send_fds(control, [b"tun"], [tun])  # SCM_RIGHTS: the link reads and writes this host's packets
    os.close(tun)
    (receiver if index == 0 else sender)(control)


def receiver(control: socket.socket) -> None:
    log = Log("receiver")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as listener:
        udp.bind((ADDRESSES[0], 0))
        listener.bind((ADDRESSES[0], 0))
        listener.listen(1)
        control.send(f"{udp.getsockname()[1]} {listener.getsockname()[1]}".encode())  # the sender's ports
        udp.settimeout(DEADLINE)
        order = [int(udp.recv(64).split()[1])]  # "datagram N"
        udp.settimeout(0.5)  # then until the link has been quiet for 0.5 s: the rest are lost
        try:
            while True:
                order.append(int(udp.recv(64).split()[1]))
        except TimeoutError:
            pass
        late = sum(1 for i, number in enumerate(order) if number < max(order[:i], default=-1))
        log.say(f"UDP: received {len(set(order))} of {DATAGRAMS} datagrams: {DATAGRAMS - len(set(order))} lost, "
                f"{late} arrived after a later one (out of order); nobody was told")  # fmt: skip
        listener.settimeout(DEADLINE)
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(DEADLINE)
            data = b""
            while chunk := connection.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        in_order = lines == [f"line {n:03d} " + "x" * 90 for n in range(LINES)]
        log.say(f"TCP: received {len(lines)} of {LINES} lines, {'all in order' if in_order else 'NOT in order'}")


def sender(control: socket.socket) -> None:
    log = Log("sender")
    udp_port, tcp_port = map(int, control.recv(64).split())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for number in range(DATAGRAMS):
            udp.sendto(f"datagram {number}".encode(), (ADDRESSES[0], udp_port))  # sent, and forgotten
    log.say(f"UDP: sent {DATAGRAMS} datagrams, each once: UDP never resends")
    with socket.create_connection((ADDRESSES[0], tcp_port), timeout=DEADLINE) as tcp:
        tcp.sendall("".join(f"line {n:03d} " + "x" * 90 + "\n" for n in range(LINES)).encode())
        tcp.shutdown(socket.SHUT_WR)
        tcp.recv(1)  # the receiver's end of file: every byte was acknowledged
        info = tcp.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
        retransmitted, segments = struct.unpack_from("I", info, 100)[0], struct.unpack_from("I", info, 136)[0]
    log.say(f"TCP: sent {LINES} lines in {segments} segments; the kernel sent {retransmitted} of them again "
            f"(TCP_INFO tcpi_total_retrans)")  # fmt: skip


def make_tun(name: str, mine: str, theirs: str) -> int:
    """A point-to-point TUN device, up, with our address and the other host's (which routes to it)."""
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, 0x400454CA, struct.pack("16sH22x", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF: TUN, NO_PI
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for request, address in ((0x8916, mine), (0x8918, theirs)):  # SIOCSIFADDR, SIOCSIFDSTADDR
            fcntl.ioctl(sock, request, struct.pack("16sH2x4s16x", name.encode(), socket.AF_INET,
                                                   socket.inet_aton(address)))  # fmt: skip
        for device in ("lo", name):
            flags = struct.unpack("16sh22x", fcntl.ioctl(sock, 0x8913, struct.pack("16sh22x", device.encode(), 0)))[1]
            fcntl.ioctl(sock, 0x8914, struct.pack("16sh22x", device.encode(), flags | 1))  # SIOCSIFFLAGS: up
    return tun


def enter_new_network_namespace() -> str:
    """unshare(CLONE_NEWNET), with a user namespace of its own where not root. Why not, or ""."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x40000000 if uid == 0 else 0x40000000 | 0x10000000) != 0:
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())} (needs root or user namespaces)"
    if uid != 0:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as file:
                file.write(text)
    return ""


ENDED: dict[int, int] = {}  # pid -> exit code, once reaped


def alive(pid: int) -> bool:
    """Whether a host still runs; reaped (its exit code kept) once it has ended."""
    if pid not in ENDED:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            ENDED[pid] = os.waitstatus_to_exitcode(status)
    return pid not in ENDED


def main() -> None:
    program.argument_parser(__doc__, DETAILS).parse_args()
    controls, hosts, tuns = [], [], []
    try:
        for index in range(2):
            mine, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                mine.close()
                os._exit(program.child("receiver" if index == 0 else "sender", host, index, theirs))
            theirs.close()
            controls.append(mine)
            hosts.append(pid)
            mine.settimeout(DEADLINE)
            message, fds, _, _ = socket.recv_fds(mine, 256, 1)
            if not fds:
                raise OSError(f"no link made: {message.decode() or 'the host ended'}")
            tuns.append(fds[0])
        link.say(f"host A {ADDRESSES[0]} and host B {ADDRESSES[1]}, each in a namespace of its own; "
                 f"the link between them loses {LOSS:.0%} and delays {DELAY * 1000:g} +- {JITTER * 1000:g} ms")  # fmt: skip
        controls[1].send(controls[0].recv(64))  # the receiver's ports, to the sender
        relay(tuns, hosts)
        if any(ENDED.get(pid) for pid in hosts):
            raise ChildProcessError(f"a host failed: exit codes {[ENDED.get(pid) for pid in hosts]}")
    finally:
        for pid in hosts:
            if alive(pid):
                os.kill(pid, 15)
                os.waitpid(pid, 0)
        for item in (*controls, *tuns):
            item.close() if isinstance(item, socket.socket) else os.close(item)


DETAILS = """
What else it shows
    The link's own count is an independent witness: the receiver's lost
    datagrams are exactly the UDP packets the link dropped. TCP's packets
    were dropped too (data and acknowledgements), and yet every line came,
    in order: the kernel sent them again, after a timeout or duplicate
    acknowledgements; and a few it only thought lost, since a segment that
    overtook another looks, for a while, like a gap. TUN devices are made with ioctl(TUNSETIFF) on
    /dev/net/tun; each host's fd reaches the link over a socketpair
    (SCM_RIGHTS), since the device lives in the host's namespace.

System calls, in order
    socketpair() -> fork() each host: unshare(CLONE_NEWNET) -> open(/dev/net/tun)
    -> ioctl(TUNSETIFF), ioctl(SIOCSIFADDR), ioctl(SIOCSIFFLAGS) -> sendmsg(the
    TUN's fd) -> the link: recvmsg() -> select() -> read() a packet -> write()
    it to the other TUN, or not -> the hosts: sendto() x 100, recv() until
    0.5 s of silence; connect(), send() 200 lines, shutdown(SHUT_WR), recv() ->
    getsockopt(TCP_INFO) -> the link: waitpid().

Its peer
    Itself: two forked hosts, and the link between them in the parent.

Expected output
    link[100]: host A 10.201.0.1 and host B 10.201.0.2, each in a namespace of its own; the link between them loses 10% and delays 10 +- 8 ms
    sender[102]: UDP: sent 100 datagrams, each once: UDP never resends
    receiver[101]: UDP: received 91 of 100 datagrams: 9 lost, 37 arrived after a later one (out of order); nobody was told
    sender[102]: TCP: sent 200 lines in 23 segments; the kernel sent 4 of them again (TCP_INFO tcpi_total_retrans)
    receiver[101]: TCP: received 200 of 200 lines, all in order
    link[100]: result: udp packets=100 dropped=9
    link[100]: result: tcp packets=61 dropped=7
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "link"))
