"""The third server design: one process, one poll() over every socket. What the conformance suite does not
already ask of every server: that one process serves clients whose conversations overlap, and that a client
who never reads its answers stalls no one but itself."""

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from peers import SocketPeer
from support import DEMOS, Program, run_demo_once

from ipc import cprograms


def test_select_server_through_the_harness():
    result = run_demo_once("select-server")
    assert result.ok, result.problems
    assert result.messages == 16
    assert len({line.pid for line in result.said("server")}) == 1  # no child: one process served everyone
    counts = [m[1] for line in result.said("server") if (m := re.search(r"\((\d+) clients?( left)?\)$", line.text))]
    assert counts == ["1", "0", "1", "0"]  # accepted, closed; accepted, closed


def test_one_process_answers_conversations_that_overlap():
    with Program("select_server.py") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        peers = [SocketPeer(socket.AF_INET, where) for _ in range(5)]
        try:
            for number, peer in enumerate(peers):
                peer.send(b"first from %d\n" % number)
            for number, peer in reversed(list(enumerate(peers))):  # each waits for the others to go first
                peer.send(b"second from %d\nthird" % number)  # and a message cut across two sends
            for number, peer in enumerate(peers):
                peer.send(b" from %d\n" % number)
                peer.end()
                assert peer.replies() == [f"1 FIRST FROM {number}", f"2 SECOND FROM {number}", f"3 THIRD FROM {number}"]
        finally:
            for peer in peers:
                peer.close()
        assert len({int(m[1]) for line in server.lines if (m := re.match(r"server\[(\d+)\]", line))}) == 1
        assert server.stop() == 143


def test_a_client_that_never_reads_stalls_only_itself_and_is_dropped():
    with Program("select_server.py", "--idle", "1") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        with socket.socket() as hog:
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small buffers: the stall comes sooner
            hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            hog.connect(where)
            hog.setblocking(False)
            sent = 0
            with contextlib.suppress(BlockingIOError):  # until its buffers and the server's are full
                while sent < 50_000_000:
                    sent += hog.send(b"more\n" * 20_000)
            assert sent < 50_000_000  # it stopped: the server read no more of it once its answers piled up
            with contextlib.closing(SocketPeer(socket.AF_INET, where)) as other:  # meanwhile, anyone else
                other.send(b"still there?\n")
                assert other.receive() == "1 STILL THERE?"
            # Then it is dropped: its answers never read, or (if the kernel's buffers took them all) no next request.
            server.wait_for_line(
                r"closed 127\.0\.0\.1:\d+: (it reads nothing|after its error line) \(\d+ clients? left\)"
            )
        assert server.stop() == 143


def fds_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux's prlimit() to cap a running server's fds")
@pytest.mark.parametrize("script", ["select_server.py", "c/poll_server.c"])
def test_out_of_file_descriptors_it_says_so_once_pauses_and_serves_on(script):
    # Once, EMFILE in accept() ended the server (an OSError it did not catch): 20 idle clients were enough.
    # (Its C twin ended too, with "accept: Too many open files".)
    if script.endswith(".c") and (missing := cprograms.no_compiler()):
        pytest.skip(missing)
    with Program(script, "--idle", "30") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        pid = server.popen.pid
        limit = fds_of(pid) + 5  # room for 5 clients, as with prlimit --nofile
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
        idle = [socket.create_connection(where, timeout=5) for _ in range(20)]  # the kernel queues the rest
        try:
            server.wait_for_line(r"out of file descriptors: 5 clients hold them; not accepting for 0\.5 s at a time")
        finally:
            for sock in idle:
                sock.close()  # their ends of file free the server's fds
        server.wait_for_line(r"enough file descriptors again \(\d+ times? short meanwhile\)")
        done = subprocess.run(
            [sys.executable, str(DEMOS / "tcp_client.py"), "--port", str(where[1]), "after"],
            capture_output=True,
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        assert sum("out of file descriptors" in line for line in server.lines) == 1  # said once, not per try
        # (The Python server ends its own way on SIGTERM, 128 + 15; the C one by the signal.)
        assert server.popen.poll() is None and server.stop() in (143, -signal.SIGTERM)


def test_the_c_twin_with_its_table_full_leaves_the_listener_out_of_poll_instead_of_spinning():
    """poll_server.c holds 64 clients. Once, the 65th left the listener readable in every poll() call, which then
    returned at once, again and again: a whole CPU (1.01 s of CPU per second, measured) for as long as they stayed."""
    if missing := cprograms.no_compiler():
        pytest.skip(missing)
    with Program("c/poll_server.c", "--idle", "30") as server:
        where = ("127.0.0.1", int(server.ready()["port"]))
        idle = [socket.create_connection(where, timeout=5) for _ in range(70)]  # the kernel queues the rest
        try:
            server.wait_for_line(r"64 clients, as many as its table holds: new clients wait in the listen queue")
            process = psutil.Process(server.popen.pid)
            before = sum(process.cpu_times()[:2])
            time.sleep(1)  # a window to measure in, not to wait for anything
            assert sum(process.cpu_times()[:2]) - before < 0.2
        finally:
            for sock in idle:
                sock.close()
