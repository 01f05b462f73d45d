"""The classic subprocess pipe-buffer deadlock, as anyone might write it: no ipc, no labels.

    python writes_all_then_reads.py [BYTES]

Writes BYTES (default 1 MB) to cat's stdin, then reads cat's stdout. Past 64 KiB
or so it never finishes: cat blocks writing its full stdout, then this blocks
writing cat's full stdin. With a small BYTES it ends and prints how much came back.
"""

import subprocess
import sys

size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
child = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdin.write(b"x" * size)
child.stdin.close()
print(len(child.stdout.read()))
child.wait()
