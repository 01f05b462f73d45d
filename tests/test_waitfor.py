"""ipc.waitfor, the one set of rules for who waits for whom, tested on plain data: no process runs here.

The snapshots in tests/snapshots/ were recorded from real programs through /proc (record.py there
says how): every broken demo as the harness saw it, and programs nobody here wrote, healthy and
deadlocked. Smaller cases are written out by hand, the way the strace parser is tested on literal
lines. Each rule is shown to hold, and where it has a boundary, to stop at it.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from ipc import waitfor
from ipc.waitfor import (
    End,
    Holder,
    Kind,
    Motion,
    Need,
    Object,
    Outside,
    Process,
    Reason,
    Snapshot,
    Thread,
    Verdict,
    Want,
    World,
    judge,
)

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def recorded(name: str) -> Snapshot:
    return waitfor.from_json(json.loads((SNAPSHOTS / f"{name}.json").read_text())["snapshot"])


def blocked(pid: int, call: str, *needs: Need, inside: bool = True) -> Process:
    return Process(pid, (Thread(pid, call, Motion.BLOCKED, needs),), inside)


def rotation(cycle) -> tuple:
    """A cycle, starting at its smallest pid: the same cycle however it was entered."""
    cycle = list(cycle)
    start = cycle.index(min(cycle))
    return tuple(cycle[start:] + cycle[:start])


# -- every broken demo, as the harness saw it --------------------------------------------------------

DEMOS = {
    "both-read-first": Reason.HOLDS_WRITE_END,
    "client-reads-first": Reason.HOLDS_OTHER_END,
    "fifo-open-order": Reason.COULD_OPEN,
    "full-buffers": Reason.HOLDS_OTHER_END,
    "subprocess-pipe-buffer": Reason.HOLDS_READ_END,
    "http-client-reads-first": Reason.HOLDS_OTHER_END,
}


@pytest.mark.parametrize("name, reason", DEMOS.items())
def test_each_broken_demo_is_a_cycle_of_two_that_wait_for_each_other(name, reason):
    snapshot = recorded(f"demo-{name}")
    found = judge(snapshot)
    assert found.verdict is Verdict.DEADLOCK
    assert len(found.cycle) == 2 and set(found.cycle) == set(snapshot.processes)
    assert {edge.reason for edge in found.edges if found.in_cycle(edge)} == {reason}


def test_the_broken_demos_are_deadlocks_in_an_open_world_too():
    """None of them needs the harness's closed world: ipc watch and every picture see the same deadlock."""
    for name in [*DEMOS, "forgotten-close"]:
        snapshot = dataclasses.replace(recorded(f"demo-{name}"), world=World.OPEN)
        assert judge(snapshot).verdict is Verdict.DEADLOCK, name


def test_the_forgotten_close_is_a_process_waiting_for_itself_and_its_parent_for_it():
    snapshot = recorded("demo-forgotten-close")
    found = judge(snapshot)
    parent, child = sorted(snapshot.processes)  # the parent forked the child: a smaller pid here
    assert found.verdict is Verdict.DEADLOCK and found.cycle == (child,)
    assert found.waits_for(child).keys() == {child}  # it holds the write end its own read waits on
    assert [e.reason for e in found.waits_for(parent)[child]] == [Reason.CHILD]


def test_a_multithreaded_server_is_judged_by_its_thread_that_waits_on_the_socket():
    """http-client-reads-first: the server's main thread joins (futex), its handler thread reads."""
    snapshot = recorded("demo-http-client-reads-first")
    server = next(p for p in snapshot.processes.values() if len(p.threads) == 2)
    assert {t.call for t in server.threads} == {"futex", "recvfrom"}
    assert judge(snapshot).waits_for(server.pid)  # it waits for the client, through its reading thread


# -- programs nobody here wrote ---------------------------------------------------------------------


