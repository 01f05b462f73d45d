"""Which line made each call: the Python programs' records joined to strace's calls, on text alone (no tracing).

A record is the line the start-up hook (ipc/inject/sitecustomize.py) writes just before a call of the lesson;
strace shows its write on fd 250 (a file of an ``ipc-calls-`` directory) in the same thread, just before the
call. ``record`` below writes one as the hook does; the live tests (tests/test_trace_sources_live.py) hold the
hook to the same format.
"""

from __future__ import annotations

from ipc.trace import export
from ipc.trace.build import build
from ipc.trace.sources import Frame, Source, coverage, native_source, parse_addr2line, parse_record, unknown
from ipc.trace.strace import parse

RECORDS = "/tmp/ipc-calls-x1y2"
PROGRAM = "/home/me/prog.py"


def record(pid: int, time: float, what: str, makes: str, line: int, *, fd: int = -1, helpers: str = "",
           flags: str = "", function: str = "main", library: tuple = ()) -> str:  # fmt: skip
    """The strace line of a record's write: what is about to be called, from where (and the library's frame)."""
    lib = "\\t".join(map(str, library)) if library else "\\t\\t"
    text = f"{what}\\t{fd}\\t{makes}\\t{helpers}\\t{flags}\\t{PROGRAM}\\t{line}\\t{function}\\t{lib}\\n"
    size = len(text.encode().decode("unicode_escape"))
    return f'{pid} {time:.6f} write(250<{RECORDS}/{pid}>, "{text}", {size}) = {size} <0.000010>\n'


def model(text: str):
    return build([text])


def titles(trace) -> list:
    return [(call.name, call.source.line if call.source else None) for call in trace.calls]


def test_each_call_gets_the_line_its_record_names_and_the_records_leave_no_trace():
    text = (
        record(100, 1.0, "os.pipe", "pipe2,pipe", 3)
        + "100 1.000100 pipe2([3<pipe:[7]>, 4<pipe:[7]>], 0) = 0 <0.000010>\n"
        + record(100, 1.0002, "os.fork", "clone,clone3,fork,vfork", 4)
        + "100 1.000300 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 101 <0.000100>\n"
        + f'101 1.000400 openat(AT_FDCWD, "{RECORDS}/101", O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC, 0600) = 5<{RECORDS}/101> <0.000010>\n'  # noqa: E501
        + f"101 1.000410 dup3(5<{RECORDS}/101>, 250<{RECORDS}/100>, O_CLOEXEC) = 250<{RECORDS}/101> <0.000010>\n"
        + f"101 1.000420 close(5<{RECORDS}/101>) = 0 <0.000010>\n"
        + record(101, 1.00043, "os.write", "write", 6, function="child")
        + '101 1.000500 write(4<pipe:[7]>, "hi", 2) = 2 <0.000010>\n'
        + "101 1.000600 exit_group(0) = ?\n101 1.000700 +++ exited with 0 +++\n"
        + record(100, 1.0008, "os.read", "read", 8)
        + '100 1.000900 read(3<pipe:[7]>, "hi", 10) = 2 <0.000010>\n'
    )
    trace = model(text)
    assert titles(trace) == [("pipe2", 3), ("clone", 4), ("write", 6), ("exit_group", None), ("read", 8)]
    write = trace.calls[2]
    assert (write.source.file, write.source.function, write.source.python) == (PROGRAM, "child", "os.write")
    assert all(250 not in call.fds and "ipc-calls" not in call.text for call in trace.calls)
    assert all(250 not in table for table in (trace.fd_table(pid) for pid in trace.processes))
    assert [(r.what, r.calls) for r in trace.python_calls] == [
        ("os.pipe", [0]), ("os.fork", [1]), ("os.write", [2]), ("os.read", [4])
    ]  # fmt: skip
    assert [m.data for m in trace.messages] == [b"hi"]  # the records' bytes are no message


