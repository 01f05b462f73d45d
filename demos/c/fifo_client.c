/* fifo_client.c: the exchange's client over two FIFOs of its own (the C twin of fifo_client.py).

What it shows
    mkfifo() makes a named pipe: a path any process can open(). The client
    names two by its pid, tells the server that pid through the server's
    well-known FIFO (one write() of a few bytes: atomic, never mixed with
    another client's), then opens its own: each open() blocks until the
    server opens the other end. Neither open() nor read() takes a timeout:
    alarm() gives the whole conversation one, and its handler unlinks them.

Run it
    build/fifo_client --dir DIR [MESSAGE...]
    (start demos/fifo_server.py first: its ready line says DIR; or: make fifo-c-client)
*/
#include "exchange.h"
#include <fcntl.h>
#include <sys/stat.h>

static char requests_path[4200], replies_path[4200];
static void give_up(int signal_number);

int main(int argc, char *argv[])
{
    start("client");
    usage_if_asked(argc, argv, "fifo_client --dir DIR [MESSAGE...]", "demos/c/fifo_client.c");
    if (argc < 3 || strcmp(argv[1], "--dir") != 0) {
        fprintf(stderr, "usage: fifo_client --dir DIR [MESSAGE...]: --dir is required\n");
        exit(2);
    }
    const char *directory = argv[2];
    long pid = (long) getpid();
    signal(SIGALRM, give_up);
    alarm(CLIENT_PATIENCE);             /* the whole conversation's deadline, opens included */
    snprintf(requests_path, sizeof requests_path, "%.4000s/%ld.requests", directory, pid);
    snprintf(replies_path, sizeof replies_path, "%.4000s/%ld.replies", directory, pid);
    if (mkfifo(requests_path, 0600) == -1 || mkfifo(replies_path, 0600) == -1)   /* named by our pid */
        fail("mkfifo");
    say("made %ld.requests and %ld.replies; telling the server \"%ld\" through %s/server", pid, pid, pid, directory);
    char server[4200], hello[32];
    snprintf(server, sizeof server, "%.4000s/server", directory);
    int well_known = open(server, O_WRONLY);    /* blocks until the server opens it to read */
    if (well_known == -1)
        fail("open");
    int size = snprintf(hello, sizeof hello, "%ld\n", pid);
    if (write(well_known, hello, size) != size) /* at most PIPE_BUF bytes: one piece, never mixed */
        fail("write");
    close(well_known);
    say("opening %ld.requests, then %ld.replies: each open() waits for the server's", pid, pid);
    int requests = open(requests_path, O_WRONLY);   /* the server's order: requests, then replies */
    int replies = requests == -1 ? -1 : open(replies_path, O_RDONLY);
    if (replies == -1)
        give_up(0);
    converse(replies, requests, 0, argv + 3, argc - 3);    /* write() each request, read() its answer */
    close(requests);                    /* the server's read() now returns 0: end of file */
    close(replies);
    unlink(requests_path);              /* our FIFOs are files: ours to remove */
    unlink(replies_path);
    alarm(0);
    say("closed both FIFOs: the server reads end of file");
    return EXIT_SUCCESS;
}

/* The alarm rang (or an open() failed): remove our FIFOs, say why, exit 1 (unlink() and _exit() are safe here) */
static void give_up(int signal_number)
{
    int error = errno;
    unlink(requests_path);
    unlink(replies_path);
    if (signal_number == SIGALRM)
        say("error: nothing from the server within %d s: is one running there?", CLIENT_PATIENCE);
    else
        say("error: open: %s", strerror(error));
    _exit(EXIT_FAILURE);
}

/* DETAILS: the rest of this program's text (as fifo_client.py's --help has it)

System calls, in order
    alarm() -> mkfifo(DIR/PID.requests), mkfifo(DIR/PID.replies) ->
    open(DIR/server, O_WRONLY), write() "PID\n", close() -> open(PID.requests,
    O_WRONLY) -> open(PID.replies, O_RDONLY) -> write() a request, read() its
    answer, ... -> close() both, which the server reads as end of file ->
    unlink() both FIFOs -> alarm(0) cancels the alarm.

Its peer
    demos/fifo_server.py.

Expected output
    client[300]: made 300.requests and 300.replies; telling the server "300" through /tmp/ipc-fifo-k2j4/server
    client[300]: opening 300.requests, then 300.replies: each open() waits for the server's
    client[300]: sent "hello"
    client[300]: received "1 HELLO"
    ...
    client[300]: closed both FIFOs: the server reads end of file
*/
