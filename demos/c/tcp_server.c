/* tcp_server.c: answers the exchange over TCP, one client after another (the C twin of tcp_server.py).

What it shows
    What Python's socket module hides: getaddrinfo()'s linked list (and its
    freeaddrinfo()), the sockaddr casts, the addrlen that accept() and
    getsockname() take in and give back, sockaddr_storage (big enough for any
    family), and errno after every call. The calls are tcp_server.py's, less
    Python's own: no SOCK_CLOEXEC, accept() not accept4().

Run it
    build/tcp_server [--host 127.0.0.1] [--port 0] [--clients N] [--idle SECONDS]
    (or: make tcp-c, which also runs build/tcp_client; make build compiles it)
*/
#include "exchange.h"
#include <getopt.h>

static void options(int argc, char *argv[], const char **host, const char **port, int *clients, int *idle);

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = "0";
    int clients = 0, idle = SERVER_IDLE;
    start("server");
    options(argc, argv, &host, &port, &clients, &idle);

    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);    /* every field we do not set must be 0 */
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;        /* no host ("") means any address, not loopback */
    int error = getaddrinfo(*host ? host : NULL, port, &hints, &found);
    if (error != 0) {
        say("error: getaddrinfo: %s", gai_strerror(error));
        exit(EXIT_FAILURE);
    }
    int listener = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (listener == -1)
        fail("socket");
    int on = 1;                         /* rebind at once after a restart (demos/time_wait.py) */
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1)
        fail("setsockopt");
    if (bind(listener, found->ai_addr, found->ai_addrlen) == -1)    /* ai_addr: a sockaddr_in or _in6 */
        fail("bind");
    freeaddrinfo(found);                /* getaddrinfo() allocated the list: ours to free */
    if (listen(listener, SOMAXCONN) == -1)
        fail("listen");

    struct sockaddr_storage mine;       /* as large as the largest sockaddr: fits either family */
    socklen_t length = sizeof mine;     /* in: the room we give; out: the size the kernel filled */
    if (getsockname(listener, (struct sockaddr *) &mine, &length) == -1)    /* port 0 became a port: which? */
        fail("getsockname");
    char name[NI_MAXHOST], number[NI_MAXSERV];
    getnameinfo((struct sockaddr *) &mine, length, name, sizeof name, number, sizeof number,
                NI_NUMERICHOST | NI_NUMERICSERV);
    say("listening on %s", address((struct sockaddr *) &mine, length));
    say("ready: host=%s port=%s", name, number);

    for (int served = 0; clients == 0 || served < clients; served++) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int fd = accept(listener, (struct sockaddr *) &peer, &peer_length);    /* blocks until a client comes */
        if (fd == -1)
            fail("accept");
        length = sizeof mine;
        if (getsockname(fd, (struct sockaddr *) &mine, &length) == -1)
            fail("getsockname");
        const char *who = address((struct sockaddr *) &peer, peer_length);
        say("accepted %s <- %s", address((struct sockaddr *) &mine, length), who);
        set_deadline(fd, SO_RCVTIMEO, idle);    /* a recv() that waits --idle seconds fails with EAGAIN */
        set_deadline(fd, SO_SNDTIMEO, idle);
        serve(fd, fd, 1, who, idle);    /* recv() requests, send() answers, until recv() returns 0 */
        close(fd);
    }
    close(listener);
    return EXIT_SUCCESS;
}

static void options(int argc, char *argv[], const char **host, const char **port, int *clients, int *idle)
{
    static const struct option known[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "clients", required_argument, NULL, 'n' }, { "idle", required_argument, NULL, 'i' }, { 0 } };
    usage_if_asked(argc, argv, "tcp_server [--host HOST] [--port PORT] [--clients N] [--idle SECONDS]",
                   "demos/c/tcp_server.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'H')
            *host = optarg;
        else if (option == 'p')
            *port = port_option(optarg);
        else if (option == 'n')
            *clients = number_option("clients", optarg, 0, 1 << 30);
        else if (option == 'i')
            *idle = number_option("idle", optarg, 0, 86400);
        else
            exit(2);                    /* getopt said what was wrong */
    }
}

/* DETAILS: the rest of this program's text (as tcp_server.py's --help has it)

System calls, in order
    getaddrinfo(host, port, AI_PASSIVE) -> socket() -> setsockopt(SO_REUSEADDR)
    -> bind() -> freeaddrinfo() -> listen(SOMAXCONN) -> getsockname() -> then per
    client: accept() -> getsockname() -> setsockopt(SO_RCVTIMEO),
    setsockopt(SO_SNDTIMEO) -> recv()/send() until recv() returns 0 -> close();
    after an error line: shutdown(SHUT_WR), recv() until 0, close().

Its peer
    demos/c/tcp_client.c, demos/tcp_client.py, nc: the exchange is the same.

Expected output
    server[200]: listening on 127.0.0.1:41234
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: accepted 127.0.0.1:41234 <- 127.0.0.1:53012
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: 127.0.0.1:53012 closed the connection
*/
