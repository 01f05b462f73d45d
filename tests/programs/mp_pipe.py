"""A multiprocessing.Pipe deadlock, as anyone might write it: both sides recv() first.

    python mp_pipe.py

Pipe() is a socketpair, and after the fork both processes hold both ends, so
each also holds a spare copy of the end the other reads from. The hang is the
cycle between parent and child; the spare ends are a side note.
"""

import multiprocessing


def child(connection):
    connection.recv()  # waits for the parent, which waits for us
    connection.send("pong")


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    parent_end, child_end = multiprocessing.Pipe()
    process = multiprocessing.Process(target=child, args=(child_end,))
    process.start()
    parent_end.recv()  # the bug: it should send first
    parent_end.send("ping")
    process.join()
