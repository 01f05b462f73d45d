"""Byte order: a port and an address in this machine's order and in network order, byte by byte.

What it shows
    A number wider than a byte sits in memory in the machine's own order (x86,
    most ARM: little-endian, low byte first); network order is big-endian. So
    a port goes through htons() and an IPv4 address through htonl(), or comes
    ready from inet_pton(). Then the proof: the bytes of a sockaddr as the
    kernel holds it (getsockname(2), called raw) and, as root, a real UDP
    header on loopback.

Run it
    python demos/byte_order.py [--port 8080] [ADDRESS...]      (or: make byte-order)
    python demos/byte_order.py --port 772    (the notes' example: 0x0304, stored 04 03 on Intel)
"""

import ctypes
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.timeouts import Deadline

log = Log("byteorder")
ADDRESSES = ("127.0.0.1", "192.168.0.1", "::1", "2001:db8::1f90")


def show(port: int, addresses: list) -> None:
    log.say(f"this machine is {sys.byteorder}-endian (sys.byteorder)")
    show_port(port)
    for text in addresses:
        show_address(text)
    show_kernel_sockaddr(socket.AF_INET, "127.0.0.1")
    show_kernel_sockaddr(socket.AF_INET6, "::1")
    show_on_the_wire()


def show_port(port: int) -> None:
    log.say(f"port {port} = {port:#06x}")
    log.say(f"  in this machine's memory, struct '=H'   {struct.pack('=H', port).hex(' ')}")
    log.say(
        f"  in network order, struct '!H'           {struct.pack('!H', port).hex(' ')}"
    )  # '!' is big-endian everywhere
    wire = socket.htons(port)  # the number whose bytes, stored the host's way, are in network order
    log.say(
        f"  htons({port}) = {wire:#06x}, in memory         {struct.pack('=H', wire).hex(' ')}; "
        f"ntohs({wire:#06x}) = {socket.ntohs(wire)}"
    )


def show_address(text: str) -> None:
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    packed = socket.inet_pton(family, text)  # presentation -> network: bytes, already in network order
    log.say(f"address {text}: inet_pton({family.name}) = {packed.hex(' ')}")
    if family == socket.AF_INET:
        number = struct.unpack("!I", packed)[0]  # the 32-bit number the four dotted bytes write down
        wire = socket.htonl(number)
        log.say(f"  as a number {number:#010x}, in memory (struct '=I') {struct.pack('=I', number).hex(' ')}")
        log.say(
            f"  htonl = {wire:#010x}, in memory {struct.pack('=I', wire).hex(' ')}; "
            f"ntohl gives back {socket.ntohl(wire):#010x}"
        )
    else:  # 128 bits is no C integer: an IPv6 address is only ever 16 bytes, with no htonl for it
        log.say("  16 bytes, always in network order: an IPv6 address has no host order")
    log.say(f"  inet_ntop gives back {socket.inet_ntop(family, packed)}")


def show_kernel_sockaddr(family: socket.AddressFamily, host: str) -> None:
    """The bytes of a bound socket's address exactly as the kernel hands them out."""
    libc = ctypes.CDLL(None, use_errno=True)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))  # port 0: the kernel picks one
        port = sock.getsockname()[1]  # Python decodes the port for us; below, the bytes it came from
        raw, size = ctypes.create_string_buffer(128), ctypes.c_uint32(128)
        if libc.getsockname(sock.fileno(), raw, ctypes.byref(size)) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    data, cuts = raw.raw[: size.value], ((0, 2, 4, 8, 16) if family == socket.AF_INET else (0, 2, 4, 8, 24, 28))
    log.say(
        f"sockaddr of {host} port {port} ({size.value} bytes): "
        + " | ".join(data[a:b].hex(" ") for a, b in zip(cuts, cuts[1:]))
    )
    log.say(
        "  family (host order; BSD: a length byte, then the family) | port (network order) | "
        + ("address | zero padding" if family == socket.AF_INET else "flowinfo | address | scope id (host order)")
    )


def show_on_the_wire() -> None:
    """Catch a UDP datagram with a raw socket and show its header's ports, byte for byte."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)  # needs CAP_NET_RAW
    except PermissionError as error:  # the one error taught here
        log.say(f"on the wire: not shown ({error.strerror}: a raw socket needs root)")
        return
    with (
        raw,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        sender.sendto(b"hello", ("127.0.0.1", port))
        copies = Deadline(raw, 5.0, "no copy of our datagram within 5 s")  # setsockopt(SO_RCVTIMEO): 5 s in all
        while True:
            packet = copies.recv(65535)  # a copy of every UDP datagram this machine receives: find ours
            udp = packet[(packet[0] & 0x0F) * 4 :][:8]  # skip the IP header (its length counts 32-bit words)
            if udp[2:4] == struct.pack("!H", port):
                break
    log.say(
        f"on the wire, a UDP header to 127.0.0.1 port {port} "
        "(provoked: sendto() on loopback, caught by a raw socket as root):"
    )
    log.say(
        "  "
        + " | ".join(udp[a : a + 2].hex(" ") for a in (0, 2, 4, 6))
        + "  (source port | destination port | length | checksum)"
    )


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--port", type=program.port_number, default=8080, help="a port number to take apart; it is not bound"
    )
    parser.add_argument(
        "addresses",
        nargs="*",
        type=program.host_name,
        default=ADDRESSES,
        metavar="ADDRESS",
        help="IPv4 or IPv6 addresses",
    )
    args = parser.parse_args()
    show(args.port, args.addresses)


DETAILS = """
System calls, in order
    none for htons(), htonl(), ntohs(), ntohl(), inet_pton(), inet_ntop()
    (arithmetic) -> socket() -> bind(port 0) -> getsockname() through libc -> as root:
    socket(AF_INET, SOCK_RAW, IPPROTO_UDP) -> sendto() -> setsockopt(SO_RCVTIMEO)
    -> recv() a copy of it.

Its peer
    None: one process. The kernel reads the sockaddr; the raw socket reads the wire.

Expected output (little-endian; ports vary)
    byteorder[400]: this machine is little-endian (sys.byteorder)
    byteorder[400]: port 8080 = 0x1f90
    byteorder[400]:   in this machine's memory, struct '=H'   90 1f
    byteorder[400]:   in network order, struct '!H'           1f 90
    ...
    byteorder[400]: sockaddr of 127.0.0.1 port 41783 (16 bytes): 02 00 | a3 37 | 7f 00 00 01 | 00 00 00 00 00 00 00 00
    byteorder[400]:   family (host order; BSD: a length byte, then the family) | port (network order) | address | zero padding
    ...
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "byteorder"))
