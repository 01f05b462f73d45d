"""strace's text, parsed: records from lines, with no tracing at all."""

from ipc.trace.strace import AT_FDCWD, Data, Exit, Fd, Raw, Signal, Struct, Syscall, parse, parse_string, parse_target


def calls(text: str) -> list:
    return [record for record in parse(text) if isinstance(record, Syscall)]


def test_a_whole_line_gives_pid_time_name_args_result_and_duration():
    [call] = calls("5882  1796133701.411677 pipe2([3<pipe:[14365]>, 4<pipe:[14365]>], O_CLOEXEC) = 0 <0.000009>\n")
    assert (call.pid, call.time, call.name, call.result, call.errno) == (5882, 1796133701.411677, "pipe2", 0, None)
    assert call.duration == 0.000009 and not call.split
    ends, flags = call.args
    assert [fd.number for fd in ends] == [3, 4] and flags == Raw("O_CLOEXEC")
    assert all(fd.target.kind == "pipe" and fd.target.inode == 14365 for fd in ends)


def test_unfinished_and_resumed_halves_are_joined_keeping_when_the_call_began():
    text = (
        "5882  1796133701.412532 read(5<pipe:[14366]>,  <unfinished ...>\n"
        '5893  1796133701.415834 write(6<pipe:[14366]>, "1 HELLO\\n", 8 <unfinished ...>\n'
        '5882  1796133701.415888 <... read resumed>"1 HELLO\\n", 4096) = 8 <0.003350>\n'
        "5893  1796133701.415894 <... write resumed>) = 8 <0.000052>\n"
    )
    read, write = calls(text)
    assert read.time == 1796133701.412532 and read.end_time == 1796133701.415888  # it began waiting, then got bytes
    assert read.split and read.line == 0 and read.end_line == 2 and read.duration == 0.00335
    assert read.args[1] == Data(b"1 HELLO\n") and read.result == 8
    assert write.pid == 5893 and write.end_line == 3 and write.args[1] == Data(b"1 HELLO\n") and write.result == 8
    assert read.text == 'read(5<pipe:[14366]>, "1 HELLO\\n", 4096) = 8 <0.003350>'


def test_signals_exits_and_a_process_killed_inside_a_call():
    text = (
        "10226 1796133921.813393 read(3</tmp/tr/ff>,  <unfinished ...>\n"
        "10224 1796133922.132424 kill(10226, SIGKILL) = 0 <0.000074>\n"
        "10226 1796133922.132540 <... read resumed> <unfinished ...>) = ?\n"
        "10226 1796133922.132704 +++ killed by SIGKILL +++\n"
        "10224 1796133922.132735 --- SIGCHLD {si_signo=SIGCHLD, si_pid=10226, si_status=SIGKILL} ---\n"
        '10224 1796133922.132900 write(1</tmp/tr/ff>, "hi\\n", 3) = -1 EPIPE (Broken pipe) <0.000004>\n'
        "10224 1796133922.132915 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=10224, si_uid=0} ---\n"
        "10224 1796133922.133031 +++ killed by SIGPIPE (core dumped) +++\n"
        "7 1796133922.2 +++ exited with 3 +++\n"
    )
    records = parse(text)
    read = records[0]
    assert read.name == "read" and read.result is None and read.end_line is None  # it never returned
    assert [type(r).__name__ for r in records] == [
        "Syscall",
        "Syscall",
        "Exit",
        "Signal",
        "Syscall",
        "Signal",
        "Exit",
        "Exit",
    ]
    killed, sigchld, write, sigpipe, core, exited = records[2:]
    assert (killed.pid, killed.signal, killed.code) == (10226, "SIGKILL", None)
    assert isinstance(sigchld, Signal) and sigchld.info.fields["si_pid"] == 10226
    assert write.errno == "EPIPE" and write.result == -1
    assert sigpipe.name == "SIGPIPE" and sigpipe.info.fields["si_code"] == Raw("SI_USER")
    assert core.signal == "SIGPIPE" and core.core
    assert isinstance(exited, Exit) and exited.code == 3


def test_a_call_interrupted_by_a_signal_keeps_its_errno():
    [call] = calls(
        "3964  1796134422.121237 read(5<pipe:[162955]>, 0x5611672d69a0, 4096) = ? ERESTARTSYS "
        "(To be restarted if SA_RESTART is set) <0.507022>\n"
    )
    assert call.result is None and call.errno == "ERESTARTSYS" and call.duration == 0.507022


def test_the_last_line_may_be_a_call_still_waiting():
    text = "6980  1.5 read(5<pipe:[177820]>,  <unfinished ...>\n6981  1.6 read(3<pipe:[177819]>, "
    first, second = calls(text)
    assert first.end_line is None and second.end_line is None and second.args[0].number == 3


def test_a_resumed_half_whose_beginning_is_missing_is_skipped():
    assert calls('5 1.0 <... read resumed>"x", 1) = 1 <0.1>\n') == []


def test_strings_decode_to_bytes():
    assert parse_string(r'"Gr\303\274\303\237e\n"') == Data("Grüße\n".encode())
    assert parse_string(r'"a\"b\\c\t\0\1\x41"') == Data(b'a"b\\c\t\x00\x01A')
    assert parse_string('"\\177ELF\\2\\1"...') == Data(b"\x7fELF\x02\x01", truncated=True)


