"""ipc.children: programs a demo runs beside it, their lines passed on labelled, every wait with a deadline."""

import sys
import time

import pytest

from ipc import children

SAYS = [
    sys.executable,
    "-c",
    "import sys, time; print('plain line', flush=True); "
    "sys.stderr.write('tool: prefixed\\n'); sys.stderr.flush(); print('x[7]: labelled', flush=True); "
    "time.sleep(30)",
]


def test_lines_are_labelled_unless_they_are_already_and_a_wait_finds_them(capfd):
    child = children.Child(SAYS, "tool", merge_stdout=True)
    try:
        assert child.wait_for(r"labelled", 10)[0] == "labelled"
    finally:
        assert child.stop() == -15  # SIGTERM ended it
    relayed = capfd.readouterr().err.splitlines()
    label = f"tool[{child.pid}]"
    assert sorted(relayed) == sorted([f"{label}: plain line", f"{label}: prefixed", "x[7]: labelled"])


def test_a_wait_has_a_deadline_and_a_program_that_ends_first_is_said_to():
    child = children.Child(SAYS, "tool", merge_stdout=True)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"tool did not say /never/ within 0\.3 s"):
            child.wait_for("never", 0.3)
        assert time.monotonic() - started < 3
    finally:
        child.stop()
    quick = children.Child([sys.executable, "-c", "raise SystemExit(3)"], "quick")
    with pytest.raises(ChildProcessError, match=r"quick ended \(exit code 3\) before saying"):
        quick.wait_for("ready", 10)
    assert quick.stop() is None  # it had ended: nothing to stop


def test_run_stops_a_program_that_overstays():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still running after 0.3 s: stopped it"):
        children.run(SAYS, "tool", 0.3)
    assert time.monotonic() - started < 5
    code, lines = children.run([sys.executable, "-c", "print('done')"], "tool", 10)
    assert code == 0 and lines[0].endswith(": done")
