/* dup2_parent.c: a parent talks to a program that only knows stdin and stdout (the C twin of dup2_parent.py).

What it shows
    How a shell builds a pipeline: two pipes, fork(), and in the child
    dup2(fd, 0) and dup2(fd, 1), close() the originals, execvp() the server
    (demos/stdio_server.py: a Python program, which cannot tell). exec keeps
    the open fds; in C every fd survives exec unless marked close-on-exec,
    so a forgotten original would live on in the server and keep its end of
    file away. A failed exec ends the child with 127, as a shell's.

Run it
    build/dup2_parent [--server PROGRAM ARG...] [MESSAGE...]
    (or: make dup2-c; by default it runs python3 demos/stdio_server.py)
*/
#include "exchange.h"
#include <sys/wait.h>

int main(int argc, char *argv[])
{
    char *default_server[] = { "python3", "demos/stdio_server.py", NULL }, **server = default_server;
    int first = 1;
    start("client");
    usage_if_asked(argc, argv, "dup2_parent [--server PROGRAM ARG... --] [MESSAGE...]", "demos/c/dup2_parent.c");
    if (argc > 2 && strcmp(argv[1], "--server") == 0) {  /* --server PROGRAM ARG... -- */
        server = argv + 2;
        for (first = 2; first < argc && strcmp(argv[first], "--") != 0; first++)
            continue;
        argv[first] = NULL;             /* execvp() takes a NULL-terminated list */
        first += first < argc;
    }
    int requests[2], replies[2];        /* [0]: the read end, [1]: the write end */
    if (pipe(requests) == -1 || pipe(replies) == -1)    /* parent -> child's fd 0, child's fd 1 -> parent */
        fail("pipe");
    pid_t pid = fork();
    if (pid == -1)
        fail("fork");
    if (pid == 0) {                     /* the child: the pipes onto fds 0 and 1, then become the server */
        role = "server";
        if (requests[0] != 0 && dup2(requests[0], 0) == -1)     /* fd 0 now reads the requests pipe */
            fail("dup2");
        if (replies[1] != 1 && dup2(replies[1], 1) == -1)       /* fd 1 now writes the replies pipe */
            fail("dup2");
        for (int i = 0; i < 2; i++) {   /* the originals: else they would outlive exec */
            if (requests[i] > 1)
                close(requests[i]);
            if (replies[i] > 1)
                close(replies[i]);
        }
        say("fds 0 and 1 are the pipes now; exec'ing %s", server[1] ? server[1] : server[0]);
        execvp(server[0], server);      /* never returns when it works */
        say("error: exec %s: %s", server[0], strerror(errno));
        _exit(127);
    }
    say("forked child %ld", (long) pid);
    close(requests[0]);                 /* the parent never reads requests */
    close(replies[1]);                  /* else the parent would never see end of file if the server died */
    converse(replies[0], requests[1], 0, argv + first, argc - first);
    close(requests[1]);                 /* the server's read(0) now returns 0: end of file */
    close(replies[0]);
    int status;
    if (waitpid(pid, &status, 0) == -1) /* reap the child, or it stays a zombie */
        fail("waitpid");
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    say("child %ld exited with status %d", (long) pid, code);
    return code == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* DETAILS: the rest of this program's text (as dup2_parent.py's --help has it)

System calls, in order
    pipe() twice -> fork() -> child: dup2(requests_r, 0), dup2(replies_w, 1)
    -> close() the original ends -> execve(python3, stdio_server.py) ->
    parent: close() the ends it does not use -> write() a request, read()
    the reply, ... -> close() its write end (the server reads end of file
    on fd 0) -> waitpid() reaps the child.

Its peer
    demos/stdio_server.py, exec'd in the child: same pid, new program.

Expected output (pids vary; every server line comes from pid 101, before and after exec)
    client[100]: forked child 101
    client[100]: sent "hello"
    server[101]: fds 0 and 1 are the pipes now; exec'ing demos/stdio_server.py
    server[101]: fd 0 is a pipe, fd 1 is a pipe
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    client[100]: received "1 HELLO"
    ...
    server[101]: end of file on fd 0 (a pipe): every write end of the pipe is closed
    client[100]: child 101 exited with status 0
*/
