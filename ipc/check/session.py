"""A server started for one check, and the way to reach it.

``Session(target, sandbox).start()`` fills the command's placeholders (a free
port for ``{port}``, a path in the sandbox for ``{path}``, an empty directory
for ``{dir}``), starts it, and waits until it is ready: its own ``ready:
key=value`` line (as the project's servers print it), or, for a command given
placeholders, its socket listening (seen in /proc, not by connecting: a probe
would be a client) or its FIFO made. ``connect()`` is a new raw client; a
filter (stdio) is started anew for each. Every wait has a deadline.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from typing import Optional, Sequence

from .failure import CheckFailed, NoAnswer, NotStarted
from .launch import Program, Sandbox
from .mechanisms import Target
from .peers import DEADLINE, DatagramPeer, Peer, StdioPeer

READY_WITHIN = 10.0  # seconds a server may take to be ready (under strace, a Python start-up is slower)
FILES_START = 0.5  # a file server that says no ready line: given this long to start (its requests wait for it)
PLACEHOLDER = re.compile(r"\{(port|host|path|dir)\}")
PYTHONS = ("python", "python3")  # in a command: the Python that runs ipc check


def fill(argv: Sequence[str], fields: dict) -> list[str]:
    """The command with its placeholders filled in; ``python3`` is this Python (not a shim that wraps it)."""
    filled = [PLACEHOLDER.sub(lambda match: str(fields[match[1]]), arg) for arg in argv]
    if filled and filled[0] in PYTHONS:
        filled[0] = sys.executable
    return filled


def placeholders(argv: Sequence[str]) -> set[str]:
    return {match[1] for arg in argv for match in PLACEHOLDER.finditer(arg)}


def free_port(host: str = "127.0.0.1") -> int:
    """A port no one listens on now (the kernel's choice for port 0), for a command that takes {port}."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Session:
    """The server of one check (none for a filter: each client starts one), and its clients."""

    def __init__(self, target: Target, sandbox: Sandbox, deadline: float = DEADLINE,
                 ready_within: float = READY_WITHIN, extra: Sequence[str] = ()):  # fmt: skip
        self.target, self.mechanism, self.sandbox = target, target.mechanism, sandbox
        self.deadline, self.ready_within = deadline, ready_within
        self.argv = list(target.argv) + list(extra)
        self.fields: dict = {}
        self.server: Optional[Program] = None
        self.clients: list[Program] = []  # the filters started, one per conversation

    @property
    def concurrent(self) -> bool:
        return self.target.concurrent

    def start(self) -> "Session":
        wanted = placeholders(self.argv)
        self.fields = self.sandbox.fields()
        if "port" in wanted:
            self.fields["port"] = str(free_port(self.fields["host"]))
        if self.mechanism.one_process_per_client:
            return self
        self.server = self.sandbox.launch(fill(self.argv, self.fields), "server")
        self._wait_ready(bool(wanted))
        return self

    def _wait_ready(self, placed: bool) -> None:
        end = time.monotonic() + self.ready_within
        while True:
            told = self.server.ready_fields()
            if told is not None:
                self.fields.update(told)
                return
            if placed and self.mechanism.listening(self.fields):
                return
            if placed and self.mechanism.files and time.monotonic() > end - self.ready_within + FILES_START:
                return  # requests wait in the directory for a server that starts late: no harm done
            if self.server.code is not None:
                said = self.server.text(1)  # its last words: the error, usually
                last = f"; its last line: {said[0].strip()}" if said else ""
                raise NotStarted(f"the server ended before it was ready ({self.server.ending()}){last}")
            if self.sandbox.contained:
                raise CheckFailed(f"the server was stopped: {self.sandbox.contained}")
            if time.monotonic() > end:
                how = "its socket listening" if placed else "a line 'ready: key=value ...' on stderr"
                raise NoAnswer(f"the server was not ready within {self.ready_within:g} s (looked for {how})")
            time.sleep(0.01)  # nothing wakes us when a socket starts listening: look again, until the deadline

    def connect(self) -> Peer:
        """A new client: a raw peer connected to the server, or a filter started behind two pipes."""
        if self.mechanism.one_process_per_client:
            program = self.sandbox.launch(fill(self.argv, self.fields), "filter", stdin=subprocess.PIPE,
                                          stdout_to_peer=True)  # fmt: skip
            self.clients.append(program)
            return StdioPeer(program, self.deadline)
        try:
            return self.mechanism.connect(self.fields, self.deadline)
        except CheckFailed as failed:
            raise self.explained(failed) from None

    def explained(self, failed: CheckFailed) -> CheckFailed:
        """The failure, with what became of the server when it is no longer running."""
        if self.server is not None and self.server.code is not None and not failed.why:
            failed.why = f"the server had ended ({self.server.ending()})"
            if self.sandbox.contained:
                failed.why += f": {self.sandbox.contained}"
        return failed

    def serves_the_next_client(self) -> None:
        """Whatever came before, a new client is served from the start: its first answer is number 1."""
        if self.mechanism.kind == "http":
            from .http import next_client

            return next_client(self)
        with self.connect() as peer:
            datagrams = isinstance(peer, DatagramPeer)
            peer.send(b"next" if datagrams else b"next\n")
            try:
                reply = peer.receive()
            except CheckFailed as failed:
                raise self.explained(failed) from None
            if reply != "1 NEXT":
                raise CheckFailed("a new client was not served from the start", "1 NEXT", reply)
            peer.end()
            if not datagrams and (rest := peer.receive()) is not None:  # no end of file on a datagram socket
                raise CheckFailed("after our end of file, the server's end of file should follow", None, rest)

    def said(self, pattern: str, deadline: Optional[float] = None) -> re.Match:
        """The server's next line of stderr matching pattern (for the project's servers, which say what they do)."""
        return self.server.wait_for_line(pattern, self.deadline if deadline is None else deadline)

    def stop(self) -> Optional[int]:
        """End the server as kill does (SIGTERM); its exit code."""
        return self.server.stop() if self.server is not None else None
