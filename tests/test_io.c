/*
 * test_io.c: atomic file replacement. A successful commit replaces the
 * destination; a write that fails for lack of space (simulated with
 * RLIMIT_FSIZE in a child, which makes write() fail with EFBIG exactly as a
 * full disk makes it fail with ENOSPC) leaves the old file intact, removes
 * the temporary and reports the path.
 */
#include "semiseg.h"
#include "semiseg/io.h"
#include "tap.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static int read_file(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return (int)n;
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int write_text(const char *path, const char *text, size_t repeat, sg_err *err)
{
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    for (size_t i = 0; i < repeat; i++) fputs(text, af.fp);
    return sg_atomic_commit(&af, err);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/semiseg-io.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    char path[512], buf[256];
    snprintf(path, sizeof path, "%s/result.json", dir);
    sg_err err;

    tap_ok(write_text(path, "old\n", 1, &err) == 0 && read_file(path, buf, sizeof buf) == 4 &&
               strcmp(buf, "old\n") == 0,
           "commit writes the file");
    tap_ok(write_text(path, "new\n", 1, &err) == 0 && strcmp((read_file(path, buf, sizeof buf), buf), "new\n") == 0,
           "commit replaces the file");
    tap_ok(count_entries() == 1, "no temporary file is left behind");

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* 64 KiB of room, then a 1 MiB write: the "disk" fills up. */
        struct rlimit rl = {65536, 65536};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        sg_err e;
        int rc = write_text(path, "0123456789abcdef", 65536, &e);
        FILE *msg = fopen("/dev/stderr", "w");
        if (msg) fprintf(msg, "%s\n", e.msg);
        _exit(rc == 0 ? 0 : (strstr(e.msg, path) ? 3 : 4));
    }
    int status;
    waitpid(pid, &status, 0);
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 3,
           "a full disk is reported as an error naming the path (child status %d)",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    tap_ok(read_file(path, buf, sizeof buf) == 4 && strcmp(buf, "new\n") == 0,
           "after the failed write the previous file is intact");
    tap_ok(count_entries() == 1, "the failed write left no temporary file");

    snprintf(path, sizeof path, "%s/missing-dir/x", dir);
    tap_ok(write_text(path, "x", 1, &err) != 0 && strstr(err.msg, "missing-dir"),
           "an unwritable destination names the path: %s", err.msg);

    /* sg_mkdirs: parents created, an existing tree accepted, a file in the way named. */
    char deep[600], file[600];
    snprintf(deep, sizeof deep, "%s/a/b/c", dir);
    struct stat st;
    tap_ok(sg_mkdirs(deep, &err) == 0 && stat(deep, &st) == 0 && S_ISDIR(st.st_mode) &&
               sg_mkdirs(deep, &err) == 0,
           "sg_mkdirs creates missing parents and accepts an existing tree");
    snprintf(file, sizeof file, "%s/a/b/c/f", dir);
    fclose(fopen(file, "w"));
    snprintf(deep, sizeof deep, "%s/a/b/c/f/g", dir);
    tap_ok(sg_mkdirs(deep, &err) != 0 && strstr(err.msg, "/a/b/c/f") != NULL,
           "sg_mkdirs names a component that is not a directory: %s", err.msg);
    unlink(file);
    static const char *const made[] = {"/a/b/c", "/a/b", "/a"};
    for (int i = 0; i < 3; i++) {
        snprintf(deep, sizeof deep, "%s%s", dir, made[i]);
        rmdir(deep);
    }

    snprintf(path, sizeof path, "%s/result.json", dir);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
