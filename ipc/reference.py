"""docs/cli.md, the command-line reference: every command's --help, as the program prints it.

    python -m ipc.reference > docs/cli.md      (make docs; tests/test_docs.py checks it is current)

Written from the parser itself, at a fixed width, so that the page cannot drift from the program.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

from . import cli

WIDTH = "100"  # argparse wraps at $COLUMNS: the page is written at this width, whatever the terminal's
COMMANDS = ("list", "run", "watch", "trace", "check", "bench")


def help_text(*argv: str) -> str:
    """What ``ipc ARGV --help`` prints, at the page's width."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.build_parser().parse_args([*argv, "--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out.getvalue().rstrip() + "\n"


def page() -> str:
    parts = [
        "# Command-line reference\n",
        "[← the README](../README.md) · [all pages](README.md)\n",
        "Every command of `ipc`, as its `--help` prints it (written by `make docs` from the program itself). "
        "`make` installs `ipc` in `.venv/bin/`: run it as `.venv/bin/ipc`, or `python -m ipc` inside the "
        "virtualenv.\n",
        "```\n" + help_text() + "```\n",
        "The exit codes of `ipc list` and `ipc run`, and of `ipc watch`:\n",
        "```\n" + cli.__doc__[cli.__doc__.index("Exit codes of ipc list") :].strip() + "\n```\n",
    ]
    for command in COMMANDS:
        parts.append(f"## ipc {command}\n")
        parts.append("```\n" + help_text(command) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(page())
