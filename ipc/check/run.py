"""Running the checks: a server against the suite, a client against the reference server, any program linted.

Each check of the suite runs in a sandbox of its own (ipc.check.launch): the
server started afresh, under strace where strace works, so that a failure in
one check cannot spoil the next and every failure has the calls that led to it.
After the checks, the lecture's rules (ipc.check.lint) read every trace; a rule
that found something fails, with the findings and their source lines.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from typing import Callable, Optional, Sequence

from ..trace.runner import TraceError, check_strace
from . import lint as lint_rules
from .evidence import calls_around, finding_lines, finding_record, several_in_one_read, steps_around, where
from .failure import CheckFailed, CheckSkipped, NoAnswer, NotStarted
from .launch import MAX_PROCESSES, Sandbox
from .mechanisms import Mechanism, Target, reference
from .peers import DEADLINE
from .report import FAIL, SKIP, Report, Result
from .session import Session, fill
from .suite import checks_for

ProgressFn = Optional[Callable[[Result], None]]
RUN_WITHIN = 20.0  # seconds a client or a program gets to run to its end
END_OF_CONVERSATION = {  # the reference server's words for a conversation its client ended properly
    "tcp": r"closed the connection",
    "unix": r"closed the connection",
    "fifo": r"closed \S+\.requests: end of file",
    "files": r"the client's end marker",
    "udp": r"the end of its conversation",
    "unix-dgram": r"the end of its conversation",
}


def can_trace() -> tuple[bool, str]:
    try:
        check_strace()
    except TraceError as error:
        return False, f"not traced, so no finding about the calls and no source lines: {error}"
    return True, ""


class _Lecture:
    """The lint findings of every traced run of one check, gathered per rule. Findings alike (the same rule at
    the same source lines, or on the same kind of call) are told once, with how many more there were."""

    def __init__(self) -> None:
        self.found: dict[str, dict] = {rule: {} for rule in lint_rules.RULES}  # rule -> key -> [findings]
        self.traced = False

    def add(self, trace, findings: list) -> None:
        self.traced = True
        for finding in findings:
            wheres = tuple(where(trace, i) for i in finding.calls if i is not None)
            if not any(wheres):  # no source line: alike when their calls are alike
                wheres = tuple(trace.calls[i].name for i in finding.calls if i is not None)
            labels = [trace.processes[pid].label for pid in finding.pids if pid in trace.processes]
            self.found[finding.rule].setdefault(wheres, []).append((finding, trace, labels))

    def results(self, rules: Sequence[str]) -> list[Result]:
        results = []
        for rule in rules:
            title, lesson = lint_rules.RULES[rule]
            result = Result(rule, title, group="lecture", lesson=lesson)
            groups = list(self.found[rule].values())[:5]
            for number, alike in enumerate(groups):
                finding, trace, _ = alike[0]
                more = [label for *_, labels in alike[1:] for label in labels[:1]]
                text = finding.text + (f" (and {len(more)} more alike: {', '.join(more[:4])})" if more else "")
                if number == 0:
                    result.status, result.message, result.trace = FAIL, text, trace
                    result.steps = steps_around(
                        trace, call=max((i for i in finding.calls if i is not None), default=None)
                    )
                result.why.append(text)
                lines = finding_lines(finding, trace)
                result.evidence.append(("what the system calls show", lines[1:] if number == 0 else [text, *lines[1:]]))
                result.findings.append(finding_record(finding, trace) | {"alike": len(more)})
            results.append(result)
        return results


def _finish(result: Result, progress: ProgressFn, report: Report) -> None:
    report.results.append(result)
    if progress is not None:
        progress(result)


def check_server(
    target: Target,
    names: Optional[list] = None,
    *,
    trace: Optional[bool] = None,
    deadline: float = DEADLINE,
    strict: bool = False,
    progress: ProgressFn = None,
    max_processes: int = MAX_PROCESSES,
) -> Report:
    """Every check of the suite (or those named) over a server, each in a sandbox of its own; then the rules."""
    report = Report("server", target.mechanism.name, " ".join(target.argv))
    started = time.monotonic()
    traced, why_not = can_trace() if trace is not False else (False, "")
    if why_not:
        report.notes.append(why_not)
    lecture = _Lecture()
    contained = None
    never_started = None  # the first check whose server ended before it was ready: the others would too
    for check in checks_for(target.mechanism.kind, names):
        result = Result(check.name, check.title, lesson=check.lesson)
        if never_started is not None:
            result.status, result.message = SKIP, f"the server never started (see {never_started})"
            _finish(result, progress, report)
            continue
        began = time.monotonic()
        failure: Optional[CheckFailed] = None
        failed_at = None
        session = None
        with Sandbox(trace=traced, max_processes=max_processes) as sandbox:
            try:
                session = Session(target, sandbox, deadline)
                session.start()
                check.run(session, strict)
            except CheckSkipped as skipped:
                result.status, result.message = SKIP, str(skipped)
            except CheckFailed as failed:
                failure, failed_at = failed, time.time()
                _settle(session)
                if isinstance(failed, NotStarted):
                    never_started = check.name
        contained = contained or sandbox.contained
        model = sandbox.model() if traced else None
        if model is not None:
            lecture.add(model, lint_rules.lint(model, lines=target.mechanism.kind != "http"))
        if failure is not None:
            _failed(result, failure, failed_at, session, sandbox, model, check.name)
        result.seconds = time.monotonic() - began
        _finish(result, progress, report)
    if contained:
        _finish(Result("contained", "runs within its limits", FAIL, contained, group="run"), progress, report)
    if lecture.traced:
        rules = [
            rule for rule in lint_rules.RULES if target.mechanism.kind == "stream" or rule != "one-recv-one-message"
        ]
        for result in lecture.results(rules):
            _finish(result, progress, report)
    report.seconds = time.monotonic() - started
    return report


def _settle(session: Optional[Session], within: float = 0.3) -> None:
    """After a failure: a server that is ending by itself (it closed its socket, it crashed) is given a moment
    to do so, so that the report says it ended rather than that it was stopped."""
    server = session.server if session is not None else None
    if server is not None and server.popen.poll() is None:
        try:
            server.popen.wait(within)
        except subprocess.TimeoutExpired:
            pass


def _failed(result: Result, failure: CheckFailed, failed_at, session, sandbox: Sandbox, model, name: str) -> None:
    result.status = FAIL
    result.message, result.expected, result.got = failure.message, failure.expected, failure.got
    if failure.why:
        result.why.append(failure.why)
    if sandbox.contained:
        result.why.append(f"the server was stopped: {sandbox.contained}")
    elif session is not None and session.server is not None and session.server.ended_by_itself:
        result.why.append(f"the server ended by itself during the check ({session.server.ended_by_itself})")
    for program in sandbox.programs:
        said = program.text(15)
        if said:
            result.evidence.append((f"what {program.role} said on stderr (last lines)", said))
    if model is None:
        return
    trace = model
    result.trace, result.steps = trace, steps_around(trace, at=failed_at)
    if name in ("many-in-one-write", "one-byte-at-a-time"):
        result.why += several_in_one_read(trace)
    for finding in lint_rules.lint(trace):
        if finding.rule in ("one-recv-one-message", "short-write", "read-before-write"):
            result.why.append(
                finding.text + "".join(f" ({where(trace, i)})" for i in finding.calls[:1] if where(trace, i))
            )
    around = calls_around(trace, failed_at)
    if around:
        waited = "nothing came back" if isinstance(failure, NoAnswer) else "the failure"
        result.evidence.append((f"the server's system calls up to {waited}", around))


def check_client(
    mechanism: Mechanism,
    argv: Sequence[str],
    *,
    trace: Optional[bool] = None,
    within: float = RUN_WITHIN,
    progress: ProgressFn = None,
    max_processes: int = MAX_PROCESSES,
) -> Report:
    """A student's client against the project's server of that mechanism, with the server's transcript as evidence."""
    report = Report("client", mechanism.name, " ".join(argv))
    started = time.monotonic()
    traced, why_not = can_trace() if trace is not False else (False, "")
    if why_not:
        report.notes.append(why_not)
    run = Result("runs-to-its-end", "the client runs to its end, exit code 0, no deadlock", group="run")
    diagnosis, client, server, failure, failed_at = None, None, None, None, None
    with Sandbox(trace=traced, watch=True, max_processes=max_processes) as sandbox:
        try:
            # No deadline of its own: a client that reads first then deadlocks with it, and is explained at once.
            patient = ("--idle", "0") if mechanism.name in ("tcp", "unix", "fifo", "files") else ()
            session = Session(Target(mechanism, reference(mechanism) + patient), sandbox)
            session.start()
            server = session.server
            client = sandbox.launch(fill(argv, session.fields), "client")
            diagnosis = sandbox.wait_for(client, within)
            if diagnosis is None and client.code == 0:  # the server reads its end of file a moment after it exits
                with contextlib.suppress(CheckFailed):
                    server.wait_for_line(END_OF_CONVERSATION.get(mechanism.name, "$^"), 2.0)
        except CheckFailed as failed:
            failure, failed_at = failed, time.time()
        if diagnosis is not None:
            report_text = diagnosis.report()
            failed_at = time.time()
    model = sandbox.model() if traced else None
    transcript = server.lines if server is not None else []
    said = (
        client.text(20)
        + [f"(stdout) {line}" for line in bytes(client.stdout).decode("utf-8", "replace").splitlines()[-20:]]
        if client
        else []
    )
    evidence = [("the reference server's transcript", transcript[-30:]), ("what the client printed", said)]
    if diagnosis is not None:
        run.status, run.message = FAIL, diagnosis.summary()
        run.evidence = [("the deadlock, as it was seen (then every process was ended)", report_text.splitlines()),
                        *evidence]  # fmt: skip
    elif failure is not None:
        run.status, run.message = FAIL, str(failure)
        run.evidence = evidence
    elif client is not None and client.code != 0:
        run.status, run.message = FAIL, f"the client ended with {client.ending()}"
        run.evidence = evidence
    if sandbox.contained:
        run.status, run.message = FAIL, f"it was stopped: {sandbox.contained}"
    if model is not None and run.failed:
        run.trace, run.steps = model, steps_around(model, at=failed_at)
        heading = "the system calls, up to the moment it was given up" if failed_at else "the system calls, to the end"
        run.evidence.append((heading, calls_around(model, failed_at, count=14)))
    _finish(run, progress, report)
    for result in _judge_conversation(mechanism, transcript, said, evidence):
        _finish(result, progress, report)
    if model is not None:
        trace = model
        client_pids = sandbox.pids_of(trace, "client")
        lecture = _Lecture()
        lecture.add(trace, lint_rules.lint(trace, lambda pid: pid in client_pids))
        for result in lecture.results(list(lint_rules.RULES)):
            _finish(result, progress, report)
    report.seconds = time.monotonic() - started
    return report


