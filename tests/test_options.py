"""Every option of every demo program, fuzzed: boundary and random values find no traceback and no hang.

Each program's own parser is taken from it (its main() is run until it calls parse_args()), so a new option
or a new program is fuzzed without a word here. Two passes:

1. in this process, every value given to the parser: it is taken, or refused as a usage error (exit 2);
   never an exception from a type check;
2. as a real run, the values the parser takes (the boundaries and one random value): the program ends by
   itself with 0, 1 or 2 and no traceback, or, a server, says it is ready and ends on SIGTERM with 143.
   Nothing it was not told to wait for may hold it: every run has a deadline.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import os
import random
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from unittest import mock

import pytest
from support import DEMOS, run_program

from ipc import catalog, program

# The Python programs: their argparse parsers are taken from them (the C twins' getopt: tests/test_c_twins.py)
SCRIPTS = sorted({script for demo in catalog.all_demos() for script in demo.scripts if script.endswith(".py")})
RUN_DEADLINE = 20.0  # seconds a run may take before it counts as a hang (a server: until it says ready)

BOUNDARIES = {
    "port": ["-1", "0", "1", "1023", "65535", "65536", "08080", "0x50", "http", "", " 80"],
    "whole number": ["-1", "0", "1", "2", "64", "2147483648", "99999999999999999999999", "1.5", "1e3", "x", ""],
    "seconds": ["-1", "0", "-0", "nan", "inf", "-inf", "1e-9", "0.2", "1e300", "1e-400", "x", ""],
    "host": ["", "127.0.0.1", "::1", "localhost", "a" * 64, "a" * 300, "\udcff", "1.2.3.4.5", "-"],
    "path": ["", "x", "/nonexistent/dir/x", "a" * 5000, "\udcff", "/"],
    "service": ["", "http", "80", "65536", "no-such-service", "a" * 5000, "\udcff", "ht tp"],
    "text": ["", "x", "0", "-1", "a" * 5000, "\udcff"],
    "message": ["", "x", "a" * 4095, "a" * 5000, "two\nlines", "\udcff", "ß" * 2047, "Grüße"],
}
RUNTIME = {  # of the values the parser takes, the ones worth a real run
    "port": ["0", "1", "65535"],
    "whole number": ["0", "1", "2", "64"],
    "seconds": ["0", "1e-9", "0.2"],
    "host": ["", "::1", "localhost"],
    "path": ["x", "/nonexistent/dir/x", "a" * 5000],
    "service": ["http", "80", "no-such-service", "a" * 5000],
    "text": ["", "x", "a" * 5000, "\udcff"],
    "message": ["", "a" * 5000, "\udcff"],  # (a newline, an answer too long: see test_conformance.py)
}


class _Parsed(Exception):
    pass


def parser_of(script: str) -> argparse.ArgumentParser:
    """The program's own parser, as its main() builds it."""
    caught = {}

    def catch(self, args=None, namespace=None):
        caught["parser"] = self
        raise _Parsed

    module = runpy.run_path(str(DEMOS / script), run_name="fuzzed")
    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch), pytest.raises(_Parsed):
        module["main"]()
    return caught["parser"]


def kind_of(action: argparse.Action) -> str:
    if action.type is program.port_number:
        return "port"
    if action.type is program.host_name:
        return "host"
    if action.type is program.non_empty:
        return "path"
    if action.type is program.service:
        return "service"
    if action.type is not None:
        return action.type.kind  # "whole number", "seconds"
    return "message" if not action.option_strings else "text"


def random_values(rng: random.Random, kind: str) -> list[str]:
    if kind in ("port", "whole number"):
        return [str(rng.randint(-(10**6), 10**6)), str(rng.randint(0, 70000))]
    if kind == "seconds":
        return [repr(rng.uniform(-5, 5)), repr(rng.expovariate(1.0))]
    letters = "aé/.:-_ \t0123456789ß\x7f"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(0, 30)))]


@dataclass
class Arrangement:
    """What a program needs to run at all, with nothing answering it."""

    base: list[str]
    server: bool


