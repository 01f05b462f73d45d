"""The harness catches what a broken demo does wrong, and cleans up on every way out."""

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ipc.catalog import Demo, Program
from ipc.harness import run_demo
from ipc.transcript import Transcript, check_exchange

FAKE = str(Path(__file__).parent / "fakes" / "fake_demo.py")
ROOT = Path(__file__).resolve().parents[1]


def fake(mode: str, **options) -> Demo:
    return Demo(name=f"fake-{mode}", mechanism="fake", teaches="nothing", client=Program(FAKE, (mode,)), **options)


def test_a_correct_exchange_passes():
    result = run_demo(fake("good"))
    assert result.ok, result.problems
    assert result.messages == 8


@pytest.mark.parametrize(
    "mode,complaint",
    [
        ("echo", "got 'hello' for 'hello', expected '1 HELLO'"),
        ("replay", "got '1 HOW ARE YOU?' for 'how are you?', expected '2 HOW ARE YOU?'"),
        ("lose", "sent 4 message(s) but received 3 answer(s)"),
    ],
)
def test_echo_replay_and_loss_are_caught(mode, complaint):
    result = run_demo(fake(mode))
    assert not result.ok
    assert any(complaint in problem for problem in result.problems), result.problems


def test_a_crash_shows_its_traceback_and_exit_code():
    result = run_demo(fake("crash"))
    assert any("exited with exit code 1" in p for p in result.problems), result.problems
    texts = [line.text for line in result.lines]
    assert "RuntimeError: a bug in the demo" in texts
    assert all(line.role == "client" for line in result.lines)  # unlabelled lines still get an owner


def test_a_hang_is_stopped_at_the_deadline_and_ended():
    result = run_demo(fake("hang"), timeout=1.0)
    assert result.problems[0] == "timed out after 1 s"
    assert 1.0 <= result.seconds < 4.0
    assert list(result.exit_codes.values()) == [-signal.SIGTERM]  # asked to stop, and it did


def test_a_file_left_behind_is_reported_and_removed():
    result = run_demo(fake("leave-file"))
    assert any(p.startswith("left behind in its temporary directory: forgotten-") for p in result.problems)


def test_a_forked_process_left_running_is_reported_and_ended():
    result = run_demo(fake("leave-child"))
    assert any("left processes running" in p for p in result.problems), result.problems


def test_check_exchange_counts_clients():
    problems, count = check_exchange(Transcript(), ["hello"], clients=1)
    assert "expected 1 client(s) to talk, saw 0" in problems
    assert count == 0


def test_ctrl_c_ends_everything_and_exits_130():
    command = [sys.executable, "-m", "ipc", "run", "tcp4", "--repeat", "1000"]
    ipc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in ipc.stdout:  # wait until a server is up and a client is talking
            if "connected" in line:
                break
        children = psutil.Process(ipc.pid).children(recursive=True)
        assert children, "the harness should have demo processes running now"
        ipc.send_signal(signal.SIGINT)
        _, err = ipc.communicate(timeout=10)
    finally:
        if ipc.poll() is None:
            ipc.kill()
            ipc.communicate()
    assert ipc.returncode == 130
    assert "interrupted" in err
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)


def test_a_demo_that_cannot_run_here_is_skipped_and_takes_nothing():
    result = run_demo(fake("good", unavailable=lambda: "not on this machine"))
    assert result.skipped == "not on this machine"
    assert result.ok and result.lines == []  # and the conftest finds no fd left open


def test_a_lesson_counts_the_messages_its_processes_said():
    lesson = Demo(
        name="fake-lesson", mechanism="fake", teaches="nothing", kind="runs", client=Program(FAKE, ("good", "a", "b"))
    )
    result = run_demo(lesson)
    assert result.ok, result.problems
    assert result.messages == 8  # 2 requests and 2 answers, each said by its sender and its receiver
