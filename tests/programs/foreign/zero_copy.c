/* Bytes moved inside the kernel, never through this program's memory: splice (pipe -> file), sendfile
   (file -> pipe), tee (pipe -> pipe, the first keeps them), copy_file_range (file -> file), vmsplice
   (memory -> pipe). Each result is read back with read(). Argument: a directory for the two files. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char path[4096], copy[4096], buffer[64];
    if (argc < 2) return 2;
    snprintf(path, sizeof path, "%s/spliced", argv[1]);
    snprintf(copy, sizeof copy, "%s/copied", argv[1]);
    int a[2], b[2], c[2], d[2];
    pipe(a), pipe(b), pipe(c), pipe(d);
    pid_t child = fork();
    if (child == 0) { write(a[1], "twenty-five bytes of data", 25); _exit(0); }
    close(a[1]);
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    ssize_t n = splice(a[0], NULL, file, NULL, 25, 0);           /* pipe a -> file */
    lseek(file, 0, SEEK_SET);
    sendfile(b[1], file, NULL, n);                                /* file -> pipe b */
    tee(b[0], c[1], n, 0);                                        /* pipe b -> pipe c; b keeps them */
    read(b[0], buffer, sizeof buffer);
    read(c[0], buffer, sizeof buffer);
    int second = open(copy, O_RDWR | O_CREAT | O_TRUNC, 0600);
    loff_t from = 0;
    copy_file_range(file, &from, second, NULL, n, 0);             /* file -> file */
    pread(second, buffer, sizeof buffer, 0);
    struct iovec iov = {"vmspliced\n", 10};
    vmsplice(d[1], &iov, 1, 0);                                   /* memory -> pipe d */
    read(d[0], buffer, sizeof buffer);
    waitpid(child, NULL, 0);
    unlink(path), unlink(copy);
    return 0;
}
