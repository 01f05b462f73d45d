/* unix_stream_client.c: the exchange's client over a Unix-domain stream socket (twin of unix_stream_client.py).

What it shows
    No getaddrinfo(), no port: a struct sockaddr_un with the server's path,
    cast to struct sockaddr * for connect(). The client does not bind, so
    its own address is unnamed: getsockname() gives back just the family.

Run it
    build/unix_stream_client --path PATH [MESSAGE...]
    (start build/unix_stream_server or demos/unix_stream_server.py first; it prints the path)
*/
#include "exchange.h"
#include <getopt.h>

static int options(int argc, char *argv[], const char **path);

int main(int argc, char *argv[])
{
    const char *path = NULL;
    start("client");
    int first = options(argc, argv, &path);

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd == -1)
        fail("socket");
    struct sockaddr_un where;
    memset(&where, 0, sizeof where);    /* every byte we do not set must be 0 */
    where.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof where.sun_path) {
        say("error: %s: a socket's path has at most %zu bytes", path, sizeof where.sun_path - 1);
        exit(EXIT_FAILURE);
    }
    strcpy(where.sun_path, path);
    if (connect(fd, (struct sockaddr *) &where, sizeof where) == -1)
        fail("connect");

    struct sockaddr_un mine, theirs;
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

static int options(int argc, char *argv[], const char **path)
{
    static const struct option known[] = { { "path", required_argument, NULL, 'p' }, { 0 } };
    usage_if_asked(argc, argv, "unix_stream_client --path PATH [MESSAGE...]", "demos/c/unix_stream_client.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'p')
            *path = optarg;
        else
            exit(2);                    /* getopt said what was wrong */
    }
    if (*path == NULL || **path == '\0') {
        fprintf(stderr, "usage: unix_stream_client --path PATH [MESSAGE...]: --path is required\n");
        exit(2);
    }
    return optind;
}

/* DETAILS: the rest of this program's text (as unix_stream_client.py's --help has it)

System calls, in order
    socket(AF_UNIX, SOCK_STREAM) -> connect(path) -> getsockname()/getpeername()
    -> setsockopt(SO_RCVTIMEO), the kernel's deadline: a recv() that waits
    10 s returns EAGAIN -> send() a request, recv() its answer, ... -> close(),
    which the server reads as end of file.

Its peer
    demos/c/unix_stream_server.c or demos/unix_stream_server.py.

Expected output
    client[300]: connected (unnamed) -> /tmp/ipc-unix-stream-k2j4/server.sock
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed the connection
*/
