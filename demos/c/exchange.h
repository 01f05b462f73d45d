/* exchange.h: what every C twin shares, written once (as TLPI's programs share a header).

   The exchange (ipc/protocol.py): one request per line of UTF-8 text, the n-th answer is
   "n REQUEST-IN-UPPER-CASE"; a message is at most MAX_MESSAGE bytes with its newline.
   The log (ipc/log.py): every line is "role[pid]: text" on stderr, in one write(), so the
   lines of several processes never merge; "sent"/"received" quote the message as JSON.
   The one read loop (next_line) and the one write loop (write_all) are here, explained once.
*/
#ifndef EXCHANGE_H
#define EXCHANGE_H

#define _GNU_SOURCE
#include <errno.h>
#include <locale.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#define MAX_MESSAGE 4096                /* bytes, newline included: ipc.protocol.MAX_MESSAGE_BYTES */
#define CLIENT_PATIENCE 10              /* seconds a client waits for an answer (ipc.program) */
#define SERVER_IDLE 5                   /* seconds a server waits for a request */
#define SHED_PAUSE 0.5                  /* seconds a server out of fds stops accepting (ipc.program) */

static const char *role = "?";          /* "client", "server": the label of every line */

/* One labelled line on stderr, in one write(): "client[300]: connected ..." */
static inline void say(const char *format, ...)
{
    char line[3 * MAX_MESSAGE];
    int n = snprintf(line, sizeof line - 1, "%s[%ld]: ", role, (long) getpid());
    va_list args;
    va_start(args, format);
    n += vsnprintf(line + n, sizeof line - 1 - n, format, args);
    va_end(args);
    if (n > (int) sizeof line - 2)
        n = sizeof line - 2;            /* cut, never overflow */
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) == -1)
        return;                         /* nowhere left to say anything */
}

/* The failed call's name and errno's words, then exit 1 (TLPI's errExit): "error: connect: Connection refused" */
static inline void fail(const char *what)
{
    say("error: %s: %s", what, strerror(errno));
    exit(EXIT_FAILURE);
}

