"""The mechanisms ``ipc check`` knows: how to reach a server of each, and the project's own for reference.

A ``Mechanism`` says how a raw client reaches a server of its kind (ipc.check.peers),
how to tell the server is ready when it prints no ``ready:`` line, and which of
the project's demos is its reference. A ``Target`` is one server to check: a
mechanism and a command, whose ``{port}``, ``{host}``, ``{path}`` and ``{dir}``
are filled in when it is started. The project's own servers are targets too
(``PROJECT_SERVERS``): tests/test_conformance.py runs the suite over them.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .peers import DatagramPeer, FifoPeer, FilePeer, Peer, SocketPeer

DEMOS = Path(__file__).resolve().parents[2] / "demos"


@dataclass(frozen=True)
class Mechanism:
    name: str
    what: str  # for people: "TCP", "a filter on stdin and stdout"
    kind: str  # stream | datagram | http
    family: Optional[int] = None  # a socket's address family
    reference_server: tuple = ()  # the project's server: script and arguments
    reference_client: tuple = ()  # the project's client, with placeholders
    one_process_per_client: bool = False  # a filter: each conversation is a process of its own
    resets: bool = True  # a client can leave with unread data and the server see it
    files: bool = False  # a conversation through files: it exists once its first request is there
    placeholders: tuple = ()  # what a command of this kind is given: {port} {host} {path} {dir}

    def connect(self, fields: dict, deadline: float) -> Peer:
        """A raw client of this kind, connected to the server that ``fields`` locate."""
        if self.family is not None:
            if self.family == socket.AF_UNIX:
                family, where = socket.AF_UNIX, fields["path"]
            else:  # the address says which: 127.0.0.1 or ::1
                family = socket.AF_INET6 if ":" in fields["host"] else socket.AF_INET
                where = (fields["host"], int(fields["port"]))
            if self.kind == "datagram":
                return DatagramPeer(family, where, deadline)
            return SocketPeer(family, where, deadline)
        if self.name == "fifo":
            return FifoPeer(fields["dir"], deadline)
        if self.name == "files":
            return FilePeer(fields["dir"], deadline)
        raise ValueError(f"{self.name}: its clients are processes of their own")

    def listening(self, fields: dict, sockets: Optional[dict] = None) -> bool:
        """Whether a server is there, as far as can be told without talking to it (a probe connection
        would be a client: a server that serves one and exits would serve the probe)."""
        if self.name == "fifo":
            where = os.path.join(fields["dir"], "server")
            return os.path.exists(where) and stat.S_ISFIFO(os.stat(where).st_mode)
        if self.name == "files":
            return False  # the directory is ours: nothing shows the server is looking at it (see Session)
        if self.family is None:
            return True
        if sockets is None:
            from ..procnet import sockets as read_sockets

            sockets = read_sockets()[0]
        kind = "UDP" if self.kind == "datagram" else "TCP"
        for found in sockets.values():
            if self.family == socket.AF_UNIX:
                if found.local == fields.get("path") and (self.kind == "datagram" or found.state == "listening"):
                    return True
            elif found.family.startswith(kind) and found.local.rsplit(":", 1)[-1] == str(fields.get("port")):
                if self.kind == "datagram" or found.state == "listening":
                    return True
        return False


TCP = Mechanism("tcp", "TCP", "stream", socket.AF_INET, ("tcp_server.py", "--host", "{host}", "--port", "{port}"),
                ("tcp_client.py", "--host", "{host}", "--port", "{port}"), placeholders=("port", "host"))  # fmt: skip
UNIX = Mechanism("unix", "a Unix stream socket", "stream", socket.AF_UNIX,
                 ("unix_stream_server.py", "--path", "{path}"), ("unix_stream_client.py", "--path", "{path}"),
                 placeholders=("path",))  # fmt: skip
UDP = Mechanism("udp", "UDP", "datagram", socket.AF_INET, ("udp_server.py", "--host", "{host}", "--port", "{port}"),
                ("udp_client.py", "--host", "{host}", "--port", "{port}"), placeholders=("port", "host"))  # fmt: skip
UNIX_DGRAM = Mechanism("unix-dgram", "a Unix datagram socket", "datagram", socket.AF_UNIX,
                       ("unix_dgram_server.py", "--path", "{path}"), ("unix_dgram_client.py", "--path", "{path}"),
                       placeholders=("path",))  # fmt: skip
FIFO = Mechanism("fifo", "named pipes (FIFOs)", "stream", None, ("fifo_server.py", "--dir", "{dir}"),
                 ("fifo_client.py", "--dir", "{dir}"), placeholders=("dir",))  # fmt: skip
FILES = Mechanism("files", "files renamed into place", "stream", None, ("file_server.py", "--dir", "{dir}"),
                  ("file_client.py", "--dir", "{dir}"), resets=False, files=True, placeholders=("dir",))  # fmt: skip
STDIO = Mechanism("stdio", "a filter on stdin and stdout", "stream", None, ("stdio_server.py",),
                  one_process_per_client=True)  # fmt: skip
HTTP = Mechanism("http", "HTTP/1.1 over TCP", "http", socket.AF_INET, ("http_server.py", "--host", "{host}",
                 "--port", "{port}"), placeholders=("port", "host"))  # fmt: skip

MECHANISMS = {m.name: m for m in (TCP, UNIX, UDP, UNIX_DGRAM, FIFO, FILES, STDIO, HTTP)}


@dataclass(frozen=True)
class Target:
    """One server to check: its mechanism, its command (with placeholders), and what it claims."""

    mechanism: Mechanism
    argv: tuple
    concurrent: bool = False  # serves several clients at once: checked
    name: str = ""
    extra: tuple = field(default=(), compare=False)  # arguments the project's servers take for some checks

    @property
    def label(self) -> str:
        return self.name or self.mechanism.name


def demo(script: str, *args: str) -> tuple:
    """A project demo's command line, run by this Python."""
    return (sys.executable, str(DEMOS / script), *args)


def reference(mechanism: Mechanism) -> tuple:
    return demo(*mechanism.reference_server)


PROJECT_SERVERS = [  # every server of the project, and the mechanism it serves: the suite runs over them all
    Target(TCP, demo("tcp_server.py", "--host", "127.0.0.1"), name="tcp"),
    Target(UNIX, demo("unix_stream_server.py"), name="unix"),
    Target(FIFO, demo("fifo_server.py"), name="fifo"),
    Target(STDIO, demo("stdio_server.py"), name="stdio"),
    Target(TCP, demo("fork_server.py"), concurrent=True, name="fork-server"),
    Target(TCP, demo("select_server.py"), concurrent=True, name="select-server"),
    Target(FILES, demo("file_server.py"), name="files"),
]
PROJECT_DATAGRAM_SERVERS = [
    Target(UDP, demo("udp_server.py", "--host", "127.0.0.1"), name="udp4"),
    Target(UDP, demo("udp_server.py", "--host", "::1"), name="udp6"),
    Target(UNIX_DGRAM, demo("unix_dgram_server.py"), name="unix-dgram"),
]
