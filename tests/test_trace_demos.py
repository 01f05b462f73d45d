"""Real traces of real demos: what the kernel did, as strace saw it.

Each demo script runs directly under strace (servers first, their clients
once they said ready), as ``ipc trace`` runs a command; a broken demo is
ended once its deadlock has formed (the model shows every process blocked,
twice in a row with nothing new), and the model as it was then is checked.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import DEMOS, ROOT, why_no_strace

from ipc.catalog import Demo, Program
from ipc.harness import run_demo
from ipc.trace import runner
from ipc.watch import watch

REQUESTS = [b"hello\n", b"how are you?\n", "Grüße aus der Pipe\n".encode(), b"bye\n"]
REPLIES = [b"1 HELLO\n", b"2 HOW ARE YOU?\n", "3 GRÜSSE AUS DER PIPE\n".encode(), b"4 BYE\n"]
DEADLINE = 30.0


pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")


def trace(script: str, *args: str, deadlock: bool = False):
    """A demo's program under strace. One that should deadlock runs as ``ipc trace -- COMMAND`` runs it:
    under ipc watch, which ends it once the deadlock is diagnosed (outcome.stopped: the model then)."""
    argv = [sys.executable, str(DEMOS / script), *args]
    if deadlock:
        outcome = watch(argv, err=io.BytesIO(), report=io.StringIO(), trace=True, timeout=DEADLINE)
        assert outcome.why_ended == "deadlock", outcome.why_ended
        return outcome
    traced = runner.trace_command(
        argv, timeout=DEADLINE, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert traced.ended is None, traced.ended
    return traced


def trace_pair(server: list, client: list, deadlock: bool = False):
    """Server and client through the harness under strace (ipc trace NAME's way): the server first, the
    client once it said ready, each traced apart; one merged model, and for a deadlock the model as it
    stood when the harness diagnosed it."""
    demo = Demo(
        name="traced",
        mechanism="-",
        teaches="-",
        kind="deadlock" if deadlock else "runs",
        server=Program(server[0], tuple(server[1:])),
        client=Program(client[0], tuple(client[1:])),
    )
    result = run_demo(demo, trace=True, fix=False)
    assert result.ok, result.problems
    return result.trace, result.stopped


def role(trace, name: str):
    found = [p for p in trace.processes.values() if p.role == name]
    assert len(found) == 1, [p.label for p in trace.processes.values()]
    return found[0]


def shown(trace, pid: int, name: str) -> list:
    return [c for c in trace.lecture_calls() if c.pid == pid and c.name == name]


def conversation(trace, client, server) -> None:
    assert [m.data for m in trace.messages_between(client.pid, server.pid)][:4] == REQUESTS
    assert [m.data for m in trace.messages_between(server.pid, client.pid)][:4] == REPLIES


def test_pipe_demo():
    model = trace("pipe_fork.py").trace
    client, server = role(model, "client"), role(model, "server")
    assert len(shown(model, client.pid, "pipe2")) == 2
    assert [c.title for c in shown(model, client.pid, "clone")] == ["clone (fork)"]
    assert server.parent == client.pid
    ends = {
        pid: [model.objects[c.objects[0]].label + " " + _end(model, c) for c in shown(model, pid, "close")][:2]
        for pid in (client.pid, server.pid)
    }
    assert ends == {client.pid: ["pipe #1 read", "pipe #2 write"], server.pid: ["pipe #1 write", "pipe #2 read"]}
    conversation(model, client, server)
    assert len(model.messages) == 8 and model.unmatched == []
    last = shown(model, server.pid, "read")[-1]
    assert last.result == 0  # end of file...
    closes = [c for c in shown(model, client.pid, "close") if model.objects[c.objects[0]].label == "pipe #1"]
    assert last.end_seq > max(c.seq for c in closes)  # ...only once the parent had closed its write end
    for wait in [w for w in model.waits if w.call == last.index]:  # and if the read had to wait, that ended it
        assert model.calls[wait.cause].name == "close" and wait.cause_pid == client.pid
    [wait4] = shown(model, client.pid, "wait4")
    assert wait4.result == server.pid and server.reaped_by == wait4.index and server.exit_code == 0


def _end(model, close) -> str:
    change = next(
        ch
        for ch in reversed(model.fd_changes)
        if ch.pid == close.pid and ch.fd == close.fds[0] and ch.entry is not None and ch.seq <= close.seq
    )
    return change.entry.end


def test_dup2_demo_the_child_execs_a_server_that_reads_fd_0():
    model = trace("dup2_parent.py").trace
    client, server = role(model, "client"), role(model, "server")
    onto = sorted(c.result for c in model.lecture_calls() if c.pid == server.pid and c.name in ("dup2", "dup3"))
    assert onto == [0, 1]
    assert server.programs == ["dup2_parent.py", "stdio_server.py"]
    reads = [m for m in model.messages_between(client.pid, server.pid)]
    assert [m.data for m in reads] == REQUESTS and all(model.calls[m.reader].fds[0] == 0 for m in reads)
    assert all(model.calls[m.writer].fds[0] == 1 for m in model.messages_between(server.pid, client.pid))


def test_fifo_demo_open_waits_for_the_other_side():
    model, _ = trace_pair(["fifo_server.py", "--clients", "1"], ["fifo_client.py", "--dir", "{dir}"])
    client, server = role(model, "client"), role(model, "server")
    assert [c.lecture for c in shown(model, server.pid, "mknodat")] == ["mkfifo"]  # its well-known FIFO
    assert [c.lecture for c in shown(model, client.pid, "mknodat")] == ["mkfifo", "mkfifo"]  # the client's own two
    opens = [w for w in model.waits if model.calls[w.call].name == "openat"]
    assert any(w.reason.endswith("opened the other end") and w.cause_pid in (client.pid, server.pid) for w in opens)
    said = [m.data for m in model.messages_between(client.pid, server.pid)]
    assert said == [f"{client.pid}\n".encode(), *REQUESTS]  # first who it is, on the server's FIFO; then its requests
    assert [m.data for m in model.messages_between(server.pid, client.pid)] == REPLIES


def test_files_demo_rename_then_read():
    model, _ = trace_pair(["file_server.py", "--clients", "1"], ["file_client.py", "--dir", "{dir}"])
    client, server = role(model, "client"), role(model, "server")
    assert shown(model, client.pid, "rename") and shown(model, server.pid, "rename")
    conversation(model, client, server)
    assert all(m.kind == "file" for m in model.messages)


@pytest.mark.parametrize(
    "server, client, kind",
    [
        (["unix_stream_server.py", "--clients", "1"], ["unix_stream_client.py", "--path", "{path}"], "unix-stream"),
        (
            ["tcp_server.py", "--host", "127.0.0.1", "--clients", "1"],
            ["tcp_client.py", "--host", "{host}", "--port", "{port}"],
            "tcp",
        ),
    ],
)
def test_stream_socket_demos(server, client, kind):
    model, _ = trace_pair(server, client)
    serving, asking = role(model, "server"), role(model, "client")
    for name in ("socket", "bind", "listen", "accept4"):
        assert shown(model, serving.pid, name), name
    [connect] = shown(model, asking.pid, "connect")
    [accept] = shown(model, serving.pid, "accept4")
    accepted, connected = model.objects[accept.objects[-1]], model.objects[connect.objects[0]]
    assert accepted.kind == connected.kind == kind and accepted.label == connected.label
    if kind == "tcp":  # the 4-tuple, seen from both sides
        assert (accepted.local, accepted.remote) == (connected.remote, connected.local)
    conversation(model, asking, serving)


@pytest.mark.parametrize(
    "server, client",
    [
        (
            ["udp_server.py", "--host", "127.0.0.1", "--clients", "1"],
            ["udp_client.py", "--host", "{host}", "--port", "{port}"],
        ),
        (["unix_dgram_server.py", "--clients", "1"], ["unix_dgram_client.py", "--path", "{path}"]),
    ],
)
def test_datagram_demos_one_arrow_per_datagram(server, client):
    model, _ = trace_pair(server, client)
    serving, asking = role(model, "server"), role(model, "client")
    sent = model.messages_between(asking.pid, serving.pid)
    assert [m.data for m in sent] == [r.rstrip(b"\n") for r in REQUESTS] + [b""]
    assert [m.data for m in model.messages_between(serving.pid, asking.pid)] == [r.rstrip(b"\n") for r in REPLIES]
    assert all(m.kind == "datagram" and m.source_address and m.destination for m in model.messages)
    bound = model.objects[shown(model, serving.pid, "bind")[0].objects[0]].local
    assert {m.destination for m in sent} == {bound} and model.unmatched == []


def test_boundaries_demo_fan_out_and_fan_in():
    model = trace("stream_boundaries.py").trace
    assert any(m.write_parts > 1 for m in model.messages)  # one send, two recvs
    assert any(m.read_parts > 1 for m in model.messages)  # two sends, one recv


def test_sigpipe_demo_epipe_and_the_death_by_sigpipe():
    model = trace("sigpipe.py").trace
    killed = [p for p in model.processes.values() if p.killed_by == "SIGPIPE"]
    survived = [p for p in model.processes.values() if p.role == "writer" and p.exit_code == 0]
    assert killed and survived
    assert all(any(c.errno == "EPIPE" for c in model.calls if c.pid == p.pid) for p in killed + survived)
    reset = [c for c in model.lecture_calls() if c.name == "rt_sigaction"]
    assert reset and all(c.args[0] == "SIGPIPE" for c in reset)


@pytest.mark.parametrize(
    "script, blocked",
    [
        ("both_read_first.py", ["read", "read"]),
        ("forgotten_close.py", ["read", "wait4"]),
        ("fifo_open_order.py", ["openat", "openat"]),
        ("full_buffers.py", ["sendto", "sendto"]),
        ("subprocess_pipe_buffer.py", ["write", "write"]),
    ],
)
def test_broken_demo_the_blocked_calls_at_the_end(script, blocked):
    traced = trace(f"broken/{script}", deadlock=True)
    stopped = traced.stopped
    stuck = stopped.blocked_at_end()
    assert sorted(stopped.calls[w.call].name for w in stuck) == sorted(blocked)
    assert len({w.pid for w in stuck}) == 2  # one per process
    waiting = {w.call for w in stuck}
    assert not [m for m in stopped.messages if m.reader in waiting]  # no arrow reaches them
    assert traced.code != 0 and all(p.end is not None for p in traced.trace.processes.values())


def test_broken_client_reads_first_over_tcp():
    model, stopped = trace_pair(
        ["tcp_server.py", "--host", "127.0.0.1", "--clients", "1", "--idle", "0"],
        ["broken/client_reads_first.py", "--host", "{host}", "--port", "{port}"],
        deadlock=True,
    )
    stuck = stopped.blocked_at_end()
    assert {stopped.processes[w.pid].role for w in stuck} == {"client", "server"}
    assert stopped.messages == []  # both wait to read; no byte was ever sent


def test_shell_pipeline_through_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "trace", "--width", "100", "--", "sh", "-c", "printf 'a\\nb\\n' | tr a-z A-Z"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("A\nB\n")  # tr's own output comes first
    assert any('"a\\nb\\n" · pipe #1' in line and "▶" in line for line in done.stdout.splitlines())
    assert "1 message matched" in done.stdout and "\x1b[" not in done.stdout


C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int fds[2];
    char buffer[16];
    if (pipe(fds) < 0) return 1;
    pid_t child = fork();
    if (child == 0) { close(fds[0]); write(fds[1], "ping\n", 5); _exit(0); }
    close(fds[1]);
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    waitpid(child, NULL, 0);
    return n == 5 ? 0 : 2;
}
"""


@pytest.mark.tools
@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) here (Debian: apt-get install gcc)")
def test_a_c_program_not_written_for_the_project():
    with tempfile.TemporaryDirectory() as directory:
        source, program = Path(directory, "ping.c"), Path(directory, "ping")
        source.write_text(C_PROGRAM)
        subprocess.run(["cc", "-o", str(program), str(source)], check=True, timeout=60)
        traced = runner.trace_command([str(program)], timeout=DEADLINE, stdout=subprocess.DEVNULL)
    model = traced.trace
    assert traced.code == 0 and len(model.processes) == 2
    [message] = model.messages
    assert message.data == b"ping\n"
    parent = next(p for p in model.processes.values() if p.parent is None)
    titles = [c.title for c in model.lecture_calls() if c.pid == parent.pid]
    assert {"pipe2 (pipe)", "clone (fork)", "wait4 (waitpid)"} <= set(titles)
    assert message.reader_pid == parent.pid


