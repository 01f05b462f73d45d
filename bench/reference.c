/* The C reference of `ipc bench`: the same round trips and streams as the Python loops
 * (ipc/bench/loops.py), in the same frame format (ipc/bench/frames.py), with the same checks.
 *
 * Usage:
 *   reference latency    MECH SIZE [--cpus C,S] [--dir DIR] [--warmup-ms N] [--budget-ms N] [--max-samples N]
 *   reference throughput MECH SIZE [--cpus C,S] [--dir DIR] [--warmup-ms N] [--value-ms N] [--values N] [--big-buffers]
 *   reference latency|throughput fds SIZE --role client|server --fds R,W ...   (one side only, on inherited fds)
 * MECH: pipe fifo socketpair unix unix-dgram tcp4 tcp6 udp. C,S: the CPUs of client and server, -1 unpinned.
 * --big-buffers: a 1 MiB pipe (F_SETPIPE_SZ), or 4 MiB socket buffers (SO_SNDBUF/SO_RCVBUF) on a stream socket.
 *
 * It sets the mechanism up, fork()s the server, and the client prints:
 *   sample NS            one round trip, timed with CLOCK_MONOTONIC (after the warm-up)
 *   value BYTES NS       one timed stream of frames (after calibration)
 *   crc SENT RECEIVED N  CRC-32 (zlib's) of every frame sent and received in the round trips, and how many
 * A lost, extra or corrupted byte: a one-line error on stderr and exit 1. Built by ipc/bench/reference.py
 * with `cc -O2` into a private temporary directory.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER_BYTES 8
#define MIN_SIZE 16
#define WINDOW_BYTES (8u * 1024 * 1024)
#define WARMUP_MIN 20
#define FIRST_STREAM_FRAMES 4

struct end { int rfd, wfd, dgram; };
struct options {
    int client_cpu, server_cpu, big_buffers, max_samples, values;
    double warmup_ms, budget_ms, value_ms;
    const char *dir, *role;
    int fds[2];
};

static void die(const char *what) {
    fprintf(stderr, "reference: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *message) {
    fprintf(stderr, "reference: %s\n", message);
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* zlib's CRC-32, eight bytes at a time ("slicing by 8"), so that checking costs C about what zlib costs
 * Python: the checksum is taken between samples, and a slow one would leave the peer idle for longer. */
static uint32_t crc_table[8][256];
static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++) crc_table[t][n] = crc_table[0][crc_table[t - 1][n] & 0xff] ^ (crc_table[t - 1][n] >> 8);
}
static uint32_t crc32(uint32_t crc, const unsigned char *data, size_t n) {  /* zlib's crc32(): same start, same result */
    crc = ~crc;
    for (; n >= 8; n -= 8, data += 8) {
        uint32_t low = crc ^ ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24);
        crc = crc_table[7][low & 0xff] ^ crc_table[6][(low >> 8) & 0xff] ^ crc_table[5][(low >> 16) & 0xff]
            ^ crc_table[4][low >> 24] ^ crc_table[3][data[4]] ^ crc_table[2][data[5]] ^ crc_table[1][data[6]]
            ^ crc_table[0][data[7]];
    }
    while (n--) crc = crc_table[0][(crc ^ *data++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void make_frame(unsigned char *frame, size_t size) {
    for (size_t i = 0; i < size - HEADER_BYTES; i++) frame[HEADER_BYTES + i] = (unsigned char)((i * 31 + 7) % 251);
}
static void pack(unsigned char *frame, uint32_t sequence, uint32_t length) {
    uint32_t net[2] = {htonl(sequence), htonl(length)};
    memcpy(frame, net, HEADER_BYTES);
}
static void unpack(const unsigned char *frame, uint32_t *sequence, uint32_t *length) {
    uint32_t net[2];
    memcpy(net, frame, HEADER_BYTES);
    *sequence = ntohl(net[0]);
    *length = ntohl(net[1]);
}
static uint32_t window(size_t size) { return size * 4 > WINDOW_BYTES ? 4 : (uint32_t)(WINDOW_BYTES / size); }

static void header_error(uint32_t expected, size_t size, const unsigned char *frame) {
    uint32_t sequence, length;
    char message[200];
    unpack(frame, &sequence, &length);
    if (length != size)
        snprintf(message, sizeof message, "frame %u: header says %u bytes where %zu were sent", expected, length, size);
    else if (sequence > expected)
        snprintf(message, sizeof message, "frame %u lost: frame %u arrived in its place", expected, sequence);
    else
        snprintf(message, sizeof message, "frame %u: frame %u arrived again or out of order", expected, sequence);
    fail(message);
}

/* Fill buf; 0 at end of file before its first byte. A datagram must be exactly n bytes. */
static int receive(struct end *e, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(e->rfd, buf + got, n - got);
        if (r < 0) { if (errno == EINTR) continue; die("read"); }
        if (r == 0) { if (got == 0) return 0; fail("the stream ended inside a frame"); }
        if (e->dgram && (size_t)r != n) {
            if (r == HEADER_BYTES) return 0;  /* a control frame: stop */
            fail("a datagram of the wrong size arrived");
        }
        got += (size_t)r;
    }
    return 1;
}

static void send_all(struct end *e, const unsigned char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(e->wfd, buf + done, n - done);
        if (w < 0) { if (errno == EINTR) continue; die("write"); }
        done += (size_t)w;
    }
}

