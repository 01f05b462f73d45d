/* writev and readv: one write from three buffers, one read into two; then sendmsg and recvmsg alike. */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int fds[2], pair[2];
    char head[4], rest[32];
    pipe(fds);
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    struct iovec out[3] = {{"one ", 4}, {"two ", 4}, {"three\n", 6}};
    struct iovec in[2] = {{head, sizeof head}, {rest, sizeof rest}};
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        writev(fds[1], out, 3);
        struct msghdr message = {.msg_iov = out, .msg_iovlen = 3};
        sendmsg(pair[1], &message, 0);
        _exit(0);
    }
    close(fds[1]);
    readv(fds[0], in, 2);
    struct msghdr message = {.msg_iov = in, .msg_iovlen = 2};
    recvmsg(pair[0], &message, MSG_WAITALL);
    waitpid(child, NULL, 0);
    return 0;
}
