/*
 * results.c: a finished run's result.json and its row in
 * reports/<dataset>/results.csv (run.h; README.md "Layout" and reports/README.md).
 *
 * mIoU values are written in percent (4 decimals), as papers and reports
 * quote them. result.json has one key per line so that tools (and the
 * resume test) can drop the timing keys with a line filter.
 *
 * results.csv is shared by every run of a dataset, possibly running in
 * parallel: a writer takes an exclusive flock on results.csv.lock, reads the
 * current file, and replaces it atomically (io.h) with the old rows plus
 * its own, so readers never see a partial row and no row is lost. A file
 * whose header differs from this version's is refused rather than mixed;
 * sg_result_csv_check finds that, and a folder it cannot write, when a run
 * starts rather than when it ends.
 *
 * Covered by tests/trainer_supervised.sh (columns complete) and
 * tests/run_resume.sh.
 */
#include "run_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "semiseg/io.h"

const char *sg_result_csv_header(void)
{
    return "method,dataset,protocol,n_labeled,seed,iterations,final_miou,best_miou,best_iter,test_final_miou,"
           "test_best_miou,class_iou,"
           "wall_s,cpu_s,images_per_s,gflop_per_iter,threads,backend,git_commit,config_hash,finished_utc";
}

int sg_result_write_json(const sg_run_result *r, const char *dir, sg_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/result.json", dir);
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    FILE *fp = af.fp;
    fprintf(fp, "{\n");
    fprintf(fp, "  \"method\": \"%s\",\n", r->method);
    fprintf(fp, "  \"dataset\": \"%s\",\n", r->dataset);
    fprintf(fp, "  \"protocol\": \"%s\",\n", r->protocol);
    fprintf(fp, "  \"n_labeled\": %d,\n", r->n_labeled);
    fprintf(fp, "  \"seed\": %llu,\n", (unsigned long long)r->seed);
    fprintf(fp, "  \"iterations\": %ld,\n", r->iterations);
    fprintf(fp, "  \"final_miou\": %.4f,\n", 100 * r->final_miou);
    fprintf(fp, "  \"best_miou\": %.4f,\n", 100 * r->best_miou);
    fprintf(fp, "  \"best_iter\": %ld,\n", r->best_iter);
    if (r->has_test) {
        fprintf(fp, "  \"test_final_miou\": %.4f,\n", 100 * r->test_final_miou);
        fprintf(fp, "  \"test_best_miou\": %.4f,\n", 100 * r->test_best_miou);
    } else {
        fprintf(fp, "  \"test_final_miou\": null,\n");
        fprintf(fp, "  \"test_best_miou\": null,\n");
    }
    fprintf(fp, "  \"class_iou\": [");
    for (int k = 0; k < r->n_classes; k++) fprintf(fp, "%s%.4f", k ? ", " : "", 100 * r->class_iou[k]);
    fprintf(fp, "],\n");
    fprintf(fp, "  \"config_hash\": \"%s\",\n", r->config_hash);
    fprintf(fp, "  \"backend\": \"%s\",\n", r->backend);
    fprintf(fp, "  \"device\": \"%s\",\n", r->device ? r->device : "cpu");
    fprintf(fp, "  \"deterministic\": %s,\n", r->deterministic ? "true" : "false");
    fprintf(fp, "  \"tf32\": %s,\n", r->tf32 ? "true" : "false");
    fprintf(fp, "  \"git_commit\": \"%s\",\n", r->git_commit);
    char machine[256];
    sg_result_machine(machine, sizeof machine);
    fprintf(fp, "  \"machine\": \"%s\",\n", machine);
    fprintf(fp, "  \"threads\": %d,\n", r->threads);
    fprintf(fp, "  \"gflop_per_iter\": %.3f,\n", r->gflop_per_iter);
    fprintf(fp, "  \"wall_s\": %.3f,\n", r->wall_s);
    fprintf(fp, "  \"cpu_s\": %.3f,\n", r->cpu_s);
    fprintf(fp, "  \"images_per_s\": %.2f\n", r->images_per_s);
    fprintf(fp, "}\n");
    return sg_atomic_commit(&af, err);
}

void sg_result_machine(char *buf, size_t len)
{
    char model[160] = "unknown CPU";
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (fp && fgets(line, sizeof line, fp)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = 0;
        snprintf(model, sizeof model, "%s", colon);
        break;
    }
    if (fp) fclose(fp);
    struct utsname u;
    const bool un = uname(&u) == 0;
    snprintf(buf, len, "%s, %ld cores, %s %s %s", model, sysconf(_SC_NPROCESSORS_ONLN), un ? u.sysname : "?",
             un ? u.release : "?", un ? u.machine : "?");
    /* Kept JSON- and CSV-safe without quoting. */
    for (char *c = buf; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = ' ';
}

/* Appends the CSV row for r to buf (no quoting is needed: no field holds a
 * comma, checked by the caller). */
static void row_(const sg_run_result *r, char *buf, size_t len)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(buf, len, "%s,%s,%s,%d,%llu,%ld,%.4f,%.4f,%ld,", r->method, r->dataset, r->protocol,
                     r->n_labeled, (unsigned long long)r->seed, r->iterations, 100 * r->final_miou,
                     100 * r->best_miou, r->best_iter);
    /* Empty test fields without a test set (data.test not given). */
    if (r->has_test && n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, "%.4f,%.4f,", 100 * r->test_final_miou, 100 * r->test_best_miou);
    else if (n > 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, ",,");
    for (int k = 0; k < r->n_classes && n > 0 && (size_t)n < len; k++)
        n += snprintf(buf + n, len - (size_t)n, "%s%.2f", k ? " " : "", 100 * r->class_iou[k]);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ",%.1f,%.1f,%.2f,%.3f,%d,%s,%s,%s,%s\n", r->wall_s, r->cpu_s,
                 r->images_per_s, r->gflop_per_iter, r->threads, r->backend, r->git_commit, r->config_hash, when);
}