def ipc_trace(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ipc", "trace", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
        **kwargs,
    )


def test_cli_passes_the_commands_exit_code_and_writes_json():
    with tempfile.TemporaryDirectory() as directory:
        done = ipc_trace("--json", os.path.join(directory, "t.json"), "--", "sh", "-c", "exit 7")
        assert done.returncode == 7
        exported = json.loads(Path(directory, "t.json").read_text())
    assert exported["processes"][0]["exit_code"] == 7


def test_cli_usage_and_missing_commands():
    assert ipc_trace().returncode == 2
    missing = ipc_trace("--", "no-such-command-here")
    assert missing.returncode == 127 and missing.stderr.count("\n") == 1 and "not found" in missing.stderr


def test_cli_without_strace_says_how_to_get_it():
    with tempfile.TemporaryDirectory() as empty:
        done = ipc_trace("--", "true", env={**os.environ, "PATH": empty})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "apt-get install strace" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_ends_a_deadlock_and_exits_3():
    done = ipc_trace("--", sys.executable, str(DEMOS / "broken" / "both_read_first.py"))
    assert done.returncode == 3
    assert "Blocked when the deadlock was seen:" in done.stdout and "0 messages matched" in done.stdout
    assert done.stdout.count("; it waits for ") == 2  # each for the other


