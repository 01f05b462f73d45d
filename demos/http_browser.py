r"""A browser loads a page of several parts from http_server.py: one connection per part it wants at once.

What it shows
    The notes: "HTTP will use multiple connections to download all the parts
    of the webpage", told apart "by the client port number". This starts
    demos/http_server.py, then headless Chromium loads its page: the HTML,
    then a style sheet, a script and three pictures. HTTP/1.1 carries one
    request at a time on a connection, so a browser that wants several parts
    at once opens several connections (Chromium: up to 6 per server).

Run it
    python demos/http_browser.py [--browser PATH]      (or: make http-browser)
    Needs Chromium (Debian: apt-get install chromium).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # find ipc/ from a checkout

from ipc import program
from ipc.children import Child
from ipc.log import Log

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "http_server.py")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 60.0  # seconds for the browser to load the page (a cold start on a busy machine takes a few)
log = Log("browser")


def load(browser: str) -> None:
    """Start the server, let the browser load its page, then count the connections it made."""
    server = Child([sys.executable, SERVER], "server")  # its lines are passed on to our stderr
    try:
        host, port = server.wait_for(r"ready: host=(\S+) port=(\d+)", 10).groups()
        url = f"http://{host}:{port}/"
        log.say(f"started demos/http_server.py: {url}")
        log.say(f"{os.path.basename(browser)} --headless loads {url}")
        with tempfile.TemporaryDirectory(prefix="browser-profile-") as profile:  # a private profile, removed after
            page = subprocess.run(
                [
                    browser,
                    "--headless=new",
                    "--no-sandbox",  # the sandbox fails as root and in containers; our page
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    f"--user-data-dir={profile}",
                    "--dump-dom",
                    url,
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                start_new_session=True,
            )
        title = re.search(r"<title>(.*?)</title>", page.stdout)
        script = re.search(r'<p id="script">(.*?)</p>', page.stdout)
        if page.returncode != 0 or not title or not script:
            said = [line for line in page.stderr.splitlines() if "rror" in line][-1:]
            raise ChildProcessError(f"{browser} built no page (exit code {page.returncode}) {' '.join(said)}".strip())
        pictures = page.stdout.count("<img ")
        log.say(f'the page, as the browser built it: "{title[1]}", {pictures} pictures, "{script[1]}"')
    finally:
        server.stop()  # it serves for ever: SIGTERM ends it, and it closes its listener
    ports = [m[1] for line in server.lines if (m := re.search(r"accepted \S+ <- \S+:(\d+)$", line))]
    requests = [line for line in server.lines if re.search(r': received "GET ', line)]
    log.say(
        f"{len(requests)} requests over {len(ports)} connections to {host}:{port}, from client ports {', '.join(ports)}"
    )


def main() -> None:
    parser = program.argument_parser(__doc__, DETAILS)
    parser.add_argument("--browser", help=f"the browser to run (default: the first of {', '.join(BROWSERS)} found)")
    args = parser.parse_args()
    browser = args.browser or next(filter(None, map(shutil.which, BROWSERS)), None)
    if browser is None or shutil.which(browser) is None:
        raise FileNotFoundError(f"no Chromium found (Debian: apt-get install chromium): {browser or BROWSERS[0]}")
    load(browser)


DETAILS = r"""
What else it shows
    The server logs each at accept() with its 4-tuple: the same server address
    and port every time, a new client port each time. How many connections is
    the browser's choice; the count at the end says what it chose.

    By hand, with any browser: python demos/http_server.py --port 8080, open
    http://127.0.0.1:8080/

System calls, in order
    fork()/exec() of http_server.py, its stderr on a pipe (ipc.children passes
    its lines on); read() until its ready line -> fork()/exec() of chromium
    --headless --dump-dom URL, which connect()s to the server several times ->
    waitpid() for chromium -> kill(server, SIGTERM) -> waitpid().

Its peer
    demos/http_server.py, with Chromium as its client.

Expected output (pids and ports vary)
    browser[100]: started demos/http_server.py: http://127.0.0.1:41234/
    browser[100]: chromium --headless loads http://127.0.0.1:41234/
    server[101]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    server[101]: 127.0.0.1:53012: received "GET / HTTP/1.1"
    ...
    browser[100]: the page, as the browser built it: "One page, several parts", 3 pictures, "the script ran"
    browser[100]: 6 requests over 5 connections to 127.0.0.1:41234, from client ports 53012, ...
"""

if __name__ == "__main__":
    sys.exit(program.run(main, "browser"))
