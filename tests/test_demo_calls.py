"""Each exchange demo's trace shows the calls its --help lists under "System calls, in order", in that order.

Every exchange demo runs through the harness under strace (as ``ipc trace NAME`` runs it). Each program's
lecture calls (the trace model's: not noise) must all be calls its "System calls, in order" names, and the
order in which each first appears must follow the order the text names them in. A call no text names is
allowed only where ALLOWED says which Python or harness detail adds it, and why. A call that failed with
EAGAIN or EINPROGRESS must be named with that error. And the demos that teach blocking calls (TCP, Unix
stream, UDP, the fork server) show no poll() and no EINPROGRESS at all: the calls the lecture teaches, not
Python's timeout machinery (settimeout() makes every recv() a poll() first).
"""

from __future__ import annotations

import re

import pytest
from support import why_no_strace

from ipc import catalog, syscalls
from ipc.harness import run_demo

# Calls a trace shows that no demo's text lists, each added by a documented Python detail, and why.
ALLOWED = {
    "exit": "Python ends every process with exit_group(), whether or not the text names _exit() or exit()",
}
# Not calls of the demo's, so never compared: the execve() by which the harness starts each program (python's, before
# the demo's first line: the first call of a process no traced program forked; segments() leaves it out).
# Python's details the trace model names already: accept4 (Python's accept(), SOCK_CLOEXEC), pipe2, clone, wait4,
# dup3, and recvfrom/sendto with no address are shown as accept, pipe, fork, waitpid, dup2, recv, send
# (ipc.syscalls.LECTURE_NAMES); getsockname() and getpeername() (the port a bind to port 0 got) are its noise.
# The lecture's (or C's) name in a demo's text -> the name the trace model gives the kernel's call.
SAME_CALL = {
    "execv": "execve",
    "execvp": "execve",
    "exec": "execve",
    "_exit": "exit",
    "sendall": "send",
    "recv_into": "recv",
    "recvfrom_into": "recvfrom",
}
CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
WOULD_BLOCK = syscalls.WOULD_BLOCK
BLOCKING_DEMOS = ("tcp4", "tcp6", "unix", "udp4", "udp6", "unix-dgram", "fork-server", "tcp-c", "unix-c", "udp-c")
EXCHANGE_DEMOS = [demo for demo in catalog.all_demos() if demo.kind == "exchange"]


pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")


def calls_section(script: str) -> str:
    text = catalog.help_text(script)
    section = text.split("System calls, in order", 1)[1].split("\n", 1)[1]
    return re.split(r"\n(?=\S)", section)[0]  # up to the next heading


def named_calls(script: str) -> list[str]:
    """The calls a demo's text names, in its order, by the trace's names."""
    return [SAME_CALL.get(name, name) for name in CALL.findall(calls_section(script))]


def call_name(call) -> str:
    return call.lecture or call.name


def segments(trace) -> list[tuple[str, int, list]]:
    """(program, pid, its lecture calls) for each program each process ran: a forked child runs its parent's
    program until it execs another; an execve() belongs to the program that called it."""
    found = []
    for pid, process in trace.processes.items():
        calls = [call for call in trace.lecture_calls() if call.pid == pid]
        programs = list(process.programs)
        current = programs.pop(0) if process.parent is not None and programs else None
        mine: list = []
        for call in calls:
            execs = call.name in ("execve", "execveat") and call.errno is None
            if execs and current is None:  # the harness starting this program
                current = programs.pop(0) if programs else "?"
                continue
            mine.append(call)
            if execs:
                found.append((current, pid, mine))
                current, mine = (programs.pop(0) if programs else "?"), []
        found.append((current, pid, mine))
    return [segment for segment in found if segment[2]]


def script_of(demo: catalog.Demo, program: str) -> str | None:
    """The demo's script that the trace names program: tcp_server.py, or c/tcp_server.c (its program tcp_server)."""
    names = {script: script.rsplit("/", 1)[-1].removesuffix(".c") for script in demo.scripts}
    return next((script for script, name in names.items() if name == program), None)


