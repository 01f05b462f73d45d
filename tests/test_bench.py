"""ipc bench is checked for correctness, never for speed: every mechanism and implementation runs
a tiny measurement with every byte checked; a corrupted byte or a lost frame fails the run; the C
reference builds and speaks the same frames as Python; the outputs are well-formed."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from ipc import cli
from ipc.bench import channels, chart, frames, loops, machine, reference, report, runner, stats
from ipc.bench.worker import LATENCY, THROUGHPUT, Spec, WorkerFailed, spawn

TINY = runner.Settings(workers=1, warmup_s=0.0, budget_s=0.003, value_s=0.003, values=1)
# 16 bytes is the smallest frame; 70,001 is more than a pipe holds and no multiple of a page, so reads and
# writes come back short and must be finished; it is also too big for UDP (a skip, with its reason).
SIZES = (16, 70001)
EXPECTED_SKIPS = ("latency only", "no flow control", "at most 65,507 bytes", "lines of at most 4096 bytes")


@pytest.fixture
def directory(leaves_nothing_behind):
    """A private directory inside the test's TMPDIR, removed afterwards (directory would outlive the test)."""
    path = tempfile.mkdtemp()
    yield path
    shutil.rmtree(path)


def segments_of_this_process() -> list:
    return glob.glob(f"/dev/shm/ipcbench-{os.getpid()}-*")


@pytest.fixture(scope="module")
def everything():
    """Every mechanism, implementation and path, both kinds, two sizes, once: about two seconds."""
    specs = runner.plan(runner.MECHANISMS, SIZES, TINY, placements=("unpinned",))
    specs += [
        replace(spec, placement=placement)
        for spec in specs
        if spec.mechanism == "pipe" and spec.size == 16 and spec.kind == LATENCY
        for placement in ("same-cpu", "two-cpus")
    ]
    return runner.run(specs, TINY)


def test_every_mechanism_and_implementation_completes_with_every_byte_checked(everything):
    seen = set()
    for outcome in everything:
        spec = outcome.spec
        if outcome.status == "skipped" and (
            any(why in outcome.reason for why in EXPECTED_SKIPS)
            or "one CPU" in outcome.reason
            or "C compiler" in outcome.reason
        ):
            continue
        assert outcome.status == "ok", f"{spec.label()}: {outcome.status}: {outcome.reason}"
        summary = runner.summary(outcome)
        if spec.kind == LATENCY:
            assert summary["samples"] >= 1 and summary["p50_us"] <= summary["p99_us"] <= summary["max_us"]
        else:
            assert summary["values"] == 1 and summary["median_mb_s"] > 0
        seen.add((spec.kind, spec.mechanism, spec.implementation, spec.path))
    for mechanism in runner.MECHANISMS:
        assert any(key[1] == mechanism for key in seen), f"{mechanism} never ran"
    if sys.platform.startswith("linux"):
        for path in ("bigpipe", "bigbuf", "splice", "splice+bigpipe", "sendfile"):
            assert any(key[3] == path for key in seen), f"the {path} path never ran"
    assert not segments_of_this_process(), "a shared memory segment was left behind"


def test_the_udp_stream_and_the_files_stream_are_skipped_with_a_reason(everything):
    reasons = {(o.spec.mechanism, o.spec.kind): o.reason for o in everything if o.status == "skipped"}
    assert "no flow control" in reasons[("udp", THROUGHPUT)]
    assert "latency only" in reasons[("files", THROUGHPUT)]


def test_the_report_json_and_svg_are_well_formed(everything):
    info = machine.describe()
    text = report.render(everything, info, elapsed=2.0, quick=True)
    assert "p50 µs" in text and "MB/s" in text and "Why (system calls and copies per message)" in text
    assert all(mechanism in text for mechanism in runner.MECHANISMS)
    document = json.loads(report.as_json(everything, info, TINY, 2.0, True))
    assert document["machine"]["cpus_online"] == os.cpu_count()
    assert len(document["results"]) == len(everything)
    assert {target["target"].split(" ")[0] for target in document["targets"]} >= {"raw", "project", "best", "1"}
    svg = chart.render(everything, info)
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("width") == str(chart.WIDTH)
    texts = " ".join(element.text or "" for element in root.iter() if element.tag.endswith("text"))
    assert "pipe" in texts and "shm-spin" in texts and "Round trip" in texts
    again = report.outcomes_from_json(document)  # what bench/redraw_chart.py does with a run's JSON
    assert chart.render(again, document["machine"]) == svg


