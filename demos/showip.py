"""showip: every address getaddrinfo() gives for a name, the way a program sees them.

What it shows
    getaddrinfo() is the one call that turns a name (or a numeric address) and
    a port into the sockaddrs socket()/connect()/bind() need.

Run it
    python demos/showip.py [--port PORT] [NAME...]      (or: make showip)
    e.g.  python demos/showip.py --port http localhost fe80::1%lo  (a scope id)
"""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

log = Log("showip")
PROTOCOLS = {socket.IPPROTO_TCP: "IPPROTO_TCP", socket.IPPROTO_UDP: "IPPROTO_UDP"}
EAI_NAMES = {getattr(socket, name): name for name in dir(socket) if name.startswith("EAI_")}


def lookup(name: str, port, timeout: float) -> list:
    """getaddrinfo() with a deadline: it cannot be interrupted, so it runs in a thread we may stop waiting for."""
    answer = {}

    def ask() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(name, port, socket.AF_UNSPEC, 0)  # 0: every socket type
        except OSError as error:  # socket.gaierror: no such name, no DNS server reachable, ...
            answer["error"] = error

    worker = threading.Thread(target=ask, daemon=True)  # daemon: a lookup still hanging does not keep us alive
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s (the lookup is left behind)")
    if "error" in answer:
        raise answer["error"]
    return answer["infos"]


def show(names: list, port, timeout: float, hosts: list) -> None:
    for name in names:
        started = time.monotonic()
        try:
            infos = lookup(name, port, timeout)
        except socket.gaierror as error:  # the one error taught here: the name has no address
            log.say(
                f"{name}: no address: gaierror {EAI_NAMES.get(error.errno, error.errno)}: {error.strerror}"
                f" ({time.monotonic() - started:.3f} s)"
            )
            continue
        except TimeoutError as error:
            log.say(f"{name}: no address: {error}")
            continue
        log.say(f"{name}: {len(infos)} result{'s' * (len(infos) != 1)} ({source_of(name, hosts)})")
        for family, kind, proto, _, sockaddr in infos:
            log.say(f"  {family.name:<9} {kind.name:<12} {PROTOCOLS.get(proto, str(proto)):<12} {sockaddr}")


def hosts_file_names() -> list[str]:
    try:
        with open("/etc/hosts") as hosts:
            return [name for line in hosts for name in line.split("#")[0].split()[1:]]  # address, then its names
    except FileNotFoundError:
        return []


def source_of(name: str, hosts: list[str]) -> str:
    try:
        socket.getaddrinfo(name, None, flags=socket.AI_NUMERICHOST)  # succeeds only for a numeric address
        return "numeric: no lookup at all"
    except socket.gaierror:
        return "listed in /etc/hosts" if name in hosts else "not in /etc/hosts: asked the resolver (DNS)"


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument(
        "--port",
        type=program.service,
        default=None,
        help="a port number or a service name from /etc/services (default: none)",
    )
    parser.add_argument(
        "--timeout", type=program.seconds(0, 60), default=5.0, help="seconds to wait for each lookup (default 5)"
    )
    parser.add_argument(
        "names",
        nargs="*",
        type=program.host_name,
        metavar="NAME",
        help="names or numeric addresses (default: see above)",
    )
    args = parser.parse_args()
    hosts = hosts_file_names()
    names = args.names or ["localhost", socket.gethostname(), "127.0.0.1", "::1"]
    if not args.names:
        names += [name for name in hosts if name not in names][:1] + [
            "nowhere.invalid"
        ]  # one more name from /etc/hosts
    show(names, args.port, args.timeout, hosts)


DETAILS = """
What else it shows
    It answers with a list: one entry per family (IPv4, IPv6) and per socket
    type, each with the protocol and the address in its family's form: (host,
    port) for AF_INET, (host, port, flowinfo, scope_id) for AF_INET6. Numeric
    addresses need no lookup; names come from /etc/hosts, then DNS (see
    /etc/nsswitch.conf); a name nobody knows is a socket.gaierror. Each lookup
    has a deadline.

    The default names: localhost, this machine's name, 127.0.0.1, ::1, another
    name from /etc/hosts, and nowhere.invalid (RFC 6761: never resolves).

System calls, in order
    per name: getaddrinfo(name, port, AF_UNSPEC, 0) (reads /etc/hosts, may ask
    a DNS server over UDP) -> a list of (family, type, protocol, canonname, sockaddr).

Its peer
    /etc/hosts and, for other names, the DNS servers of /etc/resolv.conf.

Expected output (the list depends on /etc/hosts)
    showip[500]: localhost: 3 results (listed in /etc/hosts)
    showip[500]:   AF_INET   SOCK_STREAM  IPPROTO_TCP  ('127.0.0.1', 0)
    showip[500]:   AF_INET   SOCK_DGRAM   IPPROTO_UDP  ('127.0.0.1', 0)
    showip[500]:   AF_INET   SOCK_RAW     0            ('127.0.0.1', 0)
    ...
    showip[500]: ::1: 3 results (numeric: no lookup at all)
    showip[500]:   AF_INET6  SOCK_STREAM  IPPROTO_TCP  ('::1', 0, 0, 0)
    ...
    showip[500]: nowhere.invalid: no address: gaierror EAI_NONAME: Name or service not known (0.001 s)
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "showip"))
