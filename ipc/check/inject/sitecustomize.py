"""Loaded at start-up by every Python program ``ipc check`` runs (its directory leads PYTHONPATH).

Under a trace (IPC_CHECK_CALLS names a directory) it records, for each call of
the lesson a program makes (os.pipe, os.fork, os.read, sock.recv, sock.bind,
os.waitpid...), where in the program's own source it was made: the time, the
process, the thread, the fd, the file and the line, one line per call, in a file
per process. ipc.check.sources matches each line to the system call strace saw
next in that thread, so that a finding can say "at my_server.py:12". The
records are written on an fd of 250 or above (the program's own fds keep their
usual numbers) and their calls are taken out of the trace before it is read.

It then hands over to the sitecustomize this one stands in front of, if any.
It imports nothing of ipc, and a program must start as it would without it,
whatever happens here.
"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
FD_FLOOR = 250


def _install(directory):
    import builtins
    import socket
    import sysconfig
    import threading
    import time

    write, open_fd, dup2, close, getpid = os.write, os.open, os.dup2, os.close, os.getpid  # before they are wrapped
    ipc = os.path.dirname(os.path.dirname(_here))
    library = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], ipc + os.sep, "<"})
    # (the standard library, ipc/ itself: a demo's log lines, frozen modules: never the program's own line)
    state = {"pid": None, "fd": -1}
    busy = threading.local()

    def log_fd():
        if state["pid"] != getpid():  # a forked child writes a file of its own
            low = open_fd(os.path.join(directory, str(getpid())), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                          0o600)  # fmt: skip
            try:
                import fcntl

                if state["fd"] >= 0:
                    state["fd"] = dup2(low, state["fd"], inheritable=False)  # the inherited fd, repointed
                else:
                    state["fd"] = fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, FD_FLOOR)
            finally:
                close(low)
            state["pid"] = getpid()
        return state["fd"]

    def record(family, fd):
        if getattr(busy, "on", False):
            return
        busy.on = True
        try:
            frame = sys._getframe(2)
            while frame is not None and frame.f_code.co_filename.startswith(library):
                frame = frame.f_back
            if frame is None:
                return
            line = f"{time.time():.6f} {getpid()} {threading.get_native_id()} {family} {fd} {frame.f_lineno} "
            write(log_fd(), (line + frame.f_code.co_filename + "\n").encode("utf-8", "surrogateescape"))
        except Exception:  # never the program's problem: a closed fd, a full disk
            pass
        finally:
            busy.on = False

    def wrap(function, family, fd_of=None):
        def wrapper(*args, **kwargs):
            fd = -1
            if fd_of is not None and args:
                try:
                    fd = fd_of(args)
                except Exception:
                    fd = -1
            record(family, fd)
            return function(*args, **kwargs)

        wrapper.__name__ = getattr(function, "__name__", family)
        wrapper.__doc__ = getattr(function, "__doc__", None)
        wrapper.__wrapped__ = function
        return wrapper

    def first_int(args):
        return args[0] if isinstance(args[0], int) else -1

    def own_fd(args):
        return args[0].fileno()

    for name, family, fd_of in [
        ("pipe", "pipe", None), ("pipe2", "pipe", None), ("fork", "fork", None), ("forkpty", "fork", None),
        ("posix_spawn", "fork", None), ("posix_spawnp", "fork", None), ("system", "fork", None),
        ("read", "read", first_int), ("readv", "read", first_int), ("write", "write", first_int),
        ("writev", "write", first_int), ("execv", "exec", None), ("execve", "exec", None),
        ("waitpid", "wait", None), ("wait", "wait", None), ("wait3", "wait", None), ("wait4", "wait", None),
        ("mkfifo", "mkfifo", None), ("open", "open", None), ("dup2", "dup2", first_int),
        ("unlink", "unlink", None), ("remove", "unlink", None),
    ]:  # fmt: skip
        if hasattr(os, name):
            setattr(os, name, wrap(getattr(os, name), family, fd_of))
    builtins.open = wrap(builtins.open, "open")
    try:
        import _posixsubprocess  # what subprocess.Popen forks and execs with

        _posixsubprocess.fork_exec = wrap(_posixsubprocess.fork_exec, "fork")
    except (ImportError, AttributeError):
        pass
    for name, family in [
        ("recv", "read"), ("recv_into", "read"), ("recvfrom", "read"), ("recvfrom_into", "read"),
        ("recvmsg", "read"), ("send", "write"), ("sendall", "write"), ("sendto", "write"), ("sendmsg", "write"),
        ("bind", "bind"), ("listen", "listen"), ("accept", "accept"), ("connect", "connect"),
        ("connect_ex", "connect"),
    ]:  # fmt: skip
        setattr(socket.socket, name, wrap(getattr(socket.socket, name), family, own_fd))
    socket.socket.__init__ = wrap(socket.socket.__init__, "socket")
    socket.socketpair = wrap(socket.socketpair, "socket")


def _chain():
    """Import the next sitecustomize on the path: the one this file hides."""
    this = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    try:
        import importlib

        importlib.import_module("sitecustomize")
    except ImportError:  # there is none: the importer still expects to find this one under that name
        sys.modules["sitecustomize"] = this


try:
    if os.environ.get("IPC_CHECK_CALLS"):
        _install(os.environ["IPC_CHECK_CALLS"])
except Exception:
    pass
_chain()
