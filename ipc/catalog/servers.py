"""Servers that serve many clients at once."""

from . import Demo, Program

DEMOS = [
    Demo(
        name="fork-server",
        mechanism="TCP, fork per client + dup2 + exec",
        teaches="1 fd waits for clients, 1 fd per client in a child of its own; a socket is a file: "
                "dup2 it onto fds 0 and 1 and exec a stdin/stdout server",
        server=Program("fork_server.py", ("--clients", "2")),
        client=Program("tcp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
        also_runs=("stdio_server.py",),
    ),
]
