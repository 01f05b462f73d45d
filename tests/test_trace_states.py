"""What the step-through page shows at each step, from the model alone (recorded strace text, tests/traces):
the fd tables and the bytes in flight hold the exchange, never the harness's log, never an invented byte."""

from pathlib import Path

from ipc.trace import build, page, picture
from ipc.trace.channels import Channel, Op, Queued

TRACES = Path(__file__).resolve().parent / "traces"


def load(*names: str):
    return build([(TRACES / f"{name}.strace").read_text() for name in names])


def test_the_harness_log_pipe_is_in_no_fd_table_and_no_bytes_in_flight():
    """The TCP server writes its labelled log lines to fd 2, a pipe the harness reads: open before the trace."""
    trace = load("tcp.server", "tcp.client")
    [log] = [key for key in trace.logs() if trace.objects[key].kind == "pipe"]  # the client's went to /dev/null
    assert trace.objects[log].created_by is None
    assert any(c.kind == "log" and log in c.objects for c in trace.calls)  # it did carry the log lines
    held = [
        (step, pid, fd)
        for step in range(len(trace.steps))
        for pid, table in trace.state_at(step).fd_tables.items()
        for fd, entry in table.items()
        if entry.object == log
    ]
    assert held == []
    assert all(log not in trace.state_at(step).in_flight for step in range(len(trace.steps)))
    assert any(trace.fd_table(pid).get(2) for pid in trace.processes) or any(
        change.entry and change.entry.object == log for change in trace.fd_changes
    )  # the model still knows it: only the states leave it out
    notes = picture.render(trace, width=160, notes=True)
    assert "# listening on" in notes or "# ready" in notes  # shown with --notes, as notes
    assert "# " not in picture.render(trace, width=160)


def test_a_pipe_the_programs_read_is_never_taken_for_a_log():
    trace = load("pipe_fork")  # its log goes to /dev/null; its two pipes are the exchange
    assert {trace.objects[key].kind for key in trace.logs()} <= {"file", "other"}
    assert not any(trace.objects[key].kind == "pipe" for key in trace.logs())


def stream(*ops: tuple, reads: tuple = ()) -> Channel:
    """A pipe's channel: writes (length, recorded bytes), then reads (length, recorded bytes), in order."""
    channel = Channel("pipe:1", "stream")
    for number, (length, data) in enumerate(ops):
        channel.writes.append(Op(number, 10, number, number, length, data, len(data) == length, in_seq=number))
    for number, (length, data) in enumerate(reads, 100):
        channel.reads.append(Op(number, 20, number, number, length, data, len(data) == length))
    return channel


def test_bytes_strace_cut_short_are_counted_not_invented():
    channel = stream((10, b"abcd"))  # strace showed 4 bytes of a 10-byte write (-s)
    queued = channel.in_flight(5)
    assert queued == Queued(10, b"abcd", (10,)) and len(queued) == 10 and not queued.complete
    assert page.amount(queued) == "10 bytes (the first 4 recorded)"
    assert page.flight(build([""]), {"pipe:1": queued})[0][1:] == ['"abcd"…', "10 bytes (the first 4 recorded)"]


def test_what_a_write_did_not_show_is_taken_from_the_read_that_took_it():
    channel = stream((6, b"ab"), (3, b"xyz"), reads=((2, b"ab"), (4, b"cdef"), (3, b"xyz")))
    assert channel.in_flight(5) == Queued(9, b"abcdefxyz", (10,))  # before any read: all known, from the reads
    assert channel.in_flight(100) == Queued(7, b"cdefxyz", (10,))  # the first read took two
    gap = stream((6, b"ab"), (3, b"xyz"))  # no read shows the rest: known up to the first gap only
    assert gap.in_flight(5) == Queued(9, b"ab", (10,))
    assert page.amount(gap.in_flight(5)) == "9 bytes (the first 2 recorded)"
    assert page.amount(stream((5, b"")).in_flight(5)) == "5 bytes (none recorded)"


def test_no_step_page_holds_a_run_of_question_marks():
    for names in (("pipe_fork",), ("tcp.server", "tcp.client"), ("stream_boundaries",), ("both_read_first",)):
        trace = load(*names)
        for index in range(len(trace.steps)):
            for _where, shown, count in page.flight(trace, trace.state_at(index).in_flight):
                assert "???" not in shown and "?" not in count
