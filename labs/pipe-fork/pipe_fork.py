"""Lab: a parent and its child over two pipes. Fill in the calls marked TODO (see README.md beside this file).

Check it:  ipc check --lint --exchange -- python3 labs/pipe-fork/pipe_fork.py
"""

import os

REQUESTS = ["hello", "how are you?", "Grüße aus der Pipe", "bye"]


def child(requests_r: int, replies_w: int) -> None:
    """Answer each line read from requests_r with 'n LINE' on replies_w, until end of file."""
    # TODO: read() until b"" (end of file), keeping the bytes of a line cut in two; for the n-th whole
    # line write f"{n} {line.upper()}\n" (all of it: write() may take less than it is given).
    raise NotImplementedError("child(): read() each request, write() its answer")


def main() -> None:
    # TODO: pipe() twice (requests: parent -> child, replies: child -> parent), then fork().
    # In the child: close() the two ends it does not use, child(...), then os._exit(0).
    # In the parent: close() the two ends it does not use; for each request write() it, read() its answer
    # (until a whole line), print() it; then close() its write end (the child's end of file), and
    # waitpid() the child.
    raise NotImplementedError(f"main() in process {os.getpid()}: pipe(), fork(), close() unused ends, waitpid()")


if __name__ == "__main__":
    main()
