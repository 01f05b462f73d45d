"""ipc trace on programs nobody here wrote, held against an independent oracle (tests/trace_oracle.py).

The corpus: shell pipelines (SIGPIPE upstream too), Python's own web server with curl, netcat and socat,
and small C programs compiled here (tests/programs/foreign: SCM_RIGHTS, splice/sendfile/tee, writev/readv,
epoll/poll/select, 100 writers on one pipe, threads, fd copies and close_range, a non-blocking read,
vfork, a datagram nobody reads). Each is traced once, as ``ipc trace -- COMMAND`` traces it, with strace's
hex dumps of every byte (``--full-data``); the model is built twice from that text, with the dumps and
without them (only the strings strace cut at -s), and both are held against what plain strace says.
A program whose tool is missing is skipped, saying how to get it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trace_oracle
from support import ROOT, why_no_strace

from ipc.trace import build, finding, runner
from ipc.trace.describe import describe, show_bytes, wait_text
from ipc.watch import watch

FOREIGN = ROOT / "tests" / "programs" / "foreign"
DEADLINE = 60.0
MANY_WRITERS_RUNS = 5


pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")

NEEDS = {  # tool -> how to get it (Debian, Ubuntu)
    "cc": "no C compiler (cc): apt-get install gcc",
    "curl": "no curl: apt-get install curl",
    "socat": "no socat: apt-get install socat",
    "nc": "no OpenBSD netcat (nc -U): apt-get install netcat-openbsd",
}


def need(tool: str) -> None:
    found = shutil.which(tool) is not None
    if tool == "nc" and found:  # other netcats have no -U and -N
        found = "-U" in subprocess.run(["nc", "-h"], capture_output=True, text=True, timeout=10).stderr
    if not found:
        pytest.skip(NEEDS[tool])


class Traced:
    """One traced run: strace's text (with hex dumps), the model built with the dumps, and without them."""

    def __init__(self, argv: list, strings: int = runner.STRINGS, cwd: str | None = None):
        done = runner.trace_command(argv, timeout=DEADLINE, strings=strings, full_data=True, cwd=cwd,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
        assert done.ended is None, done.ended
        self.code = done.code
        [self.text] = done.texts
        self.full = done.trace
        # the same text less the dumps (each dump line left empty: every call keeps its line number)
        self.plain_text = "\n".join("" if line.startswith((" | ", " * ")) else line for line in self.text.splitlines())
        self.plain = build([self.plain_text])

    def models(self):
        return {"with the dumps": self.full, "as cut at -s": self.plain}


@pytest.fixture(scope="module")
def workspace():
    """Where the C programs are compiled and the traced programs keep their files: one directory for the module."""
    directory = tempfile.mkdtemp(prefix="ipc-foreign-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def traced(workspace):
    """name -> its Traced run, traced once for the module (each test reads the same run)."""
    runs: dict = {}

    def run(name: str, strings: int = runner.STRINGS) -> Traced:
        if (name, strings) not in runs:
            runs[(name, strings)] = Traced(*CORPUS[name](workspace), strings=strings)
        return runs[(name, strings)]

    return run


def compiled(workspace: Path, name: str) -> str:
    need("cc")
    program = workspace / name
    if not program.exists():
        subprocess.run(["cc", "-Wall", "-o", str(program), str(FOREIGN / f"{name}.c"), "-lpthread"], check=True,
                       timeout=120)  # fmt: skip
    return str(program)


def c_program(name: str, *args: str):
    return lambda workspace: ([compiled(workspace, name), *[a.format(dir=workspace) for a in args]],)


def shell(command: str):
    return lambda workspace: (["sh", "-c", command],)


def http_fetch(workspace: Path):
    need("curl")
    site = workspace / "site"
    site.mkdir(exist_ok=True)
    (site / "page.html").write_text("<p>a page that names a path: /usr/share/doc</p>\n")
    return (["sh", str(FOREIGN / "http_fetch.sh"), str(site), sys.executable],)


def nc_unix(workspace: Path):
    need("nc")
    place = workspace / "nc"
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir()
    return (["sh", str(FOREIGN / "nc_unix.sh"), str(place)],)


def socat_copy(workspace: Path):
    need("socat")
    return (["sh", "-c", "printf 'hello socat\\n' | socat - -"],)


CORPUS = {
    "path in the data": shell('printf \'/usr/lib/x\\n{"file": "/etc/passwd"}\\n\' | cat'),
    "sigpipe upstream": shell("yes | head -n 3"),
    "a system file passed on": shell("cat /etc/hostname | tr a-z A-Z"),
    "a shell redirection": shell("echo saved >&2 | cat"),
    "http.server and curl": http_fetch,
    "nc over a unix socket": nc_unix,
    "socat": socat_copy,
    "scm_rights": c_program("scm_rights"),
    "zero_copy": c_program("zero_copy", "{dir}"),
    "vectored": c_program("vectored"),
    "poll_family": c_program("poll_family"),
    "many_writers": c_program("many_writers"),
    "threads": c_program("threads"),
    "fd_copies": c_program("fd_copies"),
    "nonblocking": c_program("nonblocking"),
    "vfork_exec": c_program("vfork_exec"),
    "datagram_unread": c_program("datagram_unread"),
}


def calls(model, name: str, shown: bool = True) -> list:
    return [c for c in model.calls if c.name == name and (not shown or not c.noise)]


def only(items: list):
    assert len(items) == 1, items
    return items[0]


# -- the oracle, on the whole corpus -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_oracle_agrees_with_the_model(traced, name):
    run = traced(name)
    for how, model in run.models().items():
        verdict = trace_oracle.check(model, run.text)
        assert not verdict.wrong, f"{how}: {verdict}"
        assert not verdict.unequal, f"{how}: {verdict}"
        assert verdict.uncertain == 0, f"{how}: {verdict}"  # every byte shown: the bytes settle every order


def test_many_writers_on_one_pipe_no_wrong_join_in_repeated_runs(workspace):
    """100 children write one line each into one pipe at once. strace prints their returns in an order
    that is not always the kernel's; the bytes the reader got say which it was."""
    program = compiled(workspace, "many_writers")
    joins = 0
    for _ in range(MANY_WRITERS_RUNS):
        run = Traced([program])
        for how, model in run.models().items():
            verdict = trace_oracle.check(model, run.text)
            assert not verdict.wrong and not verdict.unequal and not verdict.uncertain, f"{how}: {verdict}"
            joins += verdict.joins
        assert len({m.writer_pid for m in run.plain.messages}) == 100
    assert joins >= MANY_WRITERS_RUNS * 2 * 100


def test_many_writers_with_bytes_cut_at_s_say_uncertain_rather_than_join_wrong(workspace):
    """With -s 8 strace shows "child 04" of each line: the bytes cannot order the writes. A message that
    may be another write's is marked uncertain; none that is not is wrong."""
    program = compiled(workspace, "many_writers")
    uncertain = 0
    for _ in range(3):
        run = Traced([program], strings=8)
        verdict = trace_oracle.check(run.plain, run.text)
        assert not verdict.wrong and not verdict.unequal, verdict
        uncertain += verdict.uncertain
        full = trace_oracle.check(run.full, run.text)  # the dumps show every byte: all settled
        assert not full.wrong and full.uncertain == 0, full
    assert uncertain > 0


# -- 1. a read is judged by its fd, never by its bytes -----------------------------------------------


def test_a_read_whose_bytes_hold_a_system_path_is_kept(traced):
    model = traced("path in the data").plain
    cat = only([p for p in model.processes.values() if p.program == "cat"])
    [message] = model.messages
    assert message.reader_pid == cat.pid and message.data == b'/usr/lib/x\n{"file": "/etc/passwd"}\n'
    assert model.unmatched == []


# -- 2. splice, sendfile, tee, copy_file_range, vmsplice: bytes moved between objects ----------------


def test_zero_copy_calls_move_bytes_out_of_one_object_into_another(traced):
    model = traced("zero_copy").plain
    data = b"twenty-five bytes of data"
    moves = {name: only(calls(model, name)) for name in ("splice", "sendfile", "tee", "copy_file_range")}
    assert all(call.data == data and call.data_complete for call in moves.values())
    assert model.unmatched == []  # the 25 bytes spliced out of pipe #1 were read: not "left unread"
    into = {model.calls[m.reader].name: model.calls[m.writer].name for m in model.messages}
    assert into == {"splice": "write", "sendfile": "splice", "tee": "sendfile", "read": "vmsplice",
                    "copy_file_range": "splice", "pread64": "copy_file_range"}  # fmt: skip
    # the read of pipe b and the read of pipe c both got the bytes: tee left them in b
    reads = [m for m in model.messages if model.calls[m.reader].name == "read" and m.data == data]
    assert sorted(model.calls[m.writer].name for m in reads) == ["sendfile", "tee"]
    splice = describe(model, moves["splice"])
    assert "splice fd 3 (pipe #1) → fd 4 (file spliced)" in splice and "zero-copy" in splice
    assert "left in pipe #2" in describe(model, moves["tee"])


# -- 3. an fd passed with SCM_RIGHTS keeps its end -----------------------------------------------------


def test_an_fd_received_over_a_unix_socket_is_the_senders_end(traced):
    model = traced("scm_rights").plain
    send, receive = only(calls(model, "sendmsg")), only(calls(model, "recvmsg"))
    passed = only(model.passes)
    assert (passed.sender, passed.receiver, passed.sender_fd, passed.receiver_fd) == (send.index, receive.index, 4, 3)
    entry = model.fd_table(receive.pid, receive.end_seq)[3]
    sent = model.fd_table(send.pid, send.seq)[4]
    assert (entry.object, entry.end, entry.open_file) == (sent.object, "read", sent.open_file)
    assert "fd 4 → fd 3: pipe #1 read end" in describe(model, send)
    assert describe(model, receive).endswith('= 1 "F" · fd 4 → fd 3: pipe #1 read end')
    for wait in (w for w in model.waits if w.pid == receive.pid):
        assert "outside the trace" not in wait.reason


def test_a_deadlock_through_a_passed_fd_names_the_other_process_not_itself(workspace):
    program = compiled(workspace, "scm_rights")
    outcome = watch([program, "deadlock"], err=io.BytesIO(), report=io.StringIO(), trace=True, timeout=DEADLINE)
    assert outcome.why_ended == "deadlock", outcome.why_ended
    model = outcome.stopped
    found = finding(model)
    child = only([p for p in model.processes.values() if p.parent is not None])
    edges = [(e.holder, e.fd, e.reason.name) for e in found.edges if e.waiter == child.pid]
    assert edges == [(child.parent, 5, "HOLDS_WRITE_END")]  # not "itself (fd 3, pipe #1's write end)"
    assert set(found.cycle) == {child.pid, child.parent}


# -- 4: see the oracle, above -------------------------------------------------------------------------
# -- 5. poll, select, epoll: one family, a wait on a set of fds ---------------------------------------


def test_epoll_poll_and_select_each_wait_on_a_set_of_named_fds(traced):
    """Each of the 24 calls waits on the 8 pipes and finds the one a child wrote ready. Whether a call had to
    wait depends on who ran first: one that did is shown, with the fd that woke it (the recorded run in
    test_trace_model has them all wait)."""
    model = traced("poll_family").plain
    waited = {w.call: w for w in model.waits}
    for name in ("epoll_wait", "poll", "pselect6"):
        found = calls(model, name, shown=False)
        assert len(found) >= 8, (name, len(found))
        for call in found:
            assert len({fd for fd, _ in call.watched}) == 8 and call.ready, describe(model, call)
            if call.index in waited and call.result == 1:
                assert not call.noise
                assert f"(fd {only(call.ready)}, pipe #" in waited[call.index].reason, waited[call.index].reason
    assert any(model.calls[w].name in ("epoll_wait", "poll", "pselect6") for w in waited)
    assert len(calls(model, "epoll_ctl")) == 8  # the interest list, shown


# -- 6. a program's own fd copies show; a shell's housekeeping is hidden, and says so ------------------


def test_a_programs_fd_copies_and_close_range_are_shown(traced):
    model = traced("fd_copies").plain
    copies = [(c.name, c.result) for c in model.calls if c.name in ("fcntl", "dup2") and not c.noise]
    assert copies == [("fcntl", 40), ("dup2", 60)]
    assert sorted(c.fds[0] for c in calls(model, "write")) == [40, 60]
    close_range = only(calls(model, "close_range"))
    assert sorted(close_range.fds) == [4, 40, 60]
    assert "closed fd 4 (pipe #1 write end), 40 (pipe #1 write end), 60 (pipe #1 write end)" in describe(
        model, close_range
    )


def test_a_shells_own_fd_saving_is_hidden_and_says_why(traced):
    model = traced("a shell redirection").plain
    saving = [c for c in model.calls if c.name == "fcntl" and c.result is not None and c.result >= 10]
    assert saving and all(c.noise and c.hidden for c in saving)
    assert "(a shell saving its own fds)" in describe(model, saving[0])


# -- 7. threads: which thread made each call, whose call returned, a thread's end ----------------------


def test_threads_are_told_apart(traced):
    model = traced("threads").plain
    [process] = model.processes.values()
    main, *threads = process.threads
    assert main == process.pid and len(threads) == 2
    reads = calls(model, "read")
    assert sorted(c.tid for c in reads) == sorted(threads)
    for wait in (w for w in model.waits if model.calls[w.call].name == "read"):
        assert wait.reason == f"until threads[{process.pid}/{main}] wrote", wait.reason  # not "threads[pid]"
    returns = [s for s in model.steps if s.kind == "return" and model.calls[s.call].name == "read"]
    assert sorted(s.tid for s in returns) == sorted(threads)
    ends = [m for m in model.marks if m.tid in threads]
    assert [m.kind for m in ends] == ["thread-exit", "thread-exit"] and process.end_seq > max(m.seq for m in ends)
    assert [c.title for c in calls(model, "exit")] == ["exit (thread ends)"] * 2
    both = [model.state_at(n).blocked for n, s in enumerate(model.steps) if s.kind == "call" and s.tid == main]
    assert any(set(blocked) == set(threads) for blocked in both)  # two reads blocked at once, each its thread's


# -- 8. whole command lines; a file read for the output is part of the story ---------------------------


def test_the_whole_argv_is_kept(traced):
    model = traced("vfork_exec").plain
    echo = only([p for p in model.processes.values() if p.program == "echo"])
    assert echo.commands[-1] == ["echo", "one", "two", "three", "four", "five", "--six"]
    execve = only([c for c in calls(model, "execve") if c.pid == echo.pid])
    assert describe(model, execve).endswith("echo one two three four five --six")


def test_a_system_file_a_program_reads_for_its_output_is_shown(traced):
    if not os.path.exists("/etc/hostname"):
        pytest.skip("no /etc/hostname here")
    model = traced("a system file passed on").plain
    cat = only([p for p in model.processes.values() if p.program == "cat"])
    opened = [c for c in calls(model, "openat") if c.pid == cat.pid]
    read = [c for c in calls(model, "read") if c.pid == cat.pid and c.result]
    assert [model.objects[c.objects[0]].path for c in opened] == ["/etc/hostname"]
    assert read and read[0].data == Path("/etc/hostname").read_bytes()[: len(read[0].data)]


def test_a_page_python_serves_is_read_and_sent(traced):
    model = traced("http.server and curl").plain
    opened = [c for c in calls(model, "openat") if c.objects and model.objects[c.objects[0]].path]
    assert any(model.objects[c.objects[0]].path.endswith("/page.html") for c in opened)
    reply = [m for m in model.messages if b"a page that names a path" in m.data]
    assert reply and model.processes[reply[0].reader_pid].program == "curl"


# -- 9. smaller --------------------------------------------------------------------------------------


def test_vfork_is_its_own_call_and_the_parent_waits_for_the_exec(traced):
    model = traced("vfork_exec").plain
    vfork = only(calls(model, "vfork"))
    assert vfork.title == "vfork"
    echo = model.processes[vfork.result]
    assert only([w for w in model.waits if w.call == vfork.index]).reason == f"until {echo.label} called execve"


def test_a_datagram_to_a_bound_socket_nobody_read_is_left_unread(traced):
    model = traced("datagram_unread").plain
    assert [(u.reason, u.data) for u in model.unmatched] == [("left unread", b"first"), ("left unread", b"second")]
    rows = [describe(model, c) for c in calls(model, "socket")]
    assert rows == ["socket → fd 3: UDP socket", "socket → fd 4: UDP socket"]  # not the address bind gives later


def test_strings_cut_at_s_keep_their_length_and_the_dumps_give_them_whole(traced):
    run = traced("vectored", strings=3)
    write = only(calls(run.plain, "writev"))
    assert write.result == 14 and len(write.data) < 14 and write.data_complete is False  # 3 bytes of each buffer
    [message] = [m for m in run.plain.messages if m.channel.startswith("pipe")]
    assert (message.length, message.complete) == (14, False)
    full = only(calls(run.full, "writev"))
    assert (full.data, full.data_complete) == (b"one two three\n", True)
    assert show_bytes(b"\n" * 30, 10) == '"\\n\\n\\n\\n"…'  # whole escapes: never a lone backslash before the quote
    assert wait_text(run.plain, write) is None
