/* One parent waits on 8 pipes at once, three ways: epoll (epoll_wait), poll and select. Each of 8
   children writes its line into its own pipe, one after another (each waits for a byte from the
   parent before it writes). */
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIPES 8

static int data[PIPES][2], go[PIPES][2];

static void child(int i) {
    char byte, line[32];
    int n = snprintf(line, sizeof line, "pipe %d\n", i);
    read(go[i][0], &byte, 1);
    write(data[i][1], line, n);
    read(go[i][0], &byte, 1);
    write(data[i][1], line, n);
    read(go[i][0], &byte, 1);
    write(data[i][1], line, n);
    _exit(0);
}

int main(void) {
    char buffer[32];
    for (int i = 0; i < PIPES; i++) pipe(data[i]), pipe(go[i]);
    for (int i = 0; i < PIPES; i++) if (fork() == 0) child(i);
    for (int i = 0; i < PIPES; i++) close(data[i][1]), close(go[i][0]);
    int epoll = epoll_create1(0);
    for (int i = 0; i < PIPES; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.fd = data[i][0]};
        epoll_ctl(epoll, EPOLL_CTL_ADD, data[i][0], &event);
    }
    for (int i = PIPES - 1; i >= 0; i--) {  /* epoll */
        struct epoll_event ready;
        write(go[i][1], "g", 1);
        if (epoll_wait(epoll, &ready, 1, -1) == 1) read(ready.data.fd, buffer, sizeof buffer);
    }
    for (int i = 0; i < PIPES; i++) {  /* poll */
        struct pollfd fds[PIPES];
        for (int j = 0; j < PIPES; j++) fds[j].fd = data[j][0], fds[j].events = POLLIN;
        write(go[i][1], "g", 1);
        poll(fds, PIPES, -1);
        for (int j = 0; j < PIPES; j++) if (fds[j].revents & POLLIN) read(fds[j].fd, buffer, sizeof buffer);
    }
    for (int i = 0; i < PIPES; i++) {  /* select */
        fd_set readable;
        FD_ZERO(&readable);
        int top = 0;
        for (int j = 0; j < PIPES; j++) { FD_SET(data[j][0], &readable); if (data[j][0] > top) top = data[j][0]; }
        write(go[i][1], "g", 1);
        select(top + 1, &readable, NULL, NULL, NULL);
        for (int j = 0; j < PIPES; j++) if (FD_ISSET(data[j][0], &readable)) read(data[j][0], buffer, sizeof buffer);
    }
    while (wait(NULL) > 0) {}
    return 0;
}
