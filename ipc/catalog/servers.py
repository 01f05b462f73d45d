"""Servers that serve many clients at once: a process per client, or one process that polls them all."""

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
    Demo(
        name="select-server",
        mechanism="TCP, one process, poll() on every socket",
        teaches="the third design: one poll() waits on the listener and every client at once; non-blocking "
        "sockets and a table of client states, so an idle or slow client holds up no one",
        server=Program("select_server.py", ("--clients", "2")),
        client=Program("tcp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
    ),
]
