"""FIFOs: unrelated processes meet at a path; each client brings FIFOs of its own, named by its pid.

The exchange itself (in order, however cut, bad input, idle and vanished clients) is in test_conformance.py.
"""

import os
import re
import stat
import tempfile
import threading
import time

import pytest
from peers import FifoPeer, open_before
from support import Program, load_demo, run_demo_once, run_program


def test_fifo_demo_through_the_harness():
    result = run_demo_once("fifo")
    assert result.ok, result.problems
    assert result.messages == 16  # two clients, one after the other
    clients = [line.pid for line in result.said("client") if line.text.startswith("made ")]
    server = [line.text for line in result.said("server")]
    for pid in clients:  # each client's FIFOs are named by its pid: the server opens those, and no others
        assert (
            f"client {pid} is here; opening {pid}.requests and {pid}.replies: each open() waits for the client's"
            in server
        )
        assert f"client {pid} closed {pid}.requests: end of file" in server
    assert server[-1].startswith("removed /") and server[-1].endswith("/server")


def test_the_server_waits_in_open_until_a_client_comes():
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        assert stat.S_ISFIFO(os.stat(os.path.join(directory, "server")).st_mode)
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700  # a private directory
        server.wait_for_line(r"waiting for a client on .*/server: open\(\) blocks")
        with pytest.raises(AssertionError, match="no line matching"):
            server.wait_for_line(r"is here", deadline=0.5)  # no writer yet: still inside open()
        with FifoPeer(directory) as peer:
            server.wait_for_line(rf"client {peer.number} is here")
            peer.send(b"now\n")
            peer.end()
            assert peer.replies() == ["1 NOW"]
        assert server.stop() == 143
    assert not os.path.exists(directory)  # the directory it made, removed


def test_a_stranger_writing_to_every_fifo_in_the_directory_reaches_no_client():
    """Issue 9: with one shared pair of FIFOs, `echo secret > DIR/requests` was answered to the next client."""
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        for name in os.listdir(directory):  # whatever FIFOs the server made, as a stranger would find them
            fd = open_before(os.path.join(directory, name), os.O_WRONLY)
            os.write(fd, b"secret\n")
            os.close(fd)
        server.wait_for_line(r"ignored 'secret' on .*/server: not a client's pid")
        with FifoPeer(directory) as peer:
            peer.send(b"hello\n")
            peer.end()
            assert peer.replies() == ["1 HELLO"]


def test_a_client_that_writes_a_megabyte_leaves_nothing_for_the_next():
    """Issue 9: after a client that wrote 1 MB, the next client's hello got "error: message too long"."""
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        with FifoPeer(directory) as flood:
            try:
                flood.send(b"x" * 60_000)  # fills most of the pipe; the server refuses after 4,096 bytes...
                flood.send(b"y" * 1_000_000)
            except BrokenPipeError:  # ...and closes its end: the rest of the megabyte has no reader
                pass
            assert flood.receive().startswith("error: message too long")
        with FifoPeer(directory) as peer:
            peer.send(b"hello\n")
            peer.end()
            assert peer.replies() == ["1 HELLO"]


def test_a_pid_whose_fifos_are_not_fifos_is_refused_and_the_server_goes_on():
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        for name in ("7.requests", "7.replies"):
            open(os.path.join(directory, name), "w").close()  # regular files: opening them would not block or pair
        fd = open_before(os.path.join(directory, "server"), os.O_WRONLY)
        os.write(fd, b"7\n")
        os.close(fd)
        server.wait_for_line(r"client 7: FileNotFoundError: 7.requests and 7.replies are not both FIFOs: next client")
        for name in ("7.requests", "7.replies"):
            os.unlink(os.path.join(directory, name))
        with FifoPeer(directory) as peer:
            peer.send(b"hello\n")
            assert peer.receive() == "1 HELLO"


def test_a_server_given_a_directory_makes_it_and_removes_only_what_it_made():
    parent = tempfile.mkdtemp()
    try:
        made = os.path.join(parent, "fifos")
        with Program("fifo_server.py", "--dir", made) as server:
            assert server.ready() == {"dir": made}
            assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
            assert server.stop() == 143
        assert not os.path.exists(made)
        with Program("fifo_server.py", "--dir", parent) as server:  # exists already: used, and left in place
            server.ready()
            assert server.stop() == 143
        assert os.listdir(parent) == []
    finally:
        os.rmdir(parent)


def test_a_second_server_on_the_same_directory_says_it_is_in_use():
    with Program("fifo_server.py") as first:
        directory = first.ready()["dir"]
        done = run_program("fifo_server.py", "--dir", directory)
        assert done.returncode == 1
        assert re.fullmatch(
            rb"server\[\d+\]: error: FileExistsError: .*/server is in use: another server runs there, "
            rb"or a dead one left it \(remove it if none runs\)\n",
            done.stderr,
        )
        with FifoPeer(directory) as peer:  # and the first one's FIFO is still there, and still its
            peer.send(b"hi\n")
            assert peer.receive() == "1 HI"


