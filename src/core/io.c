/*
 * io.c: atomic file replacement (io.h).
 *
 * Every write error is caught at one of three points: a failed fwrite sets
 * the stream's error flag (checked by ferror), buffered data fails at fflush,
 * and data the kernel accepted but could not place fails at fsync. Only after
 * all three succeed is the temporary renamed over the destination.
 * Covered by tests/test_io.c.
 */
#include "semiseg/io.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint sg_atomic_counter_;

int sg_atomic_open(sg_atomic_file *af, const char *path, sg_err *err)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) return sg_err_set(err, "%s: path too long", path);
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&sg_atomic_counter_, 1u));
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) return sg_err_set(err, "%s: cannot create %s: %s", path, af->tmp, strerror(errno));
    return 0;
}

void sg_atomic_abort(sg_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp[0]) unlink(af->tmp);
    af->tmp[0] = 0;
}

static void sg_fsync_dir_(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        /* Makes the rename itself durable; a failure here cannot undo it. */
        fsync(fd);
        close(fd);
    }
}

int sg_atomic_commit(sg_atomic_file *af, sg_err *err)
{
    SG_CHECK(af->fp != NULL, "sg_atomic_commit on a closed file (%s)", af->path);
    const char *what = NULL;
    int saved = 0;
    if (ferror(af->fp)) {
        what = "write failed";
        saved = errno ? errno : EIO;
    } else if (fflush(af->fp) != 0) {
        what = "write failed";
        saved = errno;
    } else if (fsync(fileno(af->fp)) != 0) {
        what = "fsync failed";
        saved = errno;
    }
    if (what) {
        sg_atomic_abort(af);
        return sg_err_set(err, "%s: %s: %s (the previous file, if any, is unchanged)", af->path,
                          what, strerror(saved));
    }
    if (fclose(af->fp) != 0) {
        saved = errno;
        af->fp = NULL;
        sg_atomic_abort(af);
        return sg_err_set(err, "%s: close failed: %s (the previous file, if any, is unchanged)",
                          af->path, strerror(saved));
    }
    af->fp = NULL;
    if (rename(af->tmp, af->path) != 0) {
        saved = errno;
        sg_atomic_abort(af);
        return sg_err_set(err, "%s: rename failed: %s", af->path, strerror(saved));
    }
    af->tmp[0] = 0;
    sg_fsync_dir_(af->path);
    return 0;
}

int sg_mkdirs(const char *path, sg_err *err)
{
    char buf[4096];
    if (!*path) return sg_err_set(err, "empty directory name");
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return sg_err_set(err, "%s: path too long", path);
    for (char *s = buf + 1;; s++) {
        if (*s != '/' && *s != 0) continue;
        char saved = *s;
        *s = 0;
        struct stat st;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return sg_err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return sg_err_set(err, "%s: exists and is not a directory", buf);
        *s = saved;
        if (!saved) break;
    }
    return 0;
}

FILE *sg_fopen_read(const char *path, sg_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        sg_err_set(err, "%s: not a regular file", path);
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) sg_err_set(err, "%s: cannot open: %s", path, strerror(errno));
    return fp;
}

int sg_atomic_clean_stale(const char *dir, sg_err *err)
{
    DIR *d = opendir(dir);
    if (!d) return sg_err_set(err, "%s: cannot read: %s", dir, strerror(errno));
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (end == t + 5 || *end != '.' || pid <= 0) continue;
        /* ESRCH: no such process. EPERM means one exists (another user's). */
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}
