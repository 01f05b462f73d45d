"""The trace model, built from recorded strace text alone (tests/traces): no tracing needed."""

import json
from pathlib import Path

import pytest

from ipc.trace import build, finding
from ipc.trace.channels import Queued
from ipc.trace.describe import describe
from ipc.trace.export import to_json
from ipc.trace.names import without_housekeeping
from ipc.trace.picture import render
from ipc.trace.runner import _exit_code
from ipc.waitfor import Verdict

TRACES = Path(__file__).resolve().parent / "traces"
REQUESTS = [b"hello\n", b"how are you?\n", "Grüße aus der Pipe\n".encode(), b"bye\n"]
REPLIES = [b"1 HELLO\n", b"2 HOW ARE YOU?\n", "3 GRÜSSE AUS DER PIPE\n".encode(), b"4 BYE\n"]


def load(*names: str, housekeeping: bool = False):
    return build([(TRACES / f"{name}.strace").read_text() for name in names], housekeeping=housekeeping)


def by_role(trace, role: str):
    [process] = [p for p in trace.processes.values() if p.role == role]
    return process


def lecture(trace, pid: int, name: str) -> list:
    return [c for c in trace.lecture_calls() if c.pid == pid and c.name == name]


@pytest.fixture(scope="module")
def pipe():
    return load("pipe_fork")


def test_pipe_processes_have_their_roles_programs_and_parent(pipe):
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    assert server.parent == client.pid and client.parent is None
    assert client.programs == server.programs == ["pipe_fork.py"]
    assert pipe.calls[server.created_by].title == "clone (fork)"
    assert (client.exit_code, server.exit_code, server.reaped_by) == (0, 0, lecture(pipe, client.pid, "wait4")[0].index)


def test_pipe_calls_carry_the_kernels_name_and_the_lectures(pipe):
    client = by_role(pipe, "client")
    titles = [c.title for c in pipe.lecture_calls() if c.pid == client.pid]
    assert titles[:4] == ["execve", "pipe2 (pipe)", "pipe2 (pipe)", "clone (fork)"]
    assert "wait4 (waitpid)" in titles and titles[-1] == "exit_group (exit)"


def test_pipe_each_side_closes_the_ends_it_does_not_use(pipe):
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    requests, replies = (pipe.objects[c.objects[0]] for c in lecture(pipe, client.pid, "pipe2"))
    assert (requests.label, replies.label) == ("pipe #1", "pipe #2")
    ends = {
        pid: [
            (pipe.objects[ch.entry.object].label if ch.entry else None, ch.why)
            for ch in pipe.fd_changes
            if ch.pid == pid and ch.why == "close"
        ]
        for pid in (client.pid, server.pid)
    }
    closed = {pid: [(c.fds[0]) for c in lecture(pipe, pid, "close")][:2] for pid in (client.pid, server.pid)}
    assert closed == {client.pid: [3, 6], server.pid: [4, 5]}  # read end of #1, write end of #2; and the others
    assert all(why == "close" for changes in ends.values() for _, why in changes)
    # After the closes each process holds one end of each pipe: the one it uses.
    table = {
        pid: {
            fd: (pipe.objects[e.object].label, e.end)
            for fd, e in pipe.fd_table(pid, lecture(pipe, client.pid, "write")[0].seq).items()
            if pipe.objects[e.object].kind == "pipe"
        }
        for pid in (client.pid, server.pid)
    }
    assert table == {
        client.pid: {4: ("pipe #1", "write"), 5: ("pipe #2", "read")},
        server.pid: {3: ("pipe #1", "read"), 6: ("pipe #2", "write")},
    }


def test_pipe_every_request_and_reply_is_matched_writer_to_reader(pipe):
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    assert [m.data for m in pipe.messages_between(client.pid, server.pid)] == REQUESTS
    assert [m.data for m in pipe.messages_between(server.pid, client.pid)] == REPLIES
    for message in pipe.messages:
        writer, reader = pipe.calls[message.writer], pipe.calls[message.reader]
        assert writer.name == "write" and reader.name == "read" and message.kind == "stream"
        assert writer.data == reader.data == message.data and message.complete
        assert writer.seq < reader.end_seq
    assert pipe.unmatched == []


def test_pipe_final_read_sees_end_of_file_after_the_parents_close(pipe):
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    last = lecture(pipe, server.pid, "read")[-1]
    assert last.result == 0
    [wait] = [w for w in pipe.waits if w.call == last.index]
    closer = pipe.calls[wait.cause]
    assert (closer.pid, closer.name, closer.fds) == (client.pid, "close", [4])
    assert wait.reason == f"end of file: {client.label} closed pipe #1"


def test_pipe_waits_say_what_ended_them(pipe):
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    reads = [w for w in pipe.waits if pipe.calls[w.call].name == "read" and w.pid == client.pid]
    assert len(reads) == 4 and all(w.reason == f"until {server.label} wrote" for w in reads)
    assert all(pipe.calls[w.cause].name == "write" and w.cause_pid == server.pid for w in reads)
    [wait4] = [w for w in pipe.waits if pipe.calls[w.call].name == "wait4"]
    assert wait4.reason == f"until {server.label} exited 0" and wait4.duration > 0


