"""ipc: one message exchange carried over every Unix IPC mechanism, and the
harness that runs, checks and explains the demos that carry it.

Modules: protocol (the exchange, no I/O), stream (the one read loop),
log and program (how a demo process talks and ends), catalog (the demos),
harness (runs them), cli (the ``ipc`` command).
"""
