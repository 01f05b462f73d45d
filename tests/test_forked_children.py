"""Forked children end one way (ipc.program.child): their error in one line, Ctrl-C and SIGTERM as interrupted,
never a return into the parent's code; and a parent never signals a child it has reaped."""

import re
import signal
import subprocess
import sys

import pytest
from support import ROOT, Program, run_program

from ipc import program

# A request that fits (2,047 "ß" are 4,094 bytes, and a newline) but whose answer does not: "1 " and 2,047 "SS".
FITS_BUT_ITS_ANSWER_DOES_NOT = "ß" * 2047


@pytest.mark.parametrize(
    "script", ["pipe_fork.py", "broken/both_read_first.py", "broken/forgotten_close.py", "broken/fifo_open_order.py"]
)
def test_the_forked_servers_error_is_reported_by_the_child_itself(script):
    done = run_program(script, *(["--fixed"] if "broken" in script else []), FITS_BUT_ITS_ANSWER_DOES_NOT)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert re.search(
        r"^server\[\d+\]: error: MessageTooLong: message too long: its answer would be 4097 bytes, "
        r"the limit is 4096 bytes$",
        err,
        re.M,
    ), err  # the real cause, said by the child
    assert re.search(r"^client\[\d+\]: error: ConnectionError: ", err, re.M)  # and the parent's view of it
    assert "Traceback" not in err


def test_a_bug_in_a_child_is_one_line_that_says_where():
    code = (
        "import os, sys; sys.path.insert(0, '.'); from ipc import program\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(program.child('server', lambda: 1 / 0))\n"
        "print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=10)
    assert done.stdout == b"1\n"
    assert re.fullmatch(
        rb"server\[\d+\]: error: ZeroDivisionError: division by zero \(a bug, at <string>:4\)\n", done.stderr
    )


def test_forgotten_close_does_not_kill_a_child_it_has_already_reaped():
    """SIGTERM reaches the whole group: the child exits, the parent's waitpid() returns, and only then does the
    parent's own SIGTERM handler run. Made certain here by sending that SIGTERM right after waitpid() returns."""
    code = (
        "import os, signal, sys, runpy; real = os.waitpid\n"
        "def waitpid(pid, options):\n"
        "    got = real(pid, options)\n"
        "    if options == 0: os.kill(os.getpid(), signal.SIGTERM)  # lands after the child was reaped\n"
        "    return got\n"
        "os.waitpid = waitpid; sys.argv = ['forgotten_close.py', '--fixed']\n"
        "runpy.run_path('demos/broken/forgotten_close.py', run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, timeout=10)
    err = done.stderr.decode()
    assert "ProcessLookupError" not in err
    assert done.returncode == program.EXIT_TERMINATED
    assert err.splitlines()[-1].endswith("]: interrupted")


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_demo_ended_by_sigterm_exits_143_and_by_ctrl_c_130(signum, code):
    if signum == signal.SIGINT and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        pytest.skip("SIGINT is ignored here (a shell's background job), and so in every program started from here")
    with Program("tcp_server.py") as server:  # waits in accept() for good
        server.ready()
        server.popen.send_signal(signum)
        assert server.finish()[0] == code == 128 + signum  # what a shell shows for a process a signal ended
    assert server.lines[-1].endswith("]: interrupted")
