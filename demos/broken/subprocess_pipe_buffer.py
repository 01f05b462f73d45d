"""Broken on purpose: the classic subprocess deadlock: a parent writes all its input to a child, then reads.

What it shows
    The deadlock Python's subprocess documentation warns about ("use
    communicate() rather than .stdin.write ... to avoid deadlocks"). The
    parent starts cat with two pipes, writes a megabyte into cat's stdin,
    and only then means to read cat's stdout. cat's output pipe fills, cat
    blocks in write() and stops reading; then the parent blocks in write()
    too. The fix (--fixed): communicate(data), which writes and reads at once.

Run it
    ipc run subprocess-pipe-buffer     (the deadlock, explained; then the fix runs)
    python demos/broken/subprocess_pipe_buffer.py [--fixed] [--lines N]
    By hand it hangs (Ctrl-C ends it); ipc watch -- python demos/broken/subprocess_pipe_buffer.py explains it.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.log import Log

log = Log("parent")


def through_cat(data: bytes, fixed: bool) -> None:
    with subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:  # pipe(), fork(), exec
        log.say(f"started cat as child {child.pid}")
        if fixed:
            log.say(f"giving cat {len(data)} bytes with communicate(), which writes and reads at once")
            output, _ = child.communicate(data)  # the fix: never waits to write while cat waits for us to read
        else:
            log.say(f"writing {len(data)} bytes to cat before reading any of its output (the bug)")
            child.stdin.write(data)  # the bug: blocks once cat, blocked writing its full stdout, stops reading
            child.stdin.close()
            output = child.stdout.read()
    if output != data:
        raise ValueError(f"cat gave back {len(output)} bytes, not the {len(data)} it was given")
    log.say(f"got all {len(output)} bytes back, unchanged; cat exited with status {child.returncode}")


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--fixed", action="store_true", help="use communicate(), which writes and reads at once")
    parser.add_argument(
        "--lines",
        type=program.whole_number(0, 1_000_000),
        default=10000,
        help="how many 100-byte lines to send (default 10000)",
    )
    args = parser.parse_args()
    through_cat(b"".join(f"line {n:05d} {'.' * 88}\n".encode() for n in range(args.lines)), args.fixed)


DETAILS = """
What else it shows
    cat copies as it reads; its output pipe holds 64 KiB, and nobody reads
    it, so cat blocks in write(). Then cat stops reading, its input pipe
    fills up, and the parent blocks in write() too. Each waits for the other
    to read. It works while the data is small, and hangs once it outgrows
    the pipe: a deadlock that waits for production data to show itself.
    communicate() poll()s both pipes and does whichever the child is ready for.

System calls, in order
    pipe() twice -> fork() + exec("cat") (inside subprocess.Popen) ->
    parent: write() to cat's stdin (blocks once the pipe is full) ->
    cat: read() stdin, write() stdout (blocks once that pipe is full).
    With --fixed: poll() on both pipes, write() and read() as each is ready,
    close() stdin when all is written, read() to end of file, waitpid().

Its peer
    cat(1), a program that does not know it is in a demo. The fixed twin:
    this program with --fixed (ipc run subprocess-pipe-buffer-fixed).

Expected output
    parent[100]: started cat as child 101
    parent[100]: writing 1000000 bytes to cat before reading any of its output (the bug)
    ...then nothing. The harness reports, within a second:
    The cycle: parent waits for cat, cat waits for parent.
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "parent"))
