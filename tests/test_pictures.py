"""The pictures of a trace (SVG, Perfetto, Mermaid, the report page), drawn from recorded strace fixtures.

No tracing and no browser here (tests/test_pictures_browser.py opens the
pages in Chromium): each model is built from tests/traces, so these run fast.
"""

import json
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pictures_check import mermaid_grammar, overlaps
from support import why_no_strace

from ipc.cli import main
from ipc.trace import build, mermaid, page, perfetto, picture, svg
from ipc.trace.report import Section, name_objects, object_names, render_demo, render_report
from ipc.trace.scene import layout

TRACES = Path(__file__).resolve().parent / "traces"
SVG = "{http://www.w3.org/2000/svg}"
REQUESTS = ['"hello\\n"', '"how are you?\\n"', '"Grüße aus der Pipe\\n"', '"bye\\n"']
REPLIES = ['"1 HELLO\\n"', '"2 HOW ARE YOU?\\n"', '"3 GRÜSSE AUS DER PIPE\\n"', '"4 BYE\\n"']


def load(*names: str):
    return build([(TRACES / f"{name}.strace").read_text() for name in names])


@pytest.fixture(scope="module")
def pipe():
    return load("pipe_fork")


@pytest.fixture(scope="module")
def deadlock():
    return load("both_read_first.blocked")  # cut while both reads wait: the lanes as they froze


def rows(root, kind: str) -> list:
    return [g for g in root.iter(f"{SVG}g") if g.get("class", "").split()[:2] == ["row", kind]]


def texts(element) -> str:
    return "".join(element.itertext())


def test_svg_parses_as_xml_with_one_arrow_per_message_labelled_with_its_bytes(pipe):
    root = ET.fromstring(svg.render(pipe, title="pipe"))
    assert root.tag == f"{SVG}svg" and root.get("viewBox").startswith("0 0 1280 ")
    arrows = rows(root, "message")
    assert len(arrows) == len(pipe.messages) == 8
    labels = [texts(a.find(f".//{SVG}tspan[@class='bytes']")) for a in arrows]
    assert labels == [b for pair in zip(REQUESTS, REPLIES) for b in pair]  # request, reply, in the kernel's order
    assert [texts(a).split(" · ")[-1] for a in arrows] == ["pipe #1", "pipe #2"] * 4
    lanes = [texts(t) for t in root.iter(f"{SVG}text") if t.get("class") == "lane-name"]
    assert [re.sub(r"\d+", "N", lane) for lane in lanes] == ["client[N]", "server[N]"]


def test_svg_marks_fork_exec_exit_wait_end_of_file_and_blocked_bars(pipe):
    root = ET.fromstring(svg.render(pipe))
    assert [texts(g) for g in rows(root, "fork")] == ["fork"]
    assert [texts(g) for g in rows(root, "eof")] == ["end of file · pipe #1"]
    assert [texts(g) for g in rows(root, "reap")] == ["exited 0 → waitpid"]
    assert len(rows(root, "exit")) == 2 and all("exited 0" in texts(g) for g in rows(root, "exit"))
    assert "execve" in texts(rows(root, "call")[0])
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class", "").startswith("bar")]
    assert len(bars) == len([w for w in pipe.waits if not pipe.calls[w.call].noise]) == 9
    assert all(float(bar.get("height")) > 0 and "blocked" in texts(bar) for bar in bars)
    returns = [texts(g) for g in rows(root, "return")]
    assert any("ms, until client[" in text for text in returns)  # its length and what ended it
    steps = [int(g.get("data-step")) for g in root.iter(f"{SVG}g") if g.get("data-step")]
    assert steps == list(range(1, len(pipe.steps) + 1))  # a row for every step, in order


def test_svg_has_no_script_no_external_reference_and_no_font_to_fetch(pipe):
    text = svg.render(pipe)
    assert "<script" not in text and "@import" not in text and "url(http" not in text and "href=" not in text
    assert re.findall(r"url\(#([\w-]+)\)", text) and all(
        f'id="{ref}"' in text for ref in re.findall(r"url\(#([\w-]+)\)", text)
    )


