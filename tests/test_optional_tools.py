"""On a machine without the optional tools, every test that needs one skips, saying which and how to install it.

The tests that need a tool are marked (``pytest -m tools``); here they run with every optional tool hidden from
PATH, as on a fresh machine, and must pass or skip, never fail; then with dig alone hidden, the case once found
on a fresh machine (the DNS names demo ran, and two tests expected dig's lines).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from support import ROOT, TOOLS

HIDDEN = re.compile(r"(dig|dnsmasq|chromium|chromium-browser|google-chrome|curl|nc|nc\.\w+|netcat|socat|unshare|ip"
                    r"|cc|c89|c99|gcc|clang|tcc|[\w-]*-gcc)(-[\d.]+)?")  # fmt: skip
SKIPPED = re.compile(r"^SKIPPED \[\d+\] (\S+): (.*)$", re.M)


def path_without(hidden: re.Pattern, directory: str) -> str:
    """A PATH of one directory holding a link to every program on PATH whose name `hidden` does not match."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            program, link = os.path.join(entry, name), os.path.join(directory, name)
            if not hidden.fullmatch(name) and os.access(program, os.X_OK) and not os.path.lexists(link):
                os.symlink(program, link)
    return directory


def pytest_with_hidden(hidden: re.Pattern, *args: str) -> subprocess.CompletedProcess:
    directory = tempfile.mkdtemp(prefix="path-")
    try:
        env = {**os.environ, "PATH": path_without(hidden, directory)}
        env.pop("CC", None)
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "tools", "-q", "-rs", "-p", "no:cacheprovider", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        shutil.rmtree(directory)


def test_with_every_optional_tool_hidden_the_tests_that_need_one_skip_saying_why():
    done = pytest_with_hidden(HIDDEN, "tests")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert re.search(r"\b\d+ skipped\b", summary) and "failed" not in summary and "error" not in summary, summary
    reasons = SKIPPED.findall(done.stdout)
    assert len(reasons) >= 10, done.stdout[-3000:]
    for where, reason in reasons:  # each names what is missing: a tool, how to install it, or what it needs
        assert any(tool in reason for tool in TOOLS) or "Chromium" in reason, (where, reason)


def test_with_dig_alone_hidden_the_dns_names_tests_check_the_rest_and_skip_digs_part():
    done = pytest_with_hidden(re.compile("dig"), "tests/test_dns.py", "tests/test_docstrings.py", "-k", "dns_names")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    reasons = [reason for _, reason in SKIPPED.findall(done.stdout)]
    if any("namespaces" in reason for reason in reasons):  # no namespaces here: nothing of dns_names runs at all
        return
    assert "no dig here (Debian: apt-get install dnsutils)" in reasons  # what dig says: skipped
    assert any(r.startswith("dns_names.py: the lines of dig not checked: no dig here") for r in reasons), reasons
    assert re.search(r"\b[1-9]\d* passed\b", done.stdout)  # the rest of the demo, checked without dig