/* The whole file (NUL-terminated, *n bytes), or NULL with *n = 0 when it
 * does not exist or cannot be read. */
static char *slurp_(const char *path, size_t *n)
{
    char *buf = NULL;
    *n = 0;
    FILE *in = fopen(path, "rb");
    if (!in) return NULL;
    struct stat st;
    if (fstat(fileno(in), &st) == 0) {
        buf = sg_xmalloc((size_t)st.st_size + 1);
        *n = fread(buf, 1, (size_t)st.st_size, in);
        buf[*n] = 0;
    }
    fclose(in);
    return buf;
}

/* A file with rows must start with this version's header. */
static int header_check_(const char *path, const char *old, size_t n_old, sg_err *err)
{
    const char *header = sg_result_csv_header();
    size_t hl = strlen(header);
    if (n_old && (n_old <= hl || strncmp(old, header, hl) || old[hl] != '\n'))
        return sg_err_set(err, "%s: its header is not this version's (%s); move it aside", path, header);
    return 0;
}

int sg_result_csv_check(const char *reports, const char *dataset, sg_err *err)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/%s", reports, dataset);
    if (sg_mkdirs(dir, err)) return -1;
    /* The lock file, created as the append will: proves the folder writable. */
    snprintf(path, sizeof path, "%s/results.csv.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return sg_err_set(err, "%s: %s (output.reports)", path, strerror(errno));
    close(fd);
    snprintf(path, sizeof path, "%s/results.csv", dir);
    if (access(path, F_OK) == 0 && access(path, W_OK))
        return sg_err_set(err, "%s: %s (output.reports)", path, strerror(errno));
    size_t n;
    char *old = slurp_(path, &n);
    int rc = header_check_(path, old, n, err);
    free(old);
    return rc;
}

/* Splits a CSV line (no quoting: row_) into at most max fields in place. */
static int fields_(char *line, char **f, int max)
{
    int n = 0;
    for (char *c = line; n < max; c++) {
        f[n++] = c;
        c = strchr(c, ',');
        if (!c) break;
        *c = 0;
    }
    return n;
}

bool sg_result_csv_has_row(const sg_run_result *r, const char *reports, time_t since)
{
    /* The columns of sg_result_csv_header that name a run, and the time. */
    enum { METHOD = 0, DATASET = 1, PROTOCOL = 2, SEED = 4, HASH = 19, FINISHED = 20, N_FIELDS = 21 };
    char path[4300];
    snprintf(path, sizeof path, "%s/%s/results.csv", reports, r->dataset);
    size_t n;
    char *text = slurp_(path, &n);
    bool found = false;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    for (char *line = text, *next; line && *line && !found; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *f[N_FIELDS];
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        if (fields_(line, f, N_FIELDS) != N_FIELDS || strcmp(f[METHOD], r->method) ||
            strcmp(f[DATASET], r->dataset) || strcmp(f[PROTOCOL], r->protocol) || strcmp(f[SEED], seed) ||
            strcmp(f[HASH], r->config_hash))
            continue;
        const char *end = strptime(f[FINISHED], "%Y-%m-%dT%H:%M:%SZ", &tm);
        found = end && !*end && timegm(&tm) >= since;
    }
    free(text);
    return found;
}

int sg_result_append_csv(const sg_run_result *r, const char *reports, sg_err *err)
{
    const char *fields[] = {r->method, r->dataset, r->protocol, r->backend, r->git_commit};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strpbrk(fields[i], ",\n\"")) return sg_err_set(err, "results.csv: field '%s' holds , \" or a newline", fields[i]);
    char dir[4200], path[4300], lock[4300];
    snprintf(dir, sizeof dir, "%s/%s", reports, r->dataset);
    if (sg_mkdirs(dir, err)) return -1;
    snprintf(path, sizeof path, "%s/results.csv", dir);
    snprintf(lock, sizeof lock, "%s/results.csv.lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return sg_err_set(err, "%s: %s", lock, strerror(errno));
    while (flock(fd, LOCK_EX)) {
        if (errno != EINTR) {
            sg_err_set(err, "%s: flock: %s", lock, strerror(errno));
            close(fd);
            return -1;
        }
    }
    int rc = -1;
    sg_atomic_file af;
    size_t n_old;
    char *old = slurp_(path, &n_old);
    if (header_check_(path, old, n_old, err)) goto out;
    if (sg_atomic_open(&af, path, err)) goto out;
    if (n_old) {
        fwrite(old, 1, n_old, af.fp);
        if (old[n_old - 1] != '\n') fputc('\n', af.fp);
    } else {
        fprintf(af.fp, "%s\n", sg_result_csv_header());
    }
    char row[8192];
    row_(r, row, sizeof row);
    fputs(row, af.fp);
    rc = sg_atomic_commit(&af, err);
out:
    free(old);
    flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
