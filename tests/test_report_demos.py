"""make demo's report, read as data: every demo run under strace and drawn, as ``make demo`` does it.

The pictures must tell the lesson and nothing else: no harness log in flight at
the end of a broken demo, no invented byte, no text over another or over a
lifeline, a Mermaid file that declares every process (and parses), a Perfetto
deadlock whose blocked calls last until the trace's end, a contents page
with a row per demo that links to pages that exist. One run of every demo
(about 15 s on two CPUs), shared by the tests below; skipped without strace.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pictures_check import mermaid_grammar, overlaps
from sources_check import share, unexplained
from support import why_no_strace

from ipc import catalog
from ipc.console import Console
from ipc.demo_report import Drawer
from ipc.runner import Runner
from ipc.trace import mermaid, page, perfetto
from ipc.trace.report import DEADLOCKED
from ipc.trace.sources import lesson_call

pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")
SVGS = re.compile(r"<svg xmlns=.*?</svg>", re.S)


@pytest.fixture(scope="module")
def report():
    """(directory, {name: its run}) for every demo, run and drawn as make demo does it."""
    directory = tempfile.mkdtemp(prefix="report-")
    demos = catalog.all_demos()
    drawer = Drawer(2)
    try:
        runner = Runner(demos, jobs=2, trace=True, on_change=lambda r: drawer.draw(r.entries))
        Console(io.StringIO(), live=False).finish(runner, runner.run())
        drawer.write(directory, runner.entries)
    finally:
        drawer.close()
    yield Path(directory), {entry.demo.name: entry for entry in runner.entries}
    shutil.rmtree(directory, ignore_errors=True)


def broken(runs: dict) -> list:
    return [entry for entry in runs.values() if entry.demo.kind == "deadlock"]


def test_the_contents_page_has_a_row_per_demo_and_every_link_leads_somewhere(report):
    directory, runs = report
    html = (directory / "index.html").read_text()
    assert len(html) < 200_000  # a contents page: no picture's words
    rows = re.findall(r'<tr data-demo="([^"]+)">(.*?)</tr>', html, re.S)
    assert [name for name, _ in rows] == list(runs)
    for name, row in rows:
        said = re.search(r'<span class="verdict (\w+)">([^<]+)</span>', row).groups()
        assert said == (("deadlocked", DEADLOCKED) if runs[name].demo.kind == "deadlock" else ("ok", "ok")), name
        links = re.findall(r'href="([^"#]+)"', row)
        assert links and all((directory / link).exists() for link in links)
    for steps in directory.glob("*.steps.html"):
        back = re.search(r'<nav class="back">(.*?)</nav>', steps.read_text()).group(1)
        assert 'href="index.html"' in back and f'href="{steps.name.replace(".steps", "")}"' in back


def test_no_page_holds_a_run_of_question_marks_and_no_text_meets_another(report):
    directory, _ = report
    pictures = 0
    for path in directory.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"\?{3,}", text), path.name
        for picture in SVGS.findall(text):
            if "<text" in picture:
                assert overlaps(picture) == [], path.name
                pictures += 1
    assert pictures >= 2 * len(list(directory.glob("*.steps.html")))  # each demo's picture, on two pages


def test_a_broken_demo_ends_with_only_the_lessons_objects_in_flight_and_in_its_fd_tables(report):
    _, runs = report
    for entry in broken(runs):
        trace = entry.result.stopped
        lesson = {key for call in trace.lecture_calls() for key in call.objects}
        labels = {trace.objects[key].label for key in lesson}
        state = trace.state_at(len(trace.steps) - 1)
        for where, _, _ in page.flight(trace, state.in_flight):
            assert where.split(":")[0] in labels, (entry.demo.name, where)
        held = {entry.object for table in state.fd_tables.values() for entry in table.values()}
        assert not held & trace.logs(), entry.demo.name
        assert all(trace.objects[key].created_by is not None or key in lesson for key in held), entry.demo.name


def _node_mermaid() -> str | None:
    """A node_modules directory holding mermaid and jsdom (IPC_MERMAID_MODULES), where node is here."""
    modules = os.environ.get("IPC_MERMAID_MODULES")
    if shutil.which("node") and modules and Path(modules, "mermaid").is_dir() and Path(modules, "jsdom").is_dir():
        return modules
    return None


PARSE = """
import { createRequire } from "module"; import { pathToFileURL } from "url"; import fs from "fs";
const require = createRequire(process.env.IPC_MERMAID_MODULES + "/");
const { JSDOM } = require("jsdom"); const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
const { default: mermaid } = await import(pathToFileURL(require.resolve("mermaid")).href);
let bad = 0;
for (const file of process.argv.slice(2)) {
  try { await mermaid.parse(fs.readFileSync(file, "utf8")); }
  catch (e) { bad++; console.log(file + ": " + String(e.message || e).split("\\n").join(" ")); }
}
process.exit(bad ? 1 : 0);
"""


def test_every_mermaid_file_declares_every_process_and_parses(report):
    _, runs = report
    texts = {}
    for name, entry in runs.items():
        trace = entry.result.stopped or entry.result.trace
        if trace is None:
            continue  # a demo that is not traced (its reason is on its page)
        text = texts[name] = mermaid.render(trace, title=name)
        declared = re.findall(r"^    participant P\d+ as (.+)$", text, re.M)
        assert set(p.label for p in trace.processes.values()) <= set(declared), name
        assert mermaid_grammar(text) == [], name
        if entry.demo.kind == "deadlock":
            assert "--x" in text, name  # who each blocked call waits for, from ipc.waitfor's finding
    modules = _node_mermaid()
    if modules is None:
        pytest.skip("the real Mermaid parser needs node and IPC_MERMAID_MODULES (npm install mermaid jsdom)")
    with tempfile.TemporaryDirectory() as directory:
        paths = []
        for name, text in texts.items():
            paths.append(os.path.join(directory, f"{name}.mmd"))
            Path(paths[-1]).write_text(text)
        script = os.path.join(directory, "parse.mjs")
        Path(script).write_text(PARSE)
        done = subprocess.run(["node", script, *paths], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "IPC_MERMAID_MODULES": modules})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_perfetto_deadlock_keeps_its_blocked_calls_until_the_end(report):
    _, runs = report
    for entry in broken(runs):
        trace = entry.result.stopped
        events = json.loads(json.dumps(perfetto.to_perfetto(trace)))["traceEvents"]
        stuck = [e for e in events if e["ph"] == "X" and e["cat"] == "blocked" and "still" in e["args"]["ended by"]]
        assert stuck, entry.demo.name
        assert all(e["ts"] + e["dur"] >= trace.end * perfetto.US - 1 for e in stuck), entry.demo.name
        # µs: the first to block waited until the deadlock was seen, not 1 µs. (A call that the watcher's own signal
        # cut short, a send that then sends the rest, begins again just before the end: its slice is short.)
        assert max(e["dur"] for e in stuck) > 50_000, entry.demo.name
        starts = {e["id"]: e["ts"] for e in events if e["ph"] == "s"}
        assert all(e["ts"] >= starts[e["id"]] for e in events if e["ph"] == "f"), entry.demo.name


def test_every_deadlock_the_harness_diagnosed_is_drawn_as_the_trace_judges_it(report):
    directory, runs = report
    for entry in broken(runs):
        html = (directory / f"{entry.demo.name}.html").read_text()
        edges = re.findall(r'<g class="waits-for( in-cycle)?" data-waiter="(\d+)" data-holder="(\d+)">', html)
        assert edges, entry.demo.name  # every blocked call's "waits for", from ipc.waitfor's finding
        root = ET.fromstring(SVGS.search(html.split("<figure", 1)[1]).group(0))
        assert root.get("class").startswith("ipc-trace")


def test_every_call_of_the_lesson_in_every_exchange_demo_names_the_line_of_its_demo_that_made_it(report):
    """Each pipe, fork, dup2, exec, mkfifo, FIFO open, socket call, read and write on an IPC fd, close of one and
    waitpid has a source, and the demo's file (read here, as it is now) at that line makes the call or the
    library call that wraps it (tests/sources_check)."""
    _, runs = report
    exchanges = {name: entry for name, entry in runs.items() if entry.demo.kind == "exchange"}
    assert len(exchanges) >= 12
    shares = {}
    for name, entry in exchanges.items():
        trace = entry.result.trace
        assert unexplained(trace) == [], name
        scripts = {str(catalog.ROOT / "demos" / script) for script in entry.demo.scripts}
        made = [call for call in trace.calls if lesson_call(trace, call) and call.source is not None]
        assert all(call.source.file in scripts for call in made), (name, {c.source.file for c in made} - scripts)
        shares[name] = share(trace)
    assert sum(int(s.split("/")[1]) for s in shares.values()) > 400, shares


def test_each_exchange_demos_step_page_shows_its_code_and_the_line_of_each_step(report):
    directory, runs = report
    for name, entry in runs.items():
        if entry.demo.kind != "exchange" or name == "files":  # (the file exchange makes no call of the lesson)
            continue
        text = (directory / f"{name}.steps.html").read_text()
        data = json.loads(text.split('id="trace-data">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))
        shown = {path.split("/")[-1] for path, *_ in data["files"]}
        assert shown and shown <= set(Path(script).name for script in entry.demo.scripts), (name, shown)
        lit = [step["source"] for step in data["steps"] if "source" in step]
        assert lit and not any(said.get("unknown") for said in lit), name
        for said in lit:
            number = int(said["where"].rsplit(":", 1)[1])
            file = next(lines for path, lines, _ in data["files"] if path.endswith("/" + said["where"].split(":")[0]))
            assert file[number - 1].strip() == said["text"], (name, said)
