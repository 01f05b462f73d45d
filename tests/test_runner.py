"""Several demos at once (ipc run -j): never interleaved, each fix once, some alone, a live table on a
terminal and plain lines elsewhere, failures in full at the end, Ctrl-C still cleans up."""

import io
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from ipc import catalog
from ipc.catalog import Demo, Program
from ipc.console import Console
from ipc.runner import Runner, tally

ROOT = Path(__file__).resolve().parents[1]
FAKE = str(Path(__file__).parent / "fakes" / "fake_demo.py")


def fake(mode: str, **options) -> Demo:
    return Demo(
        **{
            "name": f"fake-{mode}",
            "mechanism": "fake",
            "teaches": "nothing",
            "client": Program(FAKE, (mode,)),
            **options,
        }
    )


def run(demos, jobs=2, repeat=1, live=False):
    out = io.StringIO()
    console = Console(out, live=live)
    runner = Runner(demos, jobs=jobs, repeat=repeat, on_change=console.update)
    results = runner.run()
    console.finish(runner, results)
    return runner, results, out.getvalue()


def test_plain_lines_one_per_finished_demo_and_a_summary():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "run", "pipe", "fifo", "tcp4", "-j", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert sorted(re.match(r"ok +(\S+) ", line)[1] for line in lines[:3]) == ["fifo", "pipe", "tcp4"]
    assert "\x1b" not in done.stdout  # not a terminal: no control characters
    assert lines[-1] == "3 ok, 0 failed, 0 skipped"
    assert not re.search(r"(sent|received) \"", done.stdout)  # transcripts only for failures (or -v)


def test_a_failure_is_shown_in_full_at_the_end_and_the_others_still_pass():
    runner, results, text = run([fake("good"), fake("echo"), fake("good", name="fake-again")])
    assert [result.ok for result in results] == [True, False, True]
    end = text.split("== fake-echo: FAILED; its whole run:")[1]
    assert "client[" in end and 'received "hello"' in end  # its transcript, whole
    assert "got 'hello' for 'hello', expected '1 HELLO'" in end
    assert text.rstrip().endswith("2 ok, 1 failed, 0 skipped")


def test_each_fixed_demo_runs_once():
    broken, fixed = catalog.find(["both-read-first", "both-read-first-fixed"])
    runner, results, _ = run([broken, fixed])
    assert [result.demo.name for result in results] == ["both-read-first", "both-read-first-fixed"]
    assert all(result.ok for result in results), [result.problems for result in results]
    assert results[0].fixed is None  # its fix ran as an entry of its own, not a second time inside it


def test_a_broken_demo_alone_still_runs_its_fix():
    runner, results, _ = run(catalog.find(["both-read-first", "pipe"]))
    assert results[0].fixed is not None and results[0].fixed.ok


def test_a_demo_that_must_run_alone_runs_with_nothing_beside_it():
    alone = fake("good", name="fake-alone", alone=True)
    runner, results, _ = run([fake("good"), alone, fake("good", name="fake-other")], jobs=3)
    entries = {entry.demo.name: entry for entry in runner.entries}
    others_end = max(entries[name].started + entries[name].seconds for name in ("fake-good", "fake-other"))
    assert entries["fake-alone"].started >= others_end


def test_repeat_sums_up_per_demo():
    runner, results, text = run([fake("good"), fake("lose")], repeat=3)
    rows = {row.demo.name: row for row in tally(results)}
    assert (rows["fake-good"].runs, rows["fake-good"].failed) == (3, 0)
    assert (rows["fake-lose"].runs, rows["fake-lose"].failed) == (3, 3)
    assert re.search(r"^fake-lose +3 +3 ", text, re.M)


