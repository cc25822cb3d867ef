/* expect_abort.c: see expect_abort.h. */
#include "expect_abort.h"
#include "tap.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int sg_expect_abort(void (*fn)(void *), void *arg, const char *const *expect, int n_expect)
{
    int fds[2];
    if (pipe(fds) != 0) {
        tap_diag("pipe failed");
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        tap_diag("fork failed");
        return 0;
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn(arg);
        _exit(0); /* reached only when fn did not abort */
    }
    close(fds[1]);
    char buf[8192];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    buf[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!ok) tap_diag("child did not abort (status 0x%x)", status);
    for (int i = 0; i < n_expect; i++)
        if (!strstr(buf, expect[i])) {
            tap_diag("message lacks \"%s\"", expect[i]);
            ok = 0;
        }
    if (!ok) tap_diag("child stderr: %s", buf);
    return ok;
}
