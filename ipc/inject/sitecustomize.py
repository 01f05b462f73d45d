"""Loaded at start-up by every Python program ``ipc watch`` runs (its directory leads PYTHONPATH).

It lets a deadlock report name the Python line each process waits on, in
programs nobody wrote for this project: it turns on ipc.stacks (a stack dump
on request, written by faulthandler from inside the signal handler), then
hands over to the sitecustomize this one stands in front of, if there is one.
It imports nothing of ipc but that one small module, found by its path.
"""

import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))


def _enable_stacks():
    path = os.path.join(os.path.dirname(_here), "stacks.py")
    spec = importlib.util.spec_from_file_location("_ipc_stacks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.enable()


def _chain():
    """Import the next sitecustomize on the path: the one this file hides."""
    this = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    try:
        importlib.import_module("sitecustomize")
    except ImportError:  # there is none: the importer still expects to find this one under that name
        sys.modules["sitecustomize"] = this


try:
    _enable_stacks()
except Exception:  # a program must start as it would without ipc watch, whatever happens here
    pass
_chain()
