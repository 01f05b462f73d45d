"""The catalog, the demos directory, the Makefile and the README agree."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ipc import catalog, cli, cprograms

ROOT = Path(__file__).resolve().parents[1]
DEMOS = catalog.all_demos()


def test_readme_table_matches_the_catalog():
    out = io.StringIO()
    cli.list_demos(markdown=True, out=out)
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- demo-table:start.*?-->\n(.*?)<!-- demo-table:end -->", readme, re.S)
    assert table, "README.md lost its demo-table markers"
    assert table.group(1) == out.getvalue(), "README table is stale: run `python3 -m ipc list --markdown`"


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^make \w+", readme, re.M)
    assert commands[:2] == ["make demo", "make test"]


def test_every_demo_script_is_in_the_catalog():
    listed = {script for demo in DEMOS for script in demo.scripts}
    on_disk = {
        str(p.relative_to(ROOT / "demos"))
        for pattern in ("*.py", "*.c")  # the C twins too (demos/c/exchange.h, which they include, is no program)
        for p in (ROOT / "demos").rglob(pattern)
        if not p.name.startswith("_")
    }
    assert on_disk - listed == set(), "scripts no demo runs"
    assert listed - on_disk == set(), "demos that name missing scripts"


def test_demo_names_are_unique_and_do_not_shadow_make_targets():
    names = [demo.name for demo in DEMOS]
    assert len(names) == len(set(names))
    makefile = (ROOT / "Makefile").read_text()
    fixed_targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    assert fixed_targets & set(names) == set()


@pytest.mark.parametrize("script", sorted({s for demo in DEMOS for s in demo.scripts}))
def test_every_script_has_a_teaching_docstring_and_help(script):
    """Its --help is its header (the module docstring) and its DETAILS below the code, as catalog.help_text reads
    them from the source; the tests that compare that text with what the demo does read it there."""
    text = catalog.help_text(script)
    for heading in ("Run it", "System calls", "Its peer", "Expected output"):
        assert f"\n{heading}" in text, f"{script}: its --help lacks '{heading}'"
    if script.endswith(".c"):  # a C twin's --help is its usage, and where its text is: its comments
        if cprograms.no_compiler():
            pytest.skip(cprograms.NO_COMPILER)
        done = subprocess.run([str(cprograms.build(script)), "--help"], capture_output=True, timeout=10)
        assert done.returncode == 0 and done.stdout.startswith(b"usage: ")
        assert f"the comments of demos/{script}".encode() in done.stdout
        return
    done = subprocess.run([sys.executable, str(ROOT / "demos" / script), "--help"], capture_output=True, timeout=10)
    assert done.returncode == 0 and b"usage:" in done.stdout
    assert text in done.stdout.decode(), f"{script}: --help does not print what catalog.help_text reads"


def test_unknown_demo_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "run", "no-such-demo"], capture_output=True, cwd=ROOT, timeout=10
    )
    assert done.returncode == 2
    assert done.stderr.strip() == b"ipc: no demo named 'no-such-demo'; 'ipc list' shows them"