def test_pipe_states_step_by_step_fd_tables_and_bytes_in_flight(pipe):
    """What the step-through page of issue 11 shows, from the model."""
    client, server = by_role(pipe, "client"), by_role(pipe, "server")
    steps = {
        (pipe.calls[s.call].title, s.pid, s.kind): i
        for i, s in reversed(list(enumerate(pipe.steps)))
        if s.call is not None
    }

    def pipe_fds(state, pid):
        return sorted(fd for fd, e in state.fd_tables[pid].items() if pipe.objects[e.object].kind == "pipe")

    forked = pipe.state_at(steps[("clone (fork)", client.pid, "call")])
    assert pipe_fds(forked, client.pid) == pipe_fds(forked, server.pid) == [3, 4, 5, 6]
    first_write = pipe.state_at(steps[("write", client.pid, "call")])
    assert pipe_fds(first_write, client.pid) == [4, 5] and pipe_fds(first_write, server.pid) == [3, 6]
    assert list(first_write.in_flight.values()) == [Queued(6, b"hello\n", (client.pid,))]
    reading = pipe.state_at(steps[("read", client.pid, "call")])
    assert [call.name for call in reading.blocked.values()] == ["read"] and client.pid in reading.blocked


def test_noise_is_start_up_and_the_demos_own_log_lines(pipe):
    client = by_role(pipe, "client")
    assert not [c for c in pipe.calls if c.name == "openat" and c.pid == client.pid]  # left out before parsing...
    everything = load("pipe_fork", housekeeping=True)
    startup = [c for c in everything.calls if c.name == "openat" and c.pid == client.pid]
    assert startup and all(c.noise for c in startup)  # ...or kept (ipc trace --all), and marked as noise
    logs = [c for c in pipe.calls if c.kind == "log"]
    assert logs and all(c.noise for c in logs)
    assert 'sent "hello"' in [c.note for c in logs if c.pid == client.pid]


def test_shell_pipeline_two_children_and_the_arrow_between_them():
    trace = load("shell_pipeline")
    shell = next(p for p in trace.processes.values() if p.parent is None)
    children = [p for p in trace.processes.values() if p.parent == shell.pid]
    assert sorted(p.program for p in children) == ["sh", "tr"]
    printf, tr = sorted(children, key=lambda p: p.program)
    [message] = trace.messages
    assert (message.writer_pid, message.reader_pid, message.data) == (printf.pid, tr.pid, b"a\nb\n")
    assert [c.result for c in lecture(trace, printf.pid, "dup2")] == [1]  # stdout onto the pipe
    assert [c.result for c in lecture(trace, tr.pid, "dup2")] == [0]  # stdin from it
    assert [c.result for c in lecture(trace, shell.pid, "wait4")] == [printf.pid, tr.pid]


def test_fifo_open_waits_for_the_other_side_and_a_killed_reader_never_returns():
    trace = load("sigpipe_shell")
    shell = next(p for p in trace.processes.values() if p.parent is None)
    cat = next(p for p in trace.processes.values() if p.program == "cat")
    [mkfifo] = [c for c in trace.lecture_calls() if c.name == "mknodat"]
    assert mkfifo.lecture == "mkfifo" and trace.objects[mkfifo.objects[0]].kind == "fifo"
    [opened] = [w for w in trace.waits if w.pid == shell.pid and trace.calls[w.call].name == "openat"]
    assert opened.reason == f"until {cat.label} opened the other end"
    assert trace.calls[opened.cause].pid == cat.pid
    [stuck] = [w for w in trace.waits if w.pid == cat.pid]
    assert trace.calls[stuck.call].name == "read" and stuck.end is None and stuck.signal == "SIGKILL"
    assert cat.killed_by == "SIGKILL" and shell.killed_by == "SIGPIPE"
    [epipe] = [c for c in trace.calls if c.errno == "EPIPE"]
    assert epipe.pid == shell.pid and any(m.text == "SIGPIPE" and m.pid == shell.pid for m in trace.marks)
    assert _exit_code(trace, 0) == 141  # as a shell reports it


def test_a_child_seen_before_its_vfork_returns_belongs_to_it():
    trace = load("sigpipe_shell")
    shell = next(p for p in trace.processes.values() if p.parent is None)
    mkfifo = next(p for p in trace.processes.values() if p.program == "mkfifo")
    made_by = trace.calls[mkfifo.created_by]
    assert made_by.name == "vfork" and made_by.pid == shell.pid and mkfifo.parent == shell.pid
    execve = next(c for c in trace.calls if c.pid == mkfifo.pid and c.name == "execve")
    assert execve.seq < made_by.end_seq  # its first line came before the vfork returned


def test_broken_demo_both_reads_block_and_no_message_crosses():
    trace = load("both_read_first")
    client, server = by_role(trace, "client"), by_role(trace, "server")
    assert trace.messages == []
    stuck = {
        w.pid: (trace.calls[w.call].name, trace.objects[trace.calls[w.call].objects[0]].label, w.signal)
        for w in trace.blocked_at_end()
    }
    assert stuck == {client.pid: ("read", "pipe #2", "SIGTERM"), server.pid: ("read", "pipe #1", "SIGTERM")}
    assert deadlocked(trace)  # as it stood before the harness ended it (SIGTERM from outside the trace)
    cut = load("both_read_first.blocked")
    assert deadlocked(cut)  # as it was while both waited
    assert {w.reason for w in cut.blocked_at_end()} == {"still blocked when the trace ended"}


