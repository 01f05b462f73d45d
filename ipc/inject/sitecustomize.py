"""Loaded at start-up by every Python program ipc runs from outside (its directory leads PYTHONPATH).

Two instruments, each only where it was asked for, so that any Python program,
written for this project or not, can answer for itself:

- its stacks (IPC_STACK_DIR, set by ``ipc watch``, the harness, ``ipc check``):
  ipc.stacks, so that a deadlock report names the Python line each process
  waits on (a stack dump on request, written by faulthandler);
- its calls (IPC_TRACE_CALLS, set wherever it runs under strace: ``ipc trace``,
  make demo, ``ipc check``): just before each call of the lesson (os.read,
  os.fork, sock.recv, select.select, subprocess's fork and exec...), one line
  saying what is called, which system calls it may make, and from where: the
  program's own line, and the library's frame when a library made the call for
  it. It watches with a profile hook (sys.setprofile, its "c_call" events), so
  the program's functions and tracebacks stay its own. The line is written on
  an fd of 250 or above (the program's fds keep their usual numbers), into a
  file of its own per process in that directory; strace sees the write just
  before the call, in the same thread, and ipc.trace.sources joins the two.
  What each Python call may make is said here, in the record, and nowhere else.
  A program the harness traces from its main() on (ipc.attach) is watched
  from there: its start-up, untraced, would pay for nothing.

Then it hands over to the sitecustomize this one stands in front of, if any.
It imports nothing of ipc but ipc/stacks.py, found by its path, and a program
must start as it would without it, whatever happens here.
"""

import importlib
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
FD_FLOOR = 250
_SOCKET_WAITS = "poll,ppoll"  # a socket with a timeout polls before (and between) its calls

# What each Python call may make: (system calls, helpers on the way, flags). Flags: many, it may make several;
# maybe, it may make none (buffered I/O); spawn, the child it makes acts for it until its execve.
_FORK = "clone,clone3,fork,vfork"
OS_CALLS = {
    "pipe": ("pipe2,pipe", "", ""), "pipe2": ("pipe2", "", ""), "fork": (_FORK, "", ""),
    "posix_spawn": (_FORK, "", "spawn"), "posix_spawnp": (_FORK, "", "spawn"),
    "system": (_FORK + ",wait4", "", "spawn,many"), "read": ("read", "", ""), "readv": ("readv", "", ""),
    "pread": ("pread64", "", ""), "write": ("write", "", ""), "writev": ("writev", "", ""),
    "pwrite": ("pwrite64", "", ""), "sendfile": ("sendfile", "", ""), "splice": ("splice", "", ""),
    "close": ("close", "", ""), "closerange": ("close_range,close", "", "many"), "dup": ("fcntl,dup", "", ""),
    "dup2": ("dup2,dup3", "", ""), "open": ("openat,open", "", ""), "mkfifo": ("mknodat,mknod", "", ""),
    "mknod": ("mknodat,mknod", "", ""), "unlink": ("unlinkat,unlink", "", ""), "remove": ("unlinkat,unlink", "", ""),
    "rename": ("renameat2,renameat,rename", "", ""), "replace": ("renameat2,renameat,rename", "", ""),
    "execv": ("execve", "", ""), "execve": ("execve", "", ""), "waitpid": ("wait4", "", ""),
    "wait": ("wait4", "", ""), "wait3": ("wait4", "", ""), "wait4": ("wait4", "", ""), "waitid": ("waitid", "", ""),
    "kill": ("kill", "", ""), "killpg": ("kill", "", ""), "_exit": ("exit_group", "", ""),
    "set_blocking": ("fcntl", "", "many"), "lseek": ("lseek", "", ""),
}  # fmt: skip
SOCKET_METHODS = {
    "recv": "recvfrom", "recv_into": "recvfrom", "recvfrom": "recvfrom", "recvfrom_into": "recvfrom",
    "recvmsg": "recvmsg", "recvmsg_into": "recvmsg", "send": "sendto", "sendto": "sendto", "sendmsg": "sendmsg",
    "bind": "bind", "listen": "listen", "_accept": "accept4,accept", "shutdown": "shutdown", "close": "close",
}  # fmt: skip
WAITING = ("recvfrom", "recvmsg", "sendto", "sendmsg", "accept4,accept")  # these wait on a socket's timeout
SOCKET_LOOPS = {"sendall": "sendto", "connect": "connect", "connect_ex": "connect"}  # (connect polls after)
SELECTS = {"select": "select,pselect6", "poll": "poll,ppoll", "epoll": "epoll_wait,epoll_pwait"}
IO_METHODS = (
    "read",
    "read1",
    "readinto",
    "readline",
    "readlines",
    "readall",
    "write",
    "writelines",
    "flush",
    "close",
    "__exit__",
)  # fmt: skip  (what a file object is called with: its reads and writes may wait in its buffer)


