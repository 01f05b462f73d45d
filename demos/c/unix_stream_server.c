/* unix_stream_server.c: the exchange over a Unix-domain stream socket (the C twin of unix_stream_server.py).

What it shows
    An address that is a path: a struct sockaddr_un, zeroed with memset(),
    its sun_path filled (at most 107 bytes and a NUL), cast to struct
    sockaddr * for bind(), which creates the socket file. close() leaves
    that file behind: the server unlink()s it on every way out, SIGTERM
    included (a handler may call unlink() and _exit(): both are safe there).

Run it
    build/unix_stream_server [--clients N] [--idle SECONDS]
    (or: make unix-c; the socket goes in a new 0700 directory: the ready line says where)
*/
#include "exchange.h"
#include <getopt.h>

static char directory[4000], path[4096];
static void options(int argc, char *argv[], int *clients, int *idle);
static void remove_on_sigterm(void);

int main(int argc, char *argv[])
{
    int clients = 0, idle = SERVER_IDLE;
    start("server");
    options(argc, argv, &clients, &idle);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(directory, sizeof directory, "%.3970s/ipc-unix-stream-XXXXXX", tmp);
    if (mkdtemp(directory) == NULL)     /* mode 0700: only our user can reach the socket */
        fail("mkdtemp");
    snprintf(path, sizeof path, "%s/server.sock", directory);
    remove_on_sigterm();
    struct sockaddr_un where;
    if (strlen(path) >= sizeof where.sun_path) {    /* sun_path holds 107 bytes and a NUL */
        say("error: %s: a socket's path has at most %zu bytes (a shorter TMPDIR?)", path, sizeof where.sun_path - 1);
        rmdir(directory);
        exit(EXIT_FAILURE);
    }

    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener == -1)
        fail("socket");
    memset(&where, 0, sizeof where);    /* every byte we do not set must be 0 */
    where.sun_family = AF_UNIX;
    strcpy(where.sun_path, path);
    if (bind(listener, (struct sockaddr *) &where, sizeof where) == -1)    /* creates the socket file */
        fail("bind");
    if (listen(listener, SOMAXCONN) == -1)
        fail("listen");
    say("listening on %s", path);
    say("ready: path=%s", path);

    for (int served = 0; clients == 0 || served < clients; served++) {
        struct sockaddr_un peer;
        socklen_t peer_length = sizeof peer;    /* out: just the family for a client that never bound */
        int fd = accept(listener, (struct sockaddr *) &peer, &peer_length);
        if (fd == -1)
            fail("accept");
        const char *who = address((struct sockaddr *) &peer, peer_length);
        say("accepted %s <- %s", path, who);
        set_deadline(fd, SO_RCVTIMEO, idle);    /* a recv() that waits --idle seconds fails with EAGAIN */
        set_deadline(fd, SO_SNDTIMEO, idle);
        serve(fd, fd, 1, who, idle);    /* recv() requests, send() answers, until recv() returns 0 */
        close(fd);
    }
    close(listener);
    if (unlink(path) == -1 || rmdir(directory) == -1)  /* else the next bind() to it fails: EADDRINUSE */
        fail("unlink");
    say("removed %s", path);
    return EXIT_SUCCESS;
}

static void removed(int signal_number)
{
    (void) signal_number;
    unlink(path);                       /* async-signal-safe, as are rmdir() and _exit() */
    rmdir(directory);
    _exit(128 + SIGTERM);               /* as a shell reports a process SIGTERM ended: 143 */
}

static void remove_on_sigterm(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = removed;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
}

static void options(int argc, char *argv[], int *clients, int *idle)
{
    static const struct option known[] = {
        { "clients", required_argument, NULL, 'n' }, { "idle", required_argument, NULL, 'i' }, { 0 } };
    usage_if_asked(argc, argv, "unix_stream_server [--clients N] [--idle SECONDS]", "demos/c/unix_stream_server.c");
    for (int option; (option = getopt_long(argc, argv, "", known, NULL)) != -1;) {
        if (option == 'n')
            *clients = number_option("clients", optarg, 0, 1 << 30);
        else if (option == 'i')
            *idle = number_option("idle", optarg, 0, 86400);
        else
            exit(2);                    /* getopt said what was wrong */
    }
}

/* DETAILS: the rest of this program's text (as unix_stream_server.py's --help has it)

System calls, in order
    mkdtemp() (mkdir) -> socket(AF_UNIX, SOCK_STREAM) -> bind(path), which
    creates the file -> listen(SOMAXCONN) -> then per client: accept() ->
    setsockopt(SO_RCVTIMEO), setsockopt(SO_SNDTIMEO) -> recv()/send() until
    recv() returns 0 -> close() -> at the end: close() -> unlink(path) -> rmdir().

Its peer
    demos/c/unix_stream_client.c, demos/unix_stream_client.py, nc -NU.

Expected output
    server[200]: listening on /tmp/ipc-unix-stream-k2j4/server.sock
    server[200]: ready: path=/tmp/ipc-unix-stream-k2j4/server.sock
    server[200]: accepted /tmp/ipc-unix-stream-k2j4/server.sock <- (unnamed)
    server[200]: received "hello"
    server[200]: sent "1 HELLO"
    ...
    server[200]: (unnamed) closed the connection
    server[200]: removed /tmp/ipc-unix-stream-k2j4/server.sock
*/