def problems(script: str, calls: list) -> list[str]:
    """How a program's lecture calls differ from what its text says (empty: they agree)."""
    named, section = named_calls(script), calls_section(script)
    found = []
    unnamed = sorted({call_name(call) for call in calls} - set(named) - set(ALLOWED))
    if unnamed:
        found.append(f"calls its text does not name: {', '.join(unnamed)}")
    for call in calls:
        if call.errno in WOULD_BLOCK and call.errno not in section:
            found.append(f"{call.title} failed with {call.errno}, which its text does not name: {call.text[:100]}")
    first = list(dict.fromkeys(name for call in calls if (name := call_name(call)) in named and name not in ALLOWED))
    position = 0
    for name in first:
        try:
            position = named.index(name, position) + 1
        except ValueError:
            found.append(f"{name}() comes first after {first[: first.index(name)]}, not in the text's order {named}")
            break
    return found


@pytest.fixture(scope="module")
def traces():
    return {}


def traced(demo: catalog.Demo, traces: dict):
    if demo.name not in traces:
        result = run_demo(demo, trace=True)
        assert result.ok, result.problems
        traces[demo.name] = result.trace
    return traces[demo.name]


@pytest.mark.parametrize("demo", EXCHANGE_DEMOS, ids=lambda demo: demo.name)
def test_each_program_makes_the_calls_its_text_names_in_that_order(demo, traces):
    if demo.unavailable and (why := demo.unavailable()):
        pytest.skip(why)
    trace = traced(demo, traces)
    checked = set()
    for program, pid, calls in segments(trace):
        script = script_of(demo, program)
        assert script is not None, f"{demo.name}: {program}[{pid}] runs no script of the demo: {demo.scripts}"
        checked.add(script)
        assert problems(script, calls) == [], f"{demo.name}: {program}[{pid}]: {[call_name(c) for c in calls]}"
    assert checked == set(demo.scripts), f"{demo.name}: no traced calls of {set(demo.scripts) - checked}"


@pytest.mark.parametrize("name", BLOCKING_DEMOS)
def test_the_blocking_demos_show_no_poll_and_no_einprogress(name, traces):
    demo = catalog.find([name])[0]
    if demo.unavailable and (why := demo.unavailable()):
        pytest.skip(why)
    trace = traced(demo, traces)
    polls = [call.text[:100] for call in trace.calls if call.name in syscalls.POLLS]  # noise or not
    in_progress = [call.text[:100] for call in trace.calls if call.errno == "EINPROGRESS"]
    assert polls == [] and in_progress == []


def test_the_comparison_sees_a_timeout_of_pythons():
    """The check itself, on the calls tcp_client.py's trace showed while it called settimeout(): the connect()
    that failed with EINPROGRESS, the getsockopt(SO_ERROR) and a poll() before each recv(). The same client
    with blocking calls passes; calls out of the text's order do not."""

    class Call:
        def __init__(self, name, lecture=None, errno=None):
            self.name, self.lecture, self.errno = name, lecture, errno
            self.title, self.text = name, f"{name}(...)"

    blocking = [Call("socket"), Call("connect"), Call("setsockopt"), Call("sendto", "send"), Call("recvfrom", "recv")]
    blocking += [Call("close"), Call("exit_group", "exit")]
    assert problems("tcp_client.py", blocking) == []
    with_timeout = [Call("socket"), Call("connect", errno="EINPROGRESS"), Call("getsockopt"), Call("sendto", "send")]
    with_timeout += [Call("poll"), Call("recvfrom", "recv"), Call("close")]
    found = problems("tcp_client.py", with_timeout)
    assert found[0] == "calls its text does not name: getsockopt, poll"
    assert found[1].startswith("connect failed with EINPROGRESS, which its text does not name")
    assert len(found) == 2
    backwards = problems("tcp_client.py", [Call("recvfrom", "recv"), Call("socket")])
    assert backwards and "not in the text's order" in backwards[0]
