"""Broken pipe: writing to a pipe or a socket that nobody can read any more.

What it shows
    A write to a pipe whose read ends are all closed, or to a stream socket
    whose peer is gone, cannot succeed. The kernel then sends the writer
    SIGPIPE, whose default action kills it: waitpid() shows signal 13, and a
    shell reports 128 + 13 = 141. With SIGPIPE ignored the same write fails
    instead, with EPIPE (Python's BrokenPipeError).

Run it
    python demos/sigpipe.py      (or: make sigpipe)
"""

import errno
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

TIMEOUT = 10.0  # for the shell; the children cannot block (a write with no reader fails at once)
SHELL = "head -c 1 /dev/zero; echo $? >&2"  # head writes 1 byte to stdout, then the shell says how head ended
log = Log("parent")


def break_pipes() -> None:
    """Every case: a pipe and a socket nobody can read, each written once by a child that chose SIGPIPE's action."""
    log.say(
        f"Python set SIGPIPE to {signal.getsignal(signal.SIGPIPE).name} at startup: a broken pipe is then "
        "a BrokenPipeError it can report and clean up after, not a silent death"
    )
    read_end, write_end = os.pipe()
    os.close(read_end)  # the only read end: nobody can ever read this pipe now
    ours, theirs = socket.socketpair()  # a connected pair of stream sockets
    theirs.close()  # the peer is gone
    try:
        for action in (signal.SIG_DFL, signal.SIG_IGN):
            attempt("pipe write()", "a pipe", lambda: os.write(write_end, b"x"), action)
        for action in (signal.SIG_DFL, signal.SIG_IGN):
            attempt("socket send()", "a socket", lambda: ours.send(b"x"), action)
        if hasattr(socket, "MSG_NOSIGNAL"):  # Linux; macOS has the socket option SO_NOSIGPIPE instead
            attempt(
                "socket send(MSG_NOSIGNAL)", "a socket", lambda: ours.send(b"x", socket.MSG_NOSIGNAL), signal.SIG_DFL
            )  # the flag asks for EPIPE without the signal, for this one call
        for restore in (True, False):  # True: SIGPIPE back to SIG_DFL for sh; False: our SIG_IGN goes through exec()
            done = subprocess.run(
                ["sh", "-c", SHELL], stdout=write_end, stderr=subprocess.PIPE, timeout=TIMEOUT, restore_signals=restore
            )
            *said, status = done.stderr.decode().strip().splitlines() or ["nothing"]
            head = f"head said {said[-1]!r}, " if said else ""
            log.say(
                f"sh -c '{SHELL.replace(' >&2', '')}' on that pipe, restore_signals={restore}: "
                f"{head}the shell printed {status}"
            )
    finally:
        os.close(write_end)
        ours.close()


def write_once(case: str, where: str, write, action: signal.Handlers) -> int:
    """The writer child: set SIGPIPE's action, then write once to an end nobody reads."""
    signal.signal(signal.SIGPIPE, action)  # per process; exec() keeps SIG_IGN or SIG_DFL, resets a handler to SIG_DFL
    Log("writer").say(f"{case}: writing to {where} nobody can read")
    try:
        write()  # SIG_DFL: the kernel kills us right here; nothing below runs
    except BrokenPipeError as error:  # the one error taught here: EPIPE
        Log("writer").say(
            f"{case}: BrokenPipeError: errno {error.errno} ({errno.errorcode[error.errno]}), and still alive"
        )
        return 0
    Log("writer").say(f"{case}: the write succeeded?")
    return 1


def attempt(case: str, where: str, write, action: signal.Handlers) -> None:
    """Fork a writer that sets SIGPIPE's action, then writes once to an end nobody reads; say how it ended."""
    case = f"{case}, SIGPIPE {action.name}"
    pid = os.fork()
    if pid == 0:  # the writer child: its errors are its own line; it never returns into the parent's code
        os._exit(program.child("writer", write_once, case, where, write, action))
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):  # killed, not exited: no exit status at all
        number = os.WTERMSIG(status)
        log.say(
            f"{case}: writer {pid} was killed by signal {number} ({signal.Signals(number).name}): "
            f"a shell reports {128 + number}"
        )
    else:
        log.say(f"{case}: writer {pid} exited with status {os.WEXITSTATUS(status)}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.parse_args()
    break_pipes()


DETAILS = """
What else it shows
    send() with MSG_NOSIGNAL fails that way whatever the action. Python
    ignores SIGPIPE at startup, so that a broken pipe is an exception it can
    report and clean up after (and finally blocks run), not a silent death;
    each writer here is a child that chooses SIGPIPE's action first.
    subprocess gives the programs it starts the default back
    (restore_signals=True), so a real shell's 141 shows too; without that, the
    ignored action goes through exec() and head gets EPIPE.

System calls, in order
    pipe(), close() its read end; socketpair(), close() one end -> per case:
    fork() -> child: sigaction(SIGPIPE, SIG_DFL or SIG_IGN), write() or send()
    -> parent: waitpid(), then WIFSIGNALED/WTERMSIG or the exit status ->
    fork()+exec() of sh -c 'head -c 1 /dev/zero; echo $?' onto the same pipe,
    with SIGPIPE reset to SIG_DFL, then left ignored.

Its peer
    Nobody: that is the point. The reader closed its end before the write.

Expected output (pids vary)
    parent[100]: Python set SIGPIPE to SIG_IGN at startup: a broken pipe is then a BrokenPipeError it can report ...
    writer[101]: pipe write(), SIGPIPE SIG_DFL: writing to a pipe nobody can read
    parent[100]: pipe write(), SIGPIPE SIG_DFL: writer 101 was killed by signal 13 (SIGPIPE): a shell reports 141
    writer[102]: pipe write(), SIGPIPE SIG_IGN: writing to a pipe nobody can read
    writer[102]: pipe write(), SIGPIPE SIG_IGN: BrokenPipeError: errno 32 (EPIPE), and still alive
    parent[100]: pipe write(), SIGPIPE SIG_IGN: writer 102 exited with status 0
    ... the same for a socket: send(), then send(MSG_NOSIGNAL) with SIG_DFL: EPIPE, and still alive ...
    parent[100]: sh -c 'head -c 1 /dev/zero; echo $?' on that pipe, restore_signals=True: the shell printed 141
    parent[100]: sh -c ... restore_signals=False: head said 'head: write error: Broken pipe', the shell printed 1
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "parent"))
