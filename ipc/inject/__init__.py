"""The start-up hook (sitecustomize.py, beside this file): where it is, and how a program is given it.

A program started with this directory leading its PYTHONPATH loads the hook before anything of its own;
each of its instruments works only where its variable is set (see sitecustomize.py). Standard library only:
ipc watch gives it to every command it runs.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

HOOK = os.path.dirname(os.path.abspath(__file__))
CALLS = "IPC_TRACE_CALLS"  # the directory where Python programs keep records of their calls (ipc.trace.sources)


def with_hook(env: Mapping[str, str], records: Optional[str] = None) -> dict:
    """``env`` for a program that loads the hook: its directory leads PYTHONPATH; with ``records`` (a
    directory), its Python programs keep records there of the calls they make, and where they make them."""
    env = dict(env)
    path = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry and entry != HOOK]
    env["PYTHONPATH"] = os.pathsep.join([HOOK, *path])
    if records is not None:
        env[CALLS] = records
    return env