def test_a_deadlock_is_drawn_with_its_blocked_calls_and_the_cycle(deadlock):
    root = ET.fromstring(svg.render(deadlock))
    stuck = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar stuck"]
    assert len(stuck) == 2  # both reads, blocked to the end of their lanes
    [band] = [g for g in root.iter(f"{SVG}g") if g.get("class") == "deadlock"]
    assert texts(band).startswith("Deadlock")
    edges = [texts(g) for g in band.iter(f"{SVG}g") if g.get("class") == "waits-for in-cycle"]
    assert [re.sub(r"\[\d+\]", "[N]", e) for e in edges] == [
        "client[N] waits for server[N]read fd 5 (pipe #2) — fd 6, pipe #2's write end",
        "server[N] waits for client[N]read fd 3 (pipe #1) — fd 4, pipe #1's write end",
    ]


def test_no_cycle_is_drawn_where_nothing_is_left_blocked(pipe):
    assert "waits-for" not in svg.render(pipe) and not layout(pipe).edges


def test_two_straces_merged_draw_both_programs_and_their_messages():
    trace = load("tcp.server", "tcp.client")
    root = ET.fromstring(svg.render(trace))
    assert len(rows(root, "message")) == len(trace.messages) == 8
    assert len(rows(root, "wake")) == 1 and texts(rows(root, "wake")[0]).startswith("connect · TCP listener")


def test_fan_out_and_fan_in_each_part_is_an_arrow():
    trace = load("stream_boundaries")
    root = ET.fromstring(svg.render(trace))
    labels = [texts(g) for g in rows(root, "message")]
    assert len(labels) == len(trace.messages) and any("(part 1 of 2)" in label for label in labels)


def test_a_long_run_is_cut_in_the_middle_and_says_so(pipe):
    root = ET.fromstring(svg.render(pipe, rows=20))
    [fold] = rows(root, "fold")
    scene = layout(pipe, 20)
    assert f"{scene.left_out} steps left out here" in texts(fold) and scene.left_out > 0
    assert len(rows(root, "message")) + scene.left_out_messages == 8
    assert "--json" in texts(fold)


def test_a_cut_anywhere_still_draws(deadlock):
    """Wherever the cut falls (a process cut out whole, a bar that crosses it), the picture is drawn."""
    for trace in (deadlock, load("sigpipe_shell"), load("tcp.server", "tcp.client")):
        for limit in range(2, 40):
            ET.fromstring(svg.render(trace, rows=limit))
            if limit % 6 == 0:
                assert 'id="trace-data"' in page.render(trace, rows=limit)


def test_text_that_xml_cannot_hold_is_left_out():
    trace = load("pipe_fork")
    trace.messages[0].data = b"\x00\x1b[31m\xff\xfe<&>\n"
    root = ET.fromstring(svg.render(trace))
    assert "<&>" in texts(rows(root, "message")[0])


def test_an_empty_trace_still_draws_every_picture():
    trace = build([""])
    ET.fromstring(svg.render(trace))
    assert "nothing was traced" in page.render(trace) and mermaid.render(trace) == "sequenceDiagram\n"
    assert perfetto.to_perfetto(trace)["traceEvents"] == []


