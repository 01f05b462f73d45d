"""The foundation, continued: the same exchange over Unix-domain sockets and datagrams."""

from . import Demo, Program, no_ipv6_loopback

DEMOS = [
    Demo(
        name="unix",
        mechanism="Unix-domain stream socket",
        teaches="a path for an address: bind creates the socket file, and the server must unlink it on every way out",
        server=Program("unix_stream_server.py", ("--clients", "2")),
        client=Program("unix_stream_client.py", ("--path", "{path}")),
        clients=2,
    ),
    Demo(
        name="udp4",
        mechanism="UDP over IPv4 loopback",
        teaches="one message per datagram: no listen/accept, recvfrom/sendto, an empty datagram for an end of file",
        server=Program("udp_server.py", ("--host", "127.0.0.1", "--clients", "2")),
        client=Program("udp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
    ),
    Demo(
        name="udp6",
        mechanism="UDP over IPv6 loopback",
        teaches="the same datagram programs over AF_INET6: only the address given to getaddrinfo changes",
        server=Program("udp_server.py", ("--host", "::1", "--clients", "2")),
        client=Program("udp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
        unavailable=no_ipv6_loopback,
    ),
    Demo(
        name="unix-dgram",
        mechanism="Unix-domain datagram socket",
        teaches="the client must bind a path of its own, or the server's recvfrom has no address to answer",
        server=Program("unix_dgram_server.py", ("--clients", "2")),
        client=Program("unix_dgram_client.py", ("--path", "{path}")),
        clients=2,
    ),
]