static void send_control(struct end *e, uint32_t count) {
    unsigned char header[HEADER_BYTES];
    pack(header, count, HEADER_BYTES);
    send_all(e, header, HEADER_BYTES);
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

/* Round trips ------------------------------------------------------------------------------ */

static void latency_client(struct end *e, size_t size, struct options *o) {
    unsigned char *out = malloc(size), *in = malloc(size);
    uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)o->max_samples);
    if (!out || !in || !samples) fail("out of memory");
    make_frame(out, size);
    uint32_t crc_sent = 0, crc_received = 0, sequence = 0, got_sequence, got_length;
    int count = 0, warm = 0;
    uint64_t warm_until = now_ns() + (uint64_t)(o->warmup_ms * 1e6), until = 0;
    for (;;) {
        pack(out, sequence, (uint32_t)size);
        uint64_t t0 = now_ns();
        send_all(e, out, size);
        if (!receive(e, in, size)) fail("the server hung up before answering");
        unpack(in, &got_sequence, &got_length);
        if (got_sequence != sequence || got_length != size) header_error(sequence, size, in);
        uint64_t t1 = now_ns();
        crc_sent = crc32(crc_sent, out, size);  /* outside the timed part */
        crc_received = crc32(crc_received, in, size);
        sequence++;
        if (!until) {
            if (++warm >= WARMUP_MIN && t1 >= warm_until) until = t1 + (uint64_t)(o->budget_ms * 1e6);
            continue;
        }
        samples[count++] = t1 - t0;
        if (t1 >= until || count >= o->max_samples) break;
    }
    if (e->dgram) send_control(e, 0); else close(e->wfd);  /* the server sees end of file */
    for (int i = 0; i < count; i++) printf("sample %llu\n", (unsigned long long)samples[i]);
    printf("crc %08x %08x %u\n", crc_sent, crc_received, sequence);
    if (crc_sent != crc_received) fail("payload checksum differs: a corrupted byte");
    free(out); free(in); free(samples);
}

static void latency_server(struct end *e, size_t size) {
    unsigned char *buf = malloc(size);
    if (!buf) fail("out of memory");
    while (receive(e, buf, size)) send_all(e, buf, size);
    free(buf);
}

/* Streams ---------------------------------------------------------------------------------- */

static void throughput_client(struct end *e, size_t size, struct options *o) {
    unsigned char *expected = malloc(size), *in = malloc(size);
    if (!expected || !in) fail("out of memory");
    make_frame(expected, size);
    uint32_t wrap = window(size);
    uint64_t count = FIRST_STREAM_FRAMES, value_ns = (uint64_t)(o->value_ms * 1e6);
    uint64_t warm_until = now_ns() + (uint64_t)(o->warmup_ms * 1e6);
    int results = 0, calibrated = 0;
    while (results < o->values) {
        uint64_t t0 = now_ns();
        send_control(e, (uint32_t)count);
        for (uint64_t index = 0; index < count; index++) {
            pack(expected, (uint32_t)(index % wrap), (uint32_t)size);
            if (!receive(e, in, size)) fail("the server hung up inside a stream");
            if (memcmp(in, expected, size) != 0) {  /* every byte of every frame */
                if (memcmp(in, expected, HEADER_BYTES) != 0) header_error((uint32_t)(index % wrap), size, in);
                fail("a payload byte differs from the one sent");
            }
        }
        uint64_t t1 = now_ns(), elapsed = t1 - t0;
        if (calibrated) {
            printf("value %llu %llu\n", (unsigned long long)(count * size), (unsigned long long)elapsed);
            results++;
        } else if (elapsed >= value_ns / 2 && t1 >= warm_until) {
            calibrated = 1;
        }
        if (!calibrated || elapsed < value_ns * 8 / 10) {
            uint64_t scaled = (uint64_t)((double)count * (double)value_ns / (double)(elapsed ? elapsed : 1));
            count = scaled > count * 2 ? scaled : count * 2;
            if (count > 0xffffffffu) count = 0xffffffffu;
        }
    }
    send_control(e, 0);
    free(expected); free(in);
}

