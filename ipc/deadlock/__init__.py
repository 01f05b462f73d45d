"""Deadlocks, seen as they form and explained the way an expert would.

A watcher (the harness, ``ipc watch``) calls ``Detector.sample(pids)`` every
few tens of milliseconds with the processes it watches. It returns None, or a
Diagnosis once they are deadlocked. On Linux everything comes from /proc
(ipc.procfs); elsewhere a plainer psutil fallback says what it could see.

    waits.py     what each thread waits on: its blocked system call, decoded into needs
    observe.py   the snapshot for ipc.waitfor: who holds each end, what is queued (the /proc adapter)
    explain.py   the edges ipc.waitfor found, said in words
    detector.py  sampling, settling, and asking ipc.waitfor for the verdict
    report.py    the diagnosis in words: the processes, their calls, fds and lines, the cycle
    watcher.py   the watch over one run: names, Python stacks, sampling at a steady pace
"""

from .detector import QUIET, SETTLE, Detector
from .report import Diagnosis, Stuck
from .watcher import Watcher

__all__ = ["Detector", "Diagnosis", "Stuck", "Watcher", "SETTLE", "QUIET"]
