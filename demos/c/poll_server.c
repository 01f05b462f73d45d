/* poll_server.c: one process serves every client at once with poll() (the C twin of select_server.py).

What it shows
    An array of struct pollfd: the listener and every client, each with the
    events it waits for (POLLIN; POLLOUT too while answers wait to go out).
    poll() returns when any is ready; the server accept()s, recv()s or
    send()s only what cannot block (O_NONBLOCK, set with fcntl()), so an
    idle or slow client holds up no one. Between two poll() calls only a
    table remembers a client: its bytes so far, its answers not yet sent,
    its count of requests, when it last did something.

Run it
    build/poll_server [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make select-server-c, with demos/tcp_client.py as its clients)
*/
#include "exchange.h"
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <time.h>

#define MAX_CLIENTS 64
static struct client {
    char peer[64];
    struct lines in;
    char out[8 * MAX_MESSAGE];
    size_t pending;                     /* answers not yet sent */
    int seq;
    time_t moved;                       /* when it last sent or took bytes */
} clients[MAX_CLIENTS + 1];             /* clients[i] goes with fds[i]; [0] is the listener */
static int listening(int argc, char *argv[], int *wanted, int *idle);
static const char *readable(struct client *client);
static int writable(int fd, struct client *client);
static int later(const struct timespec *when);
static struct timespec from_now(double seconds);

int main(int argc, char *argv[])
{
    int wanted = 0, idle = SERVER_IDLE, ended = 0, count = 1, short_of_fds = 0;
    struct timespec paused_until = { 0, 0 };    /* out of fds: the listener is left out of poll() until then */
    struct pollfd fds[MAX_CLIENTS + 1];
    start("server");
    fds[0].fd = listening(argc, argv, &wanted, &idle);  /* getaddrinfo, socket, bind, listen: as tcp_server.c */
    while (wanted == 0 || ended < wanted) {
        /* readable: a client waits to be accepted. Full, or out of fds, the listener is left out: still
           readable, poll() would return at once, again and again; new clients wait in the listen queue */
        fds[0].events = count <= MAX_CLIENTS && !later(&paused_until) ? POLLIN : 0;
        if (poll(fds, count, fds[0].events ? 1000 : 100) == -1) /* a second at most, to check the deadlines */
            fail("poll");
        if (fds[0].revents & POLLIN) {
            struct sockaddr_storage peer, mine;
            socklen_t peer_length = sizeof peer, my_length = sizeof mine;
            int fd = accept(fds[0].fd, (struct sockaddr *) &peer, &peer_length);    /* ready: will not wait */
            if (fd == -1 && (errno == EMFILE || errno == ENFILE)) {     /* no fd for it: pause, serve the rest */
                if (short_of_fds++ == 0)
                    say("out of file descriptors: %d client%s hold them; not accepting for %g s at a time, new "
                        "clients wait in the listen queue", count - 1, count == 2 ? "" : "s", SHED_PAUSE);
                paused_until = from_now(SHED_PAUSE);
                continue;
            }
            if (fd == -1 && errno == ECONNABORTED)  /* it left before we took it */
                continue;
            if (fd == -1)
                fail("accept");
            if (short_of_fds)
                say("enough file descriptors again (%d time%s short meanwhile)", short_of_fds,
                    short_of_fds == 1 ? "" : "s");
            short_of_fds = 0;
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);   /* recv() and send() never wait now */
            getsockname(fd, (struct sockaddr *) &mine, &my_length);
            struct client *client = &clients[count];
            memset(client, 0, sizeof *client);
            snprintf(client->peer, sizeof client->peer, "%s", address((struct sockaddr *) &peer, peer_length));
            client->in.fd = fd, client->in.is_socket = 1, client->moved = time(NULL);
            fds[count++] = (struct pollfd) { .fd = fd, .events = POLLIN };
            say("accepted %s <- %s (%d client%s)", address((struct sockaddr *) &mine, my_length), client->peer,
                count - 1, count == 2 ? "" : "s");
            if (count > MAX_CLIENTS)
                say("%d clients, as many as its table holds: new clients wait in the listen queue until one leaves",
                    MAX_CLIENTS);
        }
        for (int i = count - 1; i >= 1; i--) {  /* from the end: a closed one's place takes the last */
            struct client *client = &clients[i];
            const char *why = NULL;
            if (fds[i].revents & POLLOUT && writable(fds[i].fd, client) == -1)
                why = "it reset the connection";
            if (why == NULL && fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                why = readable(client);
            if (why == NULL && idle > 0 && time(NULL) - client->moved > idle)
                why = "no whole request within its deadline";
            /* Read its requests only while its answers fit: one that reads nothing fills only its own queue */
            fds[i].events = (client->pending + 2 * MAX_MESSAGE < sizeof client->out ? POLLIN : 0)
                          | (client->pending ? POLLOUT : 0);
            if (why == NULL)
                continue;
            writable(fds[i].fd, client);    /* what is left of its answers, if it fits */
            close(fds[i].fd);
            say("closed %s: %s (%d client%s left)", client->peer, why, count - 2, count == 3 ? "" : "s");
            fds[i] = fds[count - 1], clients[i] = clients[count - 1];
            count--, ended++;
        }
    }
    close(fds[0].fd);
    return EXIT_SUCCESS;
}

