/* A UDP socket bound on loopback that never reads; another sends it two datagrams. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int quiet = socket(AF_INET, SOCK_DGRAM, 0), talker = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t length = sizeof address;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(quiet, (struct sockaddr *)&address, sizeof address);
    getsockname(quiet, (struct sockaddr *)&address, &length);
    sendto(talker, "first", 5, 0, (struct sockaddr *)&address, sizeof address);
    sendto(talker, "second", 6, 0, (struct sockaddr *)&address, sizeof address);
    close(quiet), close(talker);
    return 0;
}