def _enable_stacks():
    if not os.environ.get("IPC_STACK_DIR"):
        return
    path = os.path.join(os.path.dirname(_here), "stacks.py")
    module = type(sys)("_ipc_stacks")  # (not importlib.util, whose own imports would cost every start-up more)
    module.__file__ = path
    with open(path, encoding="utf-8") as file:
        exec(compile(file.read(), path, "exec"), module.__dict__)
    sys.modules["_ipc_stacks"] = module  # ipc.stacks.enable() finds it there: a process dumps into one file
    module.enable()


def _watched() -> tuple:
    """(id of a function -> its record's fixed part, socket method -> it, io method name -> it, the code of
    socket.socket.__init__). A record's fixed part: what, makes, helpers, flags."""
    import io
    import socket
    import threading

    functions = {}
    for name, (makes, helpers, flags) in OS_CALLS.items():
        if hasattr(os, name):
            functions[id(getattr(os, name))] = ("os." + name, makes, helpers, flags)
    import builtins

    functions[id(builtins.open)] = functions[id(io.open)] = ("open", "openat,open", "", "maybe")  # (not on an fd)
    functions[id(builtins.print)] = ("print", "write", "", "many,maybe")  # (stdout's buffer may keep it)
    import _socket

    functions[id(_socket.socketpair)] = ("socket.socketpair", "socketpair", "", "")
    functions[id(_socket.getaddrinfo)] = (
        "socket.getaddrinfo",
        "socket,bind,connect,sendto,sendmsg,sendmmsg,recvfrom,recvmsg,poll,openat,read,close",  # DNS, netlink
        "",
        "many,maybe",
    )
    functions[id(_socket.dup)] = ("socket.dup", "fcntl,dup", "", "")
    functions[id(threading._start_new_thread)] = ("threading.Thread.start", "clone3,clone", "", "")
    try:
        import _posixsubprocess  # what subprocess.Popen forks and execs with

        functions[id(_posixsubprocess.fork_exec)] = ("subprocess.Popen", _FORK, "", "spawn")
    except (ImportError, AttributeError):
        pass
    import select

    functions[id(select.select)] = ("select.select", SELECTS["select"], "", "")
    methods = {name: ("socket." + name.lstrip("_"), makes, _SOCKET_WAITS if makes in WAITING else "", "")
               for name, makes in SOCKET_METHODS.items()}  # fmt: skip
    methods.update({name: ("socket." + name, makes, _SOCKET_WAITS, "many") for name, makes in SOCKET_LOOPS.items()})
    io_methods = {name: ("io." + name, "read,write,close,lseek", "", "many,maybe") for name in IO_METHODS}
    return functions, methods, io_methods, socket.socket.__init__.__code__


