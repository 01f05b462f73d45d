"""How a demo program ends: its errors as one clear line and an exit code.

Inside a demo, errors propagate as exceptions. At the very top,
``sys.exit(run(main, role))`` turns the expected kinds (a protocol error, a peer that
went away, a missing file, a timeout) into one line on stderr and exit code 1,
so a student sees what went wrong instead of a traceback. A bug still shows
its traceback. SIGTERM is turned into an exception too, so that the demo's
``finally`` blocks remove its FIFOs and socket files when the harness (or a
person with ``kill``) stops it. Under a watcher (the harness, ``ipc watch``)
the process can also be asked for the Python line it is waiting on
(ipc.stacks), so that a deadlock report can name it.
"""

from __future__ import annotations

import argparse
import signal
from typing import Callable, NoReturn

from . import stacks
from .log import Log
from .protocol import ProtocolError

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt: only cleanup sees it."""


def raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated()


def run(main: Callable[[], int | None], role: str) -> int:
    """Call main() and return the exit code the program should end with."""
    signal.signal(signal.SIGTERM, raise_terminated)
    stacks.enable()  # only if a watcher asked for it (IPC_STACK_DIR)
    log = Log(role)
    try:
        code = main() or EXIT_OK
    except (ProtocolError, OSError) as error:  # OSError covers refused, reset, broken pipe, timeouts
        log.say(f"error: {describe(error)}")
        code = EXIT_FAILED
    except (KeyboardInterrupt, Terminated):
        log.say("interrupted")
        code = EXIT_INTERRUPTED
    return code


def describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{type(error).__name__}: {error.strerror}{where}"
    return f"{type(error).__name__}: {error}"


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A demo's command line, whose --help shows the demo's whole docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def port_number(text: str) -> int:
    """An argparse type: a port is a 16-bit number, 0 to 65535 (0: let the kernel choose)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: a port is 16 bits, 0 to 65535")
    return port


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative: give 0 or more")
    return value


def seconds(text: str) -> float:
    """An argparse type: a length of time in seconds, finite and 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):  # also refuses nan, which compares false with everything
        raise argparse.ArgumentTypeError(f"{text} is not a length of time: give 0 or more seconds")
    return value
