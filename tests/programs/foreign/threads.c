/* Two threads each block reading their own pipe; the main thread writes to each in turn and joins them.
   The first thread ends with pthread_exit: the process goes on. */
#include <pthread.h>
#include <unistd.h>

static int first[2], second[2];

static void *reader(void *argument) {
    int *fds = argument;
    char buffer[32];
    ssize_t n = read(fds[0], buffer, sizeof buffer);
    write(1, buffer, n);
    return NULL;
}

int main(void) {
    pthread_t one, two;
    pipe(first), pipe(second);
    pthread_create(&one, NULL, reader, first);
    pthread_create(&two, NULL, reader, second);
    usleep(100000);  /* both threads are in read() by now (or soon: the order of the lines does not matter) */
    write(second[1], "to the second\n", 14);
    pthread_join(two, NULL);
    write(first[1], "to the first\n", 13);
    pthread_join(one, NULL);
    return 0;
}
