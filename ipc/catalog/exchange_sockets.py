"""The foundation, continued: the same exchange over Unix-domain sockets and datagrams."""

from . import Demo, Program

DEMOS = [
    Demo(
        name="unix",
        mechanism="Unix-domain stream socket",
        teaches="a path for an address: bind creates the socket file, and the server must unlink it on every way out",
        server=Program("unix_stream_server.py", ("--clients", "2")),
        client=Program("unix_stream_client.py", ("--path", "{path}")),
        clients=2,
    ),
]