def _install(directory):
    import socket
    import threading

    write, open_fd, dup2, close, getpid = os.write, os.open, os.dup2, os.close, os.getpid
    ipc = os.path.dirname(_here) + os.sep
    packages = [entry + os.sep for entry in sys.path if os.path.basename(entry) in ("site-packages", "dist-packages")]
    library = (os.path.dirname(os.__file__) + os.sep, *packages, ipc, "<frozen ")
    # Ours, no lesson: a stack dump's file, the stop for strace, and a demo's narration on stderr (ipc.log's
    # labelled lines, which the pictures keep apart from the calls); a record each would cost and say nothing.
    unrecorded = {ipc + "stacks.py", ipc + "attach.py", ipc + "log.py"}
    # (the standard library, site-packages, ipc/ itself -- the demos' log lines, their read loop --, frozen
    # modules: never the program's own line, but a library's frame when it made the call)
    functions, methods, io_methods, socket_init = _watched()
    socket_type = socket.socket.__mro__[1]  # _socket.socket, whose methods are the calls
    import io

    io_types = (io.FileIO, io.BufferedReader, io.BufferedWriter, io.BufferedRandom, io.BufferedRWPair,
                io.TextIOWrapper)  # fmt: skip
    selects = {"poll": SELECTS["poll"], "epoll": SELECTS["epoll"]}
    state = {"pid": None, "fd": -1}
    is_library = {}  # code object -> whether it is a library's
    absolute = {}  # a code's file name -> its absolute path (a script's is as given on the command line)

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

    def library_code(code):
        known = is_library.get(code)
        if known is None:
            known = is_library[code] = path_of(code.co_filename).startswith(library)
        return known

    def path_of(name):  # as imported through "demos/.." or given as "prog.py": absolute and normal
        path = absolute.get(name)
        if path is None:
            path = absolute[name] = os.path.abspath(name) if not name.startswith("<") else name
        return path

    def importing(code):  # the import system reading a module: start-up's housekeeping, no lesson
        return code.co_filename.startswith("<frozen importlib")

    def where(frame):
        path = path_of(frame.f_code.co_filename)
        return f"{path}\t{frame.f_lineno}\t{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}"

    def record(frame, what, makes, helpers, flags, fd):
        """The program's frame (past a lambda a library called: the program's statement that called the
        library), and the innermost library frame on the way, if any."""
        if importing(frame.f_code) or path_of(frame.f_code.co_filename) in unrecorded:
            return
        inner = None  # the library frame that made the call
        while frame is not None and library_code(frame.f_code):
            inner = inner or frame
            frame = frame.f_back
        if frame is not None and frame.f_code.co_name == "<lambda>" and frame.f_back is not None:
            outer = frame.f_back
            if library_code(outer.f_code):
                found = outer
                while found is not None and library_code(found.f_code):
                    found = found.f_back
                if found is not None:
                    inner, frame = outer, found
        if frame is None:  # only library code on the stack (a library's own thread): its frame is all there is
            frame, inner = inner, None
        if frame is None:
            return
        line = f"{what}\t{fd}\t{makes}\t{helpers}\t{flags}\t{where(frame)}\t" + (
            where(inner) if inner is not None else "\t\t"
        )
        write(log_fd(), (line + "\n").encode("utf-8", "surrogateescape"))

    def profile(frame, event, function):
        try:
            if event == "c_call":
                fixed = functions.get(id(function))
                fd = -1
                if fixed is None:
                    owner = getattr(function, "__self__", None)
                    name = getattr(function, "__name__", "")
                    if isinstance(owner, socket_type):
                        fixed = methods.get(name)
                        if fixed is None:
                            return
                        fd = owner.fileno()
                    elif type(owner).__name__ in selects and name == "poll":
                        fixed = ("select." + type(owner).__name__ + ".poll", selects[type(owner).__name__], "", "")
                    elif isinstance(owner, io_types) and name in io_methods:
                        fixed = io_methods[name]
                        try:
                            fd = owner.fileno()
                        except (ValueError, OSError):
                            fd = -1
                    else:
                        return
                record(frame, *fixed, fd)
            elif event == "call" and frame.f_code is socket_init and frame.f_locals.get("fileno") is None:
                record(frame.f_back, "socket.socket", "socket", "", "", -1)  # a new socket, not accept's
        except Exception:  # never the program's problem: a closed fd, a full disk
            pass

    def start():
        threading.setprofile(profile)
        sys.setprofile(profile)

    if os.environ.get("IPC_TRACE_ATTACH"):  # traced from its main() on: its start-up is no one's lesson, and
        sys.modules["_ipc_calls"] = type(sys)("_ipc_calls")  # watched it would cost more than the lesson
        sys.modules["_ipc_calls"].start = start  # ipc.attach starts it once strace is there (ipc.attach.ENV)
    else:
        start()


def _chain():
    """Import the next sitecustomize on the path: the one this file hides."""
    this = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    try:
        importlib.import_module("sitecustomize")
    except ImportError:  # there is none: the importer still expects to find this one under that name
        sys.modules["sitecustomize"] = this


for _instrument in (
    _enable_stacks,
    lambda: os.environ.get("IPC_TRACE_CALLS") and _install(os.environ["IPC_TRACE_CALLS"]),
):  # fmt: skip  (the variable: ipc.inject.CALLS)
    try:
        _instrument()
    except Exception:  # a program must start as it would without ipc, whatever happens here
        pass
_chain()