def arrangement(script: str, parser: argparse.ArgumentParser, place: str, refusing_port: int) -> Arrangement:
    options = {opt for action in parser._actions for opt in action.option_strings}
    base = []
    required = {opt for action in parser._actions if action.required for opt in action.option_strings}
    if "--port" in required:
        base += ["--port", str(refusing_port)]  # bound, never listening: a connect() is refused at once
    if "--path" in required:
        base += ["--path", os.path.join(place, "nobody.sock")]
    if "--dir" in required:
        base += ["--dir", place]
    if "--fixed" in options:
        base.append("--fixed")  # the broken twin hangs on purpose
    if "--timeout" in options:
        base += ["--timeout", "1"]  # a client gives up soon on a server that is not there
    return Arrangement(base, server="server" in script)


def usage_or_taken(parser: argparse.ArgumentParser, args: list[str]) -> bool:
    """True if the parser takes these arguments, False if it refuses them as a usage error; anything else fails."""
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            parser.parse_args(args)
            return True
        except SystemExit as exit:
            assert exit.code == 2, f"{args}: exit {exit.code}"
            assert err.getvalue().rstrip().splitlines()[-1].startswith(f"{parser.prog}: error: "), err.getvalue()
            return False


def without(args: list[str], option: str) -> list[str]:
    """The arguments with that option and its value left out."""
    if option not in args:
        return list(args)
    at = args.index(option)
    return args[:at] + args[at + (1 if option == "--fixed" else 2) :]


def run(script: str, args: list[str], server: bool, place: str) -> str:
    """One real run; returns what went wrong, or ''."""
    popen = subprocess.Popen(
        [sys.executable, str(DEMOS / script), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=place,
        start_new_session=True,
    )
    err, end = b"", time.monotonic() + RUN_DEADLINE
    try:
        while not (server and b": ready: " in err):
            if not select.select([popen.stderr], [], [], max(end - time.monotonic(), 0))[0]:
                break  # silent past the deadline
            data = os.read(popen.stderr.fileno(), 65536)
            if not data:
                break  # stderr closed: it is ending
            err += data
        if server and b": ready: " in err:
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(max(end - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            return f"{script} {args!r}: still running after {RUN_DEADLINE:g} s; it said {err[-500:]!r}"
        err += popen.stderr.read()
        allowed = {143} if server and b": ready: " in err else {0, 1, 2}
        if b"Traceback" in err or popen.returncode not in allowed:
            return f"{script} {args!r}: exit {popen.returncode}; it said {err[-800:]!r}"
        return ""
    finally:
        with contextlib.suppress(ProcessLookupError):  # it, and whatever it forked and left behind
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
        popen.stderr.close()


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_option_takes_or_refuses_every_value_and_no_run_crashes_or_hangs(script):
    parser = parser_of(script)
    rng = random.Random(script)
    with socket.socket() as refusing, contextlib.ExitStack() as stack:
        refusing.bind(("127.0.0.1", 0))
        place = tempfile.mkdtemp()
        stack.callback(shutil.rmtree, place, ignore_errors=True)
        plan = arrangement(script, parser, place, refusing.getsockname()[1])
        runs = []
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction)):
                continue
            kind = kind_of(action)
            base = without(plan.base, action.option_strings[0]) if action.option_strings else plan.base
            randoms = random_values(rng, kind)
            for value in BOUNDARIES[kind] + randoms:
                args = base + [action.option_strings[0], value] if action.option_strings else base + ["--", value]
                if usage_or_taken(parser, args) and (value in RUNTIME[kind] or value is randoms[0]):
                    runs.append(args)
        runs.append(plan.base)  # and as it comes, with nothing but what it needs
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            problems = [p for p in pool.map(lambda args: run(script, args, plan.server, place), runs) if p]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "script,args",
    [
        ("udp_client.py", ["--port", "9", "--timeout", "-1"]),
        ("udp_client.py", ["--port", "9", "--timeout", "nan"]),
        ("unix_dgram_client.py", ["--path", "x", "--timeout", "-1"]),
        ("tcp_server.py", ["--clients", "-1"]),
        ("fifo_server.py", ["--clients", "-1"]),
        ("file_client.py", ["--dir", ""]),
    ],
)
def test_the_bad_command_lines_issue_9_found_are_usage_errors(script, args):
    done = run_program(script, *args)
    assert done.returncode == 2, done
    assert done.stderr.decode().splitlines()[-1].startswith(f"{script}: error: argument ")
    assert b"Traceback" not in done.stderr
