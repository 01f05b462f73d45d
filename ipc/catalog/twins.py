"""The C twins: the core demos in the notes' own language, and each mixed with its Python twin.

A C client against the Python server and a Python client against the C server pass the same checks as
the Python pair: the exchange is the protocol (ipc/protocol.py), not a Python artefact. Each is skipped,
saying how to get a compiler, where there is no cc (ipc.cprograms builds them into build/).
"""

from . import Demo, Program, c_demo

TCP_SERVER_ARGS = ("--host", "127.0.0.1", "--clients", "2")
TCP_CLIENT_ARGS = ("--host", "{host}", "--port", "{port}")

DEMOS = [
    c_demo(demo)
    for demo in [
        Demo(
            name="tcp-c",
            mechanism="TCP over IPv4 loopback, in C",
            teaches="tcp4 in C: getaddrinfo's linked list and freeaddrinfo, the sockaddr casts, addrlen in and out",
            server=Program("c/tcp_server.c", TCP_SERVER_ARGS),
            client=Program("c/tcp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="tcp-c-client",
            mechanism="TCP: a C client, the Python server",
            teaches="the C client against tcp_server.py: the exchange is the protocol, not Python's",
            server=Program("tcp_server.py", TCP_SERVER_ARGS),
            client=Program("c/tcp_client.c", TCP_CLIENT_ARGS),
            clients=2,
        ),
        Demo(
            name="tcp-c-server",
            mechanism="TCP: the Python client, a C server",
            teaches="tcp_client.py against the C server: the same checks pass either way round",
            server=Program("c/tcp_server.c", TCP_SERVER_ARGS),
            client=Program("tcp_client.py", TCP_CLIENT_ARGS),
            clients=2,
        ),
    ]
]
