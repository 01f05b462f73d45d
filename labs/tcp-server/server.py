"""Lab: a TCP server for the exchange. Fill in the calls marked TODO (see README.md beside this file).

Check it:  ipc check tcp --server 'python3 labs/tcp-server/server.py --port {port}'
"""

import argparse
import socket

LIMIT = 4096  # a message with its newline


def answer(number: int, request: bytes) -> bytes:
    """The answer to the number-th request: b"1 HELLO\\n" for b"hello"."""
    text = request.decode("utf-8")  # UnicodeDecodeError: not UTF-8
    reply = f"{number} {text.upper()}\n".encode()
    if len(reply) > LIMIT:
        raise ValueError(f"its answer would be {len(reply)} bytes, the limit is {LIMIT} bytes")
    return reply


def serve(connection: socket.socket) -> None:
    """One client: answer each whole line until end of file."""
    # TODO: recv() into a buffer until it returns b"" (end of file); answer each whole line with
    # sendall(answer(n, line)); refuse a line over LIMIT, bad UTF-8 or a cut line with b"error: ...\n",
    # then shutdown(SHUT_WR) and read what is left before returning.
    raise NotImplementedError("serve(): recv() until end of file, sendall() each answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # TODO: socket(), setsockopt(SO_REUSEADDR), bind(("127.0.0.1", args.port)), listen(); then for ever:
    # accept() a client, serve() it, close() its socket (a client that resets ends only its conversation).
    raise NotImplementedError(f"main(): socket(), bind() to port {args.port}, listen(), accept()")


if __name__ == "__main__":
    main()