@pytest.mark.tools  # cc, for the C side
def test_placements_pin_both_processes_or_say_why(everything):
    pinned = [o for o in everything if o.spec.placement != "unpinned"]
    assert {o.spec.placement for o in pinned} == {"same-cpu", "two-cpus"}
    for outcome in pinned:
        if outcome.status == "skipped" and outcome.reason.startswith("no C compiler (cc) on PATH"):
            continue  # the C side, with no compiler here: it says so, as a skip
        assert outcome.status == "ok" or "one CPU" in outcome.reason or "cannot pin" in outcome.reason


def tiny(kind: str, mechanism: str = "pipe", **changes) -> Spec:
    spec = Spec(kind, mechanism, "raw", 4096, warmup_s=0.0, budget_s=0.003, value_s=0.003, values=1)
    return replace(spec, **changes)


def test_a_corrupted_byte_in_a_round_trip_fails_the_run_by_its_checksum(directory):
    with pytest.raises(WorkerFailed, match="checksum differs"):
        spawn(tiny(LATENCY, inject=("corrupt", 25)), str(directory), deadline=20)


def test_a_corrupted_byte_in_a_stream_fails_the_run(directory):
    with pytest.raises(WorkerFailed, match=r"frame \d+: byte 4095 of 4096 is 0x.., 0x.. was sent"):
        spawn(tiny(THROUGHPUT, "socketpair", inject=("corrupt", 5)), str(directory), deadline=20)


def test_a_lost_frame_in_a_stream_fails_the_run(directory):
    with pytest.raises(WorkerFailed, match="frame 3 lost: frame 4 arrived in its place"):
        spawn(tiny(THROUGHPUT, "unix-dgram", inject=("lose", 3)), str(directory), deadline=20)


def test_a_lost_reply_ends_the_run_at_its_deadline_and_leaves_nothing_running(directory):
    with pytest.raises(WorkerFailed, match=r"no result within 1 s: a message was lost"):
        spawn(tiny(LATENCY, "udp", inject=("lose", 30)), str(directory), deadline=1)


def test_a_failed_measurement_is_reported_failed_and_gives_no_figure():
    settings = replace(TINY, deadline_s=20)
    [outcome] = runner.run([tiny(THROUGHPUT, "fifo", inject=("lose", 2))], settings)
    assert outcome.status == "failed" and "frame 2 lost" in outcome.reason
    assert runner.summary(outcome) is None
    text = report.render([outcome], machine.describe(), None, True)
    assert "FAILED: 1 measurements did not complete" in text


# The C reference ------------------------------------------------------------------------------


@pytest.fixture
def c_reference(directory):
    try:
        return reference.build(str(directory))
    except channels.Unsupported as why:
        pytest.skip(str(why))


