"""What Linux says about sockets: their addresses, queues, and the socket at the other end.

TCP and UDP sockets come from ``/proc/PID/net/tcp`` (and udp, tcp6, udp6);
Unix sockets from the kernel's sock_diag netlink interface, as ``ss`` uses,
which alone tells which socket is at the other end of a Unix connection.
Read only; where something cannot be seen it is left out and the caller says so.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import Optional

from .procfs import read_text


@dataclass
class Socket:
    inode: int
    family: str  # "TCP", "TCP6", "UDP", "UDP6", "Unix stream", "Unix datagram", "Unix seqpacket"
    state: str  # "connected", "listening", "unconnected", or a TCP state
    local: str = ""
    remote: str = ""
    peer: Optional[int] = None  # the inode of the socket at the other end, when it is on this machine
    recv_queue: Optional[int] = None  # bytes that arrived and are not read yet
    send_queue: Optional[int] = None  # bytes sent and not yet taken by the other end

    @property
    def stream(self) -> bool:
        return self.family.startswith("TCP") or self.family in ("Unix stream", "Unix seqpacket")


_TCP_STATES = {
    1: "connected",
    2: "connecting (SYN sent)",
    3: "SYN received",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "closed",
    8: "CLOSE_WAIT (the peer closed)",
    9: "LAST_ACK",
    10: "listening",
    11: "CLOSING",
}


def _inet_address(text: str) -> str:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is in host order
    if len(raw) == 4:
        return f"{socket.inet_ntop(socket.AF_INET, raw)}:{int(port, 16)}"
    return f"[{socket.inet_ntop(socket.AF_INET6, raw)}]:{int(port, 16)}"


def _inet_sockets(found: dict[int, Socket], net: str) -> None:
    by_ends: dict[tuple[str, str, str], int] = {}
    for name, family in (("tcp", "TCP"), ("tcp6", "TCP6"), ("udp", "UDP"), ("udp6", "UDP6")):
        text = read_text(f"{net}/{name}")
        for line in (text or "").splitlines()[1:]:
            parts = line.split()
            if len(parts) < 10 or parts[9] == "0":
                continue
            inode = int(parts[9])
            tx, rx = (int(part, 16) for part in parts[4].split(":"))
            state = int(parts[3], 16)
            local, remote = _inet_address(parts[1]), _inet_address(parts[2])
            if family.startswith("UDP"):
                described = "connected" if state == 1 else "unconnected"
                remote = remote if state == 1 else ""
            else:
                described = _TCP_STATES.get(state, f"state {state}")
                remote = "" if state == 10 else remote
            found[inode] = Socket(
                inode,
                family,
                described,
                local,
                remote,
                recv_queue=rx,
                send_queue=tx if family.startswith("TCP") else None,
            )
            if family.startswith("TCP") and state != 10:
                by_ends[(family[:3], local, remote)] = inode
    for (proto, local, remote), inode in by_ends.items():  # the peer is the socket with the ends swapped
        peer = by_ends.get((proto, remote, local))
        if peer is not None:
            found[inode].peer = peer


_UNIX_TYPES = {1: "Unix stream", 2: "Unix datagram", 5: "Unix seqpacket"}


def _unix_name(raw: bytes) -> str:
    if not raw:
        return ""
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "replace")  # an abstract name, as ss writes it
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def _unix_sockets_diag(found: dict[int, Socket]) -> bool:
    """Unix sockets from the kernel's sock_diag netlink interface: names, peers, queues."""
    NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_ERROR, NLMSG_DONE = 4, 20, 2, 3
    show = 0x1 | 0x4 | 0x10  # UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN
    request = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0, show, 0xFFFFFFFF, 0xFFFFFFFF)
    header = struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, 0x1 | 0x300, 1, 0)  # REQUEST|DUMP
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            nl.sendto(header + request, (0, 0))
            while True:
                data = nl.recv(65536)
                offset = 0
                while offset + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, offset)
                    if kind == NLMSG_DONE:
                        return True
                    if kind == NLMSG_ERROR or length < 16:
                        return False
                    _parse_unix_diag(data[offset + 16 : offset + length], found)
                    offset += (length + 3) & ~3
    except (OSError, AttributeError, struct.error):  # no AF_NETLINK, or no unix_diag in this kernel
        return False


def _parse_unix_diag(message: bytes, found: dict[int, Socket]) -> None:
    _, kind, state, _, inode = struct.unpack_from("=BBBBI", message)
    item = Socket(
        inode, _UNIX_TYPES.get(kind, f"Unix type {kind}"), {1: "connected", 10: "listening"}.get(state, "unconnected")
    )
    offset = 16
    while offset + 4 <= len(message):
        length, attr = struct.unpack_from("=HH", message, offset)
        value = message[offset + 4 : offset + length]
        if attr == 0:  # UNIX_DIAG_NAME
            item.local = _unix_name(value)
        elif attr == 2:  # UNIX_DIAG_PEER
            item.peer = struct.unpack("=I", value[:4])[0]
        elif attr == 4 and state != 10:  # UNIX_DIAG_RQLEN: bytes to read, bytes sent and not yet read
            item.recv_queue, item.send_queue = struct.unpack("=II", value[:8])
        offset += (length + 3) & ~3 if length else 4
    found[inode] = item


def _unix_sockets_proc(found: dict[int, Socket], net: str) -> None:
    """Unix sockets from /proc/net/unix: names and states, but no peers."""
    for line in (read_text(f"{net}/unix") or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 7:
            continue
        inode, kind, state = int(parts[6]), int(parts[4], 16), int(parts[5], 16)
        listening = int(parts[3], 16) & 0x10000
        found[inode] = Socket(
            inode,
            _UNIX_TYPES.get(kind, f"Unix type {kind}"),
            "listening" if listening else ("connected" if state == 3 else "unconnected"),
            local=parts[7] if len(parts) > 7 else "",
        )


def _namespace(pid: Optional[int]) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid if pid else 'self'}/ns/net")
    except OSError:
        return None


def sockets(pid: Optional[int] = None) -> tuple[dict[int, Socket], bool]:
    """Every socket in the network namespace of process pid (default: ours) by inode, and
    whether Unix sockets' peers could be seen (sock_diag answers for our namespace only)."""
    found: dict[int, Socket] = {}
    net = f"/proc/{pid}/net" if pid else "/proc/net"
    _inet_sockets(found, net)
    peers = _namespace(pid) == _namespace(None) and _unix_sockets_diag(found)
    if not peers:
        _unix_sockets_proc(found, net)
    for item in found.values():  # the peer's address is the other end's own address
        if item.peer in found and item.family.startswith("Unix"):
            item.remote = found[item.peer].local
    return found, peers