def test_perfetto_json_names_processes_and_has_a_flow_pair_per_message(pipe):
    data = json.loads(json.dumps(perfetto.to_perfetto(pipe)))
    events = data["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert set(names) == set(pipe.processes) and all(re.match(r"(client|server)\[\d+\]", n) for n in names.values())
    slices = [e for e in events if e["ph"] == "X"]
    assert slices and all(e["dur"] > 0 and isinstance(e["ts"], float) for e in slices)
    blocked = [e for e in slices if e["cat"] == "blocked"]
    assert len(blocked) == 9 and all("ended by" in e["args"] for e in blocked)
    starts = [e for e in events if e["ph"] == "s"]
    ends = [e for e in events if e["ph"] == "f"]
    assert len(starts) == len(ends) == len(pipe.messages)
    assert all(isinstance(e["id"], int) for e in starts + ends) and len({e["id"] for e in starts}) == len(starts)
    for start in starts:  # each end has the same id, cat and name, binds to its slice, and lies inside a slice
        [end] = [e for e in ends if e["id"] == start["id"]]
        assert (end["cat"], end["name"], end["bp"]) == (start["cat"], start["name"], "e")
        for flow in (start, end):
            assert any(s["tid"] == flow["tid"] and s["ts"] <= flow["ts"] <= s["ts"] + s["dur"] for s in slices)
    instants = {e["name"].split()[0] for e in events if e["ph"] == "i"}
    assert {"fork", "execve", "exited"} <= instants


def test_perfetto_draws_a_deadlocks_waits_for_as_flows(deadlock):
    events = perfetto.to_perfetto(deadlock)["traceEvents"]
    waits = [e for e in events if e["ph"] == "s" and e["cat"] == "waits-for"]
    assert len(waits) == 2 and all(e["name"].startswith("waits for ") for e in waits)


def test_mermaid_has_a_line_per_message_and_notes_for_blocks(pipe):
    text = mermaid.render(pipe, title="pipe")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert [re.sub(r"\d+", "N", line) for line in lines if line.strip().startswith("participant")] == [
        "    participant PN as client[N]",
        "    participant PN as server[N]",
    ]
    messages = [line for line in lines if re.match(r"\s+P\d+->>P\d+: ", line)]
    assert len(messages) == len(pipe.messages) == 8
    assert messages[0].endswith(": “hello\\n” · pipe #35;1")  # Mermaid cuts a text at a bare #
    assert sum("Note over" in line and "blocked" in line for line in lines) == 9
    assert not any(";" in line.replace("#35;", "").replace("#59;", "") for line in lines)


def test_mermaid_deadlock_and_a_long_run_cut(deadlock, pipe):
    text = mermaid.render(deadlock)
    assert "deadlock: each blocked call waits for a process that is blocked itself" in text and text.count("--x") == 2
    cut = mermaid.render(pipe, messages=4)
    assert len(re.findall(r"P\d+->>P\d+", cut)) == 4 and "4 messages left out here" in cut


def test_page_holds_the_state_of_every_step_and_no_reference_outside(pipe):
    html = page.render(pipe, title="ipc trace pipe")
    assert (
        "<script src" not in html
        and "<link" not in html
        and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    )
    data = json.loads(
        re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', html, re.S)
        .group(1)
        .replace("<\\/", "</")
    )
    steps = data["steps"]
    assert [s["n"] for s in steps] == list(range(1, len(pipe.steps) + 1))

    def table(step: int, pid_index: int) -> dict:
        pid, number, *_ = steps[step - 1]["procs"][pid_index]
        return {fd: what for fd, what, _ in data["tables"][number] if what.startswith("pipe")}

    ends = {3: "pipe #1 read end", 4: "pipe #1 write end", 5: "pipe #2 read end", 6: "pipe #2 write end"}
    assert table(4, 0) == table(4, 1) == ends  # after pipe2 twice and clone: both hold all four ends
    assert table(8, 0) == {4: ends[4], 5: ends[5]} and table(8, 1) == {3: ends[3], 6: ends[6]}  # after the closes
    assert steps[8]["flight"] == [[f"pipe #1: {steps[0]['who']} → {steps[6]['who']}", '"hello\\n"', "6 bytes"]]


def report_sections(pipe, deadlock) -> list:
    return [
        Section(
            "pipe",
            "fork + two pipes",
            "a pipe is one-way",
            "ok",
            ['client[1]: sent "hello"'],
            trace=pipe,
            page="pipe.steps.html",
            details={"messages": 8},
            own="pipe.html",
        ),
        Section(
            "both-read-first",
            "fork + two pipes, broken",
            "both read first",
            "deadlocked, as it should",
            diagnosis="fd 5 is the read end of pipe:[177820], empty; pipe:[177820] again",
            trace=deadlock,
            own="both-read-first.html",
        ),
        Section("byte-order", "htons", "byte order", "skipped: no strace here", why_no_picture="no strace"),
    ]


def test_report_is_a_contents_page_with_a_row_per_demo_and_a_page_for_each(pipe, deadlock):
    sections = report_sections(pipe, deadlock)
    html = render_report(sections)
    root = ET.fromstring(html.replace("<!DOCTYPE html>", ""))  # the page is well-formed XML too
    table = [row for row in root.iter("tr") if row.get("data-demo")]
    assert [row.get("data-demo") for row in table] == ["pipe", "both-read-first", "byte-order"]
    verdicts = [span.get("class") for row in table for span in row.iter("span") if "verdict" in span.get("class")]
    assert verdicts == ["verdict ok", "verdict deadlocked", "verdict skipped"]  # not the same green "ok"
    assert [a.get("href") for a in table[0].iter("a")] == ["pipe.html", "pipe.html", "pipe.steps.html"]
    assert [len(list(row.iter(f"{SVG}svg"))) for row in table] == [1, 1, 0]  # a thumbnail of each picture
    sections_inline = [s for s in root.iter("section") if s.get("class") == "demo"]
    assert [s.get("data-demo") for s in sections_inline] == ["byte-order"]  # no page of its own: inline
    assert "deadlocked, as they should" in html and "<script" not in html
    assert len(html) < 60_000 and sum(1 for _ in root.iter(f"{SVG}text")) == 0  # small: no picture's words
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    own = render_demo(sections[1], "index.html", 1)
    page_root = ET.fromstring(own.replace("<!DOCTYPE html>", ""))
    assert [a.get("href") for a in page_root.iter("a")][:1] == ["index.html"]  # back to the contents
    assert len([g for g in page_root.iter(f"{SVG}g") if g.get("class") == "waits-for in-cycle"]) == 2
    [diagnosis] = [pre for pre in page_root.iter("pre") if pre.get("class") == "diagnosis"]
    label = next(o.label for o in deadlock.objects.values() if o.inode == 177820)
    assert diagnosis.text == f"fd 5 is the read end of {label} (pipe:[177820]), empty; {label} again"
    steps = page.render(deadlock, links=(("index.html", "every demo"), ("both-read-first.html", "its page")))
    assert 'href="index.html"' in steps and 'href="both-read-first.html"' in steps


def test_diagnosis_names_tcp_connections_as_the_picture():
    trace = load("tcp.server", "tcp.client")
    names = object_names(trace)
    [tcp] = [o for o in trace.objects.values() if o.kind == "tcp" and o.remote and o.local.endswith(":39483")]
    text = f"fd 4 is a TCP socket {tcp.local} -> {tcp.remote}, nothing to read; again {tcp.local} -> {tcp.remote}"
    assert name_objects(text, names) == (
        f"fd 4 is a TCP socket {tcp.local} -> {tcp.remote} ({tcp.label}), nothing to read; "
        f"again {tcp.local} -> {tcp.remote}"
    )


def test_cli_writes_every_picture_and_says_when_it_cannot(capsys, monkeypatch):
    from ipc import watch

    monkeypatch.setattr(watch, "watch", lambda argv, **_: watch.Outcome(0, None, 0.1, [], trace=load("pipe_fork")))
    with tempfile.TemporaryDirectory() as directory:
        paths = {option: Path(directory, f"pipe.{option}") for option in ("svg", "html", "perfetto", "mermaid")}
        argv = ["trace", *[arg for option, path in paths.items() for arg in (f"--{option}", str(path))], "--", "x"]
        assert main(argv) == 0
        assert all(path.stat().st_size > 1000 for path in paths.values())
        ET.parse(paths["svg"])
        assert json.loads(paths["perfetto"].read_text())["traceEvents"]
        assert main(["trace", "--svg", str(Path(directory, "none", "a.svg")), "--", "x"]) == 2
    assert capsys.readouterr().err.strip().endswith("a.svg: No such file or directory")


def structure(text: str) -> dict:
    """What a picture of the pipe demo shows that does not change from run to run (not pids, times, interleaving)."""
    root = ET.fromstring(text)
    found = {
        "width": root.get("viewBox").split()[2],
        "lanes": [re.sub(r"\d+", "N", texts(t)) for t in root.iter(f"{SVG}text") if t.get("class") == "lane-name"],
        "kinds": sorted({g.get("class") for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("row ")}),
        "classes": sorted({e.get("class") for e in root.iter() if e.get("class")} - {"row start", "row return"}),
        "summary": [texts(t) for t in root.iter(f"{SVG}text") if t.get("class") == "summary"][:1],
    }
    for kind in ("message", "fork", "eof", "reap"):
        found[kind] = sorted(re.sub(r"\[\d+\]", "[N]", texts(g)) for g in rows(root, kind))
    return found


@pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")
def test_the_committed_svg_is_what_make_pictures_draws_today():
    """docs/pipe.svg (the README's picture) against a fresh trace of the pipe demo: redraw it with make pictures."""
    import sys

    from ipc.trace import runner

    root = Path(__file__).resolve().parents[1]
    fresh = svg.render(
        runner.trace_command([sys.executable, str(root / "demos" / "pipe_fork.py")], timeout=30).trace,
        title="ipc trace pipe",
    )
    committed = (root / "docs" / "pipe.svg").read_text(encoding="utf-8")
    assert structure(committed) == structure(fresh), "docs/pipe.svg is out of date: run make pictures"


@pytest.fixture(scope="module")
def seen():
    return load("both_read_first.seen")  # as the harness saw it when it diagnosed the deadlock, 200 ms on


def test_mermaid_declares_every_process_and_draws_a_deadlocks_waits(deadlock, seen):
    for trace in (deadlock, seen):
        text = mermaid.render(trace, title="both-read-first")
        declared = re.findall(r"^    participant P\d+ as (.+)$", text, re.M)
        assert sorted(declared) == sorted(p.label for p in trace.processes.values())
        assert mermaid_grammar(text) == []
        assert len(re.findall(r"^    P\d+--xP\d+: in read fd \d \(pipe #35;\d\), waits for ", text, re.M)) == 2
        assert re.search(r"^    %% cycle: P\d+ P\d+$", text, re.M)
        stuck = re.findall(r"^    Note over P\d+: read fd \d \(pipe #35;\d\): (.*)$", text, re.M)
        assert len(stuck) == 2 and all("still blocked" in note for note in stuck)
    assert re.search(r"blocked (2\d\d|1\d\d) ms, still blocked", mermaid.render(seen))  # how long, once known
    assert mermaid_grammar("sequenceDiagram\n    P1->>P9: x\n") == ["    P1->>P9: x"]  # the check can fail
    assert mermaid_grammar("sequenceDiagram\n    participant P1 as a\n    P1->>P1: pipe #1\n") != []


def test_perfetto_a_call_blocked_at_the_end_lasts_until_the_end_and_no_flow_runs_backwards(pipe, deadlock, seen):
    for trace in (pipe, deadlock, seen):
        events = perfetto.to_perfetto(trace)["traceEvents"]
        stuck = [
            e for e in events if e["ph"] == "X" and e["cat"] == "blocked" and e["args"]["ended by"].startswith("still")
        ]
        assert len(stuck) == (0 if trace is pipe else 2)
        assert all(e["ts"] + e["dur"] >= trace.end * perfetto.US - 1 for e in stuck)
        starts = {e["id"]: e for e in events if e["ph"] == "s"}
        ends = {e["id"]: e for e in events if e["ph"] == "f"}
        assert starts.keys() == ends.keys() and all(ends[n]["ts"] >= starts[n]["ts"] for n in starts)
    events = perfetto.to_perfetto(seen)["traceEvents"]
    durations = sorted(e["dur"] for e in events if e["ph"] == "X" and e["cat"] == "blocked")
    assert durations[0] > 150_000  # µs: the last to block waited until the deadlock was seen, not 1 µs
    assert len([e for e in events if e["ph"] == "s" and e["cat"] == "waits-for"]) == 2


def test_a_half_close_is_not_called_a_close_and_a_non_blocking_connect_is_not_a_failure():
    trace = load("half_close")
    [wait] = trace.waits
    assert "shut down (SHUT_WR) its sending side of unix #1" in wait.reason and "closed" not in wait.reason
    root = ET.fromstring(svg.render(trace))
    connects = [g for g in root.iter(f"{SVG}g") if "connect fd" in texts(g)]
    assert len(connects) == 2
    styled = {texts(g).split("= -1 ")[1].split()[0]: [t.get("class") for t in g.iter(f"{SVG}tspan")] for g in connects}
    assert "error" not in styled["EINPROGRESS"] and "error" in styled["ECONNREFUSED"]
    coloured = picture.render(trace, width=200, colour=True)
    [started] = [line for line in coloured.splitlines() if "EINPROGRESS" in line]
    [refused] = [line for line in coloured.splitlines() if "ECONNREFUSED" in line]
    assert "\x1b[0;31m" not in started and "\x1b[0;31m" in refused


RECORDED = [
    ("pipe_fork",),
    ("both_read_first",),
    ("both_read_first.blocked",),
    ("both_read_first.seen",),
    ("shell_pipeline",),
    ("sigpipe_shell",),
    ("stream_boundaries",),
    ("tcp.server", "tcp.client"),
    ("unix.server", "unix.client"),
    ("udp.server", "udp.client"),
    ("unix_dgram.server", "unix_dgram.client"),
    ("half_close",),
]


@pytest.mark.parametrize("names", RECORDED, ids=lambda names: "+".join(names))
def test_no_text_meets_another_text_a_lifeline_or_a_bar(names):
    trace = load(*names)
    for width in (1280, 880, 640):
        for rows in (None, 12):
            assert overlaps(svg.render(trace, title=" + ".join(names), width=width, rows=rows)) == []


def test_the_overlap_check_can_fail(pipe):
    text = svg.render(pipe)
    crossing = text.replace('x="116.0"', 'x="96.0"', 1)  # a label moved onto its own lifeline
    assert crossing != text and overlaps(crossing)
    doubled = text.replace("</svg>", '<text x="24" y="32.0" class="title">again</text></svg>')
    assert ("again", "pipe") in [(b, a) for a, b in overlaps(doubled)] or overlaps(doubled)


@pytest.fixture(scope="module")
def threaded():
    return load("http_client_reads_first.server", "http_client_reads_first.client")  # a server thread blocks


def test_a_thread_has_a_lane_of_its_own_in_every_picture(threaded):
    server = next(p for p in threaded.processes.values() if p.role == "server")
    [tid] = [t for t in server.threads if t != server.pid]
    name = f"server[{server.pid}/{tid}]"
    scene = layout(threaded)
    assert scene.lanes[tid].label == name and scene.lanes[tid].slot == scene.lanes[server.pid].slot
    [read] = [r for r in scene.rows if r.kind == "start" and r.text.startswith("recvfrom (recv) fd 4")]
    assert read.pid == tid  # drawn in the thread's lane, not its process's
    root = ET.fromstring(svg.render(threaded))
    lines = {
        int(line.get("data-lane")): float(line.get("x1")) for line in root.iter(f"{SVG}line") if line.get("data-lane")
    }
    assert lines[tid] > lines[server.pid] and overlaps(svg.render(threaded)) == []
    assert [texts(g) for g in rows(root, "begin") if name in texts(g)] == [f"{name}a thread of {server.label}"]
    [bar] = [b for b in scene.bars if b.tid == tid]
    assert bar.pid == tid and bar.stuck
    terminal = picture.render(threaded, width=150).splitlines()
    [named] = [line for line in terminal if name in line]
    [own] = [line for line in terminal if "recvfrom (recv) fd 4" in line]
    [main] = [line for line in terminal if "clone3 (thread)" in line]
    assert own.index("├") > main.index("├")  # its own column beside the process's
    assert named.index(name) == own.index("recvfrom")
    text = mermaid.render(threaded)
    assert f"participant P2 as {name}" in text and re.search(r"Note over P2: recvfrom fd 4 .*still blocked", text)
    assert mermaid_grammar(text) == []
    events = perfetto.to_perfetto(threaded)["traceEvents"]
    assert {"name": "thread_name", "tid": tid} | {"args": {"name": name}} in [
        {"name": e["name"], "tid": e["tid"], "args": e["args"]} for e in events if e["ph"] == "M"
    ]


def test_slides_a_range_of_steps_fitted_to_a_slide_text_still_text():
    trace = load("tcp.server", "tcp.client")
    scene = layout(trace, None, (10, 25))
    assert [row.text for row in scene.rows if row.kind == "fold"] == [
        "steps 1 to 9 left out",
        f"steps 26 to {len(trace.steps)} left out",
    ]
    assert {row.step + 1 for row in scene.rows if row.step is not None} == set(range(10, 26))
    for theme in svg.THEMES.values():
        counts = []
        for height in (1600, 720, 360):  # one slide, then more
            drawn = svg.slides(scene, width=1280, height=height, title="tcp", theme=theme)
            counts.append(len(drawn))
            steps = set()
            for text in drawn:
                root = ET.fromstring(text)
                assert (root.get("width"), root.get("height")) == ("1280", str(height))
                _, _, w, h = map(float, root.get("viewBox").split())
                assert abs(w / h - 1280 / height) < 0.01 and overlaps(text) == []
                steps |= {int(g.get("data-step")) for g in root.iter(f"{SVG}g") if g.get("data-step")}
                assert any(t.get("class") == "lane-name" for t in root.iter(f"{SVG}text"))  # the lanes named on each
                assert f'fill="{theme.background}"' in text
            assert steps == set(range(10, 26))
        assert counts[0] == 1 and counts[0] <= counts[1] < counts[2]
    assert '"hello\\n"' in "".join(svg.slides(scene, width=1280, height=720))  # the bytes as text, searchable


def test_cli_draws_slides_and_refuses_a_wrong_range(capsys, monkeypatch):
    from ipc import watch

    monkeypatch.setattr(watch, "watch", lambda argv, **_: watch.Outcome(0, None, 0.1, [], trace=load("pipe_fork")))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "s.svg")
        argv = ["trace", "--svg", str(path), "--steps", "3-40", "--fit", "800x300", "--theme", "dark", "--", "x"]
        assert main(argv) == 0
        files = sorted(Path(directory).glob("s-*.svg"))
        assert len(files) > 1 and not path.exists()
        assert f"{len(files)} slides of 800x300: " in capsys.readouterr().out
        assert all(ET.parse(f).getroot().get("height") == "300" for f in files)
        assert main(["trace", "--svg", str(path), "--steps", "3-40", "--", "x"]) == 0 and path.exists()
    for wrong in (["--steps", "9-3"], ["--steps", "x"], ["--fit", "12x5"], ["--theme", "pink"]):
        with pytest.raises(SystemExit) as stop:
            main(["trace", "--svg", "s.svg", *wrong, "--", "x"])
        assert stop.value.code == 2


