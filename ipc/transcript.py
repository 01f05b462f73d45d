"""The transcript: the labelled lines a demo's processes write, read back, and the exchange checked.

The format, written here once and read here once (as TLPI keeps a wire
format in one header)::

    client[4242]: sent "hello"
    server[4243]: received "hello"
    server[4243]: ready: host=127.0.0.1 port=41234

A line starts with the process's role and pid. ``sent`` and ``received``
carry one message each, quoted as JSON; ``ready:`` tells whoever started a
server that it listens, and where. ipc.log writes these lines (one write()
per line, on stderr); the harness, ``ipc watch`` and the tests read them with
``parse_line``; ``check_exchange`` says whether the messages in a transcript
make a correct exchange (ipc.protocol). Pure: text in, facts out; no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from . import protocol

MAX_ROLE = 40  # a role is a short word: bounded, so a label is found in time linear in the line
_LABEL = re.compile(rf"(?P<role>[A-Za-z][\w.-]{{0,{MAX_ROLE}}})\[(?P<pid>\d{{1,10}})\]: ")
_MESSAGE = re.compile(r"(?P<what>sent|received) (?P<quoted>\".*\")")
_READY = re.compile(r"ready: ?(?P<fields>.*)")


# -- writing ----------------------------------------------------------------


def format_line(role: str, pid: int, text: str) -> str:
    return f"{role}[{pid}]: {text}"


def quote(message: str) -> str:
    return json.dumps(message, ensure_ascii=False)


def sent_text(message: str) -> str:
    return f"sent {quote(message)}"


def received_text(message: str) -> str:
    return f"received {quote(message)}"


def ready_text(**where: object) -> str:
    return "ready: " + " ".join(f"{key}={value}" for key, value in where.items())


# -- reading ----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    seconds: float  # since the run started
    role: str
    pid: int  # 0 when the line carried no label (a traceback, say) and its writer was guessed
    text: str

    @property
    def label(self) -> str:
        return f"{self.role}[{self.pid}]"

    @property
    def message(self) -> Optional[tuple[str, str]]:
        """("sent" or "received", the message), when the line reports one."""
        match = _MESSAGE.fullmatch(self.text)
        return (match["what"], json.loads(match["quoted"])) if match else None

    @property
    def ready(self) -> Optional[dict[str, str]]:
        """The fields of a ``ready:`` line (``{"host": "127.0.0.1", "port": "41234"}``), else None."""
        match = _READY.fullmatch(self.text)
        if not match:
            return None
        return dict(item.split("=", 1) for item in match["fields"].split() if "=" in item)


def parse_label(text: str) -> Optional[tuple[str, int, str]]:
    """(role, pid, the rest) when the line starts with a label, else None."""
    match = _LABEL.match(text)
    return (match["role"], int(match["pid"]), text[match.end() :]) if match else None


def parse_line(text: str, seconds: float = 0.0) -> Optional[Line]:
    """One labelled line, or None when it carries no label."""
    parsed = parse_label(text)
    return Line(seconds, *parsed) if parsed else None


@dataclass
class Messages:
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)


@dataclass
class Transcript:
    """Every line of one run, in the order written."""

    lines: list[Line] = field(default_factory=list)

    def said(self, role: str) -> list[Line]:
        return [line for line in self.lines if line.role == role]

    def texts(self, role: str) -> list[str]:
        return [line.text for line in self.said(role)]

    def messages(self, role: str) -> dict[int, Messages]:
        """For each process of that role: the messages it sent and received, in order."""
        by_pid: dict[int, Messages] = {}
        for line in self.said(role):
            message = line.message
            if message is not None:
                getattr(by_pid.setdefault(line.pid, Messages()), message[0]).append(message[1])
        return by_pid

    def message_count(self) -> int:
        """How many messages the processes said they sent or received."""
        return sum(1 for line in self.lines if line.message is not None)

    def first_ready(self, after: int = 0) -> Optional[dict[str, str]]:
        """The fields of the first ``ready:`` line from index ``after`` on."""
        return next((line.ready for line in self.lines[after:] if line.ready is not None), None)


def check_exchange(transcript: Transcript, requests: Iterable[str], clients: int) -> tuple[list[str], int]:
    """Problems with the exchange as the processes told it, and how many messages went by.

    Every client must send the requests in order and receive, for each, the
    answer ipc.protocol requires; the server must have received exactly what
    the clients sent and sent exactly what they received.
    """
    requests = list(requests)
    problems: list[str] = []
    client_talk = transcript.messages("client")
    server_talk = transcript.messages("server")
    if len(client_talk) != clients:
        problems.append(f"expected {clients} client(s) to talk, saw {len(client_talk)}")
    all_sent: list[str] = []
    all_received: list[str] = []
    for pid, talk in client_talk.items():
        sent, received = talk.sent, talk.received
        all_sent += sent
        all_received += received
        if sent != requests:
            problems.append(f"client[{pid}] sent {sent}, expected {requests}")
        if len(received) != len(sent):
            problems.append(f"client[{pid}] sent {len(sent)} message(s) but received {len(received)} answer(s)")
        for seq, (request, reply) in enumerate(zip(sent, received), start=1):
            expected = protocol.answer(seq, request)
            if reply != expected:
                problems.append(f"client[{pid}] got {reply!r} for {request!r}, expected {expected!r}")
    heard = [m for talk in server_talk.values() for m in talk.received]
    said = [m for talk in server_talk.values() for m in talk.sent]
    if server_talk or clients:
        if heard != all_sent:
            problems.append(f"the server received {heard}, but the clients sent {all_sent}")
        if said != all_received:
            problems.append(f"the server sent {said}, but the clients received {all_received}")
    return problems, len(all_sent) + len(all_received)
