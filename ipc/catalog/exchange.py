"""The foundation: the same exchange over every mechanism."""

from . import Demo, Program, no_ipv6_loopback

DEMOS = [
    Demo(
        name="pipe",
        mechanism="fork + two pipes",
        teaches="a pipe is one-way, so a conversation needs two; each side closes the ends it does not use",
        client=Program("pipe_fork.py"),
    ),
    Demo(
        name="dup2",
        mechanism="fork + pipes + dup2 + exec",
        teaches="dup2 puts the pipes on fds 0 and 1, exec keeps them: the server only knows stdin and stdout",
        client=Program("dup2_parent.py"),
        also_runs=("stdio_server.py",),
    ),
    Demo(
        name="fifo",
        mechanism="named pipes (mkfifo)",
        teaches="unrelated processes meet at a path; open() blocks until the other side opens too; "
        "a FIFO mixes its writers' bytes, so each client brings FIFOs of its own",
        server=Program("fifo_server.py", ("--clients", "2")),
        client=Program("fifo_client.py", ("--dir", "{dir}")),
        clients=2,
    ),
    Demo(
        name="files",
        mechanism="regular files + rename",
        teaches="write a temporary file, rename it into place: readers see all or nothing, but must poll",
        server=Program("file_server.py", ("--clients", "2")),
        client=Program("file_client.py", ("--dir", "{dir}")),
        clients=2,
    ),
    Demo(
        name="tcp4",
        mechanism="TCP over IPv4 loopback",
        teaches="getaddrinfo, socket/bind/listen/accept and connect; the client's ephemeral port",
        server=Program("tcp_server.py", ("--host", "127.0.0.1", "--clients", "2")),
        client=Program("tcp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
    ),
    Demo(
        name="tcp6",
        mechanism="TCP over IPv6 loopback",
        teaches="the same programs over AF_INET6: only the address given to getaddrinfo changes",
        server=Program("tcp_server.py", ("--host", "::1", "--clients", "2")),
        client=Program("tcp_client.py", ("--host", "{host}", "--port", "{port}")),
        clients=2,
        unavailable=no_ipv6_loopback,
    ),
]
