/*
 * run_log.c: the run's tab-separated logs (log.tsv: one row per iteration;
 * eval.tsv: one row per evaluation) and the progress display (run.h).
 *
 * The logs are appended line by line and flushed, so a killed run leaves at
 * most a partial last row; sg_tsv_truncate (used by --resume) keeps the
 * header and the complete rows up to the checkpoint's iteration, so the
 * resumed logs read as those of an uninterrupted run.
 *
 * Covered by tests/run_resume.sh (truncation) and tests/trainer_supervised.sh.
 */
#include "run_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "semiseg/io.h"

double sg_run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double sg_run_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

FILE *sg_tsv_open(const char *path, const char *header, sg_err *err)
{
    FILE *fp = fopen(path, "a");
    if (!fp) {
        sg_err_set(err, "%s: cannot open for appending: %s", path, strerror(errno));
        return NULL;
    }
    if (ftell(fp) == 0) {
        fprintf(fp, "%s\n", header);
        if (fflush(fp) || ferror(fp)) {
            sg_err_set(err, "%s: cannot write the header: %s", path, strerror(errno));
            fclose(fp);
            return NULL;
        }
    }
    return fp;
}

int sg_tsv_truncate(const char *path, long max_iter, sg_err *err)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        if (errno == ENOENT) return 0;
        return sg_err_set(err, "%s: %s", path, strerror(errno));
    }
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) {
        fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool header = true;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break; /* the partial row of a killed run */
        char *end;
        long it = strtol(line, &end, 10);
        if (header || (end != line && *end == '\t' && it <= max_iter)) fputs(line, af.fp);
        header = false;
    }
    free(line);
    fclose(in);
    return sg_atomic_commit(&af, err);
}

void sg_progress_init(sg_progress *p, FILE *fp, long start, long total, long every)
{
    p->tty = isatty(fileno(fp));
    p->pending = false;
    p->every = every > 0 ? every : 1;
    p->start = start;
    p->total = total;
    p->t0 = sg_run_now();
}

static void fmt_time_(char *buf, size_t len, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

void sg_progress_update(sg_progress *p, FILE *fp, long done, double images_per_s, const char *note)
{
    bool plain_due = done % p->every == 0 || done == p->total;
    if (!p->tty && !plain_due) return;
    double el = sg_run_now() - p->t0;
    long did = done - p->start;
    double eta = did > 0 ? el / (double)did * (double)(p->total - done) : 0;
    char e[32], t[32];
    fmt_time_(e, sizeof e, eta);
    fmt_time_(t, sizeof t, el);
    if (p->tty) {
        enum { W = 24 };
        char bar[W + 1];
        int fill = p->total > 0 ? (int)((double)done / (double)p->total * W) : W;
        for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
        bar[W] = 0;
        fprintf(fp, "\r[%s] %ld/%ld %s %.0f img/s ETA %s\033[K", bar, done, p->total, note, images_per_s, e);
        p->pending = true;
    } else {
        fprintf(fp, "iter %ld/%ld %s %.0f img/s elapsed %s ETA %s\n", done, p->total, note, images_per_s, t, e);
    }
    fflush(fp);
}

void sg_progress_break(sg_progress *p, FILE *fp)
{
    if (p->pending) {
        p->pending = false;
        fputc('\n', fp);
        fflush(fp);
    }
}
