"""The step-through page, the SVG and the report, opened in headless Chromium (tests/browser.py drives it).

Each page must load with no request but its own file and no console error;
stepping (by a ``#step=N`` link and by the arrow keys) must show the fd
tables and the bytes in flight the model gives for that step. A screenshot
of each is written to build/screenshots/ for a person to look at. Skipped,
saying why, where Chromium (or, for the real traces, strace) is missing.
"""

import io
import sys
import tempfile
from pathlib import Path

import pytest
from browser import Browser, why_no_chromium
from support import why_no_strace

from ipc.trace import build, page, svg
from ipc.trace.report import Section, render_demo, render_report
from ipc.watch import watch

ROOT = Path(__file__).resolve().parents[1]
TRACES = Path(__file__).resolve().parent / "traces"
SHOTS = ROOT / "build" / "screenshots"
pytestmark = [pytest.mark.tools, pytest.mark.skipif(why_no_chromium() is not None, reason=why_no_chromium() or "")]
ENDS = {"3": "pipe #1 read end", "4": "pipe #1 write end", "5": "pipe #2 read end", "6": "pipe #2 write end"}
SEEN = """(() => ({
  position: document.getElementById("position").textContent,
  hash: location.hash,
  event: document.getElementById("event").textContent.replace(/\\s+/g, " ").trim(),
  current: Array.from(document.querySelectorAll("#diagram .current")).map(e => e.getAttribute("data-step")),
  cursor: Number(document.querySelector("#diagram .cursor").getAttribute("y")),
  processes: Array.from(document.querySelectorAll("#processes .process")).map(p => ({
    name: p.querySelector("h3").firstChild.textContent,
    status: p.querySelector(".status").textContent,
    fds: Object.fromEntries(Array.from(p.querySelectorAll("tbody tr")).filter(r => r.cells.length === 3)
                                 .map(r => [r.cells[0].textContent, r.cells[1].textContent]))})),
  flight: Array.from(document.querySelectorAll("#flight .channel")).map(
    c => [c.querySelector(".where").textContent, c.querySelector("code").textContent]),
}))()"""


def pipes(process: dict) -> dict:
    return {fd: what for fd, what in process["fds"].items() if what.startswith("pipe #1") or what.startswith("pipe #2")}


def write(directory: str, name: str, text: str) -> str:
    path = Path(directory, name)
    path.write_text(text, encoding="utf-8")
    return path.as_uri()


def shot(tab, name: str, **options) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(str(SHOTS / name), **options)


def clean(tab) -> None:
    """Nothing fetched but the page's own file; no console error, no uncaught exception."""
    own = tab.evaluate("location.href").split("#")[0]
    assert [url for url in tab.requests() if url.split("#")[0] != own] == []
    assert tab.problems() == []


def step_of(trace, pid: int, name: str, nth: int = 0, kind: str = "call") -> int:
    """The model's step number (from 1) of the nth call ``name`` of process ``pid``."""
    found = [
        n
        for n, s in enumerate(trace.steps, 1)
        if s.kind == kind and s.call is not None and trace.calls[s.call].pid == pid and trace.calls[s.call].name == name
    ]
    return found[nth]


def press(tab, steps: int) -> None:
    """→ that many times (← if negative)."""
    for _ in range(abs(steps)):
        tab.key("ArrowRight" if steps > 0 else "ArrowLeft")


def check_pipe_page(trace, url_of, tab_of, picture: str):
    """The issue's three moments of the pipe demo, by a #step= link, then by the arrow keys."""
    client = next(p.pid for p in trace.processes.values() if p.role == "client")
    server = next(p.pid for p in trace.processes.values() if p.role == "server")
    forked = step_of(trace, client, "clone")
    closed = max(step_of(trace, client, "close", 1), step_of(trace, server, "close", 1))
    written = step_of(trace, client, "write")
    tab = tab_of(f"{url_of}#step={forked}")
    seen = tab.evaluate(SEEN)
    assert seen["position"].startswith(f"step {forked} of {len(trace.steps)}")
    assert [pipes(p) for p in seen["processes"]] == [ENDS, ENDS]  # after pipe2 twice and clone: all four ends, both
    assert seen["current"] == [str(forked)] and seen["cursor"] > 0
    press(tab, closed - forked)
    seen = tab.evaluate(SEEN)
    assert seen["hash"] == f"#step={closed}" and seen["current"] == [str(closed)]
    mine = {p["name"]: pipes(p) for p in seen["processes"]}
    assert mine == {
        trace.processes[client].label: {"4": ENDS["4"], "5": ENDS["5"]},
        trace.processes[server].label: {"3": ENDS["3"], "6": ENDS["6"]},
    }  # each holds two
    if written > closed:  # (a real run may write before the child's closes: the kernel's order is the trace's)
        assert seen["flight"] == []
    press(tab, written - closed)
    seen = tab.evaluate(SEEN)
    assert seen["position"].startswith(f"step {written} ") and 'write fd 4 (pipe #1) = 6 "hello\\n"' in seen["event"]
    assert [(where.split(":")[0], data) for where, data in seen["flight"]] == [("pipe #1", '"hello\\n"')]
    shot(tab, picture)  # "hello\n" in flight
    tab.key("ArrowLeft")
    assert tab.evaluate(SEEN)["hash"] == f"#step={written - 1}"
    clean(tab)
    return tab


