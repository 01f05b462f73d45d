"""The ipc command's own bad input: one line on stderr and exit 2, never a traceback, never a run."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ipc(*args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ipc", *args], cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("args,says", [
    (["run", "--timeout", "0", "pipe"], "--timeout: 0 is not a number above 0"),
    (["run", "--timeout", "nan", "pipe"], "--timeout: nan is not a number above 0"),
    (["run", "--timeout", "-1", "pipe"], "--timeout: -1 is not a number above 0"),
    (["run", "--repeat", "0", "pipe"], "--repeat: 0 is not a number above 0"),
    (["run", "-j", "many", "pipe"], "--jobs/-j: 'many' is not a number"),
    (["watch", "--still", "inf", "--", "true"], "--still: inf is not a number above 0"),
])  # fmt: skip
def test_a_bad_option_is_a_usage_error_that_runs_nothing(args, says):
    done = ipc(*args)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""  # nothing ran


def test_a_readme_that_is_not_there_is_one_line():
    done = ipc("list", "--update-readme", "/nonexistent/README.md")
    assert (done.returncode, done.stderr) == (2, "ipc: cannot read /nonexistent/README.md: No such file or directory\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_output_that_cannot_be_written_is_one_line_and_everything_is_cleaned_up():
    with open("/dev/full", "w") as full:
        done = ipc("run", "pipe", stdout=full)
    assert (done.returncode, done.stderr) == (2, "ipc: cannot write its output: No space left on device\n")
    # and the demo's processes and files are gone: the conftest checks


def test_under_nohup_a_sighup_leaves_ipc_running_to_its_end():
    # nohup sets SIGHUP to SIG_IGN before exec: ipc once installed its own handler anyway and died of the hang-up.
    def as_nohup_does():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    command = [sys.executable, "-m", "ipc", "watch", "--", "sh", "-c", 'echo started; read line; echo "got $line"']
    with subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=as_nohup_does) as ipc_watch:  # fmt: skip
        try:
            assert ipc_watch.stdout.readline() == b"started\n"  # the command runs, under ipc watch
            ipc_watch.send_signal(signal.SIGHUP)  # the terminal closed
            out, err = ipc_watch.communicate(b"on\n", timeout=30)  # it went on: the command reads, and ends
        finally:
            ipc_watch.kill()
    assert ipc_watch.returncode == 0, err
    assert out == b"got on\n" and b"hung up" not in err
