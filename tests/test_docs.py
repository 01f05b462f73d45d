"""The README is a front door, and the pages behind it hold together: every link leads somewhere, the
command-line reference is the program's own --help, and no page speaks of anything but the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipc import reference

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "labs" / "README.md"]


def test_the_readme_is_a_front_door_of_about_two_hundred_lines():
    """Not counting the demo table (a row per demo, written by make readme)."""
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- demo-table:start.*?<!-- demo-table:end -->", readme, re.S).group(0)
    assert len(readme.replace(table, "").splitlines()) <= 190


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_of_a_page_leads_to_a_file_that_is_there(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [link for link in links if not link.startswith("http") and not (page.parent / link).exists()]
    assert not missing, missing


def test_every_page_behind_the_readme_is_linked_from_the_index():
    index = (ROOT / "docs" / "README.md").read_text()
    for page in (ROOT / "docs").glob("*.md"):
        assert page.name == "README.md" or f"]({page.name})" in index, page.name


def test_the_command_line_reference_is_the_programs_own_help():
    assert (ROOT / "docs" / "cli.md").read_text() == reference.page(), "stale: run make docs"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_page_speaks_of_issues(page):
    assert not re.search(r"\bissues?\b", page.read_text(), re.I)


def test_every_example_runs_ipc_where_make_put_it():
    """`ipc` is in .venv/bin, not on the PATH: a command line that starts with a bare `ipc` would fail."""
    for page in PAGES:
        bare = re.findall(r"^(?:\$ )?ipc (?:list|run|watch|trace|check|bench)\b[^:\n]*$", page.read_text(), re.M)
        assert not bare, (page.name, bare)