/* A message as JSON quotes it (ensure_ascii=False): " \ and control characters escaped, the rest as is */
static inline const char *quoted(const char *text, size_t length)
{
    static char out[6 * MAX_MESSAGE + 3];
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < length; i++) {
        unsigned char c = text[i];
        const char *escape = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                           : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (escape != NULL)
            n += sprintf(out + n, "%s", escape);
        else if (c < 0x20)
            n += sprintf(out + n, "\\u%04x", c);
        else
            out[n++] = c;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/* The log's "sent" lines: one per message in the bytes about to be written (each ends in a newline) */
static inline void said_sent(const char *data, size_t length)
{
    while (length > 0) {
        const char *newline = memchr(data, '\n', length);
        size_t line = newline ? (size_t) (newline - data) : length;
        say("sent %s", quoted(data, line));
        line += newline != NULL;
        data += line;
        length -= line;
    }
}

static inline void said_received(const char *message, size_t length)
{
    say("received %s", quoted(message, length));
}

/* Every byte out: write() may write less than asked (a full pipe, a signal), so loop (TLPI's writen) */
static inline ssize_t write_all(int fd, const char *data, size_t length)
{
    size_t done = 0;
    while (done < length) {
        ssize_t n = write(fd, data + done, length - done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        done += n;
    }
    return done;
}

/* The one read loop: bytes come in any pieces (a stream keeps no boundaries), a newline ends a message */
enum { LINE_END = -1, LINE_ERROR = -2, LINE_TOO_LONG = -3, LINE_CUT = -4 };
struct lines {
    int fd;
    int is_socket;                      /* recv() on a socket, read() on a pipe or a FIFO: the same bytes */
    size_t length;
    char buffer[MAX_MESSAGE];
};

/* The next message (its length, newline removed, into message[MAX_MESSAGE]), or LINE_END at a clean end of
   file, LINE_ERROR (errno says why: EAGAIN after SO_RCVTIMEO), LINE_TOO_LONG, LINE_CUT (EOF mid-message) */
static inline int next_line(struct lines *in, char *message)
{
    for (;;) {
        char *newline = memchr(in->buffer, '\n', in->length);
        if (newline != NULL) {
            size_t length = newline - in->buffer;
            memcpy(message, in->buffer, length);
            in->length -= length + 1;
            memmove(in->buffer, newline + 1, in->length);
            if (length > 0 && message[length - 1] == '\r')
                length--;               /* forgive nc's and telnet's CRLF */
            return length;
        }
        if (in->length == sizeof in->buffer)
            return LINE_TOO_LONG;
        ssize_t n = in->is_socket ? recv(in->fd, in->buffer + in->length, sizeof in->buffer - in->length, 0)
                                  : read(in->fd, in->buffer + in->length, sizeof in->buffer - in->length);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return LINE_ERROR;
        if (n == 0)
            return in->length == 0 ? LINE_END : LINE_CUT;
        in->length += n;
    }
}

/* Python's str.upper() of UTF-8 text, as far as C's towupper() goes: one character to one, plus the
   one full case mapping the sample needs by hand (ß -> SS); 0 if the bytes are not UTF-8 */
static inline size_t upper(const char *text, size_t length, char *out)
{
    mbstate_t in_state = { 0 }, out_state = { 0 };
    size_t n = 0;
    for (size_t i = 0; i < length;) {
        wchar_t c;
        size_t used = mbrtowc(&c, text + i, length - i, &in_state);
        if (used == (size_t) -1 || used == (size_t) -2)
            return 0;                   /* not UTF-8 (or cut in the middle of a character) */
        used += used == 0;              /* a NUL byte is one character too */
        if (c == L'\u00df')
            n += sprintf(out + n, "SS");
        else
            n += wcrtomb(out + n, towupper(c), &out_state);
        i += used;
    }
    return n;
}

/* The server's answer to the seq-th request, newline included, into answer[2 * MAX_MESSAGE]; its length,
   or 0 with why[] filled when the request is refused (not UTF-8, or an answer too long to send) */
static inline size_t answer_to(int seq, const char *request, size_t length, char *answer, char *why)
{
    char upper_case[4 * MAX_MESSAGE];
    size_t n = upper(request, length, upper_case);
    if (n == 0 && length > 0) {
        sprintf(why, "message is not valid UTF-8");
        return 0;
    }
    size_t size = sprintf(answer, "%d ", seq);
    if (size + n + 1 > MAX_MESSAGE) {
        sprintf(why, "message too long: its answer would be %zu bytes, the limit is %d bytes", size + n + 1,
                MAX_MESSAGE);
        return 0;
    }
    memcpy(answer + size, upper_case, n);
    answer[size + n] = '\n';
    return size + n + 1;
}

/* A socket address as a person writes it: 127.0.0.1:8080, [::1]:8080, a path, or (unnamed) */
static inline const char *address(const struct sockaddr *where, socklen_t length)
{
    static char out[2][sizeof(struct sockaddr_un) + 64];
    static int turn;
    char *text = out[turn++ % 2];      /* two at once: "accepted A <- B" */
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (where->sa_family == AF_UNIX) {
        const struct sockaddr_un *unix_address = (const struct sockaddr_un *) where;
        if (length <= sizeof(sa_family_t) || unix_address->sun_path[0] == '\0')
            return "(unnamed)";         /* a client that never bound: nothing after the family */
        snprintf(text, sizeof out[0], "%s", unix_address->sun_path);
    } else if (getnameinfo(where, length, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(text, sizeof out[0], "(family %d)", where->sa_family);
    else
        snprintf(text, sizeof out[0], where->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return text;
}

/* The kernel's deadline on a socket (SO_RCVTIMEO, SO_SNDTIMEO): a recv() or send() that waits this long
   fails with EAGAIN; every wait of these programs has one */
static inline void set_deadline(int fd, int option, int seconds)
{
    struct timeval limit = { .tv_sec = seconds, .tv_usec = 0 };
    if (setsockopt(fd, SOL_SOCKET, option, &limit, sizeof limit) == -1)
        fail("setsockopt");
}

/* Every program starts here: its role, SIGPIPE ignored (demos/sigpipe.py), a UTF-8 locale for upper() */
static inline void start(const char *its_role)
{
    role = its_role;
    signal(SIGPIPE, SIG_IGN);           /* as Python does at start: a write to a closed peer is EPIPE, not death */
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
        setlocale(LC_CTYPE, "");
}

/* An option's number from low to high, or a usage error (exit 2). A port is 16 bits: getaddrinfo() would take
   "65536" and htons() keep its low 16 bits, 0, which means any free port (demos/open_questions.py) */
static inline long number_option(const char *name, const char *text, long low, long high)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "usage error: --%s %s: a whole number from %ld to %ld is needed\n", name, text, low, high);
        exit(2);
    }
    return value;
}

/* --port's text, for getaddrinfo(), once it is known to be a port */
static inline const char *port_option(const char *text)
{
    number_option("port", text, 0, 65535);
    return text;
}

/* -h or --help: where the whole text is (these programs print only their usage) */
static inline void usage_if_asked(int argc, char *argv[], const char *usage, const char *source)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s\n\nWhat it shows, its system calls in order, its output: the comments of %s\n",
                   usage, source);
            exit(EXIT_SUCCESS);
        }
}