def _runs_sleep(pid: int) -> bool:
    """Whether ``sleep`` runs among pid's descendants (one that lives briefly, strace's probe, may end as it is
    looked at)."""
    import psutil

    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.name() == "sleep":
                return True
        except psutil.NoSuchProcess:
            continue
    return False


def test_cli_terminated_ends_what_it_traces_and_exits_143():

    ipc = subprocess.Popen(
        [sys.executable, "-m", "ipc", "trace", "--", "sleep", "60"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + DEADLINE
    while not _runs_sleep(ipc.pid):
        assert time.monotonic() < end and ipc.poll() is None, "sleep never started under strace"
        time.sleep(0.05)
    ipc.terminate()
    assert ipc.wait(DEADLINE) == 143
    assert "terminated" in ipc.stderr.read()
    ipc.stderr.close()


def test_cli_traces_a_demo_by_its_name():
    done = ipc_trace("fifo")
    assert done.returncode == 0, done.stderr
    assert "FIFO server" in done.stdout and "mknodat (mkfifo)" in done.stdout  # the server's well-known FIFO
    assert "8 messages matched" in done.stdout
    assert ipc_trace("no-such-demo").returncode == 2


def test_cli_interrupted_ends_what_it_traces_and_exits_130():

    ipc = subprocess.Popen(
        [sys.executable, "-m", "ipc", "trace", "--", "sleep", "60"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + DEADLINE
    while not _runs_sleep(ipc.pid):
        assert time.monotonic() < end and ipc.poll() is None, "sleep never started under strace"
        time.sleep(0.05)
    ipc.send_signal(signal.SIGINT)  # as Ctrl-C would, to ipc alone
    assert ipc.wait(DEADLINE) == 130
    assert "interrupted" in ipc.stderr.read()
    ipc.stderr.close()


@pytest.mark.parametrize("no_color", [False, True])
def test_cli_colour_on_a_terminal_unless_no_color(no_color):
    import pty

    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    if no_color:
        env["NO_COLOR"] = "1"
    try:
        ipc = subprocess.Popen(
            [sys.executable, "-m", "ipc", "trace", "--", "sh", "-c", "printf x | cat"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(terminal)
        output = b""
        with selectors.DefaultSelector() as selector:
            selector.register(controller, selectors.EVENT_READ)
            end = time.monotonic() + DEADLINE
            while time.monotonic() < end and selector.select(end - time.monotonic()):
                try:
                    data = os.read(controller, 65536)
                except OSError:  # the terminal's other side closed: all was read
                    break
                if not data:
                    break
                output += data
        assert ipc.wait(DEADLINE) == 0
    finally:
        os.close(controller)
    assert b"pipe #1" in output
    assert (b"\x1b[" in output) != no_color


def test_the_harness_traces_each_demo_from_its_main_and_its_start_up_only_when_asked():
    if not runner.check_attach():
        pytest.skip("strace may not attach to a running program here (Yama's ptrace scope, or no SYS_PTRACE)")
    demo = Demo(name="traced", mechanism="-", teaches="-", kind="runs", client=Program("pipe_fork.py"))
    from_main = run_demo(demo, trace=True, fix=False)
    assert from_main.ok, from_main.problems  # strace -p is the harness's own: not a process left behind
    [text] = from_main.trace_texts
    assert ".pyc" not in text and "--- stopped by SIGSTOP ---" in text  # no module was loaded under strace
    client = role(from_main.trace, "client")
    assert client.programs == ["pipe_fork.py"]  # named by the execve the harness wrote for it
    assert len(from_main.trace.messages) == 8 and from_main.trace.unmatched == []
    from_start = run_demo(demo, trace=True, trace_startup=True, fix=False)
    assert from_start.ok, from_start.problems
    assert ".pyc" in from_start.trace_texts[0] and len(from_start.trace.messages) == 8


def test_where_strace_may_not_attach_the_harness_traces_each_demo_from_its_start(monkeypatch):
    monkeypatch.setitem(runner._checked, "attach", False)  # as under Yama's scope 2, or without SYS_PTRACE
    demo = Demo(name="traced", mechanism="-", teaches="-", kind="runs", client=Program("pipe_fork.py"))
    result = run_demo(demo, trace=True, fix=False)
    assert result.ok, result.problems
    assert ".pyc" in result.trace_texts[0] and len(result.trace.messages) == 8
