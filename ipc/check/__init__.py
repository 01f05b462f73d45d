"""``ipc check``: anyone's program, checked against the exchange and explained from its system calls.

    mechanisms.py  the mechanisms, how a raw client reaches a server of each, the project's servers
    peers.py       the raw clients (shared with the tests), every wait with a deadline
    suite.py       the conformance suite, one list of checks (http.py: the HTTP/1.1 checks)
    session.py     one server started for one check: placeholders filled, readiness, its clients
    launch.py      the sandbox: programs in process groups of their own, RLIMIT_NPROC, a watchdog,
                   strace (with -k for a compiled program), everything ended and removed on the way out
    lint.py        what the lecture warns about, read from the trace model (pure)
    run.py         the three ways to check (a server, a client, any program) and their reports
    report.py, evidence.py, output.py   the verdict, its evidence, and the text, JSON, JUnit and HTML

The library raises (CheckFailed for a program that is wrong; TraceError where strace cannot run);
only ipc/cli_check.py prints verdicts and turns them into exit codes.
"""
