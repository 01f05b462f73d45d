"""Which line made each call, traced for real: programs written here (Python; C compiled with -g) and the CLI.

The Python program forks, talks over a pipe, starts threads and a multiprocessing worker of each start method
(fork, and spawn: a new interpreter, which loads the start-up hook again); every call of the lesson it
makes must come back with its line, and the line read from its file must make the call (tests/sources_check).
What multiprocessing's own processes do in C alone (the resource tracker's ``for line in file``, a spawned
worker unpickling its orders) no Python call announces: those, and only those, are "source unknown".
The C program gets its lines through strace -k and addr2line, where both are here.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from sources_check import file_line, share, unexplained
from support import ROOT, why_no_strace

from ipc.trace import export, runner
from ipc.trace.sources import lesson_call, unknown
from ipc.watch import watch

DEADLINE = 60.0


pytestmark = pytest.mark.skipif(why_no_strace() is not None, reason=why_no_strace() or "")

PROGRAM = """
    import multiprocessing
    import os
    import threading


    def speak(fd, word):
        os.write(fd, word)


    def answer(connection):
        connection.send(b"from a worker")


    def main():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            threads = [threading.Thread(target=speak, args=(w, b"ab")) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            os._exit(0)
        os.close(w)
        said = b""
        while chunk := os.read(r, 10):
            said += chunk
        os.close(r)
        os.waitpid(pid, 0)
        for method in ("fork", "spawn"):
            context = multiprocessing.get_context(method)
            mine, theirs = context.Pipe()
            worker = context.Process(target=answer, args=(theirs,))
            worker.start()
            print(method, mine.recv(), said)
            worker.join()


    if __name__ == "__main__":
        main()
"""

C_PROGRAM = r"""
    #include <sys/wait.h>
    #include <unistd.h>

    int main(void) {
        int fds[2];
        if (pipe(fds) < 0) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            write(fds[1], "hi\n", 3);
            _exit(0);
        }
        close(fds[1]);
        char buffer[16];
        ssize_t n = read(fds[0], buffer, sizeof buffer);
        waitpid(pid, NULL, 0);
        return n == 3 ? 0 : 1;
    }
"""


@pytest.fixture(scope="module")
def python_traced():
    """The Python program above, run as ``ipc trace -- python3 prog.py`` runs it (under ipc watch, traced)."""
    with tempfile.TemporaryDirectory(prefix="ipc-sources-") as directory:
        program = Path(directory) / "fork_pipe_threads.py"
        program.write_text(textwrap.dedent(PROGRAM).lstrip("\n"))
        out = io.BytesIO()
        outcome = watch([sys.executable, str(program)], err=out, report=io.StringIO(), trace=True, timeout=DEADLINE)
        assert outcome.code == 0, out.getvalue()
        yield program, outcome.trace  # (its file is there while the tests read it)


# What the program asks of multiprocessing; and main(), which returning drops the connections it made (closed
# by their __del__: the line that ran then is the one that called main()).
MULTIPROCESSING = ("Pipe(", "Process(", "start(", "join(", "recv(", "main()")


def test_a_python_program_written_here_gets_the_line_of_every_call_of_the_lesson(python_traced):
    program, trace = python_traced
    machinery = {pid for pid, process in trace.processes.items() if "multiprocessing" in str(process.commands[-1:])}
    assert len(machinery) == 2  # the spawned worker, the resource tracker: python -c "from multiprocessing..."
    assert unexplained(trace, MULTIPROCESSING, among=set(trace.processes) - machinery) == []
    missing = {trace.calls[index].pid for index in unknown(trace)}
    assert missing <= machinery  # what only multiprocessing's C does there: no line of the program announced it
    mine = [call for call in trace.calls if call.source is not None and call.source.file == str(program)]
    lines = {(call.name, file_line(str(program), call.source.line, {}).strip()) for call in mine}
    assert {("pipe2", "r, w = os.pipe()"), ("clone", "pid = os.fork()"), ("close", "os.close(r)"),
            ("read", "while chunk := os.read(r, 10):"), ("wait4", "os.waitpid(pid, 0)"),
            ("write", "os.write(fd, word)"), ("clone3", "thread.start()")} <= lines  # fmt: skip
    own = [call for call in trace.calls if call.pid not in machinery and lesson_call(trace, call)]
    assert len(own) >= 20, share(trace)
    assert [call.name for call in own if call.source is None] == ["execve"]  # only the command's own start


def test_its_threads_and_its_workers_answer_for_their_own_lines(python_traced):
    program, trace = python_traced
    by_thread = [call for call in trace.calls if call.name == "write" and call.tid != call.pid and call.source]
    assert len(by_thread) == 2 and {call.source.function for call in by_thread} == {"speak"}
    sends = [c for c in trace.calls if c.source and c.source.function == "answer" and c.name == "write"]
    assert len({c.pid for c in sends}) == 2  # the fork worker and the spawned one (a new interpreter, hooked again)
    for call in sends:
        assert call.source.text == 'connection.send(b"from a worker")'
        assert call.source.library is not None and "multiprocessing" in call.source.library.file  # the library's frame


def test_the_json_carries_each_calls_source(python_traced):
    program, trace = python_traced
    data = json.loads(json.dumps(export.to_json(trace)))
    fork = next(
        c for c in data["calls"] if c["name"] == "clone" and c["source"] and c["source"]["file"] == str(program)
    )
    line = program.read_text().splitlines().index("    pid = os.fork()") + 1
    assert {key: fork["source"][key] for key in ("line", "function", "text")} == {
        "line": line,
        "function": "main",
        "text": "pid = os.fork()",
    }
    assert data["sources"]["unknown"] == unknown(trace) and data["sources"]["lesson_calls"] > 20
    made = {index for record in data["python_calls"] for index in record["calls"]}
    assert fork["index"] in made


@pytest.mark.tools
def test_a_c_program_compiled_here_with_g_gets_its_c_lines():
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) here (Debian: apt-get install gcc)")
    if missing := runner.why_no_native_lines():
        pytest.skip(missing)
    with tempfile.TemporaryDirectory(prefix="ipc-sources-") as directory:
        traced_c_program(Path(directory))


def traced_c_program(tmp_path: Path) -> None:
    source = tmp_path / "pipe.c"
    source.write_text(textwrap.dedent(C_PROGRAM).lstrip("\n"))
    binary = tmp_path / "pipe"
    subprocess.run(["cc", "-g", "-O0", "-o", str(binary), str(source)], check=True, timeout=60)
    traced = runner.trace_command([str(binary)], timeout=DEADLINE, stdout=subprocess.DEVNULL)
    trace = traced.trace
    said = {
        (call.name, file_line(str(source), call.source.line, {}).strip())
        for call in trace.calls
        if call.source is not None and call.source.file == str(source)
    }
    assert {("pipe2", "if (pipe(fds) < 0) return 1;"), ("clone", "pid_t pid = fork();"),
            ("close", "close(fds[0]);"), ("write", 'write(fds[1], "hi\\n", 3);'), ("close", "close(fds[1]);"),
            ("read", "ssize_t n = read(fds[0], buffer, sizeof buffer);"),
            ("wait4", "waitpid(pid, NULL, 0);")} <= said  # fmt: skip
    read = next(call for call in trace.calls if call.name == "read" and call.source)
    assert read.source.function == "main" and read.source.text == "ssize_t n = read(fds[0], buffer, sizeof buffer);"


HELPER_H = """
    #include <string.h>
    #include <unistd.h>

    static inline ssize_t put(int fd, const char *text) {  /* inlined into its caller at -O2 */
        return write(fd, text, strlen(text));
    }

    __attribute__((noinline)) static int greet(int fd) {  /* a frame of its own (and no tail call) */
        return put(fd, "hello\\n") == 6 ? 0 : -1;
    }