/* Bytes out on a stream: send() on a socket (blocking: all of it, or an error), write() until all is out elsewhere */
static inline int put(int fd, int is_socket, const char *data, size_t length)
{
    if (is_socket)
        return send(fd, data, length, 0) == (ssize_t) length ? 0 : -1;
    return write_all(fd, data, length) == (ssize_t) length ? 0 : -1;
}

/* The server's side of one conversation on a stream: answer each request until the client's end of file;
   a bad request, or none within the deadline, gets an error line, then a graceful hang-up on a socket */
static inline void serve(int in_fd, int out_fd, int is_socket, const char *peer, int idle)
{
    static char request[MAX_MESSAGE], reply[2 * MAX_MESSAGE], why[300], peer_name[sizeof(struct sockaddr_un) + 64];
    snprintf(peer_name, sizeof peer_name, "%s", peer);
    struct lines in = { .fd = in_fd, .is_socket = is_socket };
    int length, seq = 0;
    while ((length = next_line(&in, request)) >= 0) {
        said_received(request, length);
        size_t size = answer_to(++seq, request, length, reply, why);
        if (size == 0)
            break;
        said_sent(reply, size);         /* said before it is written: cause before effect in the output */
        if (put(out_fd, is_socket, reply, size) == -1) {
            say("error from %s: %s", peer_name, strerror(errno));
            return;
        }
    }
    if (length == LINE_END) {
        if (is_socket)
            say("%s closed the connection", peer_name);
        else
            say("end of file: %s closed its write end", peer_name);
        return;
    }
    if (length == LINE_ERROR && errno == EAGAIN)
        snprintf(why, sizeof why, "no whole request within %d s", idle);    /* SO_RCVTIMEO ran out */
    else if (length == LINE_ERROR)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else if (length == LINE_TOO_LONG)
        snprintf(why, sizeof why, "message too long: no newline in its first %d bytes", MAX_MESSAGE);
    else if (length == LINE_CUT)
        snprintf(why, sizeof why, "stream ended in the middle of a message");
    say("error from %s: %s", peer_name, why);
    size_t size = snprintf(reply, sizeof reply, "error: %s\n", why);
    said_sent(reply, size);
    put(out_fd, is_socket, reply, size);
    if (is_socket) {
        shutdown(out_fd, SHUT_WR);      /* a graceful hang-up: a close() with bytes unread would send a reset */
        while (recv(in_fd, request, sizeof request, 0) > 0)
            continue;                   /* until its end of file (or the deadline) */
    }
}

/* The client's side on a stream: each request (or the sample's), then its answer, checked; exit 1 on any
   failure, saying why. Sockets: send() and recv(), whose deadline the caller set (SO_RCVTIMEO) */
static inline void converse(int in_fd, int out_fd, int is_socket, char *requests[], int count)
{
    static char *sample[] = { "hello", "how are you?", "Grüße aus der Pipe", "bye" };
    static char request[MAX_MESSAGE + 1], reply[MAX_MESSAGE], expected[2 * MAX_MESSAGE], why[300];
    if (count == 0) {
        requests = sample;
        count = sizeof sample / sizeof sample[0];
    }
    struct lines in = { .fd = in_fd, .is_socket = is_socket };
    for (int seq = 1; seq <= count; seq++) {
        size_t size = snprintf(request, sizeof request, "%s\n", requests[seq - 1]);
        if (size > MAX_MESSAGE || strchr(requests[seq - 1], '\n')) {
            say("error: message too long, or with a newline: refused before it is said");
            exit(EXIT_FAILURE);
        }
        said_sent(request, size);
        if (put(out_fd, is_socket, request, size) == -1)
            fail(is_socket ? "send" : "write");
        int length = next_line(&in, reply);   /* recv() or read() until a whole line is in */
        if (length == LINE_ERROR && errno == EAGAIN) {
            say("error: no answer within %d s: the server accepted us but says nothing", CLIENT_PATIENCE);
            exit(EXIT_FAILURE);
        }
        if (length == LINE_ERROR)
            fail(is_socket ? "recv" : "read");
        if (length < 0) {
            say("error: the server closed its end before answering");
            exit(EXIT_FAILURE);
        }
        said_received(reply, length);
        size_t wanted = answer_to(seq, request, size - 1, expected, why);
        if (wanted == 0 || (size_t) length != wanted - 1 || memcmp(reply, expected, length) != 0) {
            say("error: expected %s in answer", quoted(expected, wanted ? wanted - 1 : 0));
            exit(EXIT_FAILURE);
        }
    }
}

#endif
