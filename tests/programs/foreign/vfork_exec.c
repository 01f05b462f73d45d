/* vfork: the parent is suspended until its child execs (here: echo with many arguments). */
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = vfork();
    if (child == 0) {
        execl("/bin/echo", "echo", "one", "two", "three", "four", "five", "--six", (char *)NULL);
        _exit(127);
    }
    waitpid(child, NULL, 0);
    return 0;
}
