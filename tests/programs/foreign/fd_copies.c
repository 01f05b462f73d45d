/* A program's own fd copies: fcntl(F_DUPFD) to 40, dup2 to 60, a write on each; then close_range closes
   every write end at once, and the child reading the pipe sees end of file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int fds[2];
    pipe(fds);
    pid_t child = fork();
    if (child == 0) {
        close(fds[1]);
        char buffer[64];
        ssize_t n;
        while ((n = read(fds[0], buffer, sizeof buffer)) > 0) write(1, buffer, n);
        _exit(0);
    }
    close(fds[0]);
    int forty = fcntl(fds[1], F_DUPFD, 40);
    int sixty = dup2(fds[1], 60);
    write(forty, "via fd 40\n", 10);
    write(sixty, "via fd 60\n", 10);
    syscall(SYS_close_range, 3, ~0U, 0);  /* every write end at once */
    waitpid(child, NULL, 0);
    return 0;
}
