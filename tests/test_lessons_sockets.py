"""Lessons on sockets: the listen backlog, ports and 4-tuples, two hosts in network namespaces."""

import re
import signal
import subprocess
import sys

import pytest
from support import TOOL, Program, also, needs, run_demo_once, run_program

from ipc import catalog
from ipc.catalog.lessons_sockets import backlog_results, two_hosts_unavailable

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's accept queue is what is measured")
NO_TWO_HOSTS = two_hosts_unavailable()
needs_namespaces = also(TOOL, pytest.mark.skipif(NO_TWO_HOSTS is not None, reason=f"two hosts: {NO_TWO_HOSTS}"))


def demo(name):
    return catalog.find([name])[0]


# -- the listen backlog ---------------------------------------------------


def test_backlog_demo_completes_more_connections_for_a_bigger_backlog():
    result = run_demo_once("backlog")
    assert result.ok, result.problems
    table = {backlog: completed for backlog, (completed, _, _) in backlog_results(result.transcript).items()}
    assert sorted(table) == [0, 1, 2, 4, 8]
    if sys.platform.startswith("linux"):
        assert table == {backlog: backlog + 1 for backlog in table}  # measured: the queue holds backlog + 1
    said = "\n".join(line.text for line in result.lines)
    assert said.count("the kernel dropped its SYN") == 5  # each measurement ended on an unanswered SYN
    assert re.search(r"completed \d\.\d\d s after connect\(\): the kernel resent the SYN", said)


@linux_only
def test_backlog_by_hand_with_a_backlog_of_its_own():
    done = run_program("backlog.py", "--backlog", "3", "--deadline", "0.3")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "result: backlog=3 completed=4 accepted=4 dropped=yes" in err
    assert "the accept queue is full (4 waiting, backlog 3): the kernel dropped its SYN (SYN_SENT)" in err


def test_backlog_refuses_a_bad_backlog_in_one_line():
    done = run_program("backlog.py", "--backlog", "-1")
    assert done.returncode == 2
    assert done.stderr.decode().strip().endswith("error: argument --backlog: -1 is out of range: 0 to 64")
    assert b"Traceback" not in done.stderr


# -- ports and 4-tuples ---------------------------------------------------


def four_tuples(lines):
    """The connections each view shows, as (client address, server address) pairs."""
    clients = {m.groups() for line in lines if (m := re.search(r"client\[\d+\]: connected (\S+) -> (\S+)$", line))}
    server = {m.groups()[::-1] for line in lines if (m := re.search(r"server\[\d+\]: accepted (\S+) <- (\S+)$", line))}
    kernel = [
        m.groups() for line in lines if (m := re.search(r": kernel: pid \d+ ESTABLISHED (\S+) (<-|->) (\S+)$", line))
    ]
    kernel_ends = {(a, b) if arrow == "->" else (b, a) for a, arrow, b in kernel}
    return clients, server, kernel, kernel_ends


def test_ports_demo_shows_one_server_port_and_a_client_port_per_connection():
    result = run_demo_once("ports")
    assert result.ok, result.problems
    clients, server, kernel, kernel_ends = four_tuples([f"{line.label}: {line.text}" for line in result.lines])
    assert len(clients) == 3
    assert len({server_address for _, server_address in clients}) == 1  # all reached one address and port
    assert len({client.rsplit(":", 1)[1] for client, _ in clients}) == 3  # told apart by the client's port
    assert server == clients
    assert len(kernel) == 6 and kernel_ends == clients  # both ends of each connection, in the kernel's table


def test_ports_by_hand_with_five_clients_over_ipv6():
    done = run_program("ports.py", "--clients", "5", "--host", "::1")
    assert done.returncode == 0, done.stderr
    clients, server, kernel, kernel_ends = four_tuples(done.stderr.decode().splitlines())
    assert len(clients) == 5 and server == clients and kernel_ends == clients
    assert all(client.startswith("[::1]:") for client, _ in clients)


def test_ports_refuses_a_bad_count_in_one_line():
    done = run_program("ports.py", "--clients", "0")
    assert done.returncode == 2
    assert done.stderr.decode().strip().endswith("error: argument --clients: 0 is out of range: 1 to 50")


# -- two hosts ------------------------------------------------------------


def namespaces():
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


@needs_namespaces
def test_two_hosts_exchange_across_real_addresses_and_leave_no_namespace():
    result = run_demo_once("two-hosts")
    assert result.ok, result.problems
    assert result.messages == 16  # TCP and UDP, 4 requests and 4 answers each
    said = "\n".join(f"{line.label}: {line.text}" for line in result.lines)
    assert re.search(r"client\[\d+\]: connected 10\.200\.0\.2:\d+ -> 10\.200\.0\.1:\d+", said)  # TCP, from B
    assert re.search(r"server\[\d+\]: accepted 10\.200\.0\.1:\d+ <- 10\.200\.0\.2:\d+", said)
    assert re.search(r"server\[\d+\]: datagram of \d+ bytes from 10\.200\.0\.2:\d+", said)  # UDP, from B
    assert "127.0.0.1" not in said
    hosts = set(re.findall(r"namespace (ipc-[ab]-\d+)", said))
    assert len(hosts) == 2 and not hosts & namespaces()


@needs_namespaces
def test_two_hosts_deletes_its_namespaces_when_killed_mid_exchange():
    with Program("two_hosts.py") as hosts:
        pid = hosts.wait_for_line(r"host A is namespace ipc-a-(\d+):").group(1)
        names = {f"ipc-a-{pid}", f"ipc-b-{pid}"}
        assert names <= namespaces()  # both hosts exist while it runs
        hosts.wait_for_line(r"server\[\d+\]: ready:")  # the TCP server waits on host A for its client
        hosts.popen.send_signal(signal.SIGTERM)  # as from kill
        code, _, _ = hosts.finish()
    assert code == 143  # 128 + SIGTERM
    assert f"hosts[{pid}]: deleted namespaces ipc-a-{pid} and ipc-b-{pid}" in hosts.lines
    assert not names & namespaces()


@needs("ip")  # without it, it says so first (the test below)
def test_two_hosts_says_why_it_cannot_run_without_root():
    if not sys.platform.startswith("linux"):
        pytest.skip("elsewhere it stops earlier, for want of network namespaces")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, runpy, sys; os.geteuid = lambda: 1000; "
            "sys.argv = ['two_hosts.py']; runpy.run_path('demos/two_hosts.py', run_name='__main__')",
        ],
        capture_output=True,
        cwd=catalog.ROOT,
        timeout=10,
    )
    assert done.returncode == 1
    assert re.fullmatch(
        rb"hosts\[\d+\]: error: PermissionError: needs root to make network namespaces: .*\n", done.stderr
    )


def test_two_hosts_is_skipped_with_the_reason_where_it_cannot_run(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    reason = demo("two-hosts").unavailable()  # the harness skips a demo that gives a reason
    if sys.platform.startswith("linux") and NO_TWO_HOSTS is None:
        assert reason == "needs root to create network namespaces (run as root: sudo make two-hosts)"
    else:
        assert reason
