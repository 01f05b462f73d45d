/* showip.c: every address getaddrinfo() gives for a name, walked over its linked list (twin of showip.py).

What it shows
    The notes' own example: getaddrinfo() fills a struct addrinfo ** with the
    head of a list it allocated; the program follows ai_next to the end,
    casts each ai_addr to the struct of its family (sockaddr_in or
    sockaddr_in6), turns the address to text with inet_ntop(), and gives
    the whole list back with freeaddrinfo(). A name nobody knows is no
    errno: getaddrinfo() returns its own code, and gai_strerror() says it.

Run it
    build/showip [NAME...]     (or: make showip-c; default: localhost, this machine, 127.0.0.1, ::1, nowhere.invalid)
*/
#include "exchange.h"
#include <arpa/inet.h>
#include <netinet/in.h>

static const char *family_name(int family), *type_name(int type), *protocol_name(int protocol);
static void deadline(int signal_number);

int main(int argc, char *argv[])
{
    char this_machine[256] = "localhost";
    char *defaults[] = { "localhost", this_machine, "127.0.0.1", "::1", "nowhere.invalid" };
    start("showip");
    usage_if_asked(argc, argv, "showip [NAME...]", "demos/c/showip.c");
    gethostname(this_machine, sizeof this_machine - 1);
    char **names = argc > 1 ? argv + 1 : defaults;
    int count = argc > 1 ? argc - 1 : (int) (sizeof defaults / sizeof defaults[0]);
    signal(SIGALRM, deadline);
    alarm(10);                          /* getaddrinfo() takes no timeout; DNS may not answer */

    for (int i = 0; i < count; i++) {
        struct addrinfo hints, *found, *each;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;    /* IPv4 and IPv6 */
        int error = getaddrinfo(names[i], NULL, &hints, &found);    /* &found: it allocates, we free */
        if (error != 0) {
            say("%s: no address: getaddrinfo: %s", names[i], gai_strerror(error));
            continue;
        }
        int results = 0;
        for (each = found; each != NULL; each = each->ai_next)
            results++;
        say("%s: %d result%s", names[i], results, results == 1 ? "" : "s");
        for (each = found; each != NULL; each = each->ai_next) {   /* the linked list, to its NULL */
            char text[INET6_ADDRSTRLEN];
            void *raw = each->ai_family == AF_INET
                ? (void *) &((struct sockaddr_in *) each->ai_addr)->sin_addr     /* 4 bytes */
                : (void *) &((struct sockaddr_in6 *) each->ai_addr)->sin6_addr; /* 16 bytes */
            inet_ntop(each->ai_family, raw, text, sizeof text);    /* network bytes -> "127.0.0.1" */
            say("  %-9s %-12s %-12s %s", family_name(each->ai_family), type_name(each->ai_socktype),
                protocol_name(each->ai_protocol), text);
        }
        freeaddrinfo(found);            /* the whole list, in one call */
    }
    return EXIT_SUCCESS;
}

static const char *family_name(int family)
{
    return family == AF_INET ? "AF_INET" : family == AF_INET6 ? "AF_INET6" : "other";
}

static const char *type_name(int type)
{
    return type == SOCK_STREAM ? "SOCK_STREAM" : type == SOCK_DGRAM ? "SOCK_DGRAM" : type == SOCK_RAW ? "SOCK_RAW"
                                                                                                         : "other";
}

static const char *protocol_name(int protocol)
{
    return protocol == IPPROTO_TCP ? "IPPROTO_TCP" : protocol == IPPROTO_UDP ? "IPPROTO_UDP" : "0";
}

static void deadline(int signal_number)
{
    (void) signal_number;
    say("error: no answer from getaddrinfo() within 10 s (a DNS server that does not answer?)");
    _exit(EXIT_FAILURE);
}

/* DETAILS: the rest of this program's text (as showip.py's --help has it)

System calls, in order
    alarm() -> per name: getaddrinfo(name, NULL, AF_UNSPEC) (reads /etc/hosts,
    may ask a DNS server over UDP) -> follow ai_next, inet_ntop() each address
    -> freeaddrinfo().

Its peer
    /etc/hosts and, for other names, the DNS servers of /etc/resolv.conf.

Expected output (the list depends on /etc/hosts)
    showip[500]: localhost: 3 results
    showip[500]:   AF_INET   SOCK_STREAM  IPPROTO_TCP  127.0.0.1
    ...
    showip[500]: ::1: 3 results
    showip[500]:   AF_INET6  SOCK_STREAM  IPPROTO_TCP  ::1
    ...
    showip[500]: nowhere.invalid: no address: getaddrinfo: Name or service not known
*/