def test_a_library_frame_rides_along_with_the_programs_line():
    library = ("/usr/lib/python3/ipc/stream.py", 45, "MessageReader.receive")
    text = record(7, 1.0, "os.read", "read", 80, library=library) + '7 1.000100 read(5<pipe:[9]>, "x", 4096) = 1\n'
    [call] = model(text).calls
    assert call.source.line == 80 and call.source.library.function == "MessageReader.receive"
    assert call.source.library.line == 45 and call.source.library.short == "stream.py:45"
    assert export.to_json(model(text))["calls"][0]["source"]["library"]["function"] == "MessageReader.receive"


def test_one_record_one_call_what_follows_unannounced_has_no_source():
    text = (
        record(7, 1.0, "os.write", "write", 5)
        + '7 1.000100 write(4<pipe:[9]>, "a", 1) = 1 <0.000010>\n'
        + '7 1.000200 write(1<pipe:[10]>, "b", 1) = 1 <0.000010>\n'  # print()'s: no record named it
    )
    trace = model(text)
    assert titles(trace) == [("write", 5), ("write", None)]
    assert unknown(trace) == [1] and coverage(trace) == (1, 2)  # counted, not guessed


def test_a_call_that_loops_takes_every_call_of_its_kind_on_its_fd_and_its_polls():
    text = (
        record(7, 1.0, "socket.sendall", "sendto", 9, fd=4, helpers="poll,ppoll", flags="many")
        + "7 1.000100 poll([{fd=4<TCP:[1.1.1.1:1->2.2.2.2:2]>, events=POLLOUT}], 1, 5000) = 1 <0.000010>\n"
        + '7 1.000200 sendto(4<TCP:[1.1.1.1:1->2.2.2.2:2]>, "aa", 2, 0, NULL, 0) = 2 <0.000010>\n'
        + '7 1.000300 sendto(4<TCP:[1.1.1.1:1->2.2.2.2:2]>, "bb", 2, 0, NULL, 0) = 2 <0.000010>\n'
        + '7 1.000400 sendto(6<TCP:[1.1.1.1:3->2.2.2.2:2]>, "cc", 2, 0, NULL, 0) = 2 <0.000010>\n'  # another fd
    )
    assert titles(model(text)) == [("poll", 9), ("sendto", 9), ("sendto", 9), ("sendto", None)]


def test_threads_each_take_their_own_records_however_their_lines_interleave():
    text = (
        record(7, 1.0, "os.read", "read", 10)
        + record(8, 1.00001, "os.write", "write", 20)
        + "7 1.000100 read(3<pipe:[9]>,  <unfinished ...>\n"
        + '8 1.000200 write(4<pipe:[9]>, "x", 1) = 1 <0.000010>\n'
        + '7 1.000300 <... read resumed>"x", 10) = 1 <0.000200>\n'
    )
    trace = model(text)
    assert {call.tid: call.source.line for call in trace.calls} == {7: 10, 8: 20}


def test_a_spawning_call_answers_for_its_childs_calls_up_to_its_execve():
    text = (
        record(7, 1.0, "subprocess.Popen", "clone,clone3,fork,vfork", 12, flags="spawn")
        + "7 1.000100 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 8 <0.000100>\n"
        + "8 1.000200 dup2(3<pipe:[9]>, 1<pipe:[9]>) = 1<pipe:[9]> <0.000010>\n"
        + '8 1.000300 execve("/bin/cat", ["cat"], 0x0 /* 3 vars */) = 0 <0.000100>\n'
        + '8 1.000400 read(0</dev/null>, "", 4096) = 0 <0.000010>\n'
    )
    trace = model(text)
    assert titles(trace) == [("clone", 12), ("dup2", 12), ("execve", 12), ("read", None)]
    assert [call.source.child for call in trace.calls[:3]] == [False, True, True]
    assert unknown(trace) == []  # cat keeps no records: its calls are not "unknown", they are no Python's