"""

HELPER_C = """
    #include "helper.h"

    int main(void) {
        int fds[2];
        if (pipe(fds) < 0) return 1;
        if (greet(fds[1]) < 0) return 1;
        put(fds[1], "bye\\n");
        return 0;
    }
"""


@pytest.mark.tools
def test_a_c_call_made_by_a_header_s_helper_names_the_c_line_that_called_it_and_the_header_s_line():
    """As a Python library's frame: the program's own line, and the line of the helper it called (exchange.h's
    converse, for the C twins) one step away. Built as the C twins are (-O2 -gdwarf-4): inlined or not, the .c
    line is found."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (cc) here (Debian: apt-get install gcc)")
    if missing := runner.why_no_native_lines():
        pytest.skip(missing)
    from ipc.cprograms import FLAGS

    with tempfile.TemporaryDirectory(prefix="ipc-sources-") as directory:
        source, header, binary = Path(directory, "main.c"), Path(directory, "helper.h"), Path(directory, "main")
        source.write_text(textwrap.dedent(HELPER_C).lstrip("\n"))
        header.write_text(textwrap.dedent(HELPER_H).lstrip("\n"))
        subprocess.run(["cc", *FLAGS, "-o", str(binary), str(source)], check=True, timeout=60)
        trace = runner.trace_command([str(binary)], timeout=DEADLINE, stdout=subprocess.DEVNULL).trace
        writes = [call.source for call in trace.calls if call.name == "write" and call.source is not None]
        assert [(s.file, s.text, s.library.file, s.library.text) for s in writes] == [
            (str(source), "if (greet(fds[1]) < 0) return 1;", str(header), 'return put(fd, "hello\\n") == 6 ? 0 : -1;'),
            (str(source), 'put(fds[1], "bye\\n");', str(header), "return write(fd, text, strlen(text));"),
        ]


def test_ipc_trace_source_shows_each_calls_line_beside_its_row():
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "trace", "pipe", "--source", "--width", "160"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    demo = (ROOT / "demos" / "pipe_fork.py").read_text().splitlines()
    fork = next(number for number, line in enumerate(demo, 1) if "os.fork()" in line)  # the demo as it is now
    rows = [line for line in done.stdout.splitlines() if "clone (fork)" in line]
    assert len(rows) == 1 and f"pipe_fork.py:{fork}  {demo[fork - 1].strip().split('  #')[0]}" in rows[0]
    assert "(the line that made the call)" in done.stdout


def test_ipc_trace_pipe_json_and_html_carry_the_sources():
    with tempfile.TemporaryDirectory(prefix="ipc-sources-") as directory:
        json_path, html_path = Path(directory) / "p.json", Path(directory) / "p.html"
        traced_pipe(json_path, html_path)


def traced_pipe(json_path: Path, html_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ipc", "trace", "pipe", "--json", str(json_path), "--html", str(html_path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(json_path.read_text())
    demo = str(ROOT / "demos" / "pipe_fork.py")
    lesson = [c for c in data["calls"] if c["source"] and c["source"]["file"] == demo]
    assert len(lesson) >= 20 and data["sources"]["unknown"] == []
    for call in lesson:
        assert call["source"]["text"] == file_line(demo, call["source"]["line"], {}).strip()
    page = html_path.read_text()
    files = json.loads(page.split('id="trace-data">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))["files"]
    assert [name for name, *_ in files] == ["demos/pipe_fork.py"]
    assert files[0][1] == Path(demo).read_text().splitlines()
