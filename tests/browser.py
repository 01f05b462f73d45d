"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium's ``--remote-debugging-pipe`` reads commands on its fd 3 and writes
answers and events on its fd 4, each a JSON object ended by a NUL byte: two
pipes and ``json`` are all a test needs (no selenium, no playwright, no
websocket client). The page is opened in a tab of its own; every network
request, console message and uncaught exception of that tab is recorded.

    with Browser() as browser:
        tab = browser.open("file:///tmp/page.html#step=4")
        tab.evaluate("document.title")
        tab.key("ArrowRight")
        tab.screenshot("/tmp/page.png")
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Optional

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DEADLINE = 30.0
KEYS = {"ArrowRight": 39, "ArrowLeft": 37, "Home": 36, "End": 35}
# Puts our two pipe ends on fds 3 and 4 of the browser, whatever numbers they have here.
ON_FDS_3_AND_4 = (
    "import fcntl, os, sys\n"
    "a, b = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "os.dup2(a, 3, inheritable=True); os.dup2(b, 4, inheritable=True); os.close(a); os.close(b)\n"
    "os.execvp(sys.argv[3], sys.argv[3:])\n"
)


def find_chromium() -> Optional[str]:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def why_no_chromium() -> Optional[str]:
    """None where a browser test can run; else the one-line reason to skip."""
    if find_chromium() is None:
        return "no Chromium here (Debian: apt-get install chromium; .ci/run installs it)"
    return None


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, width: int = 1280, height: int = 720):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        commands_read, self.commands = os.pipe()
        self.answers, answers_write = os.pipe()
        argv = [
            find_chromium() or "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-c", ON_FDS_3_AND_4, str(commands_read), str(answers_write), *argv],
            pass_fds=(commands_read, answers_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(commands_read)
        os.close(answers_write)
        self.pending = b""
        self.number = 0
        self.events: list = []

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Ask the browser to close; then end its whole process group (the browser's own helpers), reap it."""
        if self.process.poll() is None:
            try:
                self.send("Browser.close", deadline=5)
            except (BrowserError, OSError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this browser leads: its zygote, renderers
        except ProcessLookupError:
            pass
        self.process.wait()
        for fd in (self.commands, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass
        self.commands = self.answers = -1
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(
        self, method: str, params: Optional[dict] = None, session: Optional[str] = None, deadline: float = DEADLINE
    ) -> dict:
        self.number += 1
        message = {"id": self.number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        answer = self._until(lambda m: m.get("id") == self.number, deadline)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def _until(self, wanted, deadline: float) -> dict:
        end = time.monotonic() + deadline
        while True:
            while b"\0" in self.pending:
                raw, self.pending = self.pending.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            data = os.read(self.answers, 1 << 20)
            if not data:
                raise BrowserError("Chromium went away")
            self.pending += data

    def open(self, url: str, width: Optional[int] = None, height: Optional[int] = None) -> "Tab":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, session)
        for domain in ("Page", "Runtime", "Network", "Log"):
            tab.send(f"{domain}.enable")
        tab.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width or self.width, "height": height or self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        tab.go(url)
        return tab


class Tab:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session
        self.since = 0  # the events of the page loaded last begin here

    def send(self, method: str, params: Optional[dict] = None) -> dict:
        return self.browser.send(method, params, self.session)

    def go(self, url: str) -> None:
        """Load ``url``; requests() and problems() then tell of this page only."""
        seen = self.since = len(self.browser.events)
        self.send("Page.navigate", {"url": url})
        self.browser._until(
            lambda m: (
                m.get("method") == "Page.loadEventFired"
                and m.get("sessionId") == self.session
                and self.browser.events.index(m) >= seen
            ),
            DEADLINE,
        )

    def _mine(self, method: str) -> list:
        return [
            e["params"]
            for e in self.browser.events[self.since :]
            if e.get("sessionId") == self.session and e.get("method") == method
        ]

    def requests(self) -> list:
        """The URL of every request the page made (its own file included)."""
        return [event["request"]["url"] for event in self._mine("Network.requestWillBeSent")]

    def problems(self) -> list:
        """Console errors and warnings, uncaught exceptions, and the browser's own error log entries."""
        found = [
            f"console.{e['type']}: {' '.join(str(a.get('value', a.get('description'))) for a in e['args'])}"
            for e in self._mine("Runtime.consoleAPICalled")
            if e["type"] in ("error", "warning", "assert")
        ]
        for event in self._mine("Runtime.exceptionThrown"):
            details = event["exceptionDetails"]
            found.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
        found += [f"log: {e['entry']['text']}" for e in self._mine("Log.entryAdded") if e["entry"]["level"] == "error"]
        return found

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def key(self, name: str) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                {"type": kind, "key": name, "code": name, "windowsVirtualKeyCode": KEYS.get(name, 0)},
            )

    def screenshot(self, path: str, full: bool = False, clip: Optional[tuple] = None) -> None:
        """A PNG of the viewport; ``full``: of the whole page; ``clip``: of (x, y, width, height) of the page."""
        params: dict = {"format": "png"}
        if clip:
            params.update(captureBeyondViewport=True, clip=dict(zip(("x", "y", "width", "height"), clip), scale=1))
        elif full:
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            )
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as file:
            file.write(base64.b64decode(data))
