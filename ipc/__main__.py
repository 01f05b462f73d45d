"""``python -m ipc``: the ipc command (ipc.cli)."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a worker process of ipc imports this module again
    sys.exit(main())