def run_beside(c_argv: list, python_side, fds_for_c: tuple, python_end: channels.End) -> subprocess.CompletedProcess:
    """Start the C side on two pipe ends, run the Python side here on the two others."""
    process = subprocess.Popen(c_argv, pass_fds=fds_for_c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for fd in fds_for_c:
            os.close(fd)  # else neither side would ever see end of file
        python_side(python_end)
    finally:
        python_end.close()
        out, err = process.communicate(timeout=20)
    return subprocess.CompletedProcess(c_argv, process.returncode, out, err)


def pipes(c_role: str) -> tuple:
    """The C side's (read fd, write fd), and the Python side's End, over two pipes."""
    requests, replies = os.pipe(), os.pipe()
    if c_role == "client":
        return (replies[0], requests[1]), channels.fd_end(requests[0], replies[1])
    return (requests[0], replies[1]), channels.fd_end(replies[0], requests[1])


@pytest.mark.tools  # cc
def test_the_c_client_and_the_python_server_agree_on_frames_and_checksums(c_reference):
    size = 100
    c_fds, server = pipes("client")
    done = run_beside(
        [
            c_reference,
            "latency",
            "fds",
            str(size),
            "--role",
            "client",
            "--fds",
            "%d,%d" % c_fds,
            "--warmup-ms",
            "0",
            "--budget-ms",
            "2",
        ],
        lambda end: loops.raw_latency_server(end, size),
        c_fds,
        server,
    )
    assert done.returncode == 0, done.stderr
    figures = reference.parse(done.stdout)
    sent, received, count = figures["crc"]
    expected = 0
    for sequence in range(count):  # the C program's CRC-32 is zlib's, over the frames Python builds
        expected = zlib.crc32(frames.frame(sequence, size), expected)
    assert sent == received == expected
    assert len(figures["samples_ns"]) == count - loops.WARMUP_MIN


@pytest.mark.tools  # cc
def test_the_c_client_detects_a_byte_the_python_server_corrupted(c_reference):
    c_fds, server = pipes("client")
    done = run_beside(
        [
            c_reference,
            "latency",
            "fds",
            "64",
            "--role",
            "client",
            "--fds",
            "%d,%d" % c_fds,
            "--warmup-ms",
            "0",
            "--budget-ms",
            "2",
        ],
        lambda end: loops.raw_latency_server(end, 64, ("corrupt", 21)),
        c_fds,
        server,
    )
    assert done.returncode == 1 and "checksum differs" in done.stderr


@pytest.mark.tools  # cc
def test_the_python_client_reads_the_c_servers_streams_byte_for_byte(c_reference):
    size = 70001
    c_fds, client = pipes("server")
    values = []
    done = run_beside(
        [c_reference, "throughput", "fds", str(size), "--role", "server", "--fds", "%d,%d" % c_fds],
        lambda end: values.extend(loops.stream_values(end, size, 0.003, 1, 0.0)),
        c_fds,
        client,
    )
    assert done.returncode == 0, done.stderr
    assert values and values[0][0] % size == 0


@pytest.mark.tools  # cc
def test_the_c_reference_names_the_mechanisms_it_lacks(c_reference, directory):
    with pytest.raises(channels.Unsupported, match="no shm"):
        reference.run(c_reference, Spec(LATENCY, "shm", "c", 64), str(directory), 5)


def test_no_compiler_is_a_skip_that_says_how_to_get_one(monkeypatch, directory):
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(channels.Unsupported, match="apt-get install gcc"):
        reference.build(str(directory))


# Pure parts -----------------------------------------------------------------------------------


def test_a_header_that_is_off_says_lost_or_corrupt():
    size = 64
    later = frames.frame(7, size)
    assert str(frames.header_error(5, size, later)) == "frame 5 lost: frame 7 arrived in its place"
    assert "arrived again or out of order" in str(frames.header_error(9, size, later))
    shifted = later[1:] + b"\0"
    assert "header says" in str(frames.header_error(7, size, shifted))
    spoiled = bytearray(later)
    spoiled[40] ^= 0xFF
    assert str(frames.mismatch(7, later, spoiled)).startswith("frame 7: byte 40 of 64 is")


def test_the_payload_pattern_does_not_line_up_with_itself_shifted():
    data = frames.payload(5000)
    assert all(data[i:] != data[:-i] for i in range(1, 251)) and data[251:] == data[:-251]


def test_percentiles_are_nearest_rank_and_a_wide_spread_is_unstable():
    assert stats.percentile(list(range(1, 101)), 50) == 50
    assert stats.percentile(list(range(1, 101)), 99) == 99
    assert stats.percentile([7], 99) == 7
    steady = stats.latency_summary([[1000] * 10, [1050] * 10])
    assert steady["p50_us"] == 1.0 and not steady["unstable"]
    assert stats.latency_summary([[1000] * 10, [2000] * 10])["unstable"]
    flow = stats.throughput_summary([(10**6, 10**6), (2 * 10**6, 10**6)], workers=2)
    assert flow["median_mb_s"] == 1500 and flow["unstable"]


def test_the_machine_is_described():
    info = machine.describe()
    assert info["cpus_online"] == os.cpu_count() and info["kernel"]
    if info["virtualization"] and info["cpus_online"] <= 4:
        assert machine.SMALL_VM_WARNING in info["warnings"]
    assert str(info["cpus_online"]) in machine.summary_line(info)


# The command ----------------------------------------------------------------------------------


def test_ipc_bench_runs_and_writes_json_and_svg(directory, capsys):
    json_path, svg_path = Path(directory, "bench.json"), Path(directory, "bench.svg")
    code = cli.main(
        [
            "bench",
            "pipe",
            "shm",
            "--quick",
            "--sizes",
            "64",
            "--placements",
            "unpinned",
            "--json",
            str(json_path),
            "--svg",
            str(svg_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Round trips" in out and "What was expected of each mechanism" in out and "pipe" in out
    document = json.loads(json_path.read_text())
    assert {r["spec"]["mechanism"] for r in document["results"]} == {"pipe", "shm"}
    assert ElementTree.parse(svg_path).getroot().tag.endswith("svg")
    json_path.unlink()
    svg_path.unlink()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "carrier-pigeon"], "no mechanism named 'carrier-pigeon'"),
        (["bench", "--sizes", "8"], "--sizes takes whole numbers"),
        (["bench", "--sizes", "lots"], "--sizes takes whole numbers"),
        (["bench", "--placements", "moon"], "--placements takes"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
