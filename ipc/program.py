"""How a demo program ends: its errors as one clear line and an exit code.

Inside a demo, errors propagate as exceptions. At the very top,
``sys.exit(run(main, role))`` turns the expected kinds (a protocol error, a peer that
went away, a missing file, a timeout) into one line on stderr and exit code 1,
so a student sees what went wrong instead of a traceback. A bug still shows
its traceback. SIGTERM is turned into an exception too, so that the demo's
``finally`` blocks remove its FIFOs and socket files when the harness (or a
person with ``kill``) stops it; the program then exits 143 (128 + 15), as a
shell reports a process killed by SIGTERM, and 130 (128 + 2) after Ctrl-C.

A forked child ends the same way, with ``os._exit(child(role, body, ...))``:
its error is one line of its own, and it never returns into the parent's code.

Under a watcher (the harness, ``ipc watch``) the process can also be asked for
the Python line it is waiting on (ipc.stacks), so that a deadlock report can name it.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import socket
import stat
import traceback
from typing import Callable, NoReturn, Optional

from . import attach, stacks
from .log import Log
from .protocol import ProtocolError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: kill, timeout(1), the harness
EXPECTED = (ProtocolError, OSError)  # OSError covers refused, reset, broken pipe, timeouts, missing files
# How long a server waits on an idle client, and a client on its server, by default. An iterative server
# serves the next client only once it has dropped an idle one, so its deadline must be the shorter:
# with one idle client ahead of it (an nc that types nothing), the next client is still served in time.
SERVER_IDLE = 5.0
CLIENT_PATIENCE = 10.0


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt: only cleanup sees it."""


def raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated()


def run(main: Callable[[], Optional[int]], role: str) -> int:
    """Call main() and return the exit code the program should end with."""
    signal.signal(signal.SIGTERM, raise_terminated)
    stacks.enable()  # only if a watcher asked for it (IPC_STACK_DIR)
    log = Log(role)
    try:
        attach.stop_for_tracer()  # only under ipc trace, make demo: strace takes over here, start-up untraced
        code = main() or EXIT_OK
    except EXPECTED as error:
        log.say(f"error: {describe(error)}")
        code = EXIT_FAILED
    except KeyboardInterrupt:
        log.say("interrupted")
        code = EXIT_INTERRUPTED
    except Terminated:
        log.say("interrupted")
        code = EXIT_TERMINATED
    return code


def child(role: str, body: Callable[..., Optional[int]], *args: object, failure: int = EXIT_FAILED) -> int:
    """In a forked child: call body(*args) and return the exit code to give os._exit().

    Any error is one line, ``role[pid]: error: ...`` (a bug also says where it
    happened); Ctrl-C and SIGTERM, which reach the whole process group, are
    "interrupted". Nothing escapes, not even a failure to report: the child must
    never run on into the parent's code, so the demo says ``os._exit(child(...))``.
    """
    try:
        try:
            return body(*args) or EXIT_OK
        except KeyboardInterrupt:
            Log(role).say("interrupted")
            return EXIT_INTERRUPTED
        except Terminated:
            Log(role).say("interrupted")
            return EXIT_TERMINATED
        except BaseException as error:
            where = "" if isinstance(error, EXPECTED) else f" (a bug, at {last_line(error)})"
            Log(role).say(f"error: {describe(error)}{where}")
            return failure
    except BaseException:  # even the report failed (stderr gone, a second signal): still never return
        return failure


def stop_child(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send a forked child sig and reap it, unless it has been reaped already.

    A signal can land just after waitpid() returned: killing by pid then would
    hit no process (ProcessLookupError), or, once the pid is reused, another one.
    waitpid(WNOHANG) first: a child not yet reaped keeps its pid, even as a zombie.
    """
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == 0:  # still running: its pid is still its own
            os.kill(pid, sig)
            os.waitpid(pid, 0)
    except ChildProcessError:  # reaped already, by the waitpid() the signal interrupted
        pass


def describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{type(error).__name__}: {error.strerror}{where}"
    return f"{type(error).__name__}: {error}"


def last_line(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


def explain_bind(error: OSError, where: object) -> OSError:
    """bind()'s error, saying what failed and what to do: the same errno, a message that names the address."""
    if error.errno is None:  # Python's own check, before any system call: "AF_UNIX path too long"
        return OSError(f"cannot bind {where}: {error}")
    if isinstance(where, str):  # a Unix socket's path
        if error.errno == errno.EADDRINUSE:
            return OSError(error.errno, f"{where} is in use: {who_is_at(where)}")
        return OSError(error.errno, error.strerror, where)
    host, port = where[0], where[1]
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if error.errno == errno.EACCES and 0 < port < 1024:
        return PermissionError(
            error.errno,
            f"cannot bind {shown}: ports below 1024 need privileges "
            "(root, or CAP_NET_BIND_SERVICE); try --port 0 or a port from 1024 up",
        )
    if error.errno == errno.EADDRINUSE:
        return OSError(error.errno, f"cannot bind {shown}: another socket has that port (ss -tulpn shows which)")
    if error.errno == errno.EADDRNOTAVAIL:
        return OSError(error.errno, f"cannot bind {shown}: that is not an address of this machine")
    return OSError(error.errno, f"cannot bind {shown}: {error.strerror}")


def who_is_at(path: str) -> str:
    """Why a Unix socket path is taken: a live server, a stale file, or not a socket at all."""
    if not os.path.exists(path) or not stat.S_ISSOCK(os.stat(path).st_mode):
        return "a file that is not a socket is there"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:  # a socket file nobody has bound: a dead server's
            return f"a stale socket file, left by a server that did not unlink it (remove it: rm {path})"
        except OSError:  # a datagram socket answers a stream connect() with EPROTOTYPE: alive
            return "a socket is bound there: another server is running"
    return "a server is listening there"


# -- a server that runs out ----------------------------------------------------

OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)  # accept()'s errors when this process, or the whole system, has no fd left
SHED_PAUSE = 0.5  # seconds a server that ran out stops accepting, so that the clients it has can finish