def _judge_conversation(mechanism: Mechanism, transcript: list, said: list, evidence: list) -> list[Result]:
    """What the reference server saw of the client: requests answered, no error, the conversation ended."""
    from ..transcript import parse_line

    lines = [line for line in (parse_line(text) for text in transcript) if line is not None]
    received = [line.message[1] for line in lines if line.message and line.message[0] == "received"]
    sent = [line.message[1] for line in lines if line.message and line.message[0] == "sent"]
    errors = [line.text for line in lines if "error" in line.text]
    answered = Result("answered", "it sends whole requests, and each is answered", group="exchange", evidence=evidence)
    if not received:
        answered.status, answered.message = FAIL, "the server received no request from the client"
    elif errors:
        answered.status, answered.message = FAIL, f"the server refused what the client sent: {errors[0]}"
    ended = Result("ends-its-conversation", "it ends its conversation as the exchange says (end of file)",
                   group="exchange", evidence=evidence)  # fmt: skip
    import re

    if received and not any(re.search(END_OF_CONVERSATION.get(mechanism.name, "$^"), line.text) for line in lines):
        ended.status = FAIL
        ended.message = "the server never saw the conversation end: the client did not close its side (end of file)"
    printed = Result("prints-the-answers", "it prints each answer it received", group="exchange", evidence=evidence)
    output = "\n".join(said)
    missing = [answer for answer in sent if answer not in output]
    if sent and missing:
        printed.status, printed.message = FAIL, f"these answers are not in its output: {missing[:3]}"
    return [answered, ended, printed]


