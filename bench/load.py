"""The servers under load and attack, bounded and on loopback only: the figures of the README's reliability section.

    python bench/load.py [--http 200] [--idle 100] [--dns 20000] [--pairs 20]

  http    N connections to demos/http_server.py open at once, then each asks for /hello.txt: how many got
          200, and the server's peak of threads and memory
  select  N idle clients on demos/select_server.py, then one real client (demos/tcp_client.py): whether it is
          served, and how long it took
  dns     N queries to demos/dns_server.py, sent unpaced from one socket: how many were answered, and how
          fast (the rest the kernel dropped: a full socket buffer); then the 16-byte pointer loop (01 61 c0 0c):
          how long its answer took, the server's memory
  files   N pairs of demos/file_client.py started at the same moment on one demos/file_server.py: how many
          pairs had a client fail
Each server is started afresh and ended at the end; nothing is left behind. Exit code 0 when every case held.
"""

from __future__ import annotations

import argparse
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ROOT / "demos"


class Server:
    """A demo server started for one case: its ready line's fields, its process for measuring, ended on exit."""

    def __init__(self, script: str, *args: str):
        self.popen = subprocess.Popen([sys.executable, str(DEMOS / script), *args], stderr=subprocess.PIPE, text=True)
        self.ready: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while not self.ready and time.monotonic() < deadline:
            line = self.popen.stderr.readline()
            if m := re.search(r": ready: (.*)$", line):
                self.ready = dict(field.split("=", 1) for field in m[1].split())
        threading.Thread(target=self._drain, daemon=True).start()  # its log must never fill the pipe
        self.process = psutil.Process(self.popen.pid)
        self.peak_rss = self.peak_threads = 0

    def _drain(self) -> None:
        for _ in self.popen.stderr:
            pass

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
        self.peak_threads = max(self.peak_threads, self.process.num_threads())

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def http_case(connections: int) -> bool:
    with Server("http_server.py", "--timeout", "30") as server:
        where = ("127.0.0.1", int(server.ready["port"]))
        started = time.monotonic()
        socks = [socket.create_connection(where, timeout=10) for _ in range(connections)]
        server.sample()
        for sock in socks:
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answered, pending = 0, {sock: b"" for sock in socks}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            ready, _, _ = select.select(list(pending), [], [], 1)
            server.sample()
            for sock in ready:
                data = sock.recv(65536)
                if data:
                    pending[sock] += data
                    continue
                answered += pending.pop(sock).startswith(b"HTTP/1.1 200 OK\r\n")
                sock.close()
        for sock in pending:
            sock.close()
        seconds = time.monotonic() - started
        print(f"http    {connections} connections open at once: {answered} answered 200 in {seconds:.2f} s; "
              f"server peak {server.peak_threads} threads, {server.peak_rss / 1e6:.0f} MB")  # fmt: skip
        return answered == connections


def select_case(idle: int) -> bool:
    with Server("select_server.py", "--idle", "60") as server:
        port = server.ready["port"]
        socks = [socket.create_connection(("127.0.0.1", int(port)), timeout=10) for _ in range(idle)]
        try:
            started = time.monotonic()
            done = subprocess.run([sys.executable, str(DEMOS / "tcp_client.py"), "--port", port],
                                  capture_output=True, timeout=30)  # fmt: skip
            seconds = time.monotonic() - started
            server.sample()
        finally:
            for sock in socks:
                sock.close()
        print(f"select  {idle} idle clients and one real: served {'yes' if done.returncode == 0 else 'NO'} "
              f"in {seconds:.2f} s; server {server.peak_rss / 1e6:.0f} MB")  # fmt: skip
        return done.returncode == 0


def dns_case(queries: int) -> bool:
    with Server("dns_server.py") as server:
        where = ("127.0.0.1", int(server.ready["port"]))
        question = b"\x03www\x03ipc\x04test\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sock.connect(where)
            answered, started = 0, time.monotonic()
            for n in range(queries):
                sock.send(struct.pack("!6H", n % 65536, 0x0100, 1, 0, 0, 0) + question)
                while select.select([sock], [], [], 0)[0]:  # take what has come meanwhile: never a full buffer
                    answered += bool(sock.recv(4096))
            sock.settimeout(1.0)
            try:
                while answered < queries:
                    answered += bool(sock.recv(4096))
            except TimeoutError:
                pass
            seconds = time.monotonic() - started
            server.sample()
            rate, memory = answered / seconds, server.peak_rss / 1e6
            print(f"dns     {queries} queries unpaced: {answered} answered ({queries - answered} lost) "
                  f"in {seconds:.2f} s, {rate:.0f} a second; server {memory:.0f} MB")  # fmt: skip
            before = server.process.memory_info().rss
            sock.settimeout(2.0)
            started = time.monotonic()
            sock.send(struct.pack("!6H", 7, 0x0100, 1, 0, 0, 0) + b"\x01a\xc0\x0c")  # the pointer loop
            try:
                rcode = sock.recv(4096)[3] & 0xF
                took = f"answered rcode {rcode} (FORMERR is 1) in {(time.monotonic() - started) * 1000:.2f} ms"
            except TimeoutError:
                rcode, took = None, "NOT answered within 2 s"
            after = server.process.memory_info().rss
            print(f"dns     the pointer loop 01 61 c0 0c: {took}; server {before / 1e6:.0f} -> {after / 1e6:.0f} MB")
        return rcode == 1  # UDP drops what a busy server cannot take (it logs every query): a figure, not a fault


def files_case(pairs: int) -> bool:
    with Server("file_server.py") as server:
        failed, started = 0, time.monotonic()
        for pair in range(pairs):
            clients = [
                subprocess.Popen(
                    [
                        sys.executable,
                        str(DEMOS / "file_client.py"),
                        "--dir",
                        server.ready["dir"],
                        f"pair {pair} client {c}",
                        "two",
                    ],
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                for c in (1, 2)
            ]
            failed += any(client.wait(30) != 0 for client in clients)
        print(f"files   {pairs} pairs of clients started at once: {failed} pairs failed "
              f"({time.monotonic() - started:.1f} s)")  # fmt: skip
        return failed == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", type=int, default=200, help="concurrent HTTP connections (default 200)")
    parser.add_argument("--idle", type=int, default=100, help="idle clients on the select server (default 100)")
    parser.add_argument("--dns", type=int, default=20000, help="unpaced DNS queries (default 20000)")
    parser.add_argument("--pairs", type=int, default=20, help="racing pairs of file clients (default 20)")
    args = parser.parse_args()
    held = [http_case(args.http), select_case(args.idle), dns_case(args.dns), files_case(args.pairs)]
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main())
