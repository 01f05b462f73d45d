/* udp_client.c: the exchange over UDP, one datagram per message (the C twin of udp_client.py).

What it shows
    connect() on a datagram socket sends nothing: it only fixes the peer,
    so send() and recv() need no address. Each send() is one datagram and
    each recv() returns one whole datagram: no newline, no read loop. A lost
    one is never resent: SO_RCVTIMEO bounds each wait, then EAGAIN.

Run it
    build/udp_client --host 127.0.0.1 --port PORT [MESSAGE...]
    (start build/udp_server or demos/udp_server.py first; it prints the port)
*/
#include "exchange.h"
#include <getopt.h>

static int options(int argc, char *argv[], const char **host, const char **port);

int main(int argc, char *argv[])
{
    static char *sample[] = { "hello", "how are you?", "Grüße aus der Pipe", "bye" };
    const char *host = "127.0.0.1", *port = NULL;
    start("client");
    int first = options(argc, argv, &host, &port);
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    int error = getaddrinfo(host, port, &hints, &found);
    if (error != 0) {
        say("error: getaddrinfo: %s", gai_strerror(error));
        exit(EXIT_FAILURE);
    }
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd == -1 || connect(fd, found->ai_addr, found->ai_addrlen) == -1)   /* sends nothing */
        fail("connect");
    freeaddrinfo(found);
    struct sockaddr_storage mine, theirs;
    socklen_t my_length = sizeof mine, their_length = sizeof theirs;
    if (getsockname(fd, (struct sockaddr *) &mine, &my_length) == -1 ||
        getpeername(fd, (struct sockaddr *) &theirs, &their_length) == -1)
        fail("getsockname");
    say("%s -> %s (connect() sent nothing: it only chose the peer)", address((struct sockaddr *) &mine, my_length),
        address((struct sockaddr *) &theirs, their_length));
    set_deadline(fd, SO_RCVTIMEO, CLIENT_PATIENCE);    /* a recv() that waits that long fails with EAGAIN */

    char **requests = first < argc ? argv + first : sample;
    int count = first < argc ? argc - first : (int) (sizeof sample / sizeof sample[0]);
    char reply[MAX_MESSAGE], expected[2 * MAX_MESSAGE], why[300];
    for (int seq = 1; seq <= count; seq++) {
        size_t size = strlen(requests[seq - 1]);
        said_sent(requests[seq - 1], size);
        if (send(fd, requests[seq - 1], size, 0) == -1)    /* one send(), one datagram */
            fail("send");
        ssize_t length = recv(fd, reply, sizeof reply, 0);  /* one recv(), one whole datagram */
        if (length == -1 && errno == EAGAIN) {
            say("error: no answer within %d s: a datagram may have been lost (UDP never resends)", CLIENT_PATIENCE);
            exit(EXIT_FAILURE);
        }
        if (length == -1)
            fail("recv");
        said_received(reply, length);
        size_t wanted = answer_to(seq, requests[seq - 1], size, expected, why);
        if (wanted == 0 || (size_t) length != wanted - 1 || memcmp(reply, expected, length) != 0) {
            say("error: expected %s in answer", quoted(expected, wanted ? wanted - 1 : 0));
            exit(EXIT_FAILURE);
        }
    }
    say("sending an empty datagram: the end of the conversation");
    if (send(fd, "", 0, 0) == -1)       /* a datagram of 0 bytes: the goodbye, since there is no end of file */
        fail("send");
    close(fd);
    return EXIT_SUCCESS;
}

static int options(int argc, char *argv[], const char **host, const char **port)
{
    static const struct option known[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' }, { 0 } };
    usage_if_asked(argc, argv, "udp_client [--host HOST] --port PORT [MESSAGE...]", "demos/c/udp_client.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'H')
            *host = optarg;
        else if (option == 'p')
            *port = port_option(optarg);
        else
            exit(2);                    /* getopt said what was wrong */
    }
    if (*port == NULL) {
        fprintf(stderr, "usage: udp_client [--host HOST] --port PORT [MESSAGE...]: --port is required\n");
        exit(2);
    }
    return optind;
}

/* DETAILS: the rest of this program's text (as udp_client.py's --help has it)

System calls, in order
    getaddrinfo(host, port, SOCK_DGRAM) -> socket() -> connect(), which sends
    nothing -> freeaddrinfo() -> getsockname()/getpeername() ->
    setsockopt(SO_RCVTIMEO) -> send() a request, recv() its answer (EAGAIN
    after 10 s), ... -> send() an empty datagram -> close().

Its peer
    demos/c/udp_server.c or demos/udp_server.py.

Expected output
    client[300]: 127.0.0.1:53012 -> 127.0.0.1:41234 (connect() sent nothing: it only chose the peer)
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: sending an empty datagram: the end of the conversation
*/
