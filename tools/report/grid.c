/*
 * grid.c: the expected grid of runs, method x protocol x seed: the methods,
 * protocols and seeds seen in results.csv, in the run directories and on the
 * command line, in report order; what each cell's run directory shows
 * (log.tsv, config.resolved, result.json); why a run is missing; and the
 * notes on problems found in the inputs. A method <m>-scratch (m's trainer
 * without the pretrained backbone) is listed right after m and shares m's
 * experiments/ folder. Covered by tests/report.sh.
 */
#include "report.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cell_ *cell_at(rep_ *r, int m, int p, int s)
{
    return &r->cells[((size_t)m * (size_t)r->n_p + (size_t)p) * (size_t)r->n_s + (size_t)s];
}

void note(rep_ *r, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    char *s = vfmt(format, ap);
    va_end(ap);
    r->notes = xrealloc(r->notes, (size_t)(r->n_notes + 1) * sizeof *r->notes);
    r->notes[r->n_notes++] = s;
}

static const char *const known_methods_[] = {"supervised", "meanteacher", "cutmixseg", "fixmatch", "unimatch",
                                             "u2pl",       "dssn",        "uccl",      "ctt",      "allspark"};

const char *method_dir(const char *m)
{
    static const char scratch[] = "-scratch";
    const size_t n = strlen(m), k = sizeof scratch - 1;
    return n > k && !strcmp(m + n - k, scratch) ? fmt("%.*s", (int)(n - k), m) : m;
}

/* The known methods in their order, each <m>-scratch right after its m, so
 * that the pretraining baseline sits beside the run it is compared with. */
static int method_rank_(const char *m)
{
    const char *dir = method_dir(m);
    for (int i = 0; i < (int)(sizeof known_methods_ / sizeof *known_methods_); i++)
        if (!strcmp(dir, known_methods_[i])) return 2 * i + (strcmp(dir, m) != 0);
    return 1000;
}

static int cmp_method_(const void *a, const void *b)
{
    const char *x = a, *y = b;
    int d = method_rank_(x) - method_rank_(y);
    return d ? d : strcmp(x, y);
}