def test_decorations_say_what_an_fd_is():
    unix = parse_target('UNIX-STREAM:[20211->20740,"/tmp/d/server.sock"]')
    assert (unix.kind, unix.inode, unix.peer, unix.local, unix.socktype) == (
        "unix",
        20211,
        20740,
        "/tmp/d/server.sock",
        "stream",
    )
    dgram = parse_target('UNIX:[20334,"/tmp/d/server.sock"]')
    assert dgram.socktype == "dgram" and dgram.peer is None
    tcp = parse_target("TCP:[127.0.0.1:54686->127.0.0.1:37785]")
    assert (tcp.kind, tcp.local, tcp.remote) == ("tcp", "127.0.0.1:54686", "127.0.0.1:37785")
    assert parse_target("TCPv6:[[::1]:5000->[::1]:6000]").remote == "[::1]:6000"
    assert parse_target("TCP:[20247]").inode == 20247
    assert parse_target("UDP:[127.0.0.1:37783]").local == "127.0.0.1:37783"
    null = parse_target("/dev/null<char 1:3>")
    assert (null.kind, null.path, null.device) == ("path", "/dev/null", "char 1:3")


def test_arguments_keep_fds_structs_and_lists_apart():
    [dup2, openat, poll, connect, fifo] = calls(
        "1 1.0 dup2(3</tmp/x,y>, 1</dev/null<char 1:3>>) = 1</tmp/x,y> <0.1>\n"
        '1 1.1 openat(AT_FDCWD</tmp>, "f", O_RDONLY) = 3</tmp/f> <0.1>\n'
        "1 1.2 poll([{fd=3<UNIX-STREAM:[1->2]>, events=POLLIN}], 1, 10000) = 1 ([{fd=3, revents=POLLIN}]) <0.1>\n"
        '1 1.3 connect(3<TCP:[9]>, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}, 16)'
        " = -1 EINPROGRESS (Operation now in progress) <0.1>\n"
        "1 1.4 dup2(3</tmp/d/f>(deleted), 1) = 1</tmp/d/f>(deleted) <0.1>\n"
    )
    assert [fd.number for fd in dup2.args] == [3, 1] and dup2.args[0].target.path == "/tmp/x,y"
    assert dup2.result_fd == Fd(1, parse_target("/tmp/x,y"))
    assert openat.args[0].number == AT_FDCWD and openat.args[0].target.path == "/tmp"
    [entry] = poll.args[0]
    assert isinstance(entry, Struct) and entry.fields["fd"].target.peer == 2
    assert poll.result == 1 and poll.result_text == "([{fd=3, revents=POLLIN}])"
    assert connect.errno == "EINPROGRESS" and connect.args[1].fields["sin_port"] == Raw("htons(80)")
    assert fifo.args[0].target.path == "/tmp/d/f" and fifo.result_fd.number == 1


def test_a_path_that_holds_the_text_of_a_result_does_not_end_the_arguments():
    [call] = calls("7  1.000000 dup(3</x>) = 4</tmp/a) = b> <0.000003>\n")
    assert call.args == [Fd(3, call.args[0].target)] and call.args[0].target.path == "/x"
    assert call.result == 4 and call.result_fd.target.path == "/tmp/a) = b"


def test_hex_dumps_give_every_byte_of_the_call_they_follow():
    [writev, read, _] = calls(
        '7 1.0 writev(4<pipe:[5]>, [{iov_base="ab"..., iov_len=3}, {iov_base="de"..., iov_len=5}], 2) = 8\n'
        " * 3 bytes in buffer 0\n"
        " | 00000  61 62 63                                          abc              |\n"
        " * 5 bytes in buffer 1\n"
        " | 00000  64 65 66 67 68                                    defgh            |\n"
        "7 1.1 read(3<pipe:[5]>,  <unfinished ...>\n"
        "8 1.2 exit_group(0) = ?\n"
        '7 1.3 <... read resumed>"0123456789abcdef"..., 4096) = 18 <0.1>\n'
        " | 00000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  0123456789abcdef |\n"
        " | 00010  20 7c                                              |               |\n"
    )
    assert writev.dumped == b"abcdefgh" and writev.args[1][0].fields["iov_base"].truncated
    assert read.dumped == b"0123456789abcdef |"  # a dump follows the line where its call returned


def test_select_sets_are_fds_apart_by_spaces():
    [call] = calls(
        "7 1.0 pselect6(8, [3<pipe:[5]> 7<TCP:[127.0.0.1:5->127.0.0.1:6]>], NULL, NULL, NULL, NULL) = 1 (in [7])\n"
    )
    assert [(fd.number, fd.target.kind) for fd in call.args[1]] == [(3, "pipe"), (7, "tcp")]
    assert call.result_text == "(in [7])"


def test_an_errno_with_an_underscore_is_read_whole():
    [call] = calls("7 1.0 poll([{fd=3<pipe:[5]>, events=POLLIN}], 1, 500) = ? ERESTART_RESTARTBLOCK (Interrupted by "
                   "signal) <0.008622>\n")  # fmt: skip
    assert (call.result, call.errno) == (None, "ERESTART_RESTARTBLOCK")