def test_pipe_page_steps_by_link_and_by_key_showing_fd_tables_and_bytes_in_flight():
    trace = build([(TRACES / "pipe_fork.strace").read_text()])
    with tempfile.TemporaryDirectory() as directory, Browser() as browser:
        url = write(directory, "pipe.html", page.render(trace, title="ipc trace pipe (recorded)"))
        tab = check_pipe_page(trace, url, browser.open, "page-pipe-recorded.png")
        tab.go(write(directory, "pipe.svg", svg.render(trace, title="ipc trace pipe (recorded)")))
        assert tab.evaluate("document.querySelectorAll('g.row.message').length") == 8
        clean(tab)
        shot(tab, "svg-pipe-recorded.png", full=True)


def test_page_of_a_deadlock_ends_with_both_blocked_and_the_cycle_drawn():
    trace = build([(TRACES / "both_read_first.blocked.strace").read_text()])
    with tempfile.TemporaryDirectory() as directory, Browser() as browser:
        tab = browser.open(write(directory, "deadlock.html", page.render(trace, title="both-read-first")))
        tab.key("End")
        seen = tab.evaluate(SEEN)
        assert seen["hash"] == f"#step={len(trace.steps)}"
        assert [p["status"].split(" for ")[0] for p in seen["processes"]] == [
            "blocked in read fd 5 (pipe #2)",
            "blocked in read fd 3 (pipe #1)",
        ]
        cycle = tab.evaluate("Array.from(document.querySelectorAll('.waits-for.in-cycle')).map(e => e.textContent)")
        assert len(cycle) == 2 and all(" waits for " in edge for edge in cycle)
        clean(tab)
        shot(tab, "page-deadlock-recorded.png")


def test_report_contents_and_demo_pages_open_and_fetch_nothing():
    pipe = build([(TRACES / "pipe_fork.strace").read_text()])
    deadlock = build([(TRACES / "both_read_first.blocked.strace").read_text()])
    tcp = build([(TRACES / f"tcp.{side}.strace").read_text() for side in ("server", "client")])
    sections = [
        Section(
            "pipe",
            "fork + two pipes",
            "a pipe is one-way",
            "ok",
            ['client[1]: sent "hello"'],
            trace=pipe,
            page="pipe.steps.html",
            own="pipe.html",
        ),  # fmt: skip
        Section(
            "both-read-first",
            "fork + two pipes, broken",
            "both sides read first",
            "deadlocked, as it should",
            diagnosis="client waits for server; server waits for client",
            trace=deadlock,
            own="both-read-first.html",
        ),  # fmt: skip
        Section("tcp4", "TCP over IPv4 loopback", "ports", "ok", trace=tcp, own="tcp4.html"),
        Section("showip", "getaddrinfo", "names", "skipped: no strace", why_no_picture="strace is missing"),
    ]
    with tempfile.TemporaryDirectory() as directory, Browser() as browser:
        for number, section in enumerate(sections[:3]):
            write(directory, section.own, render_demo(section, "index.html", number))
        tab = browser.open(write(directory, "index.html", render_report(sections)), 1400, 1000)
        found = tab.evaluate("""Array.from(document.querySelectorAll('tr[data-demo]')).map(r => [
            r.dataset.demo, r.querySelector('.verdict').textContent, r.querySelectorAll('svg').length])""")
        assert found == [
            ["pipe", "ok", 1],
            ["both-read-first", "deadlocked, as it should", 1],
            ["tcp4", "ok", 1],
            ["showip", "skipped: no strace", 0],
        ]
        colours = tab.evaluate("Array.from(document.querySelectorAll('tr[data-demo] .verdict'))"
                               ".map(v => getComputedStyle(v).backgroundColor)")  # fmt: skip
        assert colours[0] == colours[2] != colours[1]  # a deadlock as it should is not a working exchange's green
        clean(tab)
        shot(tab, "report-contents.png")
        tab.go(tab.evaluate("document.querySelector('tr[data-demo=\"both-read-first\"] a').href"))
        assert tab.evaluate("document.querySelectorAll('.waits-for.in-cycle').length") == 2
        assert tab.evaluate("document.querySelector('nav.back a').getAttribute('href')") == "index.html"
        clean(tab)
        shot(tab, "report-demo.png")
        # The check itself can fail: a page that asks for something outside is caught.
        tab.go(write(directory, "bad.html", '<img src="http://127.0.0.1:9/x.png"><script>console.error("x")</script>'))
        assert any(url.startswith("http://127.0.0.1:9/") for url in tab.requests()) and tab.problems()


@pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")
def test_pages_of_real_traces_the_pipe_demo_and_a_deadlock():
    from ipc.trace import runner

    pipe = runner.trace_command([sys.executable, str(ROOT / "demos" / "pipe_fork.py")], timeout=30).trace
    broken = watch(
        [sys.executable, str(ROOT / "demos" / "broken" / "both_read_first.py")],
        err=io.BytesIO(),
        report=io.StringIO(),
        trace=True,
        timeout=30,
    )
    assert broken.why_ended == "deadlock" and broken.stopped is not None
    with tempfile.TemporaryDirectory() as directory, Browser() as browser:
        check_pipe_page(
            pipe,
            write(directory, "pipe.html", page.render(pipe, title="ipc trace pipe")),
            browser.open,
            "page-pipe.png",
        )
        tab = browser.open(write(directory, "broken.html", page.render(broken.stopped, title="both-read-first")))
        tab.key("End")
        seen = tab.evaluate(SEEN)
        assert all(p["status"].startswith("blocked in read fd ") for p in seen["processes"])
        assert len(tab.evaluate("Array.from(document.querySelectorAll('.waits-for.in-cycle'))")) == 2
        clean(tab)
        shot(tab, "page-deadlock.png")


def test_text_is_measured_as_chromium_draws_it():
    """svg.text_boxes (the font's own widths, no browser) against Chromium's getBBox of every text."""
    import xml.etree.ElementTree as ET

    trace = build([(TRACES / f"tcp.{side}.strace").read_text() for side in ("server", "client")])
    text = svg.render(trace, title="tcp: Grüße → 127.0.0.1")
    measured = svg.text_boxes(ET.fromstring(text))
    with tempfile.TemporaryDirectory() as directory, Browser() as browser:
        tab = browser.open(write(directory, "tcp.svg", text), 1400, 1000)
        drawn = tab.evaluate(
            "Array.from(document.querySelectorAll('text')).filter(t => t.textContent.trim()).map(t => {"
            "const b = t.getBBox(); return [b.x, b.x + b.width, t.textContent]})"
        )
    assert [box[4] for box in measured] == [words for _, _, words in drawn]
    for (x0, _, x1, _, words), (left, right, _) in zip(measured, drawn):
        assert abs(left - x0) <= 2 and -8 <= right - x1 <= 2, words  # never drawn wider than measured


CODE = """(() => Array.from(document.querySelectorAll("#processes .process")).map(p => {
  const code = p.querySelector(".code"), lit = code ? code.querySelector("li.reached") : null;
  const list = code ? code.querySelector("ol.lines") : null;
  return {
    name: p.querySelector("h3").firstChild.textContent,
    kind: code ? code.className.replace("code", "").trim() : null,
    file: code ? code.querySelector(".code-head .file").textContent : null,
    line: lit ? lit.textContent : null,
    number: lit ? Array.from(list.children).indexOf(lit) + 1 : null,
    inSight: lit ? lit.offsetTop >= list.scrollTop && lit.offsetTop + lit.offsetHeight <= list.scrollTop
                     + list.clientHeight : null,
    library: code && code.querySelector("details.library") ? code.querySelector("details.library summary").textContent
             : null};
}))()"""


@pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")
def test_the_step_page_shows_each_processs_code_with_the_line_of_each_step_lit():
    """ipc trace pipe --html, as the CLI traces it (from each program's main()): at three steps, each process's
    card shows its file scrolled to its line, lit for this step's process and marked where the other is blocked;
    the lines read from demos/pipe_fork.py here; clicking a line selects the step it made, clicking a row its
    line. Then a broken demo's page: both processes blocked, each on its read's line."""
    from ipc import catalog
    from ipc.harness import run_demo

    result = run_demo(catalog.find(["pipe"])[0], trace=True, fix=False)
    broken = run_demo(catalog.find(["both-read-first"])[0], trace=True, fix=False)
    assert result.ok and broken.ok, (result.problems, broken.problems)
    trace = result.trace
    demo = (ROOT / "demos" / "pipe_fork.py").read_text().splitlines()
    client = next(p.pid for p in trace.processes.values() if p.role == "client")
    server = next(p.pid for p in trace.processes.values() if p.role == "server")
    moments = {
        "fork": step_of(trace, client, "clone"),
        "read": step_of(trace, client, "read"),  # the client blocks reading its first reply
        "reply": step_of(trace, server, "write"),
    }
    with tempfile.TemporaryDirectory() as directory, Browser(1280, 800) as browser:
        url = write(directory, "pipe.html", page.render(trace, title="ipc trace pipe"))
        [opening] = browser.open(url).evaluate(CODE)  # step 1, the execve: its file is there, its first call ahead
        first = next(call for call in trace.calls if call.source is not None)
        assert (opening["kind"], opening["number"]) == ("ahead", first.source.line)
        assert opening["line"] == demo[first.source.line - 1] and "os.pipe()" in opening["line"]
        for what, number in moments.items():
            tab = browser.open(f"{url}#step={number}")
            call = trace.calls[trace.steps[number - 1].call]
            cards = {card["name"]: card for card in tab.evaluate(CODE)}
            mine = cards[trace.processes[call.pid].label]
            assert mine["kind"] == ("here blocked" if what == "read" else "here"), what
            assert mine["file"] == f"demos/pipe_fork.py:{call.source.line}", what
            assert mine["line"] == demo[call.source.line - 1] and mine["number"] == call.source.line and mine["inSight"]
            event = tab.evaluate("document.getElementById('event-source').textContent")
            assert event == f"pipe_fork.py:{call.source.line}{demo[call.source.line - 1].strip()}", what
            other = cards[trace.processes[server if call.pid == client else client].label]
            if what == "reply":  # the client waits in its read meanwhile: marked where
                receive = next(
                    line for line in demo if ".receive()" in line and "reply" in line
                )  # its read, as written
                assert other["kind"] == "blocked" and other["line"] == receive
                assert other["library"].startswith("made inside MessageReader.receive (stream.py:")
            if what == "fork":  # the child begins where its parent forked it
                assert other["kind"] == "last" and other["line"].strip() == "pid = os.fork()"
            clean(tab)
            shot(tab, f"page-code-{what}.png")
        # A line that made calls selects the next step it made; a row selects its step, and so its line.
        waitpid = next(n for n, line in enumerate(demo, 1) if "os.waitpid(" in line)
        tab.evaluate(f"document.querySelectorAll('#processes .process')[0].querySelectorAll('li')[{waitpid - 1}]"
                     ".click()")  # fmt: skip
        position = int(tab.evaluate("document.getElementById('position').textContent").split()[1])
        assert trace.calls[trace.steps[position - 1].call].name == "wait4"
        tab.evaluate(f"document.querySelector('#diagram [data-step=\"{moments['fork']}\"]')"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")  # fmt: skip
        cards = {card["name"]: card for card in tab.evaluate(CODE)}
        assert cards[trace.processes[client].label]["line"].strip() == "pid = os.fork()"
        clean(tab)
        tab = browser.open(write(directory, "broken.html", page.render(broken.stopped, title="both-read-first")))
        tab.key("End")
        cards = tab.evaluate(CODE)
        script = (ROOT / "demos" / "broken" / "both_read_first.py").read_text().splitlines()
        assert sorted(card["kind"] for card in cards) == ["blocked", "here blocked"]  # (the last step blocks one)
        for card in cards:
            number = int(card["file"].rsplit(":", 1)[1])
            assert card["line"] == script[number - 1] and card["inSight"]
            assert (
                "read" in card["line"]
                or "receive" in card["line"]
                or (card["library"] or "").startswith("made inside MessageReader")
            )
        clean(tab)
        shot(tab, "page-code-deadlock.png")