static int cmp_proto_(const void *a, const void *b)
{
    const proto_ *x = a, *y = b;
    long nx = x->n_labeled < 0 ? 1L << 40 : x->n_labeled, ny = y->n_labeled < 0 ? 1L << 40 : y->n_labeled;
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_seed_(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

int find_method(const rep_ *r, const char *m)
{
    for (int i = 0; i < r->n_m; i++)
        if (!strcmp(r->methods[i], m)) return i;
    return -1;
}

static int find_proto_(const rep_ *r, const char *p)
{
    for (int i = 0; i < r->n_p; i++)
        if (!strcmp(r->protos[i].name, p)) return i;
    return -1;
}

static int find_seed_(const rep_ *r, unsigned long long s)
{
    for (int i = 0; i < r->n_s; i++)
        if (r->seeds[i] == s) return i;
    return -1;
}

static void add_method_(rep_ *r, const char *m)
{
    if (find_method(r, m) >= 0) return;
    r->methods = xrealloc(r->methods, (size_t)(r->n_m + 1) * sizeof *r->methods);
    copy_str(r->methods[r->n_m++], NAME_LEN, m);
}

static void add_proto_(rep_ *r, const char *p, int n_labeled)
{
    int i = find_proto_(r, p);
    if (i >= 0) {
        if (r->protos[i].n_labeled < 0) r->protos[i].n_labeled = n_labeled;
        return;
    }
    r->protos = xrealloc(r->protos, (size_t)(r->n_p + 1) * sizeof *r->protos);
    copy_str(r->protos[r->n_p].name, NAME_LEN, p);
    r->protos[r->n_p++].n_labeled = n_labeled;
}

static void add_seed_(rep_ *r, unsigned long long s)
{
    if (find_seed_(r, s) >= 0) return;
    r->seeds = xrealloc(r->seeds, (size_t)(r->n_s + 1) * sizeof *r->seeds);
    r->seeds[r->n_s++] = s;
}

/* ---- scanning the run directories ------------------------------------------------------ */
char *run_dir(const rep_ *r, int m, int p, int s)
{
    return fmt("%s/%s/%s/%s/seed%llu", r->o.runs, r->dataset, r->protos[p].name, r->methods[m], r->seeds[s]);
}

/* Registers the method, protocol and seed of every directory
 * <runs>/<dataset>/<protocol>/<method>/seed<k>. */
static void scan_runs_(rep_ *r)
{
    char *root = fmt("%s/%s", r->o.runs, r->dataset);
    DIR *d1 = opendir(root);
    if (!d1) {
        note(r, "%s: no run directories (%s)", root, strerror(errno));
        return;
    }
    struct dirent *e1;
    while ((e1 = readdir(d1))) {
        if (e1->d_name[0] == '.' || strlen(e1->d_name) >= NAME_LEN) continue;
        char *pdir = fmt("%s/%s", root, e1->d_name);
        DIR *d2 = is_dir(pdir) ? opendir(pdir) : NULL;
        if (!d2) continue;
        struct dirent *e2;
        while ((e2 = readdir(d2))) {
            if (e2->d_name[0] == '.' || strlen(e2->d_name) >= NAME_LEN) continue;
            char *mdir = fmt("%s/%s", pdir, e2->d_name);
            DIR *d3 = is_dir(mdir) ? opendir(mdir) : NULL;
            if (!d3) continue;
            struct dirent *e3;
            while ((e3 = readdir(d3))) {
                char *end;
                if (strncmp(e3->d_name, "seed", 4) || !isdigit((unsigned char)e3->d_name[4])) continue;
                unsigned long long s = strtoull(e3->d_name + 4, &end, 10);
                if (*end || !is_dir(fmt("%s/%s", mdir, e3->d_name))) continue;
                add_method_(r, e2->d_name);
                add_proto_(r, e1->d_name, -1);
                add_seed_(r, s);
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
}

/* The first column of the last complete row of a TSV log, or -1. */
static long last_iter_(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long last = -1;
    bool header = true;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if (line[n - 1] != '\n') break;
        char *end;
        long it = strtol(line, &end, 10);
        if (!header && end != line) last = it;
        header = false;
    }
    free(line);
    fclose(fp);
    return last;
}

sg_config *load_config(const char *dir)
{
    char *path = fmt("%s/config.resolved", dir);
    if (!is_file(path)) return NULL;
    sg_config *c = sg_config_new();
    sg_err err;
    if (sg_config_load(c, path, &err)) {
        sg_config_free(c);
        return NULL;
    }
    return c;
}

static void fill_cell_(rep_ *r, int m, int p, int s)
{
    cell_ *c = cell_at(r, m, p, s);
    char *dir = run_dir(r, m, p, s);
    c->gflop = NAN;
    c->cpu_s = NAN;
    c->dir = is_dir(dir);
    if (!c->dir) return;
    c->last_iter = last_iter_(fmt("%s/log.tsv", dir));
    sg_config *cfg = load_config(dir);
    if (cfg) {
        sg_err err;
        long it = 0;
        if (sg_config_int(cfg, "train.iterations", 0, 0, 1L << 40, &it, &err) == 0) c->total_iter = it;
        sg_config_free(cfg);
    }
    char *rj = fmt("%s/result.json", dir);
    c->result_json = is_file(rj);
    if (!c->result_json) return;
    json_error_t je;
    json_t *j = json_load_file(rj, 0, &je);
    if (!j) {
        note(r, "%s:%d: not valid JSON (%s)", rj, je.line, je.text);
        return;
    }
    const char *mach = json_string_value(json_object_get(j, "machine"));
    if (!mach) mach = json_string_value(json_object_get(j, "host"));
    copy_str(c->machine, sizeof c->machine, mach ? mach : "");
    json_t *g = json_object_get(j, "gflop_per_iter");
    if (json_is_number(g)) c->gflop = json_number_value(g);
    json_t *cs = json_object_get(j, "cpu_s");
    if (json_is_number(cs)) c->cpu_s = json_number_value(cs);
    json_decref(j);
}

int build_grid(rep_ *r, sg_err *err)
{
    for (int i = 0; i < r->n_rows; i++) {
        add_method_(r, r->rows[i].method);
        add_proto_(r, r->rows[i].protocol, r->rows[i].n_labeled);
        add_seed_(r, r->rows[i].seed);
    }
    scan_runs_(r);
    for (int pass = 0; pass < 2; pass++) {
        const char *list = pass ? r->o.protocols : r->o.methods;
        for (const char *a = list; a && *a;) {
            size_t n = strcspn(a, ", ");
            if (n >= NAME_LEN) return sg_err_set(err, "--%s: '%.*s' is too long", pass ? "protocols" : "methods",
                                                 (int)n, a);
            if (n) {
                char name[NAME_LEN];
                snprintf(name, sizeof name, "%.*s", (int)n, a);
                if (pass) add_proto_(r, name, -1);
                else add_method_(r, name);
            }
            a += n + (a[n] != 0);
        }
    }
    if (r->o.seeds) {
        uint64_t seeds[1024];
        int n = sg_seeds_read(r->o.seeds, seeds, 1024, err);
        if (n < 0) return -1;
        for (int i = 0; i < n; i++) add_seed_(r, seeds[i]);
    }
    qsort(r->methods, (size_t)r->n_m, sizeof *r->methods, cmp_method_);
    qsort(r->protos, (size_t)r->n_p, sizeof *r->protos, cmp_proto_);
    qsort(r->seeds, (size_t)r->n_s, sizeof *r->seeds, cmp_seed_);
    r->cells = sg_xcalloc((size_t)r->n_m * (size_t)r->n_p * (size_t)r->n_s + 1, sizeof *r->cells);
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                cell_at(r, m, p, s)->row = -1;
                fill_cell_(r, m, p, s);
            }
    for (int i = 0; i < r->n_rows; i++) {
        const row_ *w = &r->rows[i];
        int m = find_method(r, w->method), p = find_proto_(r, w->protocol), s = find_seed_(r, w->seed);
        cell_ *c = cell_at(r, m, p, s);
        if (c->row >= 0)
            note(r, "%s:%d: a second row for %s / %s / seed %llu; it replaces line %d", r->o.results, w->line,
                  w->method, w->protocol, w->seed, r->rows[c->row].line);
        c->row = i;
        if (!c->dir)
            note(r, "%s:%d: %s / %s / seed %llu has no run directory (%s): its curves and provenance are missing",
                  r->o.results, w->line, w->method, w->protocol, w->seed, run_dir(r, m, p, s));
        if (w->n_cls > r->n_classes) r->n_classes = w->n_cls;
    }
    return 0;
}

/* Why a run has no results.csv row, from what its directory shows. */
const char *missing_why(const cell_ *c)
{
    if (!c->dir) return "not run: no run directory";
    if (c->result_json) return "result.json present but no row in results.csv";
    if (c->last_iter < 0) return "failed or not started: no iteration in log.tsv, no result.json";
    if (c->total_iter > 0)
        return fmt("%s: log.tsv ends at iteration %ld of %ld, no result.json",
                  c->last_iter >= c->total_iter ? "failed after training" : "incomplete or failed", c->last_iter,
                  c->total_iter);
    return fmt("incomplete or failed: log.tsv ends at iteration %ld, no result.json", c->last_iter);
}

bool in_grid(const rep_ *r, int m, int p)
{
    for (int s = 0; s < r->n_s; s++) {
        const cell_ *c = cell_at((rep_ *)r, m, p, s);
        if (c->row >= 0 || c->dir) return true;
    }
    bool restricted = false;
    const size_t pl = strlen(r->protos[p].name), ml = strlen(r->methods[m]);
    for (int i = 0; i < r->o.n_only; i++) {
        const char *o = r->o.only[i];
        if (strncmp(o, r->protos[p].name, pl) || o[pl] != '=') continue;
        restricted = true;
        for (const char *t = o + pl + 1; *t; t += strcspn(t, ","), t += *t == ',')
            if (strcspn(t, ",") == ml && !strncmp(t, r->methods[m], ml)) return true;
    }
    return !restricted;
}

int n_expected(const rep_ *r, int *n_done)
{
    *n_done = 0;
    int n = 0;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p)) continue;
            for (int s = 0; s < r->n_s; s++) {
                n++;
                *n_done += cell_at((rep_ *)r, m, p, s)->row >= 0;
            }
        }
    return n;
}
