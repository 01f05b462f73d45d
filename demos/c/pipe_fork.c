/* pipe_fork.c: a parent and its child hold a conversation over two pipes (the C twin of pipe_fork.py).

What it shows
    pipe() fills an array of two fds, [0] to read and [1] to write; fork()
    copies all four ends into the child, and each process close()s the two
    it does not use. In C a forgotten end also outlives exec(): Python's
    pipe() ends are close-on-exec (pipe2(O_CLOEXEC)), C's are not. The child
    ends with _exit(), never returning into the parent's code.

Run it
    build/pipe_fork [MESSAGE...]      (or: make pipe-c; make build compiles it)
*/
#include "exchange.h"
#include <sys/wait.h>

int main(int argc, char *argv[])
{
    int requests[2], replies[2];        /* [0]: the read end, [1]: the write end */
    start("client");
    usage_if_asked(argc, argv, "pipe_fork [MESSAGE...]", "demos/c/pipe_fork.c");
    if (pipe(requests) == -1 || pipe(replies) == -1)    /* parent -> child, child -> parent */
        fail("pipe");
    pid_t pid = fork();
    if (pid == -1)
        fail("fork");
    if (pid == 0) {                     /* the child: the server */
        role = "server";
        close(requests[1]);             /* else our own copy keeps us from ever seeing end of file */
        close(replies[0]);              /* the child never reads replies */
        serve(requests[0], replies[1], 0, "the parent", 0);     /* read() requests, write() answers */
        _exit(EXIT_SUCCESS);            /* never return into the parent's code (nor flush its stdio) */
    }
    say("forked server child %ld", (long) pid);
    close(requests[0]);                 /* the parent never reads requests */
    close(replies[1]);                  /* else the parent would never see end of file if the child died */
    converse(replies[0], requests[1], 0, argv + 1, argc - 1);  /* write() each request, read() its answer */
    close(requests[1]);                 /* the child's read() now returns 0: end of file */
    close(replies[0]);
    int status;
    if (waitpid(pid, &status, 0) == -1) /* reap the child, or it stays a zombie */
        fail("waitpid");
    say("child %ld exited with status %d", (long) pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return EXIT_SUCCESS;
}

/* DETAILS: the rest of this program's text (as pipe_fork.py's --help has it)

System calls, in order
    pipe() twice -> fork() -> in each process: close() the unused ends ->
    parent: write() a request, read() the reply, ... close() its write end ->
    child: read() requests until end of file, write() each reply -> _exit() ->
    parent: waitpid() reaps the child.

Its peer
    The child, forked from the same program: pipes only join relatives.

Expected output (pids vary; parent and child lines interleave in order)
    client[100]: forked server child 101
    client[100]: sent "hello"
    server[101]: received "hello"
    server[101]: sent "1 HELLO"
    client[100]: received "1 HELLO"
    ...
    server[101]: end of file: the parent closed its write end
    client[100]: child 101 exited with status 0
*/