def test_two_terminals_the_cycle_runs_through_a_process_outside_those_watched():
    snapshot = recorded("two-terminals")
    outsider = next(pid for pid, p in snapshot.processes.items() if not p.inside)
    found = judge(snapshot)
    assert found.verdict is Verdict.DEADLOCK and outsider in found.cycle
    without = dataclasses.replace(snapshot, processes={p: v for p, v in snapshot.processes.items() if v.inside})
    assert judge(without).verdict is Verdict.WAITING  # not looked at yet: it may act


def test_the_shell_fifo_open_order_is_a_deadlock_between_the_two_openers():
    snapshot = recorded("shell-fifo-open-order")
    found = judge(snapshot)
    shell = next(pid for pid, p in snapshot.processes.items() if p.threads[0].call == "wait4")
    openers = set(snapshot.processes) - {shell}
    assert found.verdict is Verdict.DEADLOCK
    assert set(found.cycle) == openers  # the story: each opener waits for the other, not for the shell
    assert all(e.reason is Reason.COULD_OPEN for e in found.edges if e.waiter in openers)


def test_a_fifo_server_behind_a_shell_waits_for_clients_and_is_no_deadlock():
    found = judge(recorded("fifo-server-behind-a-shell"))
    assert found.verdict is Verdict.WAITING
    assert [r.outside for r in found.resolutions if r.call == "openat"] == [Outside.ANYONE_MAY_OPEN]


def test_the_fifo_rule_stops_where_a_partner_could_come_from_outside():
    snapshot = recorded("shell-fifo-open-order")
    fifos = [key for key, obj in snapshot.objects.items() if obj.kind is Kind.FIFO]
    # a FIFO the processes watched did not make: anyone may have its path
    made_elsewhere = {**snapshot.objects, fifos[0]: dataclasses.replace(snapshot.objects[fifos[0]], made_inside=False)}
    assert judge(dataclasses.replace(snapshot, objects=made_elsewhere)).verdict is Verdict.WAITING
    # a process outside holds one open: it knows the path
    outside = Holder(999999, 5, End.WRITE)
    held = {**snapshot.objects, fifos[1]: dataclasses.replace(snapshot.objects[fifos[1]], holders=(outside,))}
    assert judge(dataclasses.replace(snapshot, objects=held)).verdict is Verdict.WAITING
    # one opener only (a server and its shell): waiting for clients
    shell = next(pid for pid, p in snapshot.processes.items() if p.threads[0].call == "wait4")
    opener, gone = sorted(set(snapshot.processes) - {shell})
    alone = {shell: blocked(shell, "wait4", Need(Want.CHILD, children=(opener,))), opener: snapshot.processes[opener]}
    found = judge(dataclasses.replace(snapshot, processes=alone))
    assert found.verdict is Verdict.WAITING and found.of(opener)[0].outside is Outside.ANYONE_MAY_OPEN


def test_a_server_in_accept_waits_on_the_world_unless_the_world_is_closed():
    snapshot = recorded("server-in-accept")
    assert judge(snapshot).verdict is Verdict.WAITING
    assert judge(snapshot).resolutions[0].outside is Outside.ANYONE_MAY_CONNECT
    closed = dataclasses.replace(snapshot, world=World.CLOSED)
    assert judge(closed).resolutions[0].outside is Outside.NOBODY_SEEN  # no other process to connect: not stuck


def test_a_reader_of_a_slow_stdin_waits_for_a_process_not_looked_at():
    snapshot = recorded("slow-stdin")
    found = judge(snapshot)
    [edge] = found.edges
    assert edge.holder not in snapshot.processes and found.verdict is Verdict.WAITING and not found.stuck


def test_epoll_without_a_timeout_waits_on_its_listener_with_one_it_times_out():
    forever = judge(recorded("epoll-forever"))
    assert forever.verdict is Verdict.WAITING and forever.resolutions[0].outside is Outside.ANYONE_MAY_CONNECT
    timed = recorded("epoll-timeout")
    assert [t.motion for p in timed.processes.values() for t in p.threads] == [Motion.TIMED]
    assert judge(timed).verdict is Verdict.TIMEOUT


