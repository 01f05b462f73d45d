/* A non-blocking read on a socket with nothing in it: EAGAIN, not a wait. Then poll, and the read again. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int pair[2];
    char buffer[32];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK);
    pid_t child = fork();
    if (child == 0) { close(pair[0]); usleep(50000); write(pair[1], "late\n", 5); _exit(0); }
    close(pair[1]);
    if (read(pair[0], buffer, sizeof buffer) >= 0) return 3;  /* EAGAIN expected */
    struct pollfd ready = {pair[0], POLLIN, 0};
    poll(&ready, 1, -1);
    read(pair[0], buffer, sizeof buffer);
    waitpid(child, NULL, 0);
    return 0;
}
