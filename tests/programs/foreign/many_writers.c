/* N children (100 by default) write one line each into one pipe at once; the parent reads it all.
   Lines under PIPE_BUF go in whole, but in whatever order the kernel took them. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int children = argc > 1 ? atoi(argv[1]) : 100;
    int fds[2];
    pipe(fds);
    for (int i = 0; i < children; i++) {
        if (fork() == 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "child %03d of pid %d\n", i, (int)getpid());
            close(fds[0]);
            write(fds[1], line, n);
            _exit(0);
        }
    }
    close(fds[1]);
    char buffer[256];  /* smaller than all the lines: several reads, each of several writes */
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0) write(1, buffer, n);
    while (wait(NULL) > 0) {}
    return 0;
}
