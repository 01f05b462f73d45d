"""Defaults that agree with each other: with one idle client ahead, the next client, run with its defaults,
is served by a server run with its defaults (a server drops an idle client sooner than a client gives up)."""

import os
import socket
import time

from peers import open_before
from support import Program, run_program

from ipc import program


def test_a_servers_idle_deadline_is_shorter_than_a_clients_patience_and_both_say_so():
    assert program.SERVER_IDLE < program.CLIENT_PATIENCE
    for server in ("tcp_server.py", "fifo_server.py", "file_server.py", "unix_stream_server.py", "select_server.py"):
        said = " ".join(run_program(server, "--help").stdout.decode().split())
        assert f"(default {program.SERVER_IDLE:g}: shorter than a client's default patience, " in said, server
    for client in ("fifo_client.py", "file_client.py"):
        said = " ".join(run_program(client, "--help").stdout.decode().split())
        assert f"(default {program.CLIENT_PATIENCE:g}: longer than a server's default --idle, " in said, client


def test_an_nc_that_types_nothing_does_not_make_the_next_tcp_client_fail():
    # Once: the server dropped an idle client after 60 s, and tcp_client.py gave up after 10.
    with Program("tcp_server.py") as server:
        port = server.ready()["port"]
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5):  # connected, and silent
            server.wait_for_line(r"accepted ")
            started = time.monotonic()
            done = run_program("tcp_client.py", "--port", port, "hello", deadline=program.CLIENT_PATIENCE + 5)
        assert done.returncode == 0, done.stderr
        assert program.SERVER_IDLE <= time.monotonic() - started < program.CLIENT_PATIENCE
        assert server.stop() == 143


def test_a_fifo_client_that_never_opens_its_fifos_does_not_make_the_next_one_fail():
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        idle = [os.path.join(directory, f"7.{name}") for name in ("requests", "replies")]
        for path in idle:
            os.mkfifo(path)
        hello = open_before(os.path.join(directory, "server"), os.O_WRONLY)
        os.write(hello, b"7\n")  # here I am; then never opens its FIFOs
        os.close(hello)
        server.wait_for_line(r"client 7 is here")
        done = run_program("fifo_client.py", "--dir", directory, "hello", deadline=program.CLIENT_PATIENCE + 5)
        assert done.returncode == 0, done.stderr
        server.wait_for_line(r"client 7 kept us waiting 5 s")
        for path in idle:
            os.unlink(path)
        assert server.stop() == 143