def test_a_python_call_that_made_no_system_call_is_kept_and_counted():
    text = record(7, 1.0, "os.read", "read", 3) + record(7, 1.1, "os.close", "close", 4)
    text += "7 1.200000 close(3<pipe:[9]>) = 0 <0.000010>\n"
    trace = model(text)
    assert [r.made_none for r in trace.python_calls] == [True, False]
    assert export.to_json(trace)["sources"]["made_none"] == [0]


def test_a_call_restarted_after_a_stack_dump_keeps_its_line():
    text = (
        record(7, 1.0, "os.read", "read", 3)
        + "7 1.000100 read(3<pipe:[9]>, 0x7f, 10) = ? ERESTARTSYS (To be restarted if SA_RESTART is set) <0.1>\n"
        + "7 1.100200 --- SIGRT_2 {si_signo=SIGRT_2, si_code=SI_USER, si_pid=1, si_uid=0} ---\n"
        + '7 1.100300 read(3<pipe:[9]>, "x", 10) = 1 <0.000010>\n'
    )
    trace = model(text)
    assert titles(trace) == [("read", 3)] and trace.python_calls[0].calls == [0]


def test_strace_k_frames_ride_with_their_call():
    text = (
        "7 1.000000 pipe2([3<pipe:[9]>, 4<pipe:[9]>], 0) = 0 <0.000010>\n"
        " > /usr/lib/x86_64-linux-gnu/libc.so.6(pipe2+0xb) [0x1187db]\n"
        " > /tmp/prog(main+0x2d) [0x1176]\n"
        "7 1.000100 close(3<pipe:[9]>) = 0 <0.000010>\n"
    )
    pipe, close = [r for r in parse(text) if r.name != "exit"]
    assert pipe.stack == [
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", "pipe2+0xb", "0x1187db"),
        ("/tmp/prog", "main+0x2d", "0x1176"),
    ]
    assert close.stack is None and model(text).calls[0].stack == pipe.stack


def test_a_line_that_is_no_record_is_not_read_as_one():
    assert parse_record(b"hello\n", 1, 0.0) is None
    assert parse_record(b"a\tb\tc\td\te\tf\tnot a number\tg\t\t\t\n", 1, 0.0) is None


# addr2line --addresses --functions --inlines, as it answered for tcp_server's recv (0x1f2f: next_line inlined
# into serve, a frame of its own) and for main's call of serve (0x18f3); 0x99 is in no line it knows (no -g).
ADDR2LINE = """0x0000000000001f2f
next_line
/src/demos/c/exchange.h:138
serve
/src/demos/c/exchange.h:277 (discriminator 1)
0x00000000000018f3
main
/src/demos/c/tcp_server.c:70
0x0000000000000099
??
??:0
"""


def test_addr2line_s_answer_is_a_group_of_places_per_address_innermost_first():
    assert parse_addr2line(ADDR2LINE) == [
        [("/src/demos/c/exchange.h", 138, "next_line"), ("/src/demos/c/exchange.h", 277, "serve")],
        [("/src/demos/c/tcp_server.c", 70, "main")],
        [],
    ]


def test_a_c_call_is_the_program_s_line_and_the_header_s_function_it_called_is_its_library_frame():
    recv, serve_call, _ = parse_addr2line(ADDR2LINE)
    assert native_source(recv + serve_call, "/src/build/tcp_server", "serve.constprop.0+0xc0") == Source(
        "/src/demos/c/tcp_server.c", 70, "main", library=Frame("/src/demos/c/exchange.h", 277, "serve")
    )
    # Made on the program's own line: no library frame. Only headers known: the innermost place is all there is.
    assert native_source(serve_call, "b", "main") == Source("/src/demos/c/tcp_server.c", 70, "main")
    assert native_source(recv, "b", "serve") == Source("/src/demos/c/exchange.h", 138, "next_line")
    # Built without -g: the binary and the function strace named.
    assert native_source([], "/src/build/tcp_server", "serve.constprop.0+0xc0") == Source(
        "/src/build/tcp_server", None, "serve.constprop.0"
    )