class Shortage:
    """A server that runs short (of fds, of threads) says so once, not once per client it turns away; and once
    when it has enough again, with how many it turned away meanwhile."""

    def __init__(self, log: Log):
        self.log, self.what, self.shed = log, None, 0

    def ran_out(self, what: str, doing: str) -> None:
        self.shed += 1
        if self.what is None:
            self.what = what
            self.log.say(f"out of {what}: {doing}")

    def recovered(self) -> None:
        if self.what is not None:
            self.log.say(f"enough {self.what} again ({self.shed} time{'s' * (self.shed != 1)} short meanwhile)")
            self.what, self.shed = None, 0


class SpareFd:
    """One fd kept in reserve. When accept() fails for want of fds, the newest connection waits in the listen
    queue, unanswered, and the listener stays readable; letting the spare go lets accept() take that connection,
    so the server can say no (answer) and close it; then the spare is taken back."""

    def __init__(self) -> None:
        self.fd = os.open(os.devnull, os.O_RDONLY)

    def refuse_newest(self, listener: socket.socket, answer: Callable[[socket.socket], None]) -> bool:
        """Accept one connection with the spare fd, answer it, close it. False if there was nothing to take."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            connection, _ = listener.accept()  # takes the spare's fd number
        except OSError:  # still none (another thread took it), or no one waiting after all
            self._take_back()
            return False
        with connection:
            try:
                connection.settimeout(1.0)  # a client that reads nothing cannot hold the server up
                answer(connection)
            except OSError:  # it has gone already: nothing to tell it
                pass
        self._take_back()
        return True

    def _take_back(self) -> None:
        if self.fd < 0:
            try:
                self.fd = os.open(os.devnull, os.O_RDONLY)
            except OSError:  # taken meanwhile: the next refusal will try again
                self.fd = -1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# -- the command line ----------------------------------------------------------


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A demo's command line, whose --help shows the demo's whole docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def listen_options(parser: argparse.ArgumentParser) -> None:
    """A server's --host (loopback unless told otherwise) and --port (0: any free one)."""
    parser.add_argument(
        "--host", type=host_name, default="127.0.0.1", help="address to listen on (default: loopback only; '': any)"
    )
    parser.add_argument("--port", type=port_number, default=0, help="port to listen on (default 0: any free)")


def clients_options(parser: argparse.ArgumentParser, idle: Optional[str] = None) -> None:
    """A server's --clients (how many before it exits) and, when idle says whom it drops, --idle."""
    parser.add_argument(
        "--clients",
        type=whole_number(0, 2**31),
        default=0,
        help="serve this many clients, then exit (default 0: forever)",
    )
    if idle is not None:
        parser.add_argument(
            "--idle",
            type=seconds(zero="no deadline"),
            default=SERVER_IDLE,
            help=f"{idle} for this long (default {SERVER_IDLE:g}: shorter than a client's default patience, "
            f"{CLIENT_PATIENCE:g} s, so the next client is served in time; 0: never)",
        )


def port_number(text: str) -> int:
    """An argparse type: a port is a 16-bit number, 0 to 65535 (0: let the kernel choose)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: a port is 16 bits, 0 to 65535")
    return port


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high."""

    def parse(text: str) -> int:
        number = int(text)  # ValueError: argparse says "invalid int value: 'many'"
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is out of range: {low} to {high}")
        return number

    parse.__name__, parse.kind = "int", "whole number"  # argparse names the type by __name__
    return parse


def seconds(low: float = 0.0, high: float = 86400.0, zero: Optional[str] = None) -> Callable[[str], float]:
    """An argparse type: a duration in seconds, more than low and at most high (a day, by default).

    zero: what 0 means, if 0 is allowed too (for a deadline: "none, wait for ever")."""

    def parse(text: str) -> float:
        value = float(text)  # ValueError: argparse says "invalid float value: 'x'"
        if value == 0 and zero:
            return 0.0
        if not (math.isfinite(value) and low < value <= high):  # nan and inf too: no timeout can take them
            also = f", or 0 ({zero})" if zero else ""
            raise argparse.ArgumentTypeError(f"{text} is out of range: more than {low:g} s, at most {high:g} s{also}")
        return value

    parse.__name__, parse.kind = "float", "seconds"
    return parse


def host_name(text: str) -> str:
    """An argparse type: a host name or a numeric address, as getaddrinfo() takes it ('' is left to the caller)."""
    try:
        text.encode("idna")  # what getaddrinfo() does to a name first: a label over 63 bytes, a stray byte fail here
    except UnicodeError as error:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a host name or address ({error})") from None
    return text


def service(text: str) -> str:
    """An argparse type: a port number, or a service's name as /etc/services lists them (http, ssh)."""
    if text.isdigit():
        return str(port_number(text))
    if not (text and text.isascii() and text.isprintable() and " " not in text):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is neither a port number nor a service name")
    return text


def non_empty(text: str) -> str:
    """An argparse type: a path or a name that is not empty (an empty path means the current directory)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    if "\0" in text:
        raise argparse.ArgumentTypeError("must not contain a NUL byte")
    return text