def test_on_a_terminal_the_table_is_redrawn_in_place_with_colour(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, _, text = run([fake("good"), fake("echo")], live=True)
    assert re.search(r"\x1b\[\d+F\x1b\[J", text)  # the cursor climbs back over the table and clears it
    assert "\x1b[32mok" in text and "\x1b[1;31mFAILED" in text
    monkeypatch.setenv("NO_COLOR", "1")
    _, _, plain = run([fake("good")], live=True)
    assert "\x1b[32m" not in plain


def test_ctrl_c_stops_every_run_and_cleans_up():
    ipc = subprocess.Popen(
        [sys.executable, "-m", "ipc", "run", "all", "-j", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = ipc.stdout.readline()  # a first demo has finished: others are running
        children = psutil.Process(ipc.pid).children(recursive=True)
        ipc.send_signal(signal.SIGINT)
        out, err = ipc.communicate(timeout=30)
    finally:
        if ipc.poll() is None:
            ipc.kill()
            ipc.communicate()
    assert ipc.returncode == 130, err
    assert "ipc: interrupted; every process it started was ended" in err
    assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
    # The runs the signal cut short say so: once, they were "FAILED", and no reason was shown.
    lines = (first + out).splitlines()
    assert not [line for line in lines if line.startswith("FAILED")], lines
    cut = [line for line in lines if line.startswith("interrupted ")]
    assert cut and all(line.endswith(" s)") and "the whole run was stopped before it finished" in line for line in cut)


@pytest.mark.tools  # chromium
def test_make_demos_report_opens_with_every_demo_drawn_and_each_page_steps():
    from browser import Browser, why_no_chromium

    from ipc.trace.runner import TraceError, check_strace

    try:
        check_strace()
    except TraceError as error:
        pytest.skip(str(error))
    if why_no_chromium():
        pytest.skip(why_no_chromium())
    with tempfile.TemporaryDirectory() as directory:
        done = subprocess.run(
            [sys.executable, "-m", "ipc", "run", "pipe", "both-read-first", "byte-order", "--report", directory],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        index = Path(directory, "index.html")
        assert f"report: {index}" in done.stdout
        with Browser() as browser:
            tab = browser.open(index.as_uri())
            found = tab.evaluate("""Array.from(document.querySelectorAll('tr[data-demo]')).map(r => [
                r.dataset.demo, r.querySelector('.verdict').textContent,
                Array.from(r.querySelectorAll('a')).map(a => a.getAttribute('href'))])""")
            assert found == [
                ["pipe", "ok", ["pipe.html", "pipe.html", "pipe.steps.html"]],
                ["both-read-first", "deadlocked, as it should", ["both-read-first.html"] * 2
                 + ["both-read-first.steps.html"]],
                ["byte-order", "ok", ["byte-order.html", "byte-order.html", "byte-order.steps.html"]],
            ]  # fmt: skip
            assert tab.problems() == [] and all(url.startswith("file:") for url in tab.requests())
            tab.go(Path(directory, "both-read-first.html").as_uri())  # its own page: the picture and its cycle
            drawn = tab.evaluate("""[document.querySelectorAll('svg.ipc-trace .waits-for.in-cycle').length,
                Array.from(document.querySelectorAll('.deadlock text, .waits-for')).map(e => e.textContent)]""")
            assert drawn[0] == 2, drawn
            tab.go(Path(directory, "pipe.steps.html").as_uri() + "#step=9")  # its step-through page works too
            assert tab.problems() == [] and "pipe #1" in tab.evaluate("document.body.innerText")


def test_the_plain_table_stays_aligned_for_every_name_length_and_says_a_deadlock_was_expected():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "run", "pipe", "both-read-first", "http-client-reads-first-fixed", "-j", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    rows = [line for line in done.stdout.splitlines() if re.match(r"ok +\S", line)]
    assert len(rows) == 3
    assert len({line.index(" s", len(line) - 4) for line in rows}) == 1  # the times end in one column
    assert len({len(line) for line in rows}) == 1
    [broken] = [line for line in rows if " both-read-first " in line]
    assert "deadlocked, as it should" in broken and "message" not in broken