def test_threads_that_take_two_locks_in_opposite_orders_wait_for_each_other():
    snapshot = recorded("lock-order")
    [process] = snapshot.processes.values()
    found = judge(snapshot)
    assert len(process.threads) == 3 and found.cycle == (process.pid,)
    assert [e.reason for e in found.edges] == [Reason.OWN_THREADS]


def test_a_double_forked_daemon_and_its_client_wait_for_each_other():
    found = judge(recorded("daemon"))
    assert found.verdict is Verdict.DEADLOCK and len(found.cycle) == 2


# -- the rules, one at a time -------------------------------------------------------------------------


def pipe(key: str, *holders: Holder, queued: int = 0) -> Object:
    return Object(key, Kind.PIPE, holders, queued=queued)


def test_bytes_already_in_the_pipe_mean_the_reader_is_not_stuck():
    a, b = Need(Want.DATA, "p1", 3), Need(Want.DATA, "p2", 3)
    processes = {1: blocked(1, "read", a), 2: blocked(2, "read", b)}
    objects = {"p1": pipe("p1", Holder(2, 4, End.WRITE)), "p2": pipe("p2", Holder(1, 4, End.WRITE))}
    assert judge(Snapshot(processes, objects)).verdict is Verdict.DEADLOCK
    objects["p1"] = pipe("p1", Holder(2, 4, End.WRITE), queued=5)
    found = judge(Snapshot(processes, objects))
    assert found.verdict is Verdict.WAITING and found.of(1)[0].outside is Outside.QUEUED


def test_one_running_or_timed_process_is_no_deadlock_and_the_verdict_says_which():
    need = Need(Want.DATA, "p", 3)
    processes = {1: blocked(1, "read", need), 2: Process(2, (Thread(2, "running", Motion.RUNNING),))}
    objects = {"p": pipe("p", Holder(2, 4, End.WRITE))}
    assert judge(Snapshot(processes, objects)).verdict is Verdict.RUNNING
    processes[2] = Process(2, (Thread(2, "poll", Motion.TIMED),))
    assert judge(Snapshot(processes, objects)).verdict is Verdict.TIMEOUT


def test_a_poll_wakes_when_any_of_its_fds_can_be_met():
    """A poll on two pipes: one written by the other blocked process, one by a process that runs."""
    processes = {
        1: blocked(1, "poll", Need(Want.DATA, "p1", 3), Need(Want.DATA, "p2", 4)),
        2: blocked(2, "read", Need(Want.DATA, "p3", 3)),
        3: Process(3, (Thread(3, "running", Motion.RUNNING),)),
    }
    objects = {
        "p1": pipe("p1", Holder(2, 5, End.WRITE)),
        "p2": pipe("p2", Holder(3, 5, End.WRITE)),
        "p3": pipe("p3", Holder(1, 6, End.WRITE)),
    }
    found = judge(Snapshot(processes, objects))
    assert not found.stuck and found.waits_for(1).keys() == {2, 3}
    del processes[3]
    objects["p2"] = pipe("p2", Holder(2, 7, End.WRITE))
    assert judge(Snapshot(processes, objects)).verdict is Verdict.DEADLOCK


def test_a_connection_nobody_has_accepted_waits_for_the_listeners_holders():
    processes = {1: blocked(1, "recvfrom", Need(Want.DATA, "s1", 3)), 2: blocked(2, "read", Need(Want.DATA, "p", 0))}
    objects = {
        "s1": Object("s1", Kind.STREAM, (Holder(1, 3, End.BOTH),), listener="l"),
        "l": Object("l", Kind.LISTENER, (Holder(2, 4, End.BOTH),)),
        "p": pipe("p", Holder(1, 5, End.WRITE)),
    }
    found = judge(Snapshot(processes, objects))
    assert [e.reason for e in found.waits_for(1)[2]] == [Reason.NOT_ACCEPTED]
    assert found.verdict is Verdict.DEADLOCK


