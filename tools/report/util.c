/*
 * util.c: the helpers every part of sg-report uses: strings (and the
 * figures' per-cell arrays) kept in one pool until exit, file-name-safe names, file tests, finding and running programs,
 * chomping and parsing text fields, and opening an output file atomically.
 * Covered by tests/report.sh.
 */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- strings that live until exit --------------------------------------------------- */
/* A report is a one-shot program building hundreds of paths and labels; they
 * are kept in one pool freed at exit rather than tracked one by one. */
static char **pool_;
static size_t pool_n_, pool_cap_;

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    SG_CHECK(q != NULL, "sg-report: out of memory (%zu bytes)", n);
    return q;
}

char *pool_keep(char *s)
{
    if (pool_n_ == pool_cap_) {
        pool_cap_ = pool_cap_ ? 2 * pool_cap_ : 256;
        pool_ = xrealloc(pool_, pool_cap_ * sizeof *pool_);
    }
    return pool_[pool_n_++] = s;
}

char *vfmt(const char *format, va_list ap)
{
    char *s = NULL;
    SG_CHECK(vasprintf(&s, format, ap) >= 0, "sg-report: out of memory");
    return pool_keep(s);
}

char *fmt(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *s = vfmt(format, ap);
    va_end(ap);
    return s;
}

void *pool_calloc(size_t n, size_t size)
{
    return pool_keep(sg_xcalloc(n ? n : 1, size));
}

void pool_free(void)
{
    for (size_t i = 0; i < pool_n_; i++) free(pool_[i]);
    free(pool_);
}

void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
}

/* File names built from method/protocol names keep [A-Za-z0-9_.-] only. */
char *safe_name(const char *s)
{
    char *t = fmt("%s", s);
    for (char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') *p = '_';
    return t;
}

bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- programs ---------------------------------------------------------------------- */
bool have_prog(const char *name)
{
    if (strchr(name, '/')) return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) return false;
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && access(fmt("%.*s/%s", (int)n, p, name), X_OK) == 0) return true;
        if (!e) return false;
        p = e + 1;
    }
}

/* Runs argv in cwd with stdout and stderr to `log` (or /dev/null); the exit
 * status, 128 + signal, or -1 when it could not be started. */
int spawn(const char *cwd, const char *log, char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int in = open("/dev/null", O_RDONLY);
        if (in >= 0) {
            dup2(in, 0);
            close(in);
        }
        if (cwd && chdir(cwd)) _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- text fields ------------------------------------------------------------------------ */
void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

bool parse_num(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno) return false;
    *out = v;
    return true;
}

/* ---- output files ---------------------------------------------------------------------- */
FILE *out_open(sg_atomic_file *af, const char *dir, const char *name, sg_err *err)
{
    return sg_atomic_open(af, fmt("%s/%s", dir, name), err) ? NULL : af->fp;
}