def test_fifo_client_with_a_wrong_dir_says_so_in_one_line():
    missing = os.path.join(tempfile.gettempdir(), "no-such-dir")
    done = run_program("fifo_client.py", "--dir", missing)
    assert done.returncode == 1
    assert re.fullmatch(
        rb"client\[\d+\]: error: FileNotFoundError: No such file or directory: .*/no-such-dir/\d+"
        rb"\.requests\n",
        done.stderr,
    )


def test_fifo_client_gives_up_on_a_fifo_nobody_serves():
    directory = tempfile.mkdtemp()
    try:
        os.mkfifo(os.path.join(directory, "server"))  # as a server killed with SIGKILL would leave it
        started = time.monotonic()
        done = run_program("fifo_client.py", "--dir", directory, "--timeout", "0.5")
        assert time.monotonic() - started < 5
        assert os.listdir(directory) == ["server"]  # the client removed its own two FIFOs
    finally:
        os.unlink(os.path.join(directory, "server"))
        os.rmdir(directory)
    assert done.returncode == 1
    last = done.stderr.decode().splitlines()[-1]
    assert re.fullmatch(r"client\[\d+\]: error: TimeoutError: nothing from the server within 0.5 s: .*", last)


def test_the_server_removes_its_directory_while_a_client_unlinks_its_own_fifos():
    # Seen once in a soak: the server's rmtree listed a client's FIFO, the client unlinked it, and rmtree's
    # unlink said FileNotFoundError: the server failed and left its directory behind.
    remove_directory = load_demo("fifo_server").remove_directory
    for _ in range(5):
        directory = tempfile.mkdtemp(prefix="ipc-test-fifo-")
        names = [os.path.join(directory, f"{pid}.requests") for pid in range(2000)]
        for name in names:
            os.mkfifo(name)
        client = threading.Thread(target=unlink_each, args=(reversed(names),))
        client.start()
        try:
            remove_directory(directory)
        finally:
            client.join(10)
        assert not os.path.exists(directory)


def unlink_each(paths) -> None:
    """What a client does on its way out, for many clients at once: unlink its FIFOs, if still there."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:  # the server's rmtree was first
            pass


@pytest.mark.parametrize("line", ["²", "١٢", "12\u00a0", "-5", "+5", " 5", "5" * 11])
def test_a_pid_line_that_is_not_ascii_digits_is_ignored_and_the_server_goes_on(line):
    # "²".isdigit() is True, and int("²") raises ValueError: once, that ended the server.
    with Program("fifo_server.py") as server:
        directory = server.ready()["dir"]
        fd = open_before(os.path.join(directory, "server"), os.O_WRONLY)
        os.write(fd, line.encode() + b"\n")
        os.close(fd)
        server.wait_for_line(r"ignored .* on .*/server: not a client's pid")
        with FifoPeer(directory) as peer:
            peer.send(b"hello\n")
            assert peer.receive() == "1 HELLO"
        assert server.stop() == 143


def test_a_replies_path_that_is_a_symlink_out_of_the_directory_is_not_followed():
    elsewhere = tempfile.mkdtemp()
    outside = os.path.join(elsewhere, "outside")
    os.mkfifo(outside)
    reader = os.open(outside, os.O_RDONLY | os.O_NONBLOCK)  # a reader there: a server that follows could write
    try:
        with Program("fifo_server.py") as server:
            directory = server.ready()["dir"]
            os.mkfifo(os.path.join(directory, "7.requests"))
            os.symlink(outside, os.path.join(directory, "7.replies"))  # a FIFO, if one follows the link
            fd = open_before(os.path.join(directory, "server"), os.O_WRONLY)
            os.write(fd, b"7\n")
            os.close(fd)
            server.wait_for_line(r"client 7: FileNotFoundError: 7\.requests and 7\.replies are not both FIFOs")
            for name in ("7.requests", "7.replies"):
                os.unlink(os.path.join(directory, name))
            with FifoPeer(directory) as peer:
                peer.send(b"hello\n")
                assert peer.receive() == "1 HELLO"
        assert os.read(reader, 100) == b""  # nothing was written there (a writer's bytes would be read first)
    finally:
        os.close(reader)
        os.unlink(outside)
        os.rmdir(elsewhere)


def test_open_fifo_refuses_a_symlink_and_a_file_that_took_the_fifos_name():
    open_fifo = load_demo("fifo_server").open_fifo
    directory = tempfile.mkdtemp()
    try:
        fifo, link, plain = (os.path.join(directory, name) for name in ("fifo", "link", "plain"))
        os.mkfifo(fifo)
        os.symlink(fifo, link)
        open(plain, "w").close()
        with pytest.raises(OSError, match="Too many levels of symbolic links"):  # ELOOP: O_NOFOLLOW
            open_fifo(link, os.O_RDONLY | os.O_NONBLOCK)
        with pytest.raises(FileNotFoundError, match="plain is no longer a FIFO"):
            open_fifo(plain, os.O_WRONLY)
        os.close(open_fifo(fifo, os.O_RDONLY | os.O_NONBLOCK))
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)
