"""Lab: a filter on stdin and stdout. Fill in the calls marked TODO (see README.md beside this file).

Check it:  ipc check stdio --server 'python3 labs/stdio-filter/filter.py'
"""

import sys

LIMIT = 4096  # a message with its newline


def main() -> int:
    # TODO: os.read(0, 4096) until b"" (end of file), keeping the bytes of a line cut in two; for the n-th
    # whole line os.write(1, f"{n} {line.upper()}\n") (all of it); a line over LIMIT, not UTF-8, an answer
    # over LIMIT, or end of file in the middle of a line: write b"error: <why>\n" and return 1.
    raise NotImplementedError("main(): read(0) until end of file, write(1) each answer")


if __name__ == "__main__":
    sys.exit(main())