static void throughput_server(struct end *e, size_t size) {
    unsigned char *out = malloc(size), request[HEADER_BYTES];
    if (!out) fail("out of memory");
    make_frame(out, size);
    uint32_t wrap = window(size), count, length;
    for (;;) {
        if (!receive(e, request, HEADER_BYTES)) break;
        unpack(request, &count, &length);
        if (length != HEADER_BYTES) fail("server: expected a control frame");
        if (count == 0) break;
        for (uint32_t index = 0; index < count; index++) {
            pack(out, index % wrap, (uint32_t)size);
            send_all(e, out, size);
        }
    }
    free(out);
}

/* Mechanisms: set up before fork(), finished in each process ---------------------------------- */

static void set_buffers(int fd, size_t size) {
    int room = (int)(2 * size + 4096) > 212992 ? (int)(2 * size + 4096) : 212992;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
}

static void enlarge(int fd, struct options *o) {  /* fewer times a full buffer puts the writer to sleep */
    int room = 4 << 20;
    if (!o->big_buffers) return;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
}

static struct sockaddr_un unix_address(const char *dir, const char *name) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name) >= sizeof a.sun_path)
        fail("--dir is too long for a socket path");
    return a;
}

static void run(const char *mode, const char *mech, size_t size, struct options *o) {
    int throughput = strcmp(mode, "throughput") == 0;
    int fds[4] = {-1, -1, -1, -1}, listener = -1, one = 1;
    struct sockaddr_storage address;
    socklen_t address_length = 0;
    char requests[4096], replies[4096];
    struct end client = {-1, -1, 0}, server = {-1, -1, 0};

    if (!strcmp(mech, "pipe")) {
        if (pipe(fds) || pipe(fds + 2)) die("pipe");
        if (o->big_buffers && (fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0 || fcntl(fds[3], F_SETPIPE_SZ, 1 << 20) < 0))
            die("F_SETPIPE_SZ");
        client = (struct end){fds[2], fds[1], 0};
        server = (struct end){fds[0], fds[3], 0};
    } else if (!strcmp(mech, "fifo")) {
        snprintf(requests, sizeof requests, "%s/requests.fifo", o->dir);
        snprintf(replies, sizeof replies, "%s/replies.fifo", o->dir);
        if (mkfifo(requests, 0600) || mkfifo(replies, 0600)) die("mkfifo");
    } else if (!strcmp(mech, "socketpair") || !strcmp(mech, "unix-dgram") || !strcmp(mech, "udp")) {
        int dgram = strcmp(mech, "socketpair") != 0;
        if (!strcmp(mech, "udp")) {
            if (size > 65507) fail("a UDP datagram carries at most 65,507 bytes");
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, b;
            socklen_t length = sizeof b;
            for (int i = 0; i < 2; i++) {
                fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
                if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof a)) die("udp bind");
                set_buffers(fds[i], size);
            }
            for (int i = 0; i < 2; i++) {
                if (getsockname(fds[1 - i], (struct sockaddr *)&b, &length)) die("getsockname");
                if (connect(fds[i], (struct sockaddr *)&b, length)) die("udp connect");
            }
        } else if (socketpair(AF_UNIX, dgram ? SOCK_DGRAM : SOCK_STREAM, 0, fds)) {
            die("socketpair");
        } else if (dgram) {
            for (int i = 0; i < 2; i++) set_buffers(fds[i], size);
        } else {
            for (int i = 0; i < 2; i++) enlarge(fds[i], o);
        }
        client = (struct end){fds[0], fds[0], dgram};
        server = (struct end){fds[1], fds[1], dgram};
    } else if (!strcmp(mech, "unix") || !strcmp(mech, "tcp4") || !strcmp(mech, "tcp6")) {
        if (!strcmp(mech, "unix")) {
            struct sockaddr_un a = unix_address(o->dir, "server.sock");
            memcpy(&address, &a, sizeof a);
            address_length = sizeof a;
        } else if (!strcmp(mech, "tcp4")) {
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            memcpy(&address, &a, sizeof a);
            address_length = sizeof a;
        } else {
            struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
            memcpy(&address, &a, sizeof a);
            address_length = sizeof a;
        }
        listener = socket(address.ss_family, SOCK_STREAM, 0);
        if (listener < 0 || bind(listener, (struct sockaddr *)&address, address_length) || listen(listener, 1))
            die("bind/listen");
        if (getsockname(listener, (struct sockaddr *)&address, &address_length)) die("getsockname");
    } else {
        fail("unknown mechanism");
    }

    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {  /* the server */
        pin(o->server_cpu);
        if (!strcmp(mech, "fifo")) {  /* requests first, then replies, on both sides: else open() deadlocks */
            server.rfd = open(requests, O_RDONLY);
            server.wfd = open(replies, O_WRONLY);
            if (server.rfd < 0 || server.wfd < 0) die("open fifo");
            unlink(requests);
            unlink(replies);
        } else if (listener >= 0) {
            int s = accept(listener, NULL, NULL);
            if (s < 0) die("accept");
            close(listener);
            if (address.ss_family == AF_UNIX) unlink(((struct sockaddr_un *)&address)->sun_path);
            else setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            enlarge(s, o);
            server = (struct end){s, s, 0};
        } else {
            for (int i = 0; i < 4; i++) if (fds[i] >= 0 && fds[i] != server.rfd && fds[i] != server.wfd) close(fds[i]);
        }
        if (throughput) throughput_server(&server, size); else latency_server(&server, size);
        _exit(0);
    }
    pin(o->client_cpu);
    if (!strcmp(mech, "fifo")) {
        client.wfd = open(requests, O_WRONLY);
        client.rfd = open(replies, O_RDONLY);
        if (client.rfd < 0 || client.wfd < 0) die("open fifo");
    } else if (listener >= 0) {
        close(listener);
        int s = socket(address.ss_family, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&address, address_length)) die("connect");
        if (address.ss_family != AF_UNIX) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        enlarge(s, o);
        client = (struct end){s, s, 0};
    } else {
        for (int i = 0; i < 4; i++) if (fds[i] >= 0 && fds[i] != client.rfd && fds[i] != client.wfd) close(fds[i]);
    }
    if (throughput) throughput_client(&client, size, o); else latency_client(&client, size, o);
    fflush(stdout);
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("the server process failed");
}

