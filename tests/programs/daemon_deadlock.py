"""A deadlock with a daemon: the program double-forks a helper that escapes into a session of its own.

    python daemon_deadlock.py

The classic daemon recipe (fork, setsid, fork again, the middle process
exits) leaves the helper an orphan, no longer this program's child. Then both
read first: the helper waits for a request, this program for an answer.
"""

import os

requests_r, requests_w = os.pipe()
answers_r, answers_w = os.pipe()
if os.fork() == 0:
    os.setsid()  # a session of its own: no terminal, no process group of ours
    if os.fork() == 0:
        os.read(requests_r, 1)  # the daemon waits for a request...
        os.write(answers_w, b"!")
        os._exit(0)
    os._exit(0)  # the middle process leaves: the daemon is an orphan now
os.wait()  # reap the middle process
print(f"daemon started; waiting for its answer (pid {os.getpid()})", flush=True)
os.read(answers_r, 1)  # ...and this program waits for the answer before asking: a deadlock
