"""The trace's adapter to ipc.waitfor (ipc.trace.snapshot), on literal strace lines: what a trace can
and cannot tell about a wait, and the moment a deadlock is judged at."""

from __future__ import annotations

from ipc.trace import build, finding, snapshot
from ipc.trace.snapshot import moment
from ipc.waitfor import Motion, Outside, Reason, Verdict

PIPES = (
    "10 1.0 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.1>\n"
    "10 1.1 pipe2([5<pipe:[8]>, 6<pipe:[8]>], 0) = 0 <0.1>\n"
    "10 1.2 clone(child_stack=NULL, flags=SIGCHLD) = 11 <0.1>\n"
    "10 1.3 close(3<pipe:[7]>) = 0 <0.1>\n"
    "11 1.4 close(4<pipe:[7]>) = 0 <0.1>\n"
    "10 1.5 close(6<pipe:[8]>) = 0 <0.1>\n"
    "11 1.6 close(5<pipe:[8]>) = 0 <0.1>\n"
)


def motions(trace) -> dict:
    return {t.tid: t.motion for p in snapshot(trace).processes.values() for t in p.threads}


def test_two_readers_of_each_others_pipes_are_a_deadlock_while_both_wait():
    text = PIPES + "11 1.7 read(3<pipe:[7]>,  <unfinished ...>\n10 1.8 read(5<pipe:[8]>, "
    found = finding(build([text]))
    assert found.verdict is Verdict.DEADLOCK and set(found.cycle) == {10, 11}
    assert {e.reason for e in found.edges} == {Reason.HOLDS_WRITE_END}


def test_bytes_written_and_not_yet_read_mean_a_reader_is_not_stuck():
    text = (
        PIPES + '10 1.7 write(4<pipe:[7]>, "hi", 2) = 2 <0.1>\n'
        "11 1.8 read(5<pipe:[8]>,  <unfinished ...>\n10 1.9 read(5<pipe:[8]>, "
    )
    found = finding(build([text]))
    assert found.verdict is not Verdict.DEADLOCK  # 11 could read "hi" from pipe 7 at any time; it reads 8
    text = PIPES + '10 1.7 write(4<pipe:[7]>, "hi", 2) = 2 <0.1>\n10 1.8 read(5<pipe:[8]>, '
    trace = build([text])
    assert motions(trace)[11] is Motion.RUNNING  # in no call: it may be about to read


def test_an_epoll_wait_whose_timeout_strace_has_not_printed_may_end_by_itself():
    """epoll_wait's timeout is its fourth argument, printed only when it returns."""
    head = (
        "10 1.0 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3<TCP:[100]> <0.1>\n"
        "10 1.1 epoll_create1(0) = 4<anon_inode:[eventpoll]> <0.1>\n"
        "10 1.2 epoll_ctl(4<anon_inode:[eventpoll]>, EPOLL_CTL_ADD, 3<TCP:[100]>, {events=EPOLLIN, data={u32=3, "
        "u64=3}}) = 0 <0.1>\n"
    )
    unfinished = build([head + "10 1.3 epoll_wait(4<anon_inode:[eventpoll]>, "])
    assert motions(unfinished)[10] is Motion.UNSEEN and finding(unfinished).verdict is Verdict.RUNNING


def test_a_poll_on_a_listening_socket_waits_for_anyone_to_connect():
    text = (
        "10 1.0 socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) = 3<TCP:[100]> <0.1>\n"
        '10 1.1 bind(3<TCP:[100]>, {sa_family=AF_INET, sin_port=htons(5000), sin_addr=inet_addr("127.0.0.1")}, '
        "16) = 0 <0.1>\n"
        "10 1.2 listen(3<TCP:[127.0.0.1:5000]>, 5) = 0 <0.1>\n"
        "10 1.3 poll([{fd=3<TCP:[127.0.0.1:5000]>, events=POLLIN}], 1, -1"
    )
    found = finding(build([text]))
    assert found.verdict is Verdict.WAITING
    assert [r.outside for r in found.resolutions] == [Outside.ANYONE_MAY_CONNECT]


def test_a_deadlock_ended_from_outside_is_judged_as_it_stood_before_the_signals():
    text = (
        PIPES + "11 1.7 read(3<pipe:[7]>,  <unfinished ...>\n"
        "10 1.8 read(5<pipe:[8]>,  <unfinished ...>\n"
        "10 2.0 <... read resumed>0x1, 4096) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.2>\n"
        "10 2.0 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=999, si_uid=0} ---\n"
        "11 2.1 <... read resumed>0x1, 4096) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.4>\n"
        "11 2.1 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=999, si_uid=0} ---\n"
        "10 2.2 exit_group(143) = ?\n10 2.3 +++ exited with 143 +++\n"
        "11 2.2 exit_group(143) = ?\n11 2.3 +++ exited with 143 +++\n"
    )
    trace = build([text])
    assert moment(trace) < float("inf")
    assert finding(trace).verdict is Verdict.DEADLOCK
    signalled_by_a_sibling = text.replace("si_pid=999", "si_pid=11")
    assert finding(build([signalled_by_a_sibling])).verdict is not Verdict.DEADLOCK  # part of the story: no cut


def test_a_thread_seen_by_proc_waiting_for_a_lock_is_blocked_not_running():
    text = (
        "20 1.0 socketpair(AF_UNIX, SOCK_STREAM, 0, [3<UNIX-STREAM:[1->2]>, 4<UNIX-STREAM:[2->1]>]) = 0 <0.1>\n"
        "20 1.1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 21 <0.1>\n"
        "20 1.2 clone(child_stack=NULL, flags=SIGCHLD) = 30 <0.1>\n"
        "21 1.3 recvfrom(3<UNIX-STREAM:[1->2]>,  <unfinished ...>\n"
        "30 1.4 recvfrom(4<UNIX-STREAM:[2->1]>, "
    )
    trace = build([text])
    assert finding(trace).verdict is Verdict.RUNNING  # thread 20, in no traced call, may be running
    trace.lock_waits = frozenset({20})  # /proc saw it in futex: joining thread 21
    found = finding(trace)
    assert found.verdict is Verdict.DEADLOCK and set(found.cycle) == {20, 30}


def test_a_call_strace_has_begun_and_not_finished_is_told_apart_from_one_that_returned():
    from ipc.trace.runner import _shows_blocked

    text = '11 1.7 read(3<pipe:[7]>,  <unfinished ...>\n10 1.8 write(4<pipe:[7]>, "x", 1) = 1 <0.1>\n10 1.9 read(5, '
    assert _shows_blocked([text], 11, "read") and _shows_blocked([text], 10, "read")
    assert not _shows_blocked([text + "0x1, 4096) = 1 <0.2>\n"], 10, "read")  # it returned
    assert not _shows_blocked([text], 10, "write") and not _shows_blocked([text], 12, "read")
