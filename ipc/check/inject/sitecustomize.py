"""Loaded at start-up by every Python program ``ipc check`` runs (its directory leads PYTHONPATH).

Under a trace (IPC_CHECK_CALLS names a directory) it records, for each call of
the lesson a program makes (os.pipe, os.fork, os.read, sock.recv, sock.bind,
os.waitpid...), where in the program's own source it was made: the time, the
process, the thread, the fd (a socket's), the file and the line, one line per
call, in a file per process. It watches with a profile hook (sys.setprofile,
its "c_call" events), so the program's functions and tracebacks stay its own.
ipc.check.sources matches each line to the system call strace saw next in
that thread, so that a finding can say "at my_server.py:12". The
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
    import socket
    import sysconfig
    import threading
    import time

    write, open_fd, dup2, close, getpid = os.write, os.open, os.dup2, os.close, os.getpid
    ipc = os.path.dirname(os.path.dirname(_here))
    library = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], ipc + os.sep, "<"})
    # (the standard library, ipc/ itself: a demo's log lines, frozen modules: never the program's own line)
    state = {"pid": None, "fd": -1}
    busy = threading.local()
    families = {}  # id of a builtin function -> the kind of call it makes
    for name, family in [
        ("pipe", "pipe"), ("pipe2", "pipe"), ("fork", "fork"), ("forkpty", "fork"), ("posix_spawn", "fork"),
        ("posix_spawnp", "fork"), ("system", "fork"), ("read", "read"), ("readv", "read"), ("write", "write"),
        ("writev", "write"), ("execv", "exec"), ("execve", "exec"), ("waitpid", "wait"), ("wait", "wait"),
        ("wait3", "wait"), ("wait4", "wait"), ("mkfifo", "mkfifo"), ("open", "open"), ("dup2", "dup2"),
        ("unlink", "unlink"), ("remove", "unlink"),
    ]:  # fmt: skip
        if hasattr(os, name):
            families[id(getattr(os, name))] = family
    try:
        import _posixsubprocess  # what subprocess.Popen forks and execs with

        families[id(_posixsubprocess.fork_exec)] = "fork"
    except (ImportError, AttributeError):
        pass
    import builtins

    families[id(builtins.open)] = "open"
    on_socket = {
        "recv": "read", "recv_into": "read", "recvfrom": "read", "recvfrom_into": "read", "recvmsg": "read",
        "send": "write", "sendall": "write", "sendto": "write", "sendmsg": "write", "bind": "bind",
        "listen": "listen", "_accept": "accept", "connect": "connect", "connect_ex": "connect",
    }  # fmt: skip
    socket_type = socket.socket.__mro__[1]  # _socket.socket, whose methods are the calls

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

    def profile(frame, event, function):
        if event != "c_call":
            return
        family = families.get(id(function))
        fd = -1
        if family is None:
            owner = getattr(function, "__self__", None)
            if not isinstance(owner, socket_type):
                return
            family = on_socket.get(getattr(function, "__name__", ""))
            if family is None:
                return
            fd = owner.fileno()
        if getattr(busy, "on", False):
            return
        busy.on = True
        try:
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

    threading.setprofile(profile)
    sys.setprofile(profile)


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
