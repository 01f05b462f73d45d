r"""INADDR_ANY or INADDR_LOOPBACK: the address a server binds decides who can reach it.

What it shows
    A server binds an address, not a machine. Bound to 127.0.0.1
    (INADDR_LOOPBACK) it takes only connections made to loopback, so only from
    this machine; bound to 0.0.0.0 (INADDR_ANY) it takes connections to every
    IPv4 address the machine has. The IPv6 twins are ::1 and ::, and :: takes
    IPv4 too (as ::ffff:a.b.c.d) unless IPV6_V6ONLY is set.

Run it
    python demos/bind_any.py [--timeout 2]      (or: make bind-any)
"""

import errno
import ipaddress
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log
from ipc.timeouts import timeval

log = Log("bind")
ANY = socket.inet_ntoa(struct.pack("!I", socket.INADDR_ANY))  # htonl(INADDR_ANY): 0.0.0.0
LOOPBACK = socket.inet_ntoa(struct.pack("!I", socket.INADDR_LOOPBACK))  # htonl(INADDR_LOOPBACK): 127.0.0.1
ANY6, LOOPBACK6 = socket.inet_ntop(socket.AF_INET6, bytes(16)), socket.inet_ntop(socket.AF_INET6, bytes(15) + b"\1")


def show(timeout: float) -> None:
    own4, own6 = own_address("198.51.100.1"), own_address("2001:db8::1")  # documentation addresses: never used
    log.say(f"this machine's own non-loopback addresses: {own4 or 'no IPv4'}, {own6 or 'no IPv6'}")
    if not (own4 and own6):
        log.say("without one, what INADDR_ANY adds over LOOPBACK (for that family) cannot be shown here")
    with socket.socket(socket.AF_INET6) as fresh:
        log.say(
            f"IPV6_V6ONLY is {fresh.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)} by default here"
            " (Linux: /proc/sys/net/ipv6/bindv6only); the :: rows below set it explicitly"
        )
    targets = [host for host in (LOOPBACK, own4, LOOPBACK6, own6) if host]
    binds = [
        (ANY, "INADDR_ANY", None),
        (LOOPBACK, "INADDR_LOOPBACK", None),
        (own4, "own-address", None),
        (ANY6, "V6ONLY=0", 0),
        (ANY6, "V6ONLY=1", 1),
        (LOOPBACK6, "in6addr_loopback", None),
        (own6, "own-address", None),
    ]
    width = max(len(host) for host in targets) + 2  # one column per address this machine has
    log.say(("bound \\ connect to".ljust(width + 18) + "".join(target.ljust(width) for target in targets)).rstrip())
    for host, label, v6only in binds:
        if host is None:
            continue
        with socket.socket(family_of(host), socket.SOCK_STREAM) as listener:
            if v6only is not None:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)  # 0: IPv4 clients welcome too
            listener.bind((host, 0))  # port 0: any free port; the address is the lesson
            listener.listen(len(targets))
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval(timeout))  # and an accept()
            cells = [try_connect(listener, target, timeout) for target in targets]
        log.say((host.ljust(width) + label.ljust(18) + "".join(cell.ljust(width) for cell in cells)).rstrip())
    log.say("* accepted from an IPv4 client, which the IPv6 listener saw as ::ffff:a.b.c.d (IPv4-mapped)")
    log.say(f"so: {ANY} and {ANY6} take connections to every address of this machine;")
    log.say(f"    {LOOPBACK} and {LOOPBACK6} only those made to loopback, which only this machine can make")


def try_connect(listener: socket.socket, target: str, timeout: float) -> str:
    """Connect to `target` at the listener's port; 'yes' if this listener accepted it, else why not."""
    with socket.socket(family_of(target), socket.SOCK_STREAM) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval(timeout))  # a connect() waiting longer fails
        try:
            client.connect((target, listener.getsockname()[1]))
        except OSError as error:  # the one error taught here: nobody listens at that address
            return "refused" if isinstance(error, ConnectionRefusedError) else errno.errorcode.get(error.errno, "error")
        connection, peer = listener.accept()  # the connection is made already; accept() only picks it up
        with connection:
            if peer[1] != client.getsockname()[1]:
                raise ConnectionError(
                    f"accepted a stranger's connection from {peer}"
                )  # someone else came in through ANY
            return "yes*" if peer[0].startswith("::ffff:") else "yes"  # * an IPv4 client, seen as IPv4-mapped IPv6


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--timeout", type=program.seconds(0, 60), default=2.0, help="seconds to wait for each connect (default 2)"
    )
    args = parser.parse_args()
    show(args.timeout)


# -- below the lesson ------------------------------------------------------------------------------------------


def own_address(outside: str):
    """This machine's non-loopback address on the route towards `outside`, or None."""
    with socket.socket(family_of(outside), socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((outside, 9))  # a datagram connect() sends nothing: it picks a route and our source address
        except OSError:  # no route out (ENETUNREACH): only loopback here
            return None
        host = probe.getsockname()[0]
    return None if ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_link_local else host


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


DETAILS = r"""
What else it shows
    The demo binds each, then connects to each of this machine's addresses and
    prints who got through. To see what ANY adds it needs a non-loopback
    address of this machine: it asks the kernel which source address a route
    out would use (a UDP connect() sends nothing) and connects to it from
    here, so no packet leaves this machine.

System calls, in order
    socket(SOCK_DGRAM) -> connect() -> getsockname() (this machine's own address)
    -> per bind address: socket() -> setsockopt(IPV6_V6ONLY) -> bind(port 0) ->
    listen() -> setsockopt(SO_RCVTIMEO: --timeout for accept()) -> per target:
    socket() -> setsockopt(SO_SNDTIMEO: --timeout for connect()) -> connect()
    (refused, or accept()ed) -> close().

Its peer
    Itself: every listener and every client socket live in this one process.

Expected output (this machine's own addresses vary; here they were 192.0.2.2 and fd00::2)
    bind[700]: this machine's own non-loopback addresses: 192.0.2.2, fd00::2
    ...
    bind[700]: bound \ connect to           127.0.0.1  192.0.2.2  ::1        fd00::2
    bind[700]: 0.0.0.0    INADDR_ANY        yes        yes        refused    refused
    bind[700]: 127.0.0.1  INADDR_LOOPBACK   yes        refused    refused    refused
    bind[700]: 192.0.2.2  own-address       refused    yes        refused    refused
    bind[700]: ::         V6ONLY=0          yes*       yes*       yes        yes
    bind[700]: ::         V6ONLY=1          refused    refused    yes        yes
    ...
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "bind"))
