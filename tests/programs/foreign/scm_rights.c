/* Pass a pipe's read end to a child over a Unix socket (SCM_RIGHTS); the child reads it to end of file.
   With "deadlock" the parent keeps the write end and waits for the child: each waits for the other. */
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void send_fd(int sock, int fd) {
    char byte = 'F';
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov, msg.msg_iovlen = 1;
    msg.msg_control = control.space, msg.msg_controllen = sizeof control.space;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET, cmsg->cmsg_type = SCM_RIGHTS, cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    sendmsg(sock, &msg, 0);
}

static int receive_fd(int sock) {
    char byte;
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov, msg.msg_iovlen = 1;
    msg.msg_control = control.space, msg.msg_controllen = sizeof control.space;
    if (recvmsg(sock, &msg, 0) <= 0) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
    return fd;
}

int main(int argc, char **argv) {
    int deadlock = argc > 1 && strcmp(argv[1], "deadlock") == 0;
    int pair[2], fds[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    pid_t child = fork();
    if (child == 0) {
        close(pair[0]);
        int fd = receive_fd(pair[1]);
        char buffer[64];
        ssize_t n;
        while ((n = read(fd, buffer, sizeof buffer)) > 0) write(1, buffer, n);
        _exit(0);
    }
    close(pair[1]);
    pipe(fds);
    send_fd(pair[0], fds[0]);
    close(fds[0]);
    write(fds[1], "through a passed fd\n", 20);
    if (!deadlock) close(fds[1]);
    waitpid(child, NULL, 0);
    return 0;
}