def test_a_holder_known_only_as_outside_the_observed_processes_may_act():
    """An fd open before a trace began: whoever gave it may hold the other end."""
    processes = {1: blocked(1, "read", Need(Want.DATA, "p", 0))}
    objects = {"p": pipe("p", Holder(1, 1, End.WRITE), Holder(None, None, End.BOTH))}
    found = judge(Snapshot(processes, objects))
    assert found.of(1)[0].outside is Outside.HOLDER_UNSEEN and found.verdict is Verdict.WAITING


def test_a_terminal_a_signal_and_an_unseen_object_are_waits_on_the_world():
    for need, objects, why in (
        (Need(Want.DATA, "t", 0), {"t": Object("t", Kind.TERMINAL)}, Outside.TERMINAL),
        (Need(Want.SIGNAL), {}, Outside.SIGNAL),
        (Need(Want.DATA, "x", 3), {"x": Object("x", Kind.OTHER)}, Outside.UNSEEN),
    ):
        found = judge(Snapshot({1: blocked(1, "read", need)}, objects))
        assert found.of(1)[0].outside is why and found.verdict is Verdict.WAITING


def test_the_cycle_starts_at_the_first_process_in_the_order_given():
    snapshot = recorded("demo-both-read-first")
    one, two = sorted(snapshot.processes)
    assert judge(snapshot, [two, one]).cycle == (two, one)
    assert judge(snapshot, [one, two]).cycle == (one, two)


@pytest.mark.parametrize("path", sorted(SNAPSHOTS.glob("*.json")), ids=lambda p: p.stem)
def test_a_snapshot_survives_json_and_judges_as_recorded(path):
    data = json.loads(path.read_text())
    snapshot = waitfor.from_json(data["snapshot"])
    assert waitfor.from_json(json.loads(json.dumps(waitfor.to_json(snapshot)))) == snapshot
    found = judge(snapshot, [p["pid"] for p in data["snapshot"]["processes"]])
    assert found.verdict.value == data["finding"]["verdict"]
    assert rotation(found.cycle or [0]) == rotation(data["finding"]["cycle"] or [0])


def test_the_core_does_no_io():
    """Pure, like ipc.protocol: it imports nothing that reaches the system."""
    tree = ast.parse(Path(waitfor.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module}  # fmt: skip
    assert imported <= {"__future__", "enum", "dataclasses", "typing"}, imported


def test_a_fifo_server_holding_a_spare_write_end_waits_for_whoever_opens_the_path():
    """TLPI's fifo_seqnum_server keeps a write end of its own FIFO, so read() never sees end of file between
    clients. For a pipe that would be the forgotten close; a FIFO's path lets anyone open it and write."""
    read = Need(Want.DATA, "/d/server", 3)
    spare = (Holder(1, 3, End.READ), Holder(1, 4, End.WRITE))
    fifo = {"/d/server": Object("/d/server", Kind.FIFO, spare, made_inside=True)}
    found = judge(Snapshot({1: blocked(1, "read", read)}, fifo))
    assert found.verdict is Verdict.WAITING and found.of(1)[0].outside is Outside.ANYONE_MAY_OPEN
    closed = judge(Snapshot({1: blocked(1, "read", read)}, fifo, World.CLOSED))
    assert closed.of(1)[0].outside is Outside.NOBODY_SEEN  # the harness may start the next client yet
    as_a_pipe = {"/d/server": Object("/d/server", Kind.PIPE, spare)}
    assert judge(Snapshot({1: blocked(1, "read", read)}, as_a_pipe)).cycle == (1,)  # the forgotten close
    ring = {"/d/server": Object("/d/server", Kind.FIFO, (Holder(1, 3, End.READ), Holder(2, 4, End.WRITE)))}
    processes = {1: blocked(1, "read", read), 2: blocked(2, "read", Need(Want.DATA, "p", 0))}
    ring["p"] = Object("p", Kind.PIPE, (Holder(1, 5, End.WRITE),))
    assert judge(Snapshot(processes, ring)).verdict is Verdict.DEADLOCK  # cat loop | cat > loop: another writes
