"""``python3 -m ipc.catalog``: the demo names, one a line (for the Makefile)."""

from . import all_demos

for demo in all_demos():
    print(demo.name)
