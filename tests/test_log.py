"""The log line says what really went out: ``sent`` is given the very bytes the write is given."""

import json
import re
import subprocess
import sys

import pytest
from support import ROOT

from ipc.log import Log, messages_in, plural

# An edit a student might make: every message the demo writes gets a "!" more than the text it was made from.
EDITED = (
    "import runpy, sys; import ipc.protocol as p; real = p.encode\n"
    "p.encode = lambda text: real(text + '!')\n"
    "p.encode_datagram = lambda text: real(text + '!')[:-1]\n"
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def said(stderr: str, what: str) -> list[str]:
    return [json.loads(m[1]) for m in re.finditer(rf'^\w+\[\d+\]: {what} (".*")$', stderr, re.M)]


@pytest.mark.parametrize(
    "script,args",
    [
        ("pipe_fork.py", ()),
        ("broken/both_read_first.py", ("--fixed",)),
        ("broken/forgotten_close.py", ("--fixed",)),
        ("broken/fifo_open_order.py", ("--fixed",)),
        ("two_axes.py", ()),
    ],
)
def test_a_demo_edited_to_write_something_else_logs_what_it_wrote(script, args):
    done = subprocess.run(
        [sys.executable, "-c", EDITED, f"demos/{script}", *args, "hello"], capture_output=True, cwd=ROOT, timeout=20
    )
    err = done.stderr.decode()
    sent, received = said(err, "sent"), said(err, "received")
    assert "hello!" in sent  # what was written, not the text it was made from
    assert sorted(sent) == sorted(received), err  # every message received is one some process said it sent


def test_a_write_of_several_lines_is_logged_as_each_message():
    assert messages_in(b"1 A\n2 B\n") == ["1 A", "2 B"]
    assert messages_in(b"a datagram") == ["a datagram"]
    assert messages_in(b"\xff\xfe\n") == ["\\xff\\xfe"]  # not UTF-8: shown escaped, never as text it is not


def test_counts_say_1_byte_and_2_bytes():
    assert (plural(1, "byte"), plural(2, "byte"), plural(0, "byte")) == ("1 byte", "2 bytes", "0 bytes")


def test_sent_takes_bytes(capfd):
    Log("server").sent(b"1 HELLO\n")
    assert re.fullmatch(r'server\[\d+\]: sent "1 HELLO"\n', capfd.readouterr().err)