static int parse_pair(const char *text, int *a, int *b) { return sscanf(text, "%d,%d", a, b) == 2; }

int main(int argc, char **argv) {
    struct options o = {-1, -1, 0, 20000, 3, 50, 200, 100, ".", NULL, {-1, -1}};
    if (argc < 4) {
        fprintf(stderr, "usage: reference latency|throughput MECH|fds SIZE [options] (see the source)\n");
        return 2;
    }
    const char *mode = argv[1], *mech = argv[2];
    long size = strtol(argv[3], NULL, 10);
    if (size < MIN_SIZE || size > (64L << 20)) fail("SIZE must be 16 bytes to 64 MiB");
    for (int i = 4; i < argc; i++) {
        const char *option = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(option, "--big-buffers")) { o.big_buffers = 1; continue; }
        if (!value) fail("an option needs a value");
        i++;
        if (!strcmp(option, "--cpus")) { if (!parse_pair(value, &o.client_cpu, &o.server_cpu)) fail("--cpus C,S"); }
        else if (!strcmp(option, "--fds")) { if (!parse_pair(value, &o.fds[0], &o.fds[1])) fail("--fds R,W"); }
        else if (!strcmp(option, "--dir")) o.dir = value;
        else if (!strcmp(option, "--role")) o.role = value;
        else if (!strcmp(option, "--warmup-ms")) o.warmup_ms = atof(value);
        else if (!strcmp(option, "--budget-ms")) o.budget_ms = atof(value);
        else if (!strcmp(option, "--value-ms")) o.value_ms = atof(value);
        else if (!strcmp(option, "--values")) o.values = atoi(value);
        else if (!strcmp(option, "--max-samples")) o.max_samples = atoi(value);
        else fail("unknown option");
    }
    if (o.max_samples < 1 || o.values < 1) fail("--max-samples and --values must be at least 1");
    signal(SIGPIPE, SIG_IGN);  /* a peer that is gone is an EPIPE error, said in one line */
    crc_init();
    if (!strcmp(mech, "fds")) {  /* one side only, on fds handed down by the caller */
        struct end e = {o.fds[0], o.fds[1], 0};
        int throughput = !strcmp(mode, "throughput"), client = o.role && !strcmp(o.role, "client");
        if (!o.role || e.rfd < 0 || e.wfd < 0) fail("fds needs --role client|server and --fds R,W");
        if (client) { if (throughput) throughput_client(&e, (size_t)size, &o); else latency_client(&e, (size_t)size, &o); }
        else { if (throughput) throughput_server(&e, (size_t)size); else latency_server(&e, (size_t)size); }
        return 0;
    }
    if (strcmp(mode, "latency") && strcmp(mode, "throughput")) fail("MODE is latency or throughput");
    run(mode, mech, (size_t)size, &o);
    return 0;
}