/* Its bytes are in: each whole request answered into its queue. NULL, or why it is done with */
static const char *readable(struct client *client)
{
    char request[MAX_MESSAGE], why[300];
    int length = 0;
    while (client->pending + 2 * MAX_MESSAGE < sizeof client->out
           && (length = next_line(&client->in, request)) >= 0) {   /* recv(): what is there, never waiting */
        client->moved = time(NULL);
        said_received(request, length);
        char *answer = client->out + client->pending;
        size_t size = answer_to(++client->seq, request, length, answer, why);
        if (size == 0) {
            say("error from %s: %s", client->peer, why);
            size = sprintf(answer, "error: %s\n", why);
        }
        said_sent(answer, size);
        client->pending += size;
        if (strncmp(answer, "error: ", 7) == 0)
            return "a refused request";
    }
    if (client->pending + 2 * MAX_MESSAGE >= sizeof client->out || (length == LINE_ERROR && errno == EAGAIN))
        return NULL;                    /* nothing more for now (or no room): back to poll() */
    return length == LINE_END ? "its end of file" : "a broken request or connection";
}

/* Room to send: send() what fits, keep the rest for the next POLLOUT. -1 if the connection is gone */
static int writable(int fd, struct client *client)
{
    if (client->pending == 0)
        return 0;
    ssize_t sent = send(fd, client->out, client->pending, MSG_NOSIGNAL);   /* may send only part: non-blocking */
    if (sent == -1)
        return errno == EAGAIN ? 0 : -1;
    memmove(client->out, client->out + sent, client->pending - sent);
    client->pending -= sent;
    client->moved = time(NULL);
    return 0;
}

/* The listening socket, as tcp_server.c makes it; the options into *wanted and *idle */
static int listening(int argc, char *argv[], int *wanted, int *idle)
{
    static const struct option known[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "clients", required_argument, NULL, 'n' }, { "idle", required_argument, NULL, 'i' }, { 0 } };
    const char *host = "127.0.0.1", *port = "0";
    usage_if_asked(argc, argv, "poll_server [--host HOST] [--port PORT] [--clients N] [--idle SECONDS]",
                   "demos/c/poll_server.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'H')
            host = optarg;
        else if (option == 'p')
            port = port_option(optarg);
        else if (option == 'n')
            *wanted = number_option("clients", optarg, 0, 1 << 30);
        else if (option == 'i')
            *idle = number_option("idle", optarg, 0, 86400);
        else
            exit(2);                    /* getopt said what was wrong */
    }
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int error = getaddrinfo(*host ? host : NULL, port, &hints, &found);
    if (error != 0) {
        say("error: getaddrinfo: %s", gai_strerror(error));
        exit(EXIT_FAILURE);
    }
    int listener = socket(found->ai_family, found->ai_socktype, found->ai_protocol), on = 1;
    if (listener == -1 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        fail("socket");
    if (bind(listener, found->ai_addr, found->ai_addrlen) == -1 || listen(listener, SOMAXCONN) == -1)
        fail("bind");
    freeaddrinfo(found);
    struct sockaddr_storage mine;
    socklen_t length = sizeof mine;
    char name[NI_MAXHOST], number[NI_MAXSERV];
    if (getsockname(listener, (struct sockaddr *) &mine, &length) == -1)
        fail("getsockname");
    getnameinfo((struct sockaddr *) &mine, length, name, sizeof name, number, sizeof number,
                NI_NUMERICHOST | NI_NUMERICSERV);
    say("listening on %s; poll() waits on it and on every client", address((struct sockaddr *) &mine, length));
    say("ready: host=%s port=%s", name, number);
    return listener;
}

/* DETAILS: the rest of this program's text (as select_server.py's --help has it)

What else it shows
    A listener left in poll() while it cannot be accepted from (the table
    full, or accept() failing with EMFILE: no fd left) is readable at once,
    every time: poll() would never wait again. So it is left out (events 0)
    until a client leaves, or for 0.5 s when out of fds; new clients wait in
    the listen queue meanwhile.

System calls, in order
    getaddrinfo() -> socket() -> setsockopt(SO_REUSEADDR) -> bind() ->
    listen(SOMAXCONN) -> freeaddrinfo() -> then, over and over: poll() on the
    listener and every client -> the listener ready: accept(), fcntl(O_NONBLOCK)
    the new socket; a client ready to read: recv() until EAGAIN, answers
    queued; ready to write: send() what fits -> close() each client at its end
    of file.

Its peer
    demos/tcp_client.py, build/tcp_client, nc: any number of them at once.

Expected output
    server[200]: listening on 127.0.0.1:41234; poll() waits on it and on every client
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012 (1 client)
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: closed 127.0.0.1:53012: its end of file (0 clients left)
*/

/* Whether the monotonic clock has not yet reached WHEN */
static int later(const struct timespec *when)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec < when->tv_sec || (now.tv_sec == when->tv_sec && now.tv_nsec < when->tv_nsec);
}

/* The monotonic clock's time SECONDS from now */
static struct timespec from_now(double seconds)
{
    struct timespec when;
    clock_gettime(CLOCK_MONOTONIC, &when);
    when.tv_nsec += (long) (seconds * 1e9);
    when.tv_sec += when.tv_nsec / 1000000000, when.tv_nsec %= 1000000000;
    return when;
}