def _printed_the_exchange(printed: list) -> Result:
    from ..protocol import SAMPLE_REQUESTS, answer

    expected = [answer(number, request) for number, request in enumerate(SAMPLE_REQUESTS, start=1)]
    result = Result("exchange", "it prints the answers to " + ", ".join(SAMPLE_REQUESTS) + ", in order")
    text, at = "\n".join(printed), 0
    for reply in expected:
        found = text.find(reply, at)
        if found < 0:
            result.status, result.message = FAIL, f"{reply!r} is not in its output (after the answers before it)"
            result.expected, result.got = expected, printed[-8:]
            result.evidence.append(("what it printed", printed[-20:]))
            break
        at = found + len(reply)
    return result


def check_program(
    argv: Sequence[str],
    *,
    within: float = RUN_WITHIN,
    progress: ProgressFn = None,
    max_processes: int = MAX_PROCESSES,
    lines: bool = True,
    exchange: bool = False,
) -> Report:
    """Any program, run under the trace to its end (or a deadlock, or the time limit): the lecture's rules over it.
    ``exchange``: it holds the exchange with a process of its own (a pipe program): it must print the answers
    to the sample requests (hello, how are you?...), in order, on stdout or stderr."""
    report = Report("lint", "", " ".join(argv))
    started = time.monotonic()
    traced, why_not = can_trace()
    if not traced:
        raise TraceError(why_not.split(": ", 1)[-1])
    run = Result("runs-to-its-end", "it runs to its end by itself, exit code 0, no deadlock", group="run")
    diagnosis, program, failure, failed_at = None, None, None, None
    with Sandbox(trace=True, watch=True, max_processes=max_processes) as sandbox:
        program = sandbox.launch(fill(argv, sandbox.fields()), "program")
        try:
            diagnosis = sandbox.wait_for(program, within)
        except NoAnswer as failed:
            failure = failed
        if diagnosis is not None or failure is not None:
            failed_at = time.time()
        report_text = diagnosis.report() if diagnosis is not None else ""
    trace = sandbox.model()
    said = program.text(20)
    if diagnosis is not None:
        run.status, run.message = FAIL, diagnosis.summary()
        run.evidence.append(("the deadlock, as it was seen (then every process was ended)", report_text.splitlines()))
    elif sandbox.contained:
        run.status, run.message = FAIL, f"it was stopped: {sandbox.contained}"
    elif failure is not None:
        run.status, run.message = FAIL, f"{failure}: it was ended (--timeout gives it longer)"
    elif program.code != 0:
        run.status, run.message = FAIL, f"it ended with {program.ending()}"
    printed = said + bytes(program.stdout).decode("utf-8", "replace").splitlines()[-20:]
    if said:
        run.evidence.append(("what it said on stderr (last lines)", said))
    if trace is not None and run.failed:
        run.trace, run.steps = trace, steps_around(trace, at=failed_at)
        heading = "its system calls, up to the moment it was given up" if failed_at else "its system calls, to the end"
        run.evidence.append((heading, calls_around(trace, failed_at, count=14)))
    _finish(run, progress, report)
    if exchange:
        _finish(_printed_the_exchange(printed), progress, report)
    if trace is not None:
        lecture = _Lecture()
        lecture.add(trace, lint_rules.lint(trace, lines=lines))
        for result in lecture.results(list(lint_rules.RULES)):
            _finish(result, progress, report)
    report.seconds = time.monotonic() - started
    return report
