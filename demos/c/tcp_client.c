/* tcp_client.c: sends the exchange's requests to a TCP server, checks each answer (twin of tcp_client.py).

What it shows
    The client's side in the notes' own words: getaddrinfo() gives a linked
    list of addresses (ai_next), connect() takes one as a struct sockaddr *
    and its length, the list is freed with freeaddrinfo(), and the kernel
    picks our port (an ephemeral port) at connect time: getsockname() says
    which. Python's socket.connect() is this same connect(2).

Run it
    build/tcp_client --host 127.0.0.1 --port PORT [MESSAGE...]
    (start build/tcp_server or demos/tcp_server.py first; it prints the port)
*/
#include "exchange.h"
#include <getopt.h>

static int options(int argc, char *argv[], const char **host, const char **port);

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = NULL;
    start("client");
    int first = options(argc, argv, &host, &port);

    struct addrinfo hints, *found, *each;
    memset(&hints, 0, sizeof hints);    /* every field we do not set must be 0 */
    hints.ai_family = AF_UNSPEC;        /* IPv4 or IPv6: whatever the name has */
    hints.ai_socktype = SOCK_STREAM;
    int error = getaddrinfo(host, port, &hints, &found);
    if (error != 0) {
        say("error: getaddrinfo: %s", gai_strerror(error));
        exit(EXIT_FAILURE);
    }
    int fd = -1;
    for (each = found; each != NULL; each = each->ai_next) {   /* try each address until one answers */
        fd = socket(each->ai_family, each->ai_socktype, each->ai_protocol);
        if (fd == -1)
            continue;
        if (connect(fd, each->ai_addr, each->ai_addrlen) == 0)  /* the handshake; our port is chosen here */
            break;
        close(fd);                      /* refused, unreachable: the next address */
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd == -1)
        fail("connect");

    struct sockaddr_storage mine, theirs;
    socklen_t my_length = sizeof mine, their_length = sizeof theirs;   /* in: room; out: size filled */
    if (getsockname(fd, (struct sockaddr *) &mine, &my_length) == -1 ||
        getpeername(fd, (struct sockaddr *) &theirs, &their_length) == -1)
        fail("getsockname");
    say("connected %s -> %s", address((struct sockaddr *) &mine, my_length),
        address((struct sockaddr *) &theirs, their_length));
    set_deadline(fd, SO_RCVTIMEO, CLIENT_PATIENCE);    /* a recv() that waits that long fails with EAGAIN */
    converse(fd, fd, 1, argv + first, argc - first);   /* send() each request, recv() its answer */
    close(fd);                          /* the server's recv() returns 0: our end of file */
    say("closed the connection");
    return EXIT_SUCCESS;
}

static int options(int argc, char *argv[], const char **host, const char **port)
{
    static const struct option known[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' }, { 0 } };
    usage_if_asked(argc, argv, "tcp_client [--host HOST] --port PORT [MESSAGE...]", "demos/c/tcp_client.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'H')
            *host = optarg;
        else if (option == 'p')
            *port = port_option(optarg);
        else
            exit(2);                    /* getopt said what was wrong */
    }
    if (*port == NULL) {
        fprintf(stderr, "usage: tcp_client [--host HOST] --port PORT [MESSAGE...]: --port is required\n");
        exit(2);
    }
    return optind;                      /* the messages, if any, start here */
}

/* DETAILS: the rest of this program's text (as tcp_client.py's --help has it)

System calls, in order
    getaddrinfo(host, port) -> for each result: socket() -> connect() ->
    freeaddrinfo() -> getsockname()/getpeername() -> setsockopt(SO_RCVTIMEO):
    a recv() that waits 10 s returns EAGAIN -> send() a request, recv() its
    answer, ... -> close(), which the server reads as end of file.

Its peer
    demos/c/tcp_server.c or demos/tcp_server.py.

Expected output
    client[300]: connected 127.0.0.1:53012 -> 127.0.0.1:41234
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed the connection
*/
