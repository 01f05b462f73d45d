"""Lab: a client of demos/fifo_server.py. Fill in the calls marked TODO (see README.md beside this file).

Check it:  ipc check fifo --client 'python3 labs/fifo-client/fifo_client.py --dir {dir}'
"""

import argparse
import os

REQUESTS = ["hello", "how are you?", "Grüße aus der Pipe", "bye"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, help="the server's directory")
    args = parser.parse_args()
    mine = [os.path.join(args.dir, f"{os.getpid()}.{name}") for name in ("requests", "replies")]
    # TODO: mkfifo() both paths in `mine`; write f"{os.getpid()}\n" to the server's FIFO (args.dir/server:
    # open O_WRONLY, write, close); open mine[0] for writing, then mine[1] for reading; for each request
    # write it with its newline and read its answer (until a whole line), print() it; close both;
    # unlink() both FIFOs, on every way out (try/finally).
    raise NotImplementedError(f"main(): mkfifo() {mine[0]} and {mine[1]}, tell the server, talk, unlink()")


if __name__ == "__main__":
    main()