def test_tcp_traced_apart_is_joined_by_the_four_tuple():
    trace = load("tcp.server", "tcp.client")
    server, client = by_role(trace, "server"), by_role(trace, "client")
    [accept] = lecture(trace, server.pid, "accept4")
    [connect] = lecture(trace, client.pid, "connect")
    assert accept.lecture == "accept"
    accepted, connected = trace.objects[accept.objects[-1]], trace.objects[connect.objects[0]]
    assert (accepted.local, accepted.remote) == (connected.remote, connected.local)
    assert accepted.label == connected.label == "TCP #1"
    assert [m.data for m in trace.messages_between(client.pid, server.pid)] == REQUESTS
    assert [m.data for m in trace.messages_between(server.pid, client.pid)] == REPLIES
    [waited] = [w for w in trace.waits if w.call == accept.index]
    assert waited.reason == f"until {client.label} connected" and waited.cause == connect.index
    assert any(
        w.pid == client.pid and trace.calls[w.call].name == "poll" and w.cause_pid == server.pid for w in trace.waits
    )


def test_traced_apart_the_order_of_the_texts_does_not_matter():
    one, other = load("tcp.server", "tcp.client"), load("tcp.client", "tcp.server")
    facts = [[(m.writer_pid, m.reader_pid, m.data) for m in t.messages] for t in (one, other)]
    assert facts[0] == facts[1]


def test_udp_one_message_per_datagram_with_addresses():
    trace = load("udp.server", "udp.client")
    server, client = by_role(trace, "server"), by_role(trace, "client")
    to_server = trace.messages_between(client.pid, server.pid)
    assert [m.data for m in to_server] == [r.rstrip(b"\n") for r in REQUESTS] + [b""]  # an empty one ends it
    assert [m.data for m in trace.messages_between(server.pid, client.pid)] == [r.rstrip(b"\n") for r in REPLIES]
    assert all(m.kind == "datagram" and m.write_parts == m.read_parts == 1 for m in trace.messages)
    assert {(m.source_address, m.destination) for m in to_server} == {
        (
            trace.objects[lecture(trace, client.pid, "connect")[0].objects[0]].local,
            trace.objects[lecture(trace, server.pid, "bind")[0].objects[0]].local,
        )
    }
    assert trace.unmatched == []


def test_stream_boundaries_fan_out_and_fan_in():
    trace = load("stream_boundaries")
    fan_out = [m for m in trace.messages if m.write_parts > 1]
    fan_in = [m for m in trace.messages if m.read_parts > 1]
    assert fan_out and fan_in
    split = [m.data for m in fan_out if m.writer == fan_out[0].writer]
    assert b"".join(split) == trace.calls[fan_out[0].writer].data  # one write, in two reads
    joined = [m.data for m in fan_in if m.reader == fan_in[0].reader]
    assert b"".join(joined) == trace.calls[fan_in[0].reader].data  # one read, from two writes


def test_json_export_holds_every_fact(pipe):
    exported = json.loads(json.dumps(to_json(pipe)))
    assert len(exported["messages"]) == len(pipe.messages) == 8
    first = exported["messages"][0]
    assert first["data"] == "hello\n" and first["hex"] == b"hello\n".hex() and first["length"] == 6
    assert first["writer"]["name"] == "write" and first["reader"]["name"] == "read"
    assert {p["label"] for p in exported["processes"]} == {p.label for p in pipe.processes.values()}
    assert [c["name"] for c in exported["calls"] if c["index"] == first["writer"]["call"]] == ["write"]
    assert len(exported["waits"]) == len(pipe.waits) and exported["fd_changes"]
    assert all(change["time"] is not None for change in exported["fd_changes"])