def test_an_fd_passed_over_a_unix_socket_is_drawn_as_an_fd_not_as_bytes():
    """SCM_RIGHTS: an arrow from the sendmsg to the recvmsg that carries the fd itself, its end named."""
    trace = load("scm_rights")
    root = ET.fromstring(svg.render(trace))
    [arrow] = rows(root, "pass")
    assert texts(arrow) == "fd 4 → fd 3: pipe #1 read end · SCM_RIGHTS"
    assert 'stroke-dasharray="12 3 2 3"' in ET.tostring(arrow, encoding="unicode")  # a line of its own kind
    assert "fd 4 → fd 3: pipe #1 read end · SCM_RIGHTS" in picture.render(trace, width=160, colour=False)
    assert not overlaps(svg.render(trace))


def test_bytes_the_kernel_moved_without_user_memory_are_drawn_as_zero_copy(pipe):
    """Every message of zero_copy has a splice, tee, sendfile, copy_file_range or vmsplice at one end; none of the
    pipe demo's does."""
    moved = [texts(row) for row in rows(ET.fromstring(svg.render(load("zero_copy"))), "message")]
    assert len(moved) == 8 and all("zero-copy" in text for text in moved)
    assert not any("zero-copy" in texts(row) for row in rows(ET.fromstring(svg.render(pipe)), "message"))
