"""The notes' protocols for real: HTTP/1.1 over the socket calls of the TCP demos, and DNS.

Each demo runs with kind "runs" (or "deadlock" for the broken HTTP client);
its check reads what the processes printed and recomputes what they should
have seen, so ``ipc run NAME`` fails when the behaviour was not observed. The
checks read only ``result.said(role)``: lines with a role, a pid and a text.
"""

from __future__ import annotations

import re
import shutil
from typing import Optional

from . import Demo, Program
from .deadlocks import EACH_WAITS_FOR_THE_OTHER, expect

HTTP_PATHS = ("/", "/count.txt", "/hello.txt", "/nowhere")


def _texts(result, role: str) -> list[str]:
    return [line.text for line in result.said(role)]


def check_http(result) -> list[str]:
    """Every request the client sent, the server received, on one connection (one 4-tuple seen from both
    ends); each response was read to its Content-Length; the status lines agree on both sides."""
    client, server = _texts(result, "client"), _texts(result, "server")
    problems = []
    connected = [m for t in client if (m := re.match(r"^connected (\S+) -> (\S+)$", t))]
    accepted = [m for t in server if (m := re.match(r"^accepted (\S+) <- (\S+)$", t))]
    if len(connected) != 1 or len(accepted) != 1 or (connected[0][1], connected[0][2]) != (accepted[0][2], accepted[0][1]):
        return [f"expected one connection seen from both ends, saw {[m[0] for m in connected + accepted]}"]
    peer = connected[0][1]
    sent = [t[2:] for t in client if t.startswith("> GET ")]
    received = [m[1] for t in server if (m := re.match(rf'^{re.escape(peer)}: received "(.*)"$', t))]
    if sent != [f"GET {path} HTTP/1.1" for path in HTTP_PATHS] or received != sent:
        problems.append(f"the client sent {sent}, the server received {received}")
    status_client = [t[2:] for t in client if t.startswith("< HTTP/")]
    status_server = [m[1] for t in server if (m := re.match(rf'^{re.escape(peer)}: sent "(.*)" and \d+ bytes', t))]
    expected = ["HTTP/1.1 200 OK"] * (len(HTTP_PATHS) - 1) + ["HTTP/1.1 404 Not Found"]
    if status_client != expected or status_server != expected:
        problems.append(f"status lines: the server sent {status_server}, the client read {status_client}")
    lengths = [int(t.split()[-1]) for t in client if t.startswith("< Content-Length:")]
    bodies = [int(m[1]) for t in client if (m := re.match(r"^body: (\d+) bytes, as Content-Length said", t))]
    if lengths != bodies or len(bodies) != len(HTTP_PATHS):
        problems.append(f"Content-Length said {lengths}, the bodies read were {bodies}")
    if not any(re.match(r"^body: 48894 bytes, .*; ([2-9]|\d\d+) recv\(\) calls", t) for t in client):
        problems.append("the 48894-byte /count.txt did not take several recv() calls")
    if f"{peer}: hung up" not in server:  # the last request said Connection: close
        problems.append("the server did not hang up after Connection: close")
    return problems


def check_http_fixed(result) -> list[str]:
    said = _texts(result, "client")
    if 'sent "GET / HTTP/1.1"' not in said or not any(t.startswith('received "HTTP/1.1 200 OK" and ') for t in said):
        return [f"the client did not get its page: it said {said}"]
    return []


PAGE_PARTS = ("/", "/style.css", "/script.js", "/crimson.svg", "/seagreen.svg", "/royalblue.svg")


def check_http_browser(result) -> list[str]:
    """The browser asked for each part once; it used several connections, each from its own client port,
    and the browser's count agrees with the server's own lines."""
    server, browser = _texts(result, "server"), _texts(result, "browser")
    problems = []
    accepted = [m[1] for t in server if (m := re.match(r"^accepted \S+ <- (\S+)$", t))]
    requests = [(m[1], m[2]) for t in server if (m := re.match(r'^(\S+): received "GET (\S+) HTTP/1.1"$', t))]
    if sorted(path for _, path in requests) != sorted(PAGE_PARTS):
        problems.append(f"the browser asked for {sorted(path for _, path in requests)}, expected each of {sorted(PAGE_PARTS)} once")
    if len(accepted) < 2 or len(set(accepted)) != len(accepted):
        problems.append(f"expected several connections, each from its own client port; the server accepted {accepted}")
    if not {peer for peer, _ in requests} <= set(accepted):
        problems.append("a request came on a connection the server never accepted")
    summary = [m for t in browser if (m := re.match(r"^(\d+) requests over (\d+) connections to \S+, from client ports (.*)$", t))]
    if not summary or (int(summary[0][1]), int(summary[0][2])) != (len(requests), len(accepted)) \
            or summary[0][3].split(", ") != [peer.rsplit(":", 1)[1] for peer in accepted]:
        problems.append(f"the browser's count {[m[0] for m in summary]} disagrees with the server's lines")
    if not any(t.endswith('3 pictures, "the script ran"') for t in browser):
        problems.append("the page the browser built lacks its pictures or its script's line")
    return problems


def no_chromium() -> Optional[str]:
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        return "no Chromium here (Debian: apt-get install chromium)"
    return None


HTTP_SERVER = Program("http_server.py", ("--host", "127.0.0.1", "--connections", "1"))

DEMOS = [
    Demo(
        name="http",
        mechanism="HTTP/1.1 over TCP, keep-alive",
        teaches="HTTP is bytes on a TCP stream: a head up to a blank line, then Content-Length bytes of body; "
                "several requests on one connection, the last one closes it",
        server=HTTP_SERVER,
        client=Program("http_client.py", ("--host", "{host}", "--port", "{port}", "--output", "/dev/null", *HTTP_PATHS)),
        kind="runs",
        check=check_http,
    ),
    Demo(
        name="http-browser",
        mechanism="HTTP/1.1 over TCP, headless Chromium",
        teaches="a browser fetches a page's parts over several connections at once, each from its own client port: "
                "the 4-tuples at accept() tell them apart",
        client=Program("http_browser.py"),
        also_runs=("http_server.py",),
        kind="runs",
        check=check_http_browser,
        timeout=90.0,
        unavailable=no_chromium,
    ),
    Demo(
        name="http-client-reads-first",
        mechanism="HTTP/1.1 over TCP, broken",
        teaches="the notes' HTTP deadlock with a real HTTP server: a client that reads before sending its GET waits "
                "for ever (the server, without its deadline, waits too)",
        server=Program("http_server.py", ("--host", "127.0.0.1", "--connections", "1", "--timeout", "0")),
        client=Program("broken/http_client_reads_first.py", ("--host", "{host}", "--port", "{port}")),
        kind="deadlock",
        check=expect(EACH_WAITS_FOR_THE_OTHER, client="recvfrom", server="recvfrom"),
        fixed_by="http-client-reads-first-fixed",
        timeout=10.0,
    ),
    Demo(
        name="http-client-reads-first-fixed",
        mechanism="HTTP/1.1 over TCP, fixed",
        teaches="the client sends its GET, then reads the response: the server speaks only when asked",
        server=HTTP_SERVER,
        client=Program("broken/http_client_reads_first.py", ("--host", "{host}", "--port", "{port}", "--fixed")),
        kind="runs",
        check=check_http_fixed,
    ),
]