def test_picture_lanes_arrows_and_waits_fit_the_width(pipe):
    text = render(pipe, width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert "\x1b[" not in text and text.count("measured under strace") == 1
    header = next(line for line in lines if line.startswith("time ms"))
    assert "client[" in header and "server[" in header
    assert sum('"hello\\n" · pipe #1' in line and "▶" in line for line in lines) == 1
    assert sum('"1 HELLO\\n" · pipe #2' in line and "◀" in line for line in lines) == 1
    assert any("end of file · pipe #1" in line for line in lines)
    assert any("until server[" in line and "wrote" in line for line in lines)
    assert "8 messages matched" in text


def test_picture_colour_only_when_asked_and_everything_with_all(pipe):
    assert "\x1b[" in render(pipe, colour=True)
    assert len(render(pipe, everything=True).splitlines()) > len(render(pipe).splitlines())
    assert len(render(pipe, width=60).splitlines()[5]) <= 60


def test_a_socket_used_before_its_decoration_shows_the_peer_still_joins_the_conversation():
    """Right after connect(), strace may show only the socket's own inode: UNIX-STREAM:[209468]."""
    trace = load("unix.server", "unix.client")
    server, client = by_role(trace, "server"), by_role(trace, "client")
    first = lecture(trace, client.pid, "sendto")[0]
    assert first.args[0].target.peer is None  # the decoration of the first send
    assert [m.data for m in trace.messages_between(client.pid, server.pid)] == REQUESTS
    assert [m.data for m in trace.messages_between(server.pid, client.pid)] == REPLIES


def test_datagrams_are_matched_by_their_bytes_not_by_two_straces_clocks():
    """Here the server's recvfrom of "how are you?" seems to end 43 µs before the client's sendto began."""
    trace = load("unix_dgram.server", "unix_dgram.client")
    server, client = by_role(trace, "server"), by_role(trace, "client")
    [send] = [c for c in lecture(trace, client.pid, "sendto") if c.data == b"how are you?"]
    [receive] = [c for c in lecture(trace, server.pid, "recvfrom") if c.data == b"how are you?"]
    assert receive.end < send.start  # by the clocks
    assert [m.data for m in trace.messages_between(client.pid, server.pid)] == [r.rstrip(b"\n") for r in REQUESTS] + [
        b""
    ]
    assert trace.unmatched == []


def test_each_blocked_call_says_whom_it_waits_for():
    trace = load("both_read_first")
    client, server = by_role(trace, "client"), by_role(trace, "server")
    found = finding(trace)
    waiting = {e.waiter: [(e.holder, e.fd, trace.objects[e.need.object].label, e.reason.name)] for e in found.edges}
    assert waiting == {
        client.pid: [(server.pid, 6, "pipe #2", "HOLDS_WRITE_END")],
        server.pid: [(client.pid, 4, "pipe #1", "HOLDS_WRITE_END")],
    }
    assert set(found.cycle) == {client.pid, server.pid}
    assert "it waits for server[" in render(trace)


def test_a_poll_with_a_timeout_is_not_a_deadlock():
    text = (
        "10 1.0 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.1>\n"
        "10 1.1 clone(child_stack=NULL, flags=SIGCHLD) = 11 <0.1>\n"
        "10 1.2 poll([{fd=3<pipe:[7]>, events=POLLIN}], 1, {timeout}) = 1 <0.1>\n".replace("{timeout}", "0")
        + "11 1.3 read(3<pipe:[7]>,  <unfinished ...>\n"
    )
    polling = text + "10 1.4 poll([{fd=3<pipe:[7]>, events=POLLIN}], 1, 5000"
    forever = text + "10 1.4 poll([{fd=3<pipe:[7]>, events=POLLIN}], 1, -1"
    assert not deadlocked(build([polling]))  # it will time out and go on
    assert deadlocked(build([forever]))


def test_a_thread_in_no_traced_call_may_be_running():
    """futex is not traced: a thread in no traced call may be joining another, or running; a trace
    alone cannot tell, so it is no deadlock (the live watch asks /proc, and can)."""
    text = (
        "20 1.0 socketpair(AF_UNIX, SOCK_STREAM, 0, [3<UNIX-STREAM:[1->2]>, 4<UNIX-STREAM:[2->1]>]) = 0 <0.1>\n"
        "20 1.1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 21 <0.1>\n"
        "20 1.2 clone(child_stack=NULL, flags=SIGCHLD) = 30 <0.1>\n"
        "21 1.3 recvfrom(3<UNIX-STREAM:[1->2]>,  <unfinished ...>\n"
        "30 1.4 recvfrom(4<UNIX-STREAM:[2->1]>, "
    )
    trace = build([text])
    assert finding(trace).verdict is Verdict.RUNNING  # thread 20 might be running


def deadlocked(trace) -> bool:
    return finding(trace).verdict is Verdict.DEADLOCK


def test_an_fd_is_gone_as_close_begins_even_while_the_call_is_still_under_way():
    text = (
        "10  1.000000 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.000010>\n"
        "10  1.000100 clone(child_stack=NULL, flags=SIGCHLD) = 11 <0.000100>\n"
        "10  1.000300 close(4<pipe:[7]> <unfinished ...>\n"
        "11  1.000400 close(3<pipe:[7]>) = 0 <0.000005>\n"  # the child's step, in the middle of the parent's close
        "10  1.000500 <... close resumed>) = 0 <0.000200>\n"
    )
    trace = build([text])
    child_close = next(n for n, s in enumerate(trace.steps) if s.call is not None and trace.calls[s.call].pid == 11)
    assert sorted(trace.state_at(child_close).fd_tables[10]) == [3]  # the parent's fd 4 went when its close began


def test_a_program_traced_from_its_main_is_named_by_its_execve_and_its_sigcont_is_left_out():
    # What the harness records for a demo traced from main() (ipc.attach): the execve it could not see,
    # written by the harness, then strace attached to the stopped program, which the harness continued.
    text = (
        '20  1.000000 execve("/usr/bin/python3", ["/usr/bin/python3", "demos/pipe_fork.py"], '
        "0x0 /* before strace attached */) = 0 <0.000000>\n"
        "20  1.001000 --- stopped by SIGSTOP ---\n"
        "20  1.002000 --- SIGCONT {si_signo=SIGCONT, si_code=SI_USER, si_pid=19, si_uid=0} ---\n"
        "20  1.003000 pipe2([3<pipe:[7]>, 4<pipe:[7]>], O_CLOEXEC) = 0 <0.000010>\n"
        "20  1.004000 --- SIGCONT {si_signo=SIGCONT, si_code=SI_USER, si_pid=18, si_uid=0} ---\n"
        "20  1.005000 exit_group(0) = ?\n"
        "20  1.006000 +++ exited with 0 +++\n"
    )
    trace = build([text])
    assert trace.processes[20].programs == ["pipe_fork.py"]
    signals = [mark for mark in trace.marks if mark.kind == "signal"]
    assert len(signals) == 1 and signals[0].time > 0.003  # a SIGCONT after the program's first call is its own
    assert [call.name for call in trace.lecture_calls()] == ["execve", "pipe2", "exit_group"]
    # A program strace started itself (ipc watch, ipc trace --all) keeps a SIGCONT, even one before its first call
    started = build([text.replace("0x0 /* before strace attached */", "0x7ffd /* 3 vars */")])
    assert len([mark for mark in started.marks if mark.kind == "signal"]) == 2


def test_a_poll_woken_by_a_write_whose_return_strace_printed_later_names_that_write():
    # Seen in fork-server under the harness: the server's write began while the client polled, and
    # strace printed the write's return only after the poll's. The write still ended the wait.
    text = (
        "10  1.000000 poll([{fd=3<TCP:[127.0.0.1:5000->127.0.0.1:6000]>, events=POLLIN}], 1, -1 <unfinished ...>\n"
        '11  1.010000 write(1<TCP:[127.0.0.1:6000->127.0.0.1:5000]>, "1 HELLO\\n", 8 <unfinished ...>\n'
        "10  1.010100 <... poll resumed>) = 1 ([{fd=3, revents=POLLIN}]) <0.010100>\n"
        '10  1.010200 recvfrom(3<TCP:[127.0.0.1:5000->127.0.0.1:6000]>, "1 HELLO\\n", 4096, 0, NULL, NULL) = 8'
        " <0.000010>\n"
        "11  1.010300 <... write resumed>) = 8 <0.000300>\n"
    )
    trace = build([text])
    [message] = trace.messages
    assert message.data == b"1 HELLO\n" and (message.writer_pid, message.reader_pid) == (11, 10)
    [wait] = [wait for wait in trace.waits if trace.calls[wait.call].name == "poll"]
    assert wait.cause == message.writer and wait.cause_pid == 11 and wait.reason.endswith(" wrote (fd 3, TCP #1)")


def test_a_non_blocking_call_slowed_by_strace_did_not_wait_for_anything():
    text = (
        "10  1.000000 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP) = 3<TCP:[7]> <0.000010>\n"
        "10  1.000100 connect(3<TCP:[7]>, {sa_family=AF_INET, sin_port=htons(5000), "
        'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS (Operation now in progress) <0.006000>\n'
    )
    assert build([text]).waits == []  # 6 ms, but it returned at once: strace's stop was the slow part


def test_a_deadline_set_with_setsockopt_reads_in_seconds_not_as_strace_s_raw_bytes():
    """strace prints a struct timeval option as 16 raw bytes (under the 64-bit-time name SO_RCVTIMEO_OLD)."""
    text = (
        "10  1.000000 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3<TCP:[7]> <0.000010>\n"
        '10  1.000100 setsockopt(3<TCP:[7]>, SOL_SOCKET, SO_RCVTIMEO_OLD, "\\x0a\\x00\\x00\\x00\\x00\\x00\\x00'
        '\\x00\\x20\\xa1\\x07\\x00\\x00\\x00\\x00\\x00", 16) = 0 <0.000010>\n'
        '10  1.000200 setsockopt(3<TCP:[7]>, SOL_SOCKET, SO_SNDTIMEO_OLD, "\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
        '\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00", 16) = 0 <0.000010>\n'
        "10  1.000300 setsockopt(3<TCP:[7]>, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0 <0.000010>\n"
    )
    trace = build([text])
    said = [describe(trace, call) for call in trace.calls if call.name == "setsockopt"]
    assert said == [
        "setsockopt fd 3 SO_RCVTIMEO=10.5 s",
        "setsockopt fd 3 SO_SNDTIMEO=0 (no deadline)",
        "setsockopt fd 3 SO_REUSEADDR=1",
    ]


# -- programs nobody here wrote (tests/programs/foreign, recorded: tests/traces/README.md) --------------


def only(items: list):
    assert len(items) == 1, items
    return items[0]


def shown(trace, name: str) -> list:
    return [c for c in trace.lecture_calls() if c.name == name]


def test_a_read_is_judged_by_its_fd_not_by_the_path_its_bytes_hold():
    trace = load("path_in_data")
    cat = only([p for p in trace.processes.values() if p.program == "cat"])
    [message] = trace.messages
    assert message.reader_pid == cat.pid and message.data == b'/usr/lib/x\n{"file": "/etc/passwd"}\n'
    assert trace.unmatched == []  # not "never read (left in the buffer)"


def test_the_start_up_filter_drops_the_start_ups_reads_and_keeps_every_line_number():
    text = (
        '7 1.0 openat(AT_FDCWD</usr/lib>, "/usr/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY|O_CLOEXEC) = 3'
        "</usr/lib/x86_64-linux-gnu/libc.so.6> <0.1>\n"
        '7 1.1 read(3</usr/lib/x86_64-linux-gnu/libc.so.6>, "\\177ELF", 832 <unfinished ...>\n'
        '8 1.2 write(4<pipe:[9]>, "/usr/lib/python3.11/os.py\\n", 26) = 26 <0.1>\n'
        "7 1.3 <... read resumed>) = 832 <0.1>\n"
        " | 00000  7f 45 4c 46                                       .ELF             |\n"
        '9 1.4 read(0<pipe:[9]>, "/usr/lib/python3.11/os.py\\n", 4096) = 26 <0.1>\n'
        " | 00000  2f 75 73 72                                       /usr             |\n"
        '9 1.5 openat(AT_FDCWD</usr/lib>, "notes.txt", O_RDONLY) = 3</usr/lib/notes.txt> <0.1>\n'
    )
    kept = without_housekeeping(text).splitlines()
    assert len(kept) == len(text.splitlines())
    assert [bool(line) for line in kept] == [False, False, True, False, False, True, True, True]
    [message] = build([text]).messages  # a read is judged by its fd: its bytes may name any path
    assert message.data == b"/usr/lib/python3.11/os.py\n"


def test_splice_sendfile_tee_and_copy_file_range_move_bytes_between_objects():
    trace = load("zero_copy")
    data = b"twenty-five bytes of data"
    moves = {name: only(shown(trace, name)) for name in ("splice", "sendfile", "tee", "copy_file_range")}
    assert all(call.data == data and call.kind == "io" for call in moves.values())
    into = sorted((trace.calls[m.writer].name, trace.calls[m.reader].name) for m in trace.messages)
    assert into == sorted([("write", "splice"), ("splice", "sendfile"), ("sendfile", "tee"), ("sendfile", "read"),
                           ("tee", "read"), ("splice", "copy_file_range"), ("copy_file_range", "pread64"),
                           ("vmsplice", "read")])  # fmt: skip
    assert trace.unmatched == []  # 25 bytes spliced out of the pipe: not 50 "never read"
    assert describe(trace, moves["sendfile"]).startswith("sendfile fd 4 (file spliced) → fd 6 (pipe #2) = 25")


def test_an_fd_passed_over_a_unix_socket_keeps_its_end_and_its_open_file():
    trace = load("scm_rights")
    send, receive = only(shown(trace, "sendmsg")), only(shown(trace, "recvmsg"))
    passed = only(trace.passes)
    assert (passed.sender_fd, passed.receiver_fd, passed.end) == (4, 3, "read")
    got, had = trace.fd_table(receive.pid, receive.end_seq)[3], trace.fd_table(send.pid, send.seq)[4]
    assert (got.object, got.end, got.open_file) == (had.object, had.end, had.open_file)
    assert describe(trace, receive).endswith('= 1 "F" · fd 4 → fd 3: pipe #1 read end')


def test_a_deadlock_through_a_passed_fd_is_between_the_two_processes():
    trace = load("scm_rights.deadlock")
    found = finding(trace)
    parent = only([p for p in trace.processes.values() if p.parent is None])
    child = only([p for p in trace.processes.values() if p.parent == parent.pid])
    assert found.verdict is Verdict.DEADLOCK
    waits = {e.waiter: (e.holder, e.fd, e.reason.name) for e in found.edges}
    assert waits == {child.pid: (parent.pid, 5, "HOLDS_WRITE_END"), parent.pid: (child.pid, None, "CHILD")}


def test_concurrent_writers_are_joined_in_the_order_the_reader_got_their_bytes():
    """Twenty children write a line each into one pipe; strace printed two of their returns out of the
    kernel's order. Every message's bytes are the bytes its read got at that place."""
    trace = load("many_writers")
    [channel] = [c for c in trace.channels.values() if len(c.writes) == 20]
    printed = sorted(channel.writes, key=lambda op: (op.end_seq, op.seq))
    assert [op.call for op in printed] != [op.call for op in channel.writes]  # the recording's point
    ops = {op.call: op for op in channel.writes + channel.reads}
    for message in trace.messages:
        read = ops[message.reader]
        assert message.certain and message.data == read.data[message.offset - read.offset :][: message.length]
    assert len(trace.messages) >= 20 and trace.unmatched == []


def test_poll_select_and_epoll_wait_on_named_fds_and_say_which_woke_them():
    trace = load("poll_family")
    for name in ("epoll_wait", "poll", "pselect6"):
        waits = [w for w in trace.waits if trace.calls[w.call].name == name]
        assert len(waits) >= 6, name
        for wait in waits:
            call = trace.calls[wait.call]
            assert len({fd for fd, _ in call.watched}) == 8 and not call.noise
            if call.result == 1:
                assert f" wrote (fd {only(call.ready)}, pipe #" in wait.reason
    epoll = only(shown(trace, "epoll_create1"))
    assert trace.objects[epoll.objects[0]].label == "epoll #1" and len(shown(trace, "epoll_ctl")) == 8
    first = only([c for c in shown(trace, "epoll_wait")][:1])
    assert describe(trace, first).startswith("epoll_wait fd 4 (epoll #1) on fds ")


def test_an_epoll_wait_still_blocked_waits_for_what_its_interest_list_holds():
    text = (
        "10 1.0 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.1>\n"
        "10 1.1 epoll_create1(0) = 5<anon_inode:[eventpoll]> <0.1>\n"
        "10 1.2 epoll_ctl(5<anon_inode:[eventpoll]>, EPOLL_CTL_ADD, 3<pipe:[7]>, {events=EPOLLIN, "
        "data={u32=3, u64=3}}) = 0 <0.1>\n"
        "10 1.3 epoll_wait(5<anon_inode:[eventpoll]>, "
    )
    trace = build([text])
    [wait] = trace.waits
    assert trace.calls[wait.call].watched == [(3, "read")] and wait.what == "epoll_wait on fd 3 (pipe #1)"
    assert finding(trace).verdict is not Verdict.DEADLOCK  # strace prints epoll_wait's timeout when it returns
    forever = build([text.replace("epoll_wait(5<anon_inode:[eventpoll]>, ", "epoll_pwait2(5<anon_inode:[eventpoll]>, "
                                  "[], 1, NULL, NULL, 8")])  # fmt: skip
    [(waiter, holder, fd)] = [(e.waiter, e.holder, e.fd) for e in finding(forever).edges]
    assert (waiter, holder, fd) == (10, 10, 4)  # it holds the pipe's write end itself


def test_a_programs_own_fd_copies_and_its_close_range_are_shown():
    trace = load("fd_copies")
    assert [(c.name, c.result) for c in trace.lecture_calls() if c.name in ("fcntl", "dup2")] == [
        ("fcntl", 40),
        ("dup2", 60),
    ]
    assert sorted(c.fds[0] for c in shown(trace, "write")) == [40, 60]
    close_range = only(shown(trace, "close_range"))
    assert sorted(close_range.fds) == [4, 40, 60]
    assert describe(trace, close_range).endswith("closed fd 4 (pipe #1 write end), 40 (pipe #1 write end), 60 (pipe #1 "
                                                 "write end)")  # fmt: skip
    after = trace.fd_table(close_range.pid, close_range.end_seq)
    assert not [fd for fd, e in after.items() if trace.objects[e.object].kind == "pipe"]
    marking = build(
        [(TRACES / "fd_copies.strace").read_text().replace("4294967295, 0 <", "4294967295, CLOSE_RANGE_CLOEXEC <")]
    )
    assert "marked close-on-exec: fd 4" in describe(marking, only(shown(marking, "close_range")))


def test_a_shells_fd_saving_is_hidden_and_says_so():
    trace = load("shell_redirection", housekeeping=True)
    saving = only([c for c in trace.calls if c.name == "fcntl" and c.result == 10])
    assert saving.noise and describe(trace, saving).endswith("(a shell saving its own fds)")


def test_threads_each_call_return_and_end_is_a_threads():
    trace = load("threads")
    [process] = trace.processes.values()
    main, *threads = process.threads
    reads = {c.tid: c for c in shown(trace, "read")}
    assert sorted(reads) == sorted(threads)
    assert {w.reason for w in trace.waits if w.call in {c.index for c in reads.values()}} == {
        f"until threads[{process.pid}/{main}] wrote"
    }
    assert sorted(s.tid for s in trace.steps if s.kind == "return") == sorted(threads)
    assert {w.cause_tid for w in trace.waits if w.call in {c.index for c in reads.values()}} == {main}
    assert [m.kind for m in trace.marks if m.tid in threads] == ["thread-exit"] * 2
    assert [c.title for c in shown(trace, "exit")] == ["exit (thread ends)"] * 2
    assert process.end_seq is not None and process.exit_code == 0


def test_the_whole_command_line_is_kept_and_vfork_is_its_own_lesson():
    trace = load("vfork_exec")
    echo = only([p for p in trace.processes.values() if p.program == "echo"])
    assert echo.commands == [["/tmp/s19/bin/vfork_exec"], ["echo", "one", "two", "three", "four", "five", "--six"]]
    assert describe(trace, only([c for c in shown(trace, "execve") if c.pid == echo.pid])).endswith(" five --six")
    vfork = only(shown(trace, "vfork"))
    assert vfork.title == "vfork" and only([w for w in trace.waits if w.call == vfork.index]).reason == (
        f"until {echo.label} called execve"
    )


def test_a_system_file_read_for_the_output_is_part_of_the_story():
    trace = load("cat_hostname")
    cat = only([p for p in trace.processes.values() if p.program == "cat"])
    names = [describe(trace, c) for c in trace.lecture_calls() if c.pid == cat.pid and c.name in ("openat", "read")]
    assert names[:2] == ["openat (open) file hostname O_RDONLY → fd 3", 'read fd 3 (file hostname) = 3 "vm\\n"']


def test_datagrams_to_a_bound_socket_nobody_read_are_left_unread_and_a_socket_row_has_no_address_yet():
    trace = load("datagram_unread")
    assert [(u.reason, u.data) for u in trace.unmatched] == [("left unread", b"first"), ("left unread", b"second")]
    assert [describe(trace, c) for c in shown(trace, "socket")] == ["socket → fd 3: UDP socket"] * 1 + [
        "socket → fd 4: UDP socket"
    ]


def test_hex_dumps_give_the_bytes_whole_where_the_strings_are_cut():
    trace = load("vectored.dumps")  # -s 3, with -e read=all -e write=all
    writev, readv = only(shown(trace, "writev")), only(shown(trace, "readv"))
    assert (writev.data, writev.data_complete) == (b"one two three\n", True)
    assert readv.data == b"one two three\n" and '"ab"' not in describe(trace, readv)
    assert [m.data for m in trace.messages] == [b"one two three\n"] * 2 and all(m.complete for m in trace.messages)
    lines = (TRACES / "vectored.dumps.strace").read_text().splitlines()
    plain = build(["\n".join(line for line in lines if not line.startswith((" | ", " * ")))])
    cut = only([c for c in plain.calls if c.name == "writev"])
    assert cut.result == 14 and not cut.data_complete and len(cut.data) < 14


def test_json_export_holds_the_passed_fds_the_threads_and_whole_command_lines():
    passed = json.loads(json.dumps(to_json(load("scm_rights"))))
    [fd] = passed["passes"]
    assert (fd["sender"]["fd"], fd["receiver"]["fd"], fd["end"]) == (4, 3, "read")
    assert all(m["certain"] for m in passed["messages"]) and all("strace_line" in c for c in passed["calls"])
    threads = json.loads(json.dumps(to_json(load("threads"))))
    [process] = threads["processes"]
    assert {s["tid"] for s in threads["steps"]} == set(process["threads"])
    assert [m["kind"] for m in threads["marks"] if m["tid"] != m["pid"]] == ["thread-exit"] * 2
    echo = json.loads(json.dumps(to_json(load("vfork_exec"))))["processes"][1]
    assert echo["commands"][-1][-1] == "--six"
    polls = json.loads(json.dumps(to_json(load("poll_family"))))
    assert any(c["name"] == "epoll_wait" and len(c["watched"]) == 8 and c["ready"] for c in polls["calls"])


def test_an_fd_on_its_way_over_a_unix_socket_is_held_by_its_receiver():
    """The parent sends the pipe's write end and closes its own; until the child receives it, the write end
    is in the socket, not nowhere: the parent's read waits for the child."""
    text = (
        "10 1.0 socketpair(AF_UNIX, SOCK_STREAM, 0, [3<UNIX-STREAM:[1->2]>, 4<UNIX-STREAM:[2->1]>]) = 0 <0.1>\n"
        "10 1.1 pipe2([5<pipe:[7]>, 6<pipe:[7]>], 0) = 0 <0.1>\n"
        "10 1.2 clone(child_stack=NULL, flags=SIGCHLD) = 11 <0.1>\n"
        "11 1.3 close(3<UNIX-STREAM:[1->2]>) = 0 <0.1>\n"
        "11 1.4 close(5<pipe:[7]>) = 0 <0.1>\n"
        "11 1.5 close(6<pipe:[7]>) = 0 <0.1>\n"
        '10 1.6 sendmsg(3<UNIX-STREAM:[1->2]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="F", iov_len=1}], '
        "msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, "
        "cmsg_data=[6<pipe:[7]>]}], msg_controllen=24, msg_flags=0}, 0) = 1 <0.1>\n"
        "10 1.7 close(6<pipe:[7]>) = 0 <0.1>\n"
        '11 1.8 recvmsg(4<UNIX-STREAM:[2->1]>, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="F", iov_len=1}], '
        "msg_iovlen=1, msg_control=[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, "
        "cmsg_data=[5<pipe:[7]>]}], msg_controllen=24, msg_flags=0}, 0) = 1 <0.1>\n"
    )
    trace = build([text])
    send, close = only(shown(trace, "sendmsg")), only([c for c in shown(trace, "close") if c.pid == 10])

    def write_ends(seq: float) -> list:
        return [holder for holder in trace.holders("pipe:7", seq) if holder[2] == "write"]

    assert write_ends(close.end_seq) == [(11, None, "write")]  # on its way to the child
    assert write_ends(only(shown(trace, "recvmsg")).end_seq) == [(11, 5, "write")]
    assert send.end_seq < close.end_seq


def test_bytes_an_untraced_writer_put_between_two_traced_writes_come_from_outside_the_trace():
    text = (
        "10 1.0 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.1>\n"
        '10 1.1 write(4<pipe:[7]>, "first\\n", 6) = 6 <0.1>\n'
        '10 1.2 write(4<pipe:[7]>, "second\\n", 7) = 7 <0.1>\n'
        '11 1.3 read(3<pipe:[7]>, "first\\nSOMEONE ELSE\\nsecond\\n", 100) = 26 <0.1>\n'
    )
    trace = build([text])
    assert [(m.data, m.offset) for m in trace.messages] == [(b"first\n", 0), (b"second\n", 19)]
    [outside] = trace.unmatched
    assert (outside.reason, outside.side, outside.data) == ("no traced writer", "read", b"SOMEONE ELSE\n")


def test_a_threads_end_is_drawn_as_a_threads_not_its_processs():
    trace = load("threads")
    text = render(trace, width=120)
    assert text.count("thread exited 0") == 2 and text.count("┴     exited 0") == 1  # two threads, one process
