"""``ipc check``: the CLI's side of ipc.check (its parser is added to ipc.cli's by ``add_parser``).

    ipc check MECHANISM --server 'COMMAND'   the conformance suite against a server (any language)
    ipc check MECHANISM --client 'COMMAND'   a client against the project's server of that mechanism
    ipc check --lint -- COMMAND [ARG...]     any program, under the trace: what the lecture warns about

Exit codes: 0 every check passed, 1 a check failed, 2 usage error (or strace missing for --lint).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Optional

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EPILOG = """the command is one word or a quoted line; in it {port}, {host}, {path} and {dir} are filled in
(a free port, 127.0.0.1, a socket file to make, an empty private directory), and the server is ready when
its socket listens (or its FIFO DIR/server exists); without them it must print 'ready: key=value ...'
(host= port= path= dir=) on stderr. python3 in a command is the Python that runs ipc.
exit codes: 0 every check passed, 1 a check failed, 2 usage error (strace missing for --lint).
examples:
  ipc check tcp --server 'python3 my_server.py --port {port}'
  ipc check tcp --server './server {port}' --concurrent --junit report.xml
  ipc check fifo --client 'python3 my_client.py --dir {dir}'
  ipc check stdio --server './upper'
  ipc check --lint -- python3 pipe_program.py"""


def add_parser(commands) -> None:
    from .check.mechanisms import MECHANISMS

    check = commands.add_parser(
        "check",
        help="check a program nobody wrote for this project: a server, a client, or any program's calls",
        description="Check a student's program against the exchange: a server against the conformance suite, "
        "a client against the project's server, or any program under strace for what the lecture warns about. "
        "Each failure says what was expected, what came back, and why, from the program's own system calls.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("mechanism", nargs="?", metavar="MECHANISM", help=f"one of: {', '.join(MECHANISMS)}")
    role = check.add_mutually_exclusive_group()
    role.add_argument("--server", metavar="COMMAND", help="the server to check")
    role.add_argument("--client", metavar="COMMAND", help="the client to check, against the project's server")
    role.add_argument("--lint", action="store_true", help="run -- COMMAND under the trace and say what it does wrong")
    check.add_argument("--concurrent", action="store_true", help="the server claims to serve clients at once")
    check.add_argument("--exchange", action="store_true",
                       help="with --lint: the program holds the exchange with a child of its own (a pipe "
                       "program) and must print each answer to the sample requests")  # fmt: skip
    check.add_argument("--only", metavar="CHECK,...", help="run only these checks of the suite")
    check.add_argument("--wait", type=_seconds, default=5.0, metavar="SECONDS",
                       help="how long to wait for each answer (default 5)")  # fmt: skip
    check.add_argument("--timeout", type=_seconds, default=20.0, metavar="SECONDS",
                       help="how long a client or a linted program may run (default 20)")  # fmt: skip
    check.add_argument("--max-processes", type=int, default=64, metavar="N",
                       help="end the program once it runs more processes than this (default 64)")  # fmt: skip
    check.add_argument("--no-trace", action="store_true", help="do not run it under strace (faster; no findings)")
    check.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    check.add_argument("--junit", metavar="FILE", help="also write the report as JUnit XML (for CI and autograders)")
    check.add_argument("--html", metavar="FILE", help="also write one page: every check, each failure drawn")
    check.add_argument("argv", nargs="*", metavar="-- COMMAND [ARG...]")  # after --, the first word is "mechanism"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text} is out of range: more than 0 s, at most 3600 s")
    return value


def check_command(args: argparse.Namespace) -> int:
    from .check import output

    report = None
    try:
        report = _run(args)
    except _Usage as usage:
        print(f"ipc check: {usage}", file=sys.stderr)
        return EXIT_USAGE
    if report is None:
        return EXIT_USAGE
    for option, write in (("json", output.write_json), ("junit", output.write_junit), ("html", output.write_html)):
        path = getattr(args, option)
        if path:
            try:
                write(report, path)
            except OSError as error:
                print(f"ipc: cannot write {path}: {error.strerror or error}", file=sys.stderr)
                return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_FAILED


class _Usage(Exception):
    pass


def _runnable(argv: list) -> None:
    """A usage error, in one line, for a command that is not there or cannot be run (not a failed check)."""
    from .check.session import fill
    from .trace.runner import TraceError, runnable

    try:
        runnable(fill(argv[:1], {}))
    except TraceError as error:
        raise _Usage(str(error)) from None


def _run(args: argparse.Namespace):
    from .check import output, run
    from .check.mechanisms import MECHANISMS, Target
    from .check.suite import checks_for
    from .trace.runner import TraceError

    if args.max_processes < 1:
        raise _Usage("--max-processes must be at least 1")
    if args.lint:
        command = ([args.mechanism] if args.mechanism else []) + args.argv  # argparse took its first word
        if not command:
            raise _Usage("give the program after --: ipc check --lint -- COMMAND [ARG...]")
        _runnable(command)
        live = output.Live(sys.stdout, f"ipc check --lint -- {shlex.join(command)}")
        try:
            report = run.check_program(command, within=args.timeout, progress=live,
                                       max_processes=args.max_processes, exchange=args.exchange)  # fmt: skip
        except TraceError as error:
            raise _Usage(str(error)) from None
        live.summary(report)
        return report
    if args.argv:
        raise _Usage(f"unexpected {' '.join(args.argv)!r}: give the program with --server or --client")
    if not args.mechanism or not (args.server or args.client):
        raise _Usage("say what to check: ipc check MECHANISM --server 'COMMAND' (or --client), or --lint -- COMMAND")
    if args.mechanism not in MECHANISMS:
        raise _Usage(f"no mechanism {args.mechanism!r}; one of: {', '.join(MECHANISMS)}")
    mechanism = MECHANISMS[args.mechanism]
    given = args.server or args.client
    try:
        argv = shlex.split(given)
    except ValueError as error:
        raise _Usage(f"cannot read the command {given!r}: {error}") from None
    if not argv:
        raise _Usage("the command is empty")
    _runnable(argv)
    trace: Optional[bool] = False if args.no_trace else None
    if args.client:
        if mechanism.one_process_per_client or mechanism.kind == "http":
            raise _Usage(f"{mechanism.name}: only a server (--server) can be checked")
        live = output.Live(sys.stdout, f"ipc check {mechanism.name} --client: {given}")
        report = run.check_client(mechanism, argv, trace=trace, within=args.timeout, progress=live,
                                  max_processes=args.max_processes)  # fmt: skip
        live.summary(report)
        return report
    names = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    if names:
        try:
            checks_for(mechanism.kind, names)
        except KeyError as unknown:
            known = ", ".join(check.name for check in checks_for(mechanism.kind))
            raise _Usage(f"no check named {unknown} for {mechanism.name}; its checks: {known}") from None
    target = Target(mechanism, tuple(argv), concurrent=args.concurrent)
    live = output.Live(sys.stdout, f"ipc check {mechanism.name} --server: {given}")
    report = run.check_server(target, names, trace=trace, deadline=args.wait, progress=live,
                              max_processes=args.max_processes)  # fmt: skip
    live.summary(report)
    return report
