/* udp_server.c: answers the exchange one datagram at a time, a conversation per client address (twin of udp_server.py).

What it shows
    No listen(), no accept(): one socket hears every client. recvfrom() gives
    a whole datagram and who sent it, in a struct sockaddr_storage with the
    length it filled (addrlen in and out); sendto() answers that address.
    Nothing else tells clients apart, so the server keeps a table of
    addresses (compared with memcmp(), as the kernel filled them) and counts
    each one's requests. An empty datagram ends a conversation.

Run it
    build/udp_server [--host 127.0.0.1] [--port 0] [--clients N]
    (or: make udp-c, which also runs build/udp_client; make build compiles it)
*/
#include "exchange.h"
#include <getopt.h>

#define MAX_PEERS 64
static struct peer { struct sockaddr_storage where; socklen_t length; int answered; } peers[MAX_PEERS];
static struct peer *conversation_of(const struct sockaddr_storage *where, socklen_t length, int create);
static void options(int argc, char *argv[], const char **host, const char **port, int *clients);

int main(int argc, char *argv[])
{
    const char *host = "127.0.0.1", *port = "0";
    int clients = 0;
    start("server");
    options(argc, argv, &host, &port, &clients);
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;     /* a datagram socket: UDP */
    hints.ai_flags = AI_PASSIVE;        /* no host ("") means any address */
    int error = getaddrinfo(*host ? host : NULL, port, &hints, &found);
    if (error != 0) {
        say("error: getaddrinfo: %s", gai_strerror(error));
        exit(EXIT_FAILURE);
    }
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd == -1 || bind(fd, found->ai_addr, found->ai_addrlen) == -1)
        fail("bind");
    freeaddrinfo(found);
    struct sockaddr_storage mine;
    socklen_t length = sizeof mine;
    if (getsockname(fd, (struct sockaddr *) &mine, &length) == -1)    /* port 0 became a port: which? */
        fail("getsockname");
    char name[NI_MAXHOST], number[NI_MAXSERV];
    getnameinfo((struct sockaddr *) &mine, length, name, sizeof name, number, sizeof number,
                NI_NUMERICHOST | NI_NUMERICSERV);
    say("bound to %s (no listen(), no accept())", address((struct sockaddr *) &mine, length));
    say("ready: host=%s port=%s", name, number);

    char request[MAX_MESSAGE], reply[2 * MAX_MESSAGE], why[300];
    for (int ended = 0; clients == 0 || ended < clients;) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;    /* in: room; out: the size of this sender's address */
        ssize_t size = recvfrom(fd, request, sizeof request, MSG_TRUNC, (struct sockaddr *) &peer, &peer_length);
        if (size == -1)                 /* MSG_TRUNC: the datagram's real size, even past the buffer */
            fail("recvfrom");
        const char *who = address((struct sockaddr *) &peer, peer_length);
        struct peer *talk = conversation_of(&peer, peer_length, size > 0);
        if (size == 0 && talk == NULL) {
            say("empty datagram from %s, which has no conversation: ignored", who);
            continue;
        }
        if (size == 0) {                /* no end of file on datagrams: an empty one is the client's goodbye */
            say("empty datagram from %s: the end of its conversation", who);
            talk->length = 0;
            ended++;
            continue;
        }
        say("datagram of %zd byte%s from %s", size, size == 1 ? "" : "s", who);
        size_t answer = 0;
        if (size >= MAX_MESSAGE)
            snprintf(why, sizeof why, "message too long: a datagram of %zd bytes, the limit is %d bytes", size,
                     MAX_MESSAGE - 1);
        else {
            said_received(request, size);
            answer = answer_to(++talk->answered, request, size, reply, why);
        }
        if (answer == 0) {              /* refused: say why; its next datagram starts afresh */
            say("error from %s: %s", who, why);
            answer = snprintf(reply, sizeof reply, "error: %s\n", why);
            talk->length = 0;
        }
        said_sent(reply, answer - 1);
        if (sendto(fd, reply, answer - 1, 0, (struct sockaddr *) &peer, peer_length) == -1)  /* no newline */
            fail("sendto");
    }
    close(fd);
    return EXIT_SUCCESS;
}

/* The conversation of this address (a new one if asked), or NULL */
static struct peer *conversation_of(const struct sockaddr_storage *where, socklen_t length, int create)
{
    struct peer *free_slot = NULL;
    for (int i = 0; i < MAX_PEERS; i++) {
        if (peers[i].length == length && memcmp(&peers[i].where, where, length) == 0)
            return &peers[i];
        if (peers[i].length == 0 && free_slot == NULL)
            free_slot = &peers[i];
    }
    if (!create || free_slot == NULL)
        return NULL;
    memcpy(&free_slot->where, where, length);
    free_slot->length = length;
    free_slot->answered = 0;
    return free_slot;
}

static void options(int argc, char *argv[], const char **host, const char **port, int *clients)
{
    static const struct option known[] = {
        { "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'p' },
        { "clients", required_argument, NULL, 'n' }, { 0 } };
    usage_if_asked(argc, argv, "udp_server [--host HOST] [--port PORT] [--clients N]", "demos/c/udp_server.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'H')
            *host = optarg;
        else if (option == 'p')
            *port = port_option(optarg);
        else if (option == 'n')
            *clients = number_option("clients", optarg, 0, 1 << 30);
        else
            exit(2);                    /* getopt said what was wrong */
    }
}

/* DETAILS: the rest of this program's text (as udp_server.py's --help has it)

System calls, in order
    getaddrinfo(host, port, SOCK_DGRAM, AI_PASSIVE) -> socket() -> bind() ->
    freeaddrinfo() -> getsockname() -> then per datagram: recvfrom(MSG_TRUNC)
    -> sendto() the address recvfrom() gave -> ... -> close().

Its peer
    demos/c/udp_client.c, demos/udp_client.py, nc -u.

Expected output
    server[200]: bound to 127.0.0.1:41234 (no listen(), no accept())
    server[200]: ready: host=127.0.0.1 port=41234
    server[200]: datagram of 5 bytes from 127.0.0.1:53012
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: empty datagram from 127.0.0.1:53012: the end of its conversation
*/
