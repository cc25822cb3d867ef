/*
 * sg-report: the report of one dataset's grid of runs (issue 6; architecture.md
 * section 5), built from results.csv and the run directories alone.
 *
 *   sg-report --results reports/<dataset>/results.csv --runs <runs root>
 *             --out reports/<dataset> [--published reports/published.csv]
 *             [--experiments DIR] [--seeds FILE] [--base DIR] [--sg-eval PATH]
 *             [--methods A,B] [--protocols P,Q] [--qualitative N]
 *             [--dataset NAME] [--pdf | --no-pdf]
 *
 * Inputs. results.csv (results.c: one row per finished run, mIoU in percent);
 * the run directories <runs>/<dataset>/<protocol>/<method>/seed<seed>/ with
 * config.resolved, log.tsv, eval.tsv, result.json and ckpt/last.safetensors
 * (run.h). The expected grid is every method x protocol x seed seen in either
 * (plus those named by --methods, --protocols and --seeds, so that a method
 * that never started is listed); a cell without a results.csv row is listed
 * as missing with what its directory shows (absent, or log.tsv stopped at
 * iteration i of n), never dropped.
 *
 * Outputs in --out (each written atomically, io.h):
 *   summary.csv   one row per method x protocol: n_seeds, mean and sample
 *                 standard deviation (n - 1; "nan" below 2 seeds) of the final
 *                 and best mIoU, cost, the matching published number;
 *   diff.csv      each method minus supervised, paired by seed: mean and the
 *                 95% Student-t interval mean +- t(0.975, n-1) sd / sqrt(n);
 *   results.md    every table, the missing runs and the figures; table.md the
 *                 compact method x protocol table (for the README);
 *   tables.tex    the same tables with booktabs; report.tex and report.pdf
 *                 (pdflatex) adding each method's experiments/<m>/README.md
 *                 (a minimal Markdown conversion) and the provenance;
 *   fig/NAME.png  gnuplot figures (pngcairo, else png): mIoU vs labeled images,
 *                 mIoU vs run hours, per-class IoU, loss / eval curves, and
 *                 qualitative.png (image | ground truth | each method), whose
 *                 predictions come from the sg-eval binary (--pred-dir) on the
 *                 final checkpoint of the first seed of the smallest protocol
 *                 (finished runs only), on the first --qualitative (4) val
 *                 images. fig/data/ holds the plotted numbers, fig/figures.gp
 *                 the script (PNGs are written by gnuplot, not atomically).
 * Published numbers (reports/published.csv, with citations) sit beside ours
 * where (dataset, protocol, method) match; the first matching row is shown.
 *
 * Paths inside config.resolved (data.root, data.val) are taken relative to
 * --base (default: the working directory, where the grid ran).
 * Exit status: 0 done (missing tools, gnuplot or pdflatex, are reported and
 * their outputs skipped, unless --pdf asked for the PDF), 1 a runtime error,
 * 2 usage. Covered by tests/report.sh.
 */
#include "semiseg.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME_LEN 64
#define MAX_CLASSES 256

/* ---- strings that live until exit --------------------------------------------------- */
/* A report is a one-shot program building hundreds of paths and labels; they
 * are kept in one pool freed at exit rather than tracked one by one. */
static char **pool_;
static size_t pool_n_, pool_cap_;

static void *xrealloc_(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    SG_CHECK(q != NULL, "sg-report: out of memory (%zu bytes)", n);
    return q;
}

static char *keep_(char *s)
{
    if (pool_n_ == pool_cap_) {
        pool_cap_ = pool_cap_ ? 2 * pool_cap_ : 256;
        pool_ = xrealloc_(pool_, pool_cap_ * sizeof *pool_);
    }
    return pool_[pool_n_++] = s;
}

static char *S_(const char *fmt, ...) SG_PRINTF(1, 2);
static char *S_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    SG_CHECK(n >= 0, "sg-report: out of memory");
    return keep_(s);
}

static void pool_free_(void)
{
    for (size_t i = 0; i < pool_n_; i++) free(pool_[i]);
    free(pool_);
}

static void copy_(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src);
}

/* File names built from method/protocol names keep [A-Za-z0-9_.-] only. */
static char *safe_(const char *s)
{
    char *t = S_("%s", s);
    for (char *p = t; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') *p = '_';
    return t;
}

static bool is_file_(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir_(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- programs ---------------------------------------------------------------------- */
static bool have_prog_(const char *name)
{
    if (strchr(name, '/')) return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path) return false;
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && access(S_("%.*s/%s", (int)n, p, name), X_OK) == 0) return true;
        if (!e) return false;
        p = e + 1;
    }
}

/* Runs argv in cwd with stdout and stderr to `log` (or /dev/null); the exit
 * status, 128 + signal, or -1 when it could not be started. */
static int spawn_(const char *cwd, const char *log, char *const argv[])
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

/* ---- CSV (RFC 4180 subset: quoted fields with "" inside) ------------------------------ */
enum { MAX_FIELDS = 64 };

/* Splits line (modified in place) into at most MAX_FIELDS fields. */
static int csv_split_(char *line, char **f)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == MAX_FIELDS) return -1;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;;) {
                if (!*p) return -1;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = 0;
            if (*p == ',') p++;
            else if (*p) return -1;
            else return n;
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) return n;
            *c = 0;
            p = c + 1;
        }
    }
}

static void chomp_(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

static int col_(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], want)) return i;
    return -1;
}

static bool num_(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno) return false;
    *out = v;
    return true;
}

/* ---- the data ------------------------------------------------------------------------ */
typedef struct row_ {
    char method[NAME_LEN], protocol[NAME_LEN], backend[NAME_LEN], commit[NAME_LEN], hash[NAME_LEN],
        finished[NAME_LEN];
    int line, n_labeled, n_cls;
    unsigned long long seed;
    long iterations;
    double final, best, wall_s, ips;
    double cls[MAX_CLASSES];
} row_;

/* One expected run: method x protocol x seed. */
typedef struct cell_ {
    int row;            /* index into rows, or -1: no results.csv row */
    bool dir, result_json;
    long last_iter;     /* last complete row of log.tsv; -1 none */
    long total_iter;    /* train.iterations of config.resolved; 0 unknown */
    char machine[256];  /* result.json "machine", else "" */
    double gflop;       /* result.json "gflop_per_iter", else NAN */
    double cpu_s;       /* result.json "cpu_s", else NAN */
} cell_;

typedef struct proto_ {
    char name[NAME_LEN];
    int n_labeled;      /* -1 unknown */
} proto_;

typedef struct pub_ {
    char *dataset, *protocol, *method, *paper_method, *backbone, *crop, *source;
    double miou;
} pub_;

typedef struct opts_ {
    const char *results, *runs, *out, *published, *experiments, *seeds, *base, *sg_eval, *dataset;
    const char *methods, *protocols; /* comma-separated lists of expected ones, or NULL */
    int qualitative;
    int pdf;            /* -1 no, 0 when pdflatex exists, 1 required */
    int argc;
    char **argv;
} opts_;

typedef struct rep_ {
    opts_ o;
    const char *dataset;
    row_ *rows;
    int n_rows;
    char (*methods)[NAME_LEN];
    int n_m;
    proto_ *protos;
    int n_p;
    unsigned long long *seeds;
    int n_s;
    cell_ *cells;       /* (n_m, n_p, n_s) */
    char **notes;       /* problems found in the inputs, shown in every report */
    int n_notes;
    pub_ *pubs;
    int n_pubs;
    int n_classes;
    char **class_names; /* (n_classes) */
    /* figures actually produced, in order */
    char **figs, **fig_caps;
    int n_figs;
    const char *figs_missing; /* why figures are absent, or NULL */
    /* the qualitative tiles (fig/data/qualitative_tiles.png), titled by gnuplot */
    const char *qual_caption;
    char **qual_titles;       /* (qual_cols) column titles */
    int qual_cols, qual_w, qual_h, qual_tile, qual_gap;
} rep_;

static cell_ *cell_at_(rep_ *r, int m, int p, int s)
{
    return &r->cells[((size_t)m * (size_t)r->n_p + (size_t)p) * (size_t)r->n_s + (size_t)s];
}

static void note_(rep_ *r, const char *fmt, ...) SG_PRINTF(2, 3);
static void note_(rep_ *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    SG_CHECK(n >= 0, "sg-report: out of memory");
    r->notes = xrealloc_(r->notes, (size_t)(r->n_notes + 1) * sizeof *r->notes);
    r->notes[r->n_notes++] = keep_(s);
}

static const char *const known_methods_[] = {"supervised", "meanteacher", "cutmixseg", "fixmatch", "unimatch"};

static int method_rank_(const char *m)
{
    for (int i = 0; i < (int)(sizeof known_methods_ / sizeof *known_methods_); i++)
        if (!strcmp(m, known_methods_[i])) return i;
    return 100;
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

static int find_method_(const rep_ *r, const char *m)
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
    if (find_method_(r, m) >= 0) return;
    r->methods = xrealloc_(r->methods, (size_t)(r->n_m + 1) * sizeof *r->methods);
    copy_(r->methods[r->n_m++], NAME_LEN, m);
}

static void add_proto_(rep_ *r, const char *p, int n_labeled)
{
    int i = find_proto_(r, p);
    if (i >= 0) {
        if (r->protos[i].n_labeled < 0) r->protos[i].n_labeled = n_labeled;
        return;
    }
    r->protos = xrealloc_(r->protos, (size_t)(r->n_p + 1) * sizeof *r->protos);
    copy_(r->protos[r->n_p].name, NAME_LEN, p);
    r->protos[r->n_p++].n_labeled = n_labeled;
}

static void add_seed_(rep_ *r, unsigned long long s)
{
    if (find_seed_(r, s) >= 0) return;
    r->seeds = xrealloc_(r->seeds, (size_t)(r->n_s + 1) * sizeof *r->seeds);
    r->seeds[r->n_s++] = s;
}

/* ---- reading results.csv -------------------------------------------------------------- */
static int read_results_(rep_ *r, sg_err *err)
{
    FILE *fp = fopen(r->o.results, "r");
    if (!fp) {
        if (errno == ENOENT) {
            note_(r, "%s does not exist: no run has finished", r->o.results);
            return 0;
        }
        return sg_err_set(err, "%s: %s", r->o.results, strerror(errno));
    }
    char *line = NULL, *hdr = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0, n_h = 0;
    char *h[MAX_FIELDS];
    int c_method = -1, c_dataset = -1, c_protocol = -1, c_nl = -1, c_seed = -1, c_final = -1, c_best = -1,
        c_iter = -1, c_cls = -1, c_wall = -1, c_ips = -1, c_backend = -1, c_commit = -1, c_hash = -1, c_fin = -1;
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        chomp_(line);
        if (!*line) continue;
        if (!hdr) {
            hdr = S_("%s", line);
            n_h = csv_split_(hdr, h);
            c_method = col_(h, n_h, "method");
            c_dataset = col_(h, n_h, "dataset");
            c_protocol = col_(h, n_h, "protocol");
            c_nl = col_(h, n_h, "n_labeled");
            c_seed = col_(h, n_h, "seed");
            c_final = col_(h, n_h, "final_miou");
            c_best = col_(h, n_h, "best_miou");
            c_iter = col_(h, n_h, "iterations");
            c_cls = col_(h, n_h, "class_iou");
            c_wall = col_(h, n_h, "wall_s");
            c_ips = col_(h, n_h, "images_per_s");
            c_backend = col_(h, n_h, "backend");
            c_commit = col_(h, n_h, "git_commit");
            c_hash = col_(h, n_h, "config_hash");
            c_fin = col_(h, n_h, "finished_utc");
            if (n_h < 0 || c_method < 0 || c_dataset < 0 || c_protocol < 0 || c_nl < 0 || c_seed < 0 ||
                c_final < 0 || c_best < 0) {
                rc = sg_err_set(err, "%s:1: the header lacks method, dataset, protocol, n_labeled, seed, "
                                "final_miou or best_miou", r->o.results);
                break;
            }
            continue;
        }
        char *f[MAX_FIELDS];
        int n = csv_split_(line, f);
        if (n != n_h) {
            rc = sg_err_set(err, "%s:%d: %d fields, the header has %d", r->o.results, lineno, n, n_h);
            break;
        }
        if (!r->dataset) r->dataset = S_("%s", f[c_dataset]);
        if (strcmp(f[c_dataset], r->dataset)) {
            rc = sg_err_set(err, "%s:%d: dataset '%s', expected '%s' (one results.csv per dataset)", r->o.results,
                            lineno, f[c_dataset], r->dataset);
            break;
        }
        row_ w = {.line = lineno, .final = NAN, .best = NAN, .wall_s = NAN, .ips = NAN};
        double nl, seed, it = 0;
        if (strlen(f[c_method]) >= NAME_LEN || strlen(f[c_protocol]) >= NAME_LEN || !*f[c_method] ||
            !*f[c_protocol] || !num_(f[c_nl], &nl) || !num_(f[c_seed], &seed) || seed < 0 ||
            !num_(f[c_final], &w.final) || !num_(f[c_best], &w.best) ||
            (c_iter >= 0 && !num_(f[c_iter], &it))) {
            rc = sg_err_set(err, "%s:%d: a bad method, protocol, n_labeled, seed, iterations or mIoU field",
                            r->o.results, lineno);
            break;
        }
        copy_(w.method, NAME_LEN, f[c_method]);
        copy_(w.protocol, NAME_LEN, f[c_protocol]);
        w.n_labeled = (int)nl;
        w.seed = (unsigned long long)seed;
        w.iterations = (long)it;
        if (c_wall >= 0 && !num_(f[c_wall], &w.wall_s)) w.wall_s = NAN;
        if (c_ips >= 0 && !num_(f[c_ips], &w.ips)) w.ips = NAN;
        copy_(w.backend, NAME_LEN, c_backend >= 0 ? f[c_backend] : "");
        copy_(w.commit, NAME_LEN, c_commit >= 0 ? f[c_commit] : "");
        copy_(w.hash, NAME_LEN, c_hash >= 0 ? f[c_hash] : "");
        copy_(w.finished, NAME_LEN, c_fin >= 0 ? f[c_fin] : "");
        if (c_cls >= 0) {
            char *p = f[c_cls], *end;
            while (w.n_cls < MAX_CLASSES) {
                double v = strtod(p, &end);
                if (end == p) break;
                w.cls[w.n_cls++] = v;
                p = end;
            }
        }
        r->rows = xrealloc_(r->rows, (size_t)(r->n_rows + 1) * sizeof *r->rows);
        r->rows[r->n_rows++] = w;
    }
    free(line);
    fclose(fp);
    return rc;
}

/* ---- scanning the run directories ------------------------------------------------------ */
static char *run_dir_(const rep_ *r, int m, int p, int s)
{
    return S_("%s/%s/%s/%s/seed%llu", r->o.runs, r->dataset, r->protos[p].name, r->methods[m], r->seeds[s]);
}

/* Registers the method, protocol and seed of every directory
 * <runs>/<dataset>/<protocol>/<method>/seed<k>. */
static void scan_runs_(rep_ *r)
{
    char *root = S_("%s/%s", r->o.runs, r->dataset);
    DIR *d1 = opendir(root);
    if (!d1) {
        note_(r, "%s: no run directories (%s)", root, strerror(errno));
        return;
    }
    struct dirent *e1;
    while ((e1 = readdir(d1))) {
        if (e1->d_name[0] == '.' || strlen(e1->d_name) >= NAME_LEN) continue;
        char *pdir = S_("%s/%s", root, e1->d_name);
        DIR *d2 = is_dir_(pdir) ? opendir(pdir) : NULL;
        if (!d2) continue;
        struct dirent *e2;
        while ((e2 = readdir(d2))) {
            if (e2->d_name[0] == '.' || strlen(e2->d_name) >= NAME_LEN) continue;
            char *mdir = S_("%s/%s", pdir, e2->d_name);
            DIR *d3 = is_dir_(mdir) ? opendir(mdir) : NULL;
            if (!d3) continue;
            struct dirent *e3;
            while ((e3 = readdir(d3))) {
                char *end;
                if (strncmp(e3->d_name, "seed", 4) || !isdigit((unsigned char)e3->d_name[4])) continue;
                unsigned long long s = strtoull(e3->d_name + 4, &end, 10);
                if (*end || !is_dir_(S_("%s/%s", mdir, e3->d_name))) continue;
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

static sg_config *load_config_(const char *dir)
{
    char *path = S_("%s/config.resolved", dir);
    if (!is_file_(path)) return NULL;
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
    cell_ *c = cell_at_(r, m, p, s);
    char *dir = run_dir_(r, m, p, s);
    c->gflop = NAN;
    c->cpu_s = NAN;
    c->dir = is_dir_(dir);
    if (!c->dir) return;
    c->last_iter = last_iter_(S_("%s/log.tsv", dir));
    sg_config *cfg = load_config_(dir);
    if (cfg) {
        sg_err err;
        long it = 0;
        if (sg_config_int(cfg, "train.iterations", 0, 0, 1L << 40, &it, &err) == 0) c->total_iter = it;
        sg_config_free(cfg);
    }
    char *rj = S_("%s/result.json", dir);
    c->result_json = is_file_(rj);
    if (!c->result_json) return;
    json_error_t je;
    json_t *j = json_load_file(rj, 0, &je);
    if (!j) {
        note_(r, "%s:%d: not valid JSON (%s)", rj, je.line, je.text);
        return;
    }
    const char *mach = json_string_value(json_object_get(j, "machine"));
    if (!mach) mach = json_string_value(json_object_get(j, "host"));
    copy_(c->machine, sizeof c->machine, mach ? mach : "");
    json_t *g = json_object_get(j, "gflop_per_iter");
    if (json_is_number(g)) c->gflop = json_number_value(g);
    json_t *cs = json_object_get(j, "cpu_s");
    if (json_is_number(cs)) c->cpu_s = json_number_value(cs);
    json_decref(j);
}

static int build_grid_(rep_ *r, sg_err *err)
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
                cell_at_(r, m, p, s)->row = -1;
                fill_cell_(r, m, p, s);
            }
    for (int i = 0; i < r->n_rows; i++) {
        const row_ *w = &r->rows[i];
        int m = find_method_(r, w->method), p = find_proto_(r, w->protocol), s = find_seed_(r, w->seed);
        cell_ *c = cell_at_(r, m, p, s);
        if (c->row >= 0)
            note_(r, "%s:%d: a second row for %s / %s / seed %llu; it replaces line %d", r->o.results, w->line,
                  w->method, w->protocol, w->seed, r->rows[c->row].line);
        c->row = i;
        if (!c->dir)
            note_(r, "%s:%d: %s / %s / seed %llu has no run directory (%s): its curves and provenance are missing",
                  r->o.results, w->line, w->method, w->protocol, w->seed, run_dir_(r, m, p, s));
        if (w->n_cls > r->n_classes) r->n_classes = w->n_cls;
    }
    return 0;
}

/* Why a run has no results.csv row, from what its directory shows. */
static const char *missing_why_(const cell_ *c)
{
    if (!c->dir) return "not run: no run directory";
    if (c->result_json) return "result.json present but no row in results.csv";
    if (c->last_iter < 0) return "failed or not started: no iteration in log.tsv, no result.json";
    if (c->total_iter > 0)
        return S_("%s: log.tsv ends at iteration %ld of %ld, no result.json",
                  c->last_iter >= c->total_iter ? "failed after training" : "incomplete or failed", c->last_iter,
                  c->total_iter);
    return S_("incomplete or failed: log.tsv ends at iteration %ld, no result.json", c->last_iter);
}

/* ---- statistics ------------------------------------------------------------------------ */
/* Sample mean and standard deviation (n - 1); sd is NAN for n < 2. */
static void mean_sd_(const double *x, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : NAN;
}

/* t(0.975, df): the table to 4 decimals for df <= 30, then the Cornish-Fisher
 * expansion around z = 1.959964 (error below 1e-4 for df > 30). */
static double t975_(int df)
{
    static const double t[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                 2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                 2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df < 1) return NAN;
    if (df <= 30) return t[df - 1];
    const double z = 1.959964, v = df;
    return z + (z * z * z + z) / (4 * v) + (5 * pow(z, 5) + 16 * pow(z, 3) + 3 * z) / (96 * v * v) +
           (3 * pow(z, 7) + 19 * pow(z, 5) + 17 * pow(z, 3) - 15 * z) / (384 * v * v * v);
}

typedef struct stat_ {
    int n, n_missing;
    double final_mean, final_sd, best_mean, best_sd;
    double ips, gflop, hours_total, hours_mean;
    double cpu_hours_total;   /* NAN unless every finished seed recorded cpu_s */
    double tflop_run;         /* training compute of one run: gflop x iterations / 1000 */
    long iterations;
} stat_;

static stat_ cell_stat_(rep_ *r, int m, int p)
{
    stat_ st = {0};
    double *f = sg_xcalloc((size_t)r->n_s + 1, sizeof *f), *b = sg_xcalloc((size_t)r->n_s + 1, sizeof *b);
    double ips = 0, gflop = 0, hours = 0, cpu = 0;
    int n_ips = 0, n_gflop = 0, n_hours = 0, n_cpu = 0;
    for (int s = 0; s < r->n_s; s++) {
        const cell_ *c = cell_at_(r, m, p, s);
        if (c->row < 0) {
            st.n_missing++;
            continue;
        }
        const row_ *w = &r->rows[c->row];
        f[st.n] = w->final;
        b[st.n++] = w->best;
        if (isfinite(w->ips)) ips += w->ips, n_ips++;
        if (isfinite(w->wall_s)) hours += w->wall_s / 3600, n_hours++;
        if (isfinite(c->gflop)) gflop += c->gflop, n_gflop++;
        if (isfinite(c->cpu_s)) cpu += c->cpu_s / 3600, n_cpu++;
        if (w->iterations > st.iterations) st.iterations = w->iterations;
    }
    mean_sd_(f, st.n, &st.final_mean, &st.final_sd);
    mean_sd_(b, st.n, &st.best_mean, &st.best_sd);
    st.ips = n_ips ? ips / n_ips : NAN;
    /* The FLOP count depends on shapes only, so the seeds that recorded it
     * speak for those that did not. */
    st.gflop = n_gflop ? gflop / n_gflop : NAN;
    st.hours_total = n_hours ? hours : NAN;
    st.hours_mean = n_hours ? hours / n_hours : NAN;
    st.cpu_hours_total = n_cpu && n_cpu == st.n ? cpu : NAN;
    st.tflop_run = isfinite(st.gflop) ? st.gflop * (double)st.iterations / 1000 : NAN;
    free(f);
    free(b);
    return st;
}

typedef struct diff_ {
    int n;
    double mean, lo, hi, best_mean, best_lo, best_hi;
    char seeds[256];
} diff_;

/* Method m minus supervised on protocol p, over the seeds both finished. */
static diff_ cell_diff_(rep_ *r, int m, int sup, int p)
{
    diff_ d = {0};
    double *x = sg_xcalloc((size_t)r->n_s + 1, sizeof *x), *y = sg_xcalloc((size_t)r->n_s + 1, sizeof *y);
    size_t len = 0;
    for (int s = 0; s < r->n_s; s++) {
        const cell_ *a = cell_at_(r, m, p, s), *b = cell_at_(r, sup, p, s);
        if (a->row < 0 || b->row < 0) continue;
        x[d.n] = r->rows[a->row].final - r->rows[b->row].final;
        y[d.n++] = r->rows[a->row].best - r->rows[b->row].best;
        if (len < sizeof d.seeds)
            len += (size_t)snprintf(d.seeds + len, sizeof d.seeds - len, "%s%llu", len ? " " : "", r->seeds[s]);
    }
    double sd, sdb;
    mean_sd_(x, d.n, &d.mean, &sd);
    mean_sd_(y, d.n, &d.best_mean, &sdb);
    double t = t975_(d.n - 1);
    d.lo = d.mean - t * sd / sqrt(d.n);
    d.hi = d.mean + t * sd / sqrt(d.n);
    d.best_lo = d.best_mean - t * sdb / sqrt(d.n);
    d.best_hi = d.best_mean + t * sdb / sqrt(d.n);
    free(x);
    free(y);
    return d;
}

/* ---- published numbers ------------------------------------------------------------------ */
static int read_published_(rep_ *r, sg_err *err)
{
    if (!r->o.published) return 0;
    FILE *fp = fopen(r->o.published, "r");
    if (!fp) return sg_err_set(err, "%s: %s", r->o.published, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, n_h = -1, rc = 0;
    int c[8];
    static const char *const want[8] = {"dataset", "protocol", "method", "paper_method", "backbone", "crop",
                                        "miou", "source"};
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        chomp_(line);
        if (!*line || *line == '#') continue;
        char *f[MAX_FIELDS];
        int n = csv_split_(line, f);
        if (n_h < 0) {
            n_h = n;
            for (int i = 0; i < 8; i++)
                if ((c[i] = col_(f, n, want[i])) < 0) {
                    rc = sg_err_set(err, "%s:%d: the header lacks the column %s", r->o.published, lineno, want[i]);
                    goto out;
                }
            continue;
        }
        pub_ p;
        if (n != n_h || !num_(f[c[6]], &p.miou)) {
            rc = sg_err_set(err, "%s:%d: %d fields (header %d) or a bad miou", r->o.published, lineno, n, n_h);
            goto out;
        }
        p.dataset = S_("%s", f[c[0]]);
        p.protocol = S_("%s", f[c[1]]);
        p.method = S_("%s", f[c[2]]);
        p.paper_method = S_("%s", f[c[3]]);
        p.backbone = S_("%s", f[c[4]]);
        p.crop = S_("%s", f[c[5]]);
        p.source = S_("%s", f[c[7]]);
        r->pubs = xrealloc_(r->pubs, (size_t)(r->n_pubs + 1) * sizeof *r->pubs);
        r->pubs[r->n_pubs++] = p;
    }
out:
    free(line);
    fclose(fp);
    return rc;
}

static const pub_ *pub_find_(const rep_ *r, const char *method, const char *protocol)
{
    for (int i = 0; i < r->n_pubs; i++)
        if (!strcmp(r->pubs[i].dataset, r->dataset) && !strcmp(r->pubs[i].method, method) &&
            !strcmp(r->pubs[i].protocol, protocol))
            return &r->pubs[i];
    return NULL;
}

/* The published rows shown in the main table, one per distinct source, in
 * order of appearance: source k is cited as [k]. Returns their number. */
static int sources_(const rep_ *r, const pub_ **out, int max)
{
    int k = 0;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            const pub_ *q = pub_find_(r, r->methods[m], r->protos[p].name);
            bool seen = false;
            for (int i = 0; q && i < k && !seen; i++) seen = !strcmp(out[i]->source, q->source);
            if (q && !seen && k < max) out[k++] = q;
        }
    return k;
}

static int source_index_(const rep_ *r, const char *src)
{
    const pub_ *list[256];
    int n = sources_(r, list, 256);
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i]->source, src)) return i + 1;
    return 0;
}

/* ---- formatting ------------------------------------------------------------------------- */
static const char *num4_(double v)
{
    return isfinite(v) ? S_("%.4f", v) : "nan";
}

static const char *pm_md_(double mean, double sd, int n)
{
    if (n == 0) return "missing";
    if (n == 1) return S_("%.2f (1 seed)", mean);
    return S_("%.2f ± %.2f", mean, sd);
}

static const char *pm_tex_(double mean, double sd, int n)
{
    if (n == 0) return "missing";
    if (n == 1) return S_("%.2f (1 seed)", mean);
    return S_("$%.2f \\pm %.2f$", mean, sd);
}

static const char *nl_(const proto_ *p)
{
    return p->n_labeled >= 0 ? S_("%d", p->n_labeled) : "?";
}

/* ---- LaTeX text ----------------------------------------------------------------------- */
typedef struct uni_ {
    unsigned cp;
    const char *tex, *ascii;
} uni_;

/* The non-ASCII characters of the method READMEs (and common others): LaTeX
 * for text, ASCII for verbatim blocks. Anything else becomes '?'. */
static const uni_ uni_map_[] = {
    {0x00B7, "$\\cdot$", "."},        {0x0177, "$\\hat{y}$", "y^"},     {0x2212, "$-$", "-"},
    {0x03A3, "$\\Sigma$", "Sum"},     {0x00B1, "$\\pm$", "+-"},         {0x03C4, "$\\tau$", "tau"},
    {0x2265, "$\\geq$", ">="},        {0x2264, "$\\leq$", "<="},        {0x2260, "$\\neq$", "!="},
    {0x00D7, "$\\times$", "x"},       {0x00B2, "$^2$", "^2"},           {0x03B8, "$\\theta$", "theta"},
    {0x2013, "--", "-"},              {0x2014, "---", "--"},            {0x2208, "$\\in$", "in"},
    {0x2190, "$\\leftarrow$", "<-"},  {0x2192, "$\\rightarrow$", "->"}, {0x2026, "\\dots{}", "..."},
    {0x03C3, "$\\sigma$", "sigma"},   {0x00BD, "$\\frac12$", "1/2"},    {0x03B1, "$\\alpha$", "alpha"},
    {0x03B2, "$\\beta$", "beta"},     {0x03BB, "$\\lambda$", "lambda"}, {0x03BC, "$\\mu$", "mu"},
    {0x00B5, "$\\mu$", "u"},          {0x2248, "$\\approx$", "~="},     {0x221E, "$\\infty$", "inf"},
    {0x2018, "`", "'"},               {0x2019, "'", "'"},               {0x201C, "``", "\""},
    {0x201D, "''", "\""},             {0x00E9, "\\'e", "e"},            {0x0394, "$\\Delta$", "Delta"},
    {0x03B5, "$\\epsilon$", "eps"},   {0x03C0, "$\\pi$", "pi"},         {0x00B0, "$^\\circ$", "deg"},
};

/* Decodes one UTF-8 character at s (n bytes left); returns its length. */
static int utf8_(const unsigned char *s, size_t n, unsigned *cp)
{
    int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    if ((size_t)len > n) len = 1;
    unsigned v = len == 1 ? s[0] : s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) v = (v << 6) | (s[i] & 0x3F);
    *cp = v;
    return len;
}

static const uni_ *uni_find_(unsigned cp)
{
    for (size_t i = 0; i < sizeof uni_map_ / sizeof *uni_map_; i++)
        if (uni_map_[i].cp == cp) return &uni_map_[i];
    return NULL;
}

/* Text with the LaTeX specials escaped; code: '/' may break a line there. */
static void tex_n_(FILE *o, const char *s, size_t n, bool code)
{
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80) {
            unsigned cp;
            int len = utf8_((const unsigned char *)s + i, n - i, &cp);
            const uni_ *u = uni_find_(cp);
            fputs(u ? u->tex : "?", o);
            i += (size_t)len;
            continue;
        }
        switch (ch) {
        case '\\': fputs("\\textbackslash{}", o); break;
        case '{': case '}': case '$': case '&': case '#': case '_': case '%': fprintf(o, "\\%c", ch); break;
        case '^': fputs("\\^{}", o); break;
        case '~': fputs("\\textasciitilde{}", o); break;
        case '<': fputs("\\textless{}", o); break;
        case '>': fputs("\\textgreater{}", o); break;
        case '|': fputs("\\textbar{}", o); break;
        case '/': case '-': case '.':
            /* code may break after these; in text "--" must not become a dash */
            fputc(ch, o);
            if (code) fputs("\\allowbreak{}", o);
            else if (ch == '-' && i + 1 < n && s[i + 1] == '-') fputs("{}", o);
            break;
        default: fputc(ch, o);
        }
        i++;
    }
}

static void tex_(FILE *o, const char *s)
{
    tex_n_(o, s, strlen(s), false);
}

/* n escaped cells joined by " & " (no row end). */
static void tex_cells_(FILE *o, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        if (i) fputs(" & ", o);
        tex_(o, va_arg(ap, const char *));
    }
    va_end(ap);
}

/* A path in typewriter type, breakable after '/'. */
static void tex_path_(FILE *o, const char *s)
{
    fputs("\\texttt{", o);
    tex_n_(o, s, strlen(s), true);
    fputs("}", o);
}

static void verb_line_(FILE *o, const char *s)
{
    for (size_t i = 0, n = strlen(s); i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80) {
            unsigned cp;
            int len = utf8_((const unsigned char *)s + i, n - i, &cp);
            const uni_ *u = uni_find_(cp);
            fputs(u ? u->ascii : "?", o);
            i += (size_t)len;
        } else {
            fputc(ch == '\t' ? ' ' : ch, o);
            i++;
        }
    }
    fputc('\n', o);
}

/* Inline Markdown: `code`, **bold**, *emphasis*, [text](link) (the link is
 * dropped); everything else is escaped text. */
static void md_inline_(FILE *o, const char *s, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n) {
        const char *close = NULL;
        size_t skip = 0;
        if (s[i] == '`') {
            close = memchr(s + i + 1, '`', n - i - 1);
            if (close) {
                tex_n_(o, s + start, i - start, false);
                fputs("\\texttt{", o);
                tex_n_(o, s + i + 1, (size_t)(close - s - (long)i - 1), true);
                fputs("}", o);
                i = start = (size_t)(close - s) + 1;
                continue;
            }
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
            close = memmem(s + i + 2, n - i - 2, "**", 2);
            skip = 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] != ' ') {
            close = memchr(s + i + 1, '*', n - i - 1);
            skip = 1;
        } else if (s[i] == '[') {
            const char *rb = memchr(s + i, ']', n - i);
            if (rb && (size_t)(rb - s) + 1 < n && rb[1] == '(') {
                const char *rp = memchr(rb, ')', n - (size_t)(rb - s));
                if (rp) {
                    tex_n_(o, s + start, i - start, false);
                    md_inline_(o, s + i + 1, (size_t)(rb - s) - i - 1);
                    i = start = (size_t)(rp - s) + 1;
                    continue;
                }
            }
        }
        if (close && close > s + i + skip) {
            tex_n_(o, s + start, i - start, false);
            fputs(skip == 2 ? "\\textbf{" : "\\emph{", o);
            md_inline_(o, s + i + skip, (size_t)(close - s) - i - skip);
            fputs("}", o);
            i = start = (size_t)(close - s) + skip;
            continue;
        }
        i++;
    }
    tex_n_(o, s + start, n - start, false);
}

/* Cells of a Markdown table row (modified in place); '|' inside `code` stays. */
static int md_cells_(char *line, char **cells, int max)
{
    char *p = line;
    while (*p == ' ') p++;
    if (*p == '|') p++;
    int n = 0;
    bool code = false;
    char *cell = p;
    for (; *p; p++) {
        if (*p == '`') code = !code;
        if (*p == '|' && !code) {
            *p = 0;
            if (n < max) cells[n++] = cell;
            cell = p + 1;
        }
    }
    while (*cell == ' ') cell++;
    if (*cell && n < max) cells[n++] = cell;
    for (int i = 0; i < n; i++) {
        while (*cells[i] == ' ') cells[i]++;
        size_t l = strlen(cells[i]);
        while (l && cells[i][l - 1] == ' ') cells[i][--l] = 0;
    }
    return n;
}

static bool md_rule_row_(const char *line)
{
    for (const char *p = line; *p; p++)
        if (!strchr("|-: ", *p)) return false;
    return strchr(line, '-') != NULL;
}

/* The list marker length at line ("- ", "* ", "12. "), or 0. */
static int md_item_(const char *line, bool *ordered)
{
    const char *p = line;
    while (*p == ' ') p++;
    if ((p[0] == '-' || p[0] == '*') && p[1] == ' ') {
        *ordered = false;
        return (int)(p - line) + 2;
    }
    const char *q = p;
    while (isdigit((unsigned char)*q)) q++;
    if (q > p && q[0] == '.' && q[1] == ' ') {
        *ordered = true;
        return (int)(q - line) + 2;
    }
    return 0;
}

/* A README as a section: headings, paragraphs, lists, tables and code blocks. */
static int md_to_tex_(FILE *o, const char *path, const char *method, sg_err *err)
{
    FILE *in = fopen(path, "r");
    if (!in) return sg_err_set(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    bool code = false, titled = false, list = false, ordered = false, table = false, icode = false, blank = true;
    int cols = 0;
    while (getline(&line, &cap, in) > 0) {
        chomp_(line);
        bool was_blank = blank;
        blank = !line[strspn(line, " \t")];
        /* an indented code block: 4 spaces after a blank line, up to the next
         * line that is neither blank nor indented */
        if (icode && (blank || !strncmp(line, "    ", 4))) {
            verb_line_(o, blank ? "" : line + 4);
            continue;
        }
        if (icode) {
            fputs("\\end{Verbatim}\n", o);
            icode = false;
        }
        if (!code && !table && was_blank && titled && !strncmp(line, "    ", 4) && line[4] != ' ' && !blank) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs("\\begin{Verbatim}[fontsize=\\small]\n", o);
            verb_line_(o, line + 4);
            icode = true;
            continue;
        }
        if (!strncmp(line, "```", 3)) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs(code ? "\\end{Verbatim}\n" : "\\begin{Verbatim}[fontsize=\\small]\n", o);
            code = !code;
            continue;
        }
        if (code) {
            verb_line_(o, line);
            continue;
        }
        bool is_row = line[0] == '|';
        if (table && !is_row) {
            fputs("\\bottomrule\n\\end{tabularx}\\end{center}\n", o);
            table = false;
        }
        if (is_row) {
            char *cells[32];
            int n = md_cells_(line, cells, 32);
            if (!table) {
                if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
                cols = n ? n : 1;
                fprintf(o, "\\begin{center}\\footnotesize\n\\begin{tabularx}{\\linewidth}{@{}*{%d}"
                           "{>{\\raggedright\\arraybackslash}X}@{}}\n\\toprule\n", cols);
                table = true;
            } else if (md_rule_row_(line)) {
                fputs("\\midrule\n", o);
                continue;
            }
            for (int i = 0; i < cols; i++) {
                if (i) fputs(" & ", o);
                if (i < n) md_inline_(o, cells[i], strlen(cells[i]));
            }
            fputs(" \\\\\n", o);
            continue;
        }
        int h = 0;
        while (line[h] == '#') h++;
        if (h && line[h] == ' ') {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            const char *t = line + h + 1;
            if (h == 1 && !titled) {
                fputs("\\section{", o);
                tex_(o, t);
                fputs("}\n", o);
            } else {
                if (!titled) {
                    fputs("\\section{", o);
                    tex_(o, method);
                    fputs("}\n", o);
                }
                fputs(h <= 2 ? "\\subsection{" : "\\subsubsection*{", o);
                md_inline_(o, t, strlen(t));
                fputs("}\n", o);
            }
            titled = true;
            continue;
        }
        if (!titled) {
            fputs("\\section{", o);
            tex_(o, method);
            fputs("}\n", o);
            titled = true;
        }
        bool ord = false;
        int item = md_item_(line, &ord);
        if (item) {
            if (list && ord != ordered) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            if (!list) fprintf(o, "\\begin{%s}\n", ord ? "enumerate" : "itemize");
            list = true;
            ordered = ord;
            fputs("\\item ", o);
            md_inline_(o, line + item, strlen(line + item));
            fputc('\n', o);
            continue;
        }
        if (!*line) {
            if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize"), list = false;
            fputs("\n", o);
            continue;
        }
        md_inline_(o, line, strlen(line));
        fputc('\n', o);
    }
    if (code || icode) fputs("\\end{Verbatim}\n", o);
    if (table) fputs("\\bottomrule\n\\end{tabularx}\\end{center}\n", o);
    if (list) fprintf(o, "\\end{%s}\n", ordered ? "enumerate" : "itemize");
    free(line);
    fclose(in);
    return 0;
}

/* ---- output files ---------------------------------------------------------------------- */
static FILE *out_open_(sg_atomic_file *af, const char *dir, const char *name, sg_err *err)
{
    return sg_atomic_open(af, S_("%s/%s", dir, name), err) ? NULL : af->fp;
}

static int write_summary_(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open_(&af, r->o.out, "summary.csv", err);
    if (!o) return -1;
    fprintf(o, "method,protocol,n_labeled,n_seeds,n_missing,final_miou_mean,final_miou_std,best_miou_mean,"
               "best_miou_std,images_per_s_mean,gflop_per_iter,run_hours_total,cpu_hours_total,published_miou,"
               "published_source\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            const pub_ *q = pub_find_(r, r->methods[m], r->protos[p].name);
            fprintf(o, "%s,%s,%d,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,", r->methods[m], r->protos[p].name,
                    r->protos[p].n_labeled, st.n, st.n_missing, num4_(st.final_mean), num4_(st.final_sd),
                    num4_(st.best_mean), num4_(st.best_sd), num4_(st.ips), num4_(st.gflop), num4_(st.hours_total),
                    num4_(st.cpu_hours_total), q ? S_("%g", q->miou) : "");
            if (q) {
                fputc('"', o);
                for (const char *c = q->source; *c; c++) fprintf(o, *c == '"' ? "\"\"" : "%c", *c);
                fputc('"', o);
            }
            fputc('\n', o);
        }
    if (sg_atomic_commit(&af, err)) return -1;

    o = out_open_(&af, r->o.out, "diff.csv", err);
    if (!o) return -1;
    fprintf(o, "method,protocol,n_pairs,seeds,diff_final_mean,diff_final_ci95_low,diff_final_ci95_high,"
               "diff_best_mean,diff_best_ci95_low,diff_best_ci95_high\n");
    int sup = find_method_(r, "supervised");
    for (int m = 0; m < r->n_m && sup >= 0; m++)
        for (int p = 0; p < r->n_p && m != sup; p++) {
            diff_ d = cell_diff_(r, m, sup, p);
            fprintf(o, "%s,%s,%d,%s,%s,%s,%s,%s,%s,%s\n", r->methods[m], r->protos[p].name, d.n, d.seeds,
                    num4_(d.mean), num4_(d.lo), num4_(d.hi), num4_(d.best_mean), num4_(d.best_lo),
                    num4_(d.best_hi));
        }
    return sg_atomic_commit(&af, err);
}

static int n_expected_(const rep_ *r, int *n_done)
{
    *n_done = 0;
    int n = r->n_m * r->n_p * r->n_s;
    for (int i = 0; i < n; i++) *n_done += r->cells[i].row >= 0;
    return n;
}

static const char *diff_md_(double mean, double lo, double hi, int n)
{
    if (n == 0) return "no paired seeds";
    if (n == 1) return S_("%+.2f (1 pair, no CI)", mean);
    return S_("%+.2f [%+.2f, %+.2f]", mean, lo, hi);
}

static void md_tables_(rep_ *r, FILE *o)
{
    fprintf(o, "## mIoU (%%), mean ± sample standard deviation over seeds\n\n"
               "*final*: the model at the last iteration (the honest number); *best*: the best evaluation "
               "during training (what papers report). *published*: best-on-val numbers of the original "
               "papers for the same protocol, where one exists (sources below).\n\n");
    fprintf(o, "| method | protocol | labeled | seeds | final mIoU | best mIoU | published |\n"
               "|---|---|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            const pub_ *q = pub_find_(r, r->methods[m], r->protos[p].name);
            fprintf(o, "| %s | %s | %s | %d%s | %s | %s | %s |\n", r->methods[m], r->protos[p].name,
                    nl_(&r->protos[p]), st.n, st.n_missing ? S_(" (%d missing)", st.n_missing) : "",
                    pm_md_(st.final_mean, st.final_sd, st.n), pm_md_(st.best_mean, st.best_sd, st.n),
                    q ? S_("%.2f [%d]", q->miou, source_index_(r, q->source)) : "–");
        }
    const pub_ *src[256];
    int n_src = sources_(r, src, 256);
    if (n_src) fprintf(o, "\n");
    for (int i = 0; i < n_src; i++)
        fprintf(o, "[%d] %s (%s, %s%s%s).  \n", i + 1, src[i]->source, src[i]->paper_method, src[i]->backbone,
                *src[i]->crop ? ", crop " : "", src[i]->crop);
    int sup = find_method_(r, "supervised");
    fprintf(o, "\n## Difference to supervised (mIoU points, paired by seed, 95%% Student-t interval)\n\n");
    if (sup < 0) {
        fprintf(o, "No supervised runs: no differences.\n");
    } else {
        fprintf(o, "| method | protocol | pairs (seeds) | Δ final [95%% CI] | Δ best [95%% CI] |\n"
                   "|---|---|---|---:|---:|\n");
        for (int m = 0; m < r->n_m; m++)
            for (int p = 0; p < r->n_p && m != sup; p++) {
                diff_ d = cell_diff_(r, m, sup, p);
                fprintf(o, "| %s | %s | %d (%s) | %s | %s |\n", r->methods[m], r->protos[p].name, d.n,
                        d.n ? d.seeds : "none", diff_md_(d.mean, d.lo, d.hi, d.n),
                        diff_md_(d.best_mean, d.best_lo, d.best_hi, d.n));
            }
    }
    fprintf(o, "\n## Cost\n\n*images/s*: training images through a backward pass per training second, "
               "mean over seeds; *GFLOP/iter*: convolution and matrix-product FLOPs of one training iteration "
               "(forward and backward, counted by the runs: result.json); *TFLOP/run*: GFLOP/iter x iterations; "
               "*CPU hours*, *wall hours*: training and evaluation, summed over the finished seeds "
               "(n/a: not recorded).\n\n"
               "| method | protocol | iterations | images/s | GFLOP/iter | TFLOP/run | CPU hours (sum) | "
               "wall hours (sum) |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            if (!st.n) continue;
            fprintf(o, "| %s | %s | %ld | %s | %s | %s | %s | %s |\n", r->methods[m], r->protos[p].name,
                    st.iterations, isfinite(st.ips) ? S_("%.1f", st.ips) : "n/a",
                    isfinite(st.gflop) ? S_("%.2f", st.gflop) : "n/a",
                    isfinite(st.tflop_run) ? S_("%.1f", st.tflop_run) : "n/a",
                    isfinite(st.cpu_hours_total) ? S_("%.3f", st.cpu_hours_total) : "n/a",
                    isfinite(st.hours_total) ? S_("%.3f", st.hours_total) : "n/a");
        }
}

static void md_missing_(rep_ *r, FILE *o)
{
    int done, n = n_expected_(r, &done);
    fprintf(o, "\n## Missing or failed runs\n\n%d of %d expected runs (%d methods x %d protocols x %d seeds) "
               "have a row in results.csv.\n\n", done, n, r->n_m, r->n_p, r->n_s);
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                const cell_ *c = cell_at_(r, m, p, s);
                if (c->row < 0)
                    fprintf(o, "- MISSING %s / %s / seed %llu: %s\n", r->methods[m], r->protos[p].name, r->seeds[s],
                            missing_why_(c));
            }
    for (int i = 0; i < r->n_notes; i++) fprintf(o, "- NOTE %s\n", r->notes[i]);
}

static int write_markdown_(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open_(&af, r->o.out, "results.md", err);
    if (!o) return -1;
    int done, n = n_expected_(r, &done);
    fprintf(o, "# Results: %s\n\nGenerated by sg-report from `%s` and the run directories under `%s` "
               "(%d of %d expected runs finished).\n\n", r->dataset, r->o.results, r->o.runs, done, n);
    md_tables_(r, o);
    md_missing_(r, o);
    if (r->n_figs) fprintf(o, "\n## Figures\n\n");
    for (int i = 0; i < r->n_figs; i++) fprintf(o, "![%s](%s)\n\n*%s*\n\n", r->figs[i], r->figs[i], r->fig_caps[i]);
    if (r->figs_missing) fprintf(o, "\nFigures not produced: %s\n", r->figs_missing);
    if (sg_atomic_commit(&af, err)) return -1;

    /* The compact table for the README: methods x protocols, final (best). */
    o = out_open_(&af, r->o.out, "table.md", err);
    if (!o) return -1;
    fprintf(o, "| method |");
    for (int p = 0; p < r->n_p; p++) fprintf(o, " %s labeled |", nl_(&r->protos[p]));
    fprintf(o, "\n|---|");
    for (int p = 0; p < r->n_p; p++) fprintf(o, "---:|");
    fprintf(o, "\n");
    for (int m = 0; m < r->n_m; m++) {
        fprintf(o, "| %s |", r->methods[m]);
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            fprintf(o, " %s%s |", pm_md_(st.final_mean, st.final_sd, st.n),
                    st.n && st.n_missing ? S_(" (%d of %d seeds)", st.n, st.n + st.n_missing) : "");
        }
        fprintf(o, "\n");
    }
    fprintf(o, "\nFinal-iteration mIoU (%%) on %s, mean ± standard deviation over %d seeds (%d of %d runs "
               "finished); generated by sg-report.\n", r->dataset, r->n_s, done, n);
    return sg_atomic_commit(&af, err);
}

/* ---- LaTeX ------------------------------------------------------------------------------- */
static void tex_tables_(rep_ *r, FILE *o)
{
    fprintf(o, "\\begin{center}\\small\n\\begin{tabular}{llrrrrr}\n\\toprule\nMethod & Protocol & Labeled & "
               "Seeds & Final mIoU & Best mIoU & Published \\\\\n\\midrule\n");
    for (int m = 0; m < r->n_m; m++) {
        if (m) fprintf(o, "\\addlinespace\n");
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            const pub_ *q = pub_find_(r, r->methods[m], r->protos[p].name);
            tex_(o, r->methods[m]);
            fputs(" & ", o);
            tex_(o, r->protos[p].name);
            fprintf(o, " & %s & %d%s & %s & %s & %s \\\\\n", nl_(&r->protos[p]), st.n,
                    st.n_missing ? S_(" (%d missing)", st.n_missing) : "", pm_tex_(st.final_mean, st.final_sd, st.n),
                    pm_tex_(st.best_mean, st.best_sd, st.n),
                    q ? S_("%.2f\\textsuperscript{[%d]}", q->miou, source_index_(r, q->source)) : "--");
        }
    }
    fprintf(o, "\\bottomrule\n\\end{tabular}\n\n\\smallskip Table 1: mIoU (\\%%) on %s, mean $\\pm$ sample "
               "standard deviation over seeds. Final: the last iteration; best: the best evaluation during "
               "training; published: the original papers' best-on-val number for the same protocol.\n",
            r->dataset);
    const pub_ *src[256];
    int n_src = sources_(r, src, 256);
    for (int i = 0; i < n_src; i++) {
        fprintf(o, "%s[%d] ", i ? "; " : "\\\\ Sources: ", i + 1);
        tex_(o, src[i]->source);
    }
    fprintf(o, "\\end{center}\n\n");

    int sup = find_method_(r, "supervised");
    if (sup >= 0 && r->n_m > 1) {
        fprintf(o, "\\begin{center}\\small\n\\begin{tabular}{llrrr}\n\\toprule\nMethod & Protocol & Pairs & "
                   "$\\Delta$ final [95\\%% CI] & $\\Delta$ best [95\\%% CI] \\\\\n\\midrule\n");
        for (int m = 0; m < r->n_m; m++)
            for (int p = 0; p < r->n_p && m != sup; p++) {
                diff_ d = cell_diff_(r, m, sup, p);
                tex_(o, r->methods[m]);
                fputs(" & ", o);
                tex_(o, r->protos[p].name);
                fprintf(o, " & %d & ", d.n);
                tex_(o, diff_md_(d.mean, d.lo, d.hi, d.n));
                fputs(" & ", o);
                tex_(o, diff_md_(d.best_mean, d.best_lo, d.best_hi, d.n));
                fputs(" \\\\\n", o);
            }
        fprintf(o, "\\bottomrule\n\\end{tabular}\n\n\\smallskip Table 2: each method minus supervised, in "
                   "mIoU points, over the seeds both finished (paired by seed); 95\\%% Student-$t$ interval "
                   "mean $\\pm t_{0.975,n-1}\\,s/\\sqrt{n}$.\n\\end{center}\n\n");
    }

    fprintf(o, "\\begin{center}\\small\n\\begin{tabular}{llrrrrrr}\n\\toprule\nMethod & Protocol & Iterations & "
               "Images/s & GFLOP/iter & TFLOP/run & CPU hours & Wall hours \\\\\n\\midrule\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            if (!st.n) continue;
            tex_(o, r->methods[m]);
            fputs(" & ", o);
            tex_(o, r->protos[p].name);
            fprintf(o, " & %ld & %s & %s & %s & %s & %s \\\\\n", st.iterations,
                    isfinite(st.ips) ? S_("%.1f", st.ips) : "n/a", isfinite(st.gflop) ? S_("%.2f", st.gflop) : "n/a",
                    isfinite(st.tflop_run) ? S_("%.1f", st.tflop_run) : "n/a",
                    isfinite(st.cpu_hours_total) ? S_("%.3f", st.cpu_hours_total) : "n/a",
                    isfinite(st.hours_total) ? S_("%.3f", st.hours_total) : "n/a");
        }
    fprintf(o, "\\bottomrule\n\\end{tabular}\n\n\\smallskip Table 3: cost. Images/s: training images through a "
"backward pass per training second (mean over seeds); GFLOP/iter: convolution and "
               "matrix-product FLOPs of one training iteration, forward and backward, counted by the runs; "
               "TFLOP/run: GFLOP/iter x iterations; CPU and wall hours: training and evaluation, summed over "
               "seeds (n/a: not recorded).\n"
               "\\end{center}\n\n");
}

static void tex_missing_(rep_ *r, FILE *o)
{
    int done, n = n_expected_(r, &done);
    fprintf(o, "%d of %d expected runs (%d methods $\\times$ %d protocols $\\times$ %d seeds) have a row in "
               "results.csv.\n", done, n, r->n_m, r->n_p, r->n_s);
    if (done == n && !r->n_notes) {
        fprintf(o, "None is missing.\n");
        return;
    }
    fprintf(o, "\\begin{itemize}\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                const cell_ *c = cell_at_(r, m, p, s);
                if (c->row >= 0) continue;
                fprintf(o, "\\item \\textbf{MISSING} ");
                tex_(o, S_("%s / %s / seed %llu: %s", r->methods[m], r->protos[p].name, r->seeds[s],
                           missing_why_(c)));
                fputc('\n', o);
            }
    for (int i = 0; i < r->n_notes; i++) {
        fprintf(o, "\\item \\textbf{NOTE} ");
        tex_(o, r->notes[i]);
        fputc('\n', o);
    }
    fprintf(o, "\\end{itemize}\n");
}

static void tex_verbatim_file_(FILE *o, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) return;
    char *line = NULL;
    size_t cap = 0;
    fputs("\\begin{Verbatim}[fontsize=\\scriptsize]\n", o);
    while (getline(&line, &cap, in) > 0) {
        chomp_(line);
        verb_line_(o, line);
    }
    fputs("\\end{Verbatim}\n", o);
    free(line);
    fclose(in);
}

static void tex_provenance_(rep_ *r, FILE *o)
{
    struct utsname u;
    const char *host = uname(&u) == 0 ? S_("%s %s %s %s", u.nodename, u.sysname, u.release, u.machine) : "unknown";
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(o, "\\section{Provenance}\nReport built %s on ", when);
    tex_(o, host);
    fprintf(o, " by\n\\begin{Verbatim}[fontsize=\\scriptsize]\n");
    for (int i = 0; i < r->o.argc; i++) fprintf(o, "%s%s", i ? " " : "", r->o.argv[i]);
    fprintf(o, "\n\\end{Verbatim}\nEvery number above comes from these rows of ");
    tex_path_(o, r->o.results);
    fprintf(o, " and their run directories ");
    tex_path_(o, S_("%s/%s/<protocol>/<method>/seed<seed>/", r->o.runs, r->dataset));
    fprintf(o, " (config.resolved, log.tsv, eval.tsv, result.json, ckpt/). The machine is the one recorded in "
               "result.json; ``not recorded'' when the run did not write it.\n\n"
               "\\begin{scriptsize}\n\\begin{longtable}{lllrrrllll}\n\\toprule\nMethod & Protocol & Seed & Iter. & "
               "Final & Best & Commit & Backend & Config hash & Machine \\\\\n\\midrule\n\\endhead\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                const cell_ *c = cell_at_(r, m, p, s);
                tex_cells_(o, 3, r->methods[m], r->protos[p].name, S_("%llu", r->seeds[s]));
                fputs(" & ", o);
                if (c->row < 0) {
                    fprintf(o, "\\multicolumn{7}{l}{\\textbf{missing}: ");
                    tex_(o, missing_why_(c));
                    fprintf(o, "} \\\\\n");
                    continue;
                }
                const row_ *w = &r->rows[c->row];
                fprintf(o, "%ld & %.2f & %.2f & ", w->iterations, w->final, w->best);
                tex_cells_(o, 4, S_("%.12s", w->commit), w->backend, w->hash,
                           *c->machine ? c->machine : "not recorded");
                fprintf(o, " \\\\\n");
            }
    fprintf(o, "\\bottomrule\n\\end{longtable}\n\\end{scriptsize}\n");
    /* One resolved configuration per method (the first finished run); the
     * others differ by their split and seed, see the config hashes above. */
    for (int m = 0; m < r->n_m; m++) {
        const char *dir = NULL;
        for (int p = 0; p < r->n_p && !dir; p++)
            for (int s = 0; s < r->n_s && !dir; s++) {
                char *d = run_dir_(r, m, p, s);
                if (is_file_(S_("%s/config.resolved", d))) dir = d;
            }
        if (!dir) continue;
        fprintf(o, "\\subsection*{Configuration: ");
        tex_(o, r->methods[m]);
        fprintf(o, "}\n");
        tex_path_(o, S_("%s/config.resolved", dir));
        fprintf(o, "\n");
        tex_verbatim_file_(o, S_("%s/config.resolved", dir));
    }
}

static void tex_published_(rep_ *r, FILE *o)
{
    int n = 0;
    for (int i = 0; i < r->n_pubs; i++) n += !strcmp(r->pubs[i].dataset, r->dataset);
    fprintf(o, "\\section{Published results}\n");
    if (!n) {
        fprintf(o, "The table of published results (%s) has no entry for this dataset: ",
                r->o.published ? "reports/published.csv" : "none given");
        fprintf(o, "its protocols are this project's own, so nothing is compared.\n");
        return;
    }
    fprintf(o, "All published rows for this dataset (best epoch on val, single scale). A row is shown in "
               "Table 1 when its protocol name is ours.\n\\begin{scriptsize}\n\\begin{longtable}{lllllrp{6cm}}\n"
               "\\toprule\nProtocol & Method & Paper's method & Backbone & Crop & mIoU & Source \\\\\n\\midrule\n"
               "\\endhead\n");
    for (int i = 0; i < r->n_pubs; i++) {
        const pub_ *q = &r->pubs[i];
        if (strcmp(q->dataset, r->dataset)) continue;
        tex_cells_(o, 5, q->protocol, q->method, q->paper_method, q->backbone, q->crop);
        fprintf(o, " & %.2f & ", q->miou);
        tex_(o, q->source);
        fprintf(o, " \\\\\n");
    }
    fprintf(o, "\\bottomrule\n\\end{longtable}\n\\end{scriptsize}\n");
}

static int write_latex_(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open_(&af, r->o.out, "tables.tex", err);
    if (!o) return -1;
    tex_tables_(r, o);
    if (sg_atomic_commit(&af, err)) return -1;

    o = out_open_(&af, r->o.out, "report.tex", err);
    if (!o) return -1;
    int done, n = n_expected_(r, &done);
    fprintf(o, "%% Generated by sg-report; rebuild with make report.\n"
               "\\documentclass[10pt,a4paper]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
               "\\usepackage{lmodern}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs,array,tabularx,"
               "longtable,graphicx,fancyvrb}\n\\usepackage[hidelinks]{hyperref}\n\\setlength{\\parindent}{0pt}\n"
               "\\setlength{\\parskip}{4pt}\n\\title{Semi-supervised segmentation benchmark: ");
    tex_(o, r->dataset);
    fprintf(o, "}\n\\author{semiseg sg-report}\n\\date{%d of %d runs finished}\n\\begin{document}\n\\maketitle\n"
               "\\setcounter{tocdepth}{1}\n\\tableofcontents\n\n\\section{Results}\n\\input{tables.tex}\n", done, n);
    fprintf(o, "\\section{Missing or failed runs}\n");
    tex_missing_(r, o);
    fprintf(o, "\\section{Figures}\n");
    if (r->figs_missing) {
        fprintf(o, "Figures not produced: ");
        tex_(o, r->figs_missing);
        fprintf(o, "\n\n");
    }
    for (int i = 0; i < r->n_figs; i++) {
        fprintf(o, "\\begin{center}\n\\includegraphics[width=%s]{%s}\\\\[2pt]\n\\small Figure %d: ",
                strstr(r->figs[i], "curves_") || strstr(r->figs[i], "qualitative") ? "\\linewidth" : "0.8\\linewidth",
                r->figs[i], i + 1);
        tex_(o, r->fig_caps[i]);
        fprintf(o, "\n\\end{center}\n\n");
    }
    tex_published_(r, o);
    fprintf(o, "\n\\clearpage\n\\part*{Methods}\nEach method's README (experiments/<method>/README.md), "
               "converted from Markdown.\n\n");
    for (int m = 0; m < r->n_m; m++) {
        char *path = S_("%s/%s/README.md", r->o.experiments, r->methods[m]);
        sg_err e2;
        if (!is_file_(path) || md_to_tex_(o, path, r->methods[m], &e2)) {
            fprintf(o, "\\section{");
            tex_(o, r->methods[m]);
            fprintf(o, "}\n\\textbf{No README}: ");
            tex_path_(o, path);
            fprintf(o, " could not be read.\n");
            note_(r, "%s: no README for the method section", path);
        }
        fprintf(o, "\n");
    }
    fprintf(o, "\\clearpage\n\\appendix\n");
    tex_provenance_(r, o);
    fprintf(o, "\\end{document}\n");
    return sg_atomic_commit(&af, err);
}

/* ---- figures ---------------------------------------------------------------------------- */
/* A name inside a single-quoted gnuplot string. */
static const char *gq_(const char *s)
{
    char *t = S_("%s", s);
    for (char *p = t; *p; p++)
        if (*p == '\'' || *p == '\\') *p = '_';
    return t;
}

static void fig_add_(rep_ *r, const char *file, const char *caption)
{
    r->figs = xrealloc_(r->figs, (size_t)(r->n_figs + 1) * sizeof *r->figs);
    r->fig_caps = xrealloc_(r->fig_caps, (size_t)(r->n_figs + 1) * sizeof *r->fig_caps);
    r->figs[r->n_figs] = S_("%s", file);
    r->fig_caps[r->n_figs++] = S_("%s", caption);
}

/* A numeric TSV column by header name: values[i] at iters[i]; n rows. */
typedef struct tsv_col_ {
    long *iters;
    double *v;
    int n;
} tsv_col_;

static tsv_col_ tsv_read_(const char *path, const char *col)
{
    tsv_col_ t = {0};
    FILE *fp = fopen(path, "r");
    if (!fp) return t;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int k = -1, cap_n = 0;
    while ((len = getline(&line, &cap, fp)) > 0) {
        if (line[len - 1] != '\n') break;
        chomp_(line);
        char *save = NULL, *tok = strtok_r(line, "\t", &save);
        if (k < 0) {
            for (int i = 0; tok; i++, tok = strtok_r(NULL, "\t", &save))
                if (!strcmp(tok, col)) k = i;
            if (k < 0) break;
            continue;
        }
        long it = strtol(tok ? tok : "", NULL, 10);
        for (int i = 0; tok && i < k; i++) tok = strtok_r(NULL, "\t", &save);
        double v;
        if (!tok || !num_(tok, &v)) continue;
        if (t.n == cap_n) {
            cap_n = cap_n ? 2 * cap_n : 1024;
            t.iters = xrealloc_(t.iters, (size_t)cap_n * sizeof *t.iters);
            t.v = xrealloc_(t.v, (size_t)cap_n * sizeof *t.v);
        }
        t.iters[t.n] = it;
        t.v[t.n++] = v;
    }
    free(line);
    fclose(fp);
    return t;
}

static void tsv_free_(tsv_col_ *t)
{
    free(t->iters);
    free(t->v);
}

/* Writes the curves of method m: per protocol, the seed-mean loss averaged
 * into at most 200 bins, and the eval mIoU mean and sd per evaluation; sets
 * the gnuplot plot terms of each panel (empty: no data). Returns -1 with err
 * set when a file cannot be written. */
static int curves_data_(rep_ *r, int m, const char *fdir, char **loss_terms, char **eval_terms, sg_err *err)
{
    *loss_terms = S_("%s", "");
    *eval_terms = S_("%s", "");
    bool ok = true;
    for (int p = 0; p < r->n_p; p++) {
        /* loss: average over seeds at each iteration, then into bins */
        long max_it = 0;
        tsv_col_ *ls = sg_xcalloc((size_t)r->n_s + 1, sizeof *ls), *ev = sg_xcalloc((size_t)r->n_s + 1, sizeof *ev);
        for (int s = 0; s < r->n_s; s++) {
            char *dir = run_dir_(r, m, p, s);
            ls[s] = tsv_read_(S_("%s/log.tsv", dir), "loss");
            ev[s] = tsv_read_(S_("%s/eval.tsv", dir), "miou");
            for (int i = 0; i < ls[s].n; i++)
                if (ls[s].iters[i] > max_it) max_it = ls[s].iters[i];
        }
        if (max_it > 0) {
            const char *name = S_("data/loss_%s_%s.dat", safe_(r->methods[m]), safe_(r->protos[p].name));
            sg_atomic_file af;
            FILE *o = out_open_(&af, fdir, name, err);
            if (!o) ok = false;
            else {
                long bins = max_it < 200 ? max_it : 200;
                double *sum = sg_xcalloc((size_t)bins, sizeof *sum);
                long *cnt = sg_xcalloc((size_t)bins, sizeof *cnt);
                for (int s = 0; s < r->n_s; s++)
                    for (int i = 0; i < ls[s].n; i++) {
                        long b = (ls[s].iters[i] - 1) * bins / max_it;
                        if (b < 0 || b >= bins || !isfinite(ls[s].v[i])) continue;
                        sum[b] += ls[s].v[i];
                        cnt[b]++;
                    }
                fprintf(o, "# iteration (bin centre)\tmean loss over the seeds' iterations in the bin\n");
                for (long b = 0; b < bins; b++)
                    if (cnt[b])
                        fprintf(o, "%.1f\t%.6g\n", ((double)b + 0.5) * (double)max_it / (double)bins,
                                sum[b] / (double)cnt[b]);
                free(sum);
                free(cnt);
                if (sg_atomic_commit(&af, err)) ok = false;
                *loss_terms = S_("%s%s'%s' using 1:2 with lines lw 1.5 title '%s'", *loss_terms,
                                 **loss_terms ? ", " : "",
                                 name, gq_(r->protos[p].name));
            }
        }
        /* eval: seeds share the evaluation iterations */
        int n_ev = 0;
        for (int s = 0; s < r->n_s; s++)
            if (ev[s].n > n_ev) n_ev = ev[s].n;
        if (n_ev) {
            const char *name = S_("data/eval_%s_%s.dat", safe_(r->methods[m]), safe_(r->protos[p].name));
            sg_atomic_file af;
            FILE *o = out_open_(&af, fdir, name, err);
            if (!o) ok = false;
            else {
                fprintf(o, "# iteration\tmean mIoU\tsd (0: one seed)\tseeds\n");
                for (int i = 0; i < n_ev; i++) {
                    double x[1024];
                    int k = 0;
                    long it = -1;
                    for (int s = 0; s < r->n_s && k < 1024; s++)
                        if (i < ev[s].n) {
                            it = ev[s].iters[i];
                            x[k++] = ev[s].v[i];
                        }
                    double mean, sd;
                    mean_sd_(x, k, &mean, &sd);
                    fprintf(o, "%ld\t%.4f\t%.4f\t%d\n", it, mean, isfinite(sd) ? sd : 0.0, k);
                }
                if (sg_atomic_commit(&af, err)) ok = false;
                *eval_terms = S_("%s%s'%s' using 1:2:3 with yerrorlines title '%s'", *eval_terms,
                                 **eval_terms ? ", " : "", name, gq_(r->protos[p].name));
            }
        }
        for (int s = 0; s < r->n_s; s++) {
            tsv_free_(&ls[s]);
            tsv_free_(&ev[s]);
        }
        free(ls);
        free(ev);
    }
    return ok ? 0 : -1;
}

static int write_figures_(rep_ *r, sg_err *err)
{
    char *fdir = S_("%s/fig", r->o.out);
    if (!have_prog_("gnuplot")) {
        r->figs_missing = "gnuplot is not installed (Debian: apt-get install gnuplot-nox)";
        if (r->qual_caption) fig_add_(r, "fig/data/qualitative_tiles.png", r->qual_caption);
        return 0;
    }
    char *const probe[] = {"gnuplot", "-e", "set terminal pngcairo", NULL};
    bool cairo = spawn_(NULL, NULL, probe) == 0;
    const char *term = cairo ? "pngcairo noenhanced font 'sans,10'" : "png noenhanced";
    sg_atomic_file af;
    FILE *g = out_open_(&af, fdir, "figures.gp", err);
    if (!g) return -1;
    fprintf(g, "# Generated by sg-report; run in this directory: gnuplot figures.gp\nset termoption noenhanced\n"
               "set grid\nset key outside right top\n");

    /* mIoU vs labeled images, final mean +- sd per method */
    const char *terms = "";
    int min_nl = 1 << 30, max_nl = 0;
    for (int m = 0; m < r->n_m; m++) {
        const char *name = S_("data/miou_vs_labeled_%s.dat", safe_(r->methods[m]));
        sg_atomic_file daf;
        FILE *o = out_open_(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# labeled\tfinal mIoU mean\tsd (0: one seed)\tseeds\tprotocol\n");
        int k = 0;
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            if (!st.n || r->protos[p].n_labeled < 1) continue;
            fprintf(o, "%d\t%.4f\t%.4f\t%d\t%s\n", r->protos[p].n_labeled, st.final_mean,
                    isfinite(st.final_sd) ? st.final_sd : 0.0, st.n, gq_(r->protos[p].name));
            if (r->protos[p].n_labeled < min_nl) min_nl = r->protos[p].n_labeled;
            if (r->protos[p].n_labeled > max_nl) max_nl = r->protos[p].n_labeled;
            k++;
        }
        if (sg_atomic_commit(&daf, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (k) terms = S_("%s%s'%s' using 1:2:3 with yerrorlines lw 1.5 pt 7 title '%s'", terms, *terms ? ", " : "",
                          name, gq_(r->methods[m]));
    }
    if (*terms) {
        fprintf(g, "\nset terminal %s size 800,500\nset output 'miou_vs_labeled.png'\nset title 'mIoU vs labeled "
                   "images (%s; final iteration, mean and sd over seeds)'\nset xlabel 'labeled images'\n"
                   "set ylabel 'mIoU (%%)'\n%s\nset xrange [%g:%g]\nplot %s\nunset logscale x\nunset xrange\n",
                term, gq_(r->dataset), max_nl >= 4 * min_nl ? "set logscale x 2" : "unset logscale x",
                min_nl * 0.8, max_nl * 1.25, terms);
        fig_add_(r, "fig/miou_vs_labeled.png", S_("Final-iteration mIoU against the number of labeled images, "
                                                  "mean and standard deviation over seeds (%s).", r->dataset));
    }

    /* mIoU vs compute: training TFLOP per run (counted by the runs, the same
     * on any machine) when every finished cell recorded it, else the mean
     * wall-clock hours per run. */
    bool by_flop = true;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            if (st.n && !(st.tflop_run > 0)) by_flop = false;
        }
    terms = "";
    for (int m = 0; m < r->n_m; m++) {
        const char *name = S_("data/miou_vs_compute_%s.dat", safe_(r->methods[m]));
        sg_atomic_file daf;
        FILE *o = out_open_(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# %s\tfinal mIoU mean\tprotocol\n",
                by_flop ? "training TFLOP per run" : "run hours (mean over seeds)");
        int k = 0;
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat_(r, m, p);
            const double x = by_flop ? st.tflop_run : st.hours_mean;
            if (!st.n || !isfinite(x) || x <= 0) continue;
            fprintf(o, "%.6f\t%.4f\t%s\n", x, st.final_mean, gq_(r->protos[p].name));
            k++;
        }
        if (sg_atomic_commit(&daf, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (k)
            terms = S_("%s%s'%s' using 1:2 with points pt 7 ps 1.3 title '%s', '' using 1:2:3 with labels offset "
                       "char 1,0.6 notitle", terms, *terms ? ", " : "", name, gq_(r->methods[m]));
    }
    if (*terms) {
        fprintf(g, "\nset terminal %s size 800,500\nset output 'miou_vs_compute.png'\nset title 'mIoU vs training "
                   "compute (%s)'\nset xlabel '%s'\n"
                   "set ylabel 'final mIoU (%%)'\nset logscale x\nplot %s\nunset logscale x\n",
                term, gq_(r->dataset),
                by_flop ? "training TFLOP per run (convolutions and matrix products, forward + backward)"
                        : "wall-clock hours per run (training + evaluation)",
                terms);
        fig_add_(r, "fig/miou_vs_compute.png",
                 by_flop ? "Final mIoU against the training compute of one run (TFLOP of the convolutions and "
                           "matrix products, forward and backward, as the runs counted them; labels: protocol)."
                         : "Final mIoU against the compute of one run (wall-clock hours of training and "
                           "evaluation, mean over seeds; labels: protocol; the runs recorded no FLOP count).");
    }

    /* per-class IoU per protocol: methods side by side */
    for (int p = 0; p < r->n_p && r->n_classes; p++) {
        const char *name = S_("data/per_class_%s.dat", safe_(r->protos[p].name));
        sg_atomic_file daf;
        FILE *o = out_open_(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# class");
        terms = "";
        int col = 2;
        int *used = sg_xcalloc((size_t)r->n_m + 1, sizeof *used);
        for (int m = 0; m < r->n_m; m++) {
            for (int s = 0; s < r->n_s; s++) used[m] += cell_at_(r, m, p, s)->row >= 0;
            if (!used[m]) continue;
            fprintf(o, "\t%s", gq_(r->methods[m]));
            terms = S_("%s%s'%s' using %d%s title '%s'", terms, *terms ? ", " : "", name, col,
                       col == 2 ? ":xtic(1)" : "", gq_(r->methods[m]));
            col++;
        }
        fprintf(o, "\n");
        for (int k = 0; k < r->n_classes; k++) {
            fprintf(o, "\"%s\"", r->class_names ? r->class_names[k] : S_("%d", k));
            for (int m = 0; m < r->n_m; m++) {
                if (!used[m]) continue;
                double sum = 0;
                int n = 0;
                for (int s = 0; s < r->n_s; s++) {
                    const cell_ *c = cell_at_(r, m, p, s);
                    if (c->row >= 0 && k < r->rows[c->row].n_cls) sum += r->rows[c->row].cls[k], n++;
                }
                fprintf(o, "\t%.4f", n ? sum / n : 0.0);
            }
            fprintf(o, "\n");
        }
        free(used);
        if (sg_atomic_commit(&daf, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (!*terms) continue;
        char *png = S_("per_class_%s.png", safe_(r->protos[p].name));
        fprintf(g, "\nset terminal %s size 900,450\nset output '%s'\nset title 'per-class IoU, protocol %s (final "
                   "iteration, mean over seeds)'\nset style data histograms\nset style histogram clustered gap 1\n"
                   "set style fill solid 0.8 border -1\nset xlabel 'class'\nset ylabel 'IoU (%%)'\nset yrange [0:100]\n"
                   "set xtics rotate by -30\nplot %s\nset style data points\nunset yrange\nset xtics norotate\n",
                term, png, r->protos[p].name, terms);
        fig_add_(r, S_("fig/%s", png), S_("Per-class IoU at the final iteration, mean over seeds, protocol %s.",
                                          r->protos[p].name));
    }

    /* loss and eval curves per method */
    for (int m = 0; m < r->n_m; m++) {
        char *lt, *et;
        if (curves_data_(r, m, fdir, &lt, &et, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (!*lt && !*et) continue;
        char *png = S_("curves_%s.png", safe_(r->methods[m]));
        fprintf(g, "\nset terminal %s size 1100,420\nset output '%s'\nset multiplot layout 1,2 title '%s'\n"
                   "set xlabel 'iteration'\nset ylabel 'training loss'\nset title 'loss (mean over seeds)'\n"
                   "set logscale y\n%s\nunset logscale y\nset ylabel 'mIoU (%%)'\nset title 'evaluation mIoU "
                   "(mean, sd over seeds)'\n%s\nunset multiplot\n", term, png, r->methods[m],
                *lt ? S_("plot %s", lt) : "plot NaN notitle", *et ? S_("plot %s", et) : "plot NaN notitle");
        fig_add_(r, S_("fig/%s", png), S_("%s: training loss (first term of log.tsv, seed mean, binned) and "
                                          "evaluation mIoU (eval.tsv, mean and sd over seeds), one line per protocol.",
                                          r->methods[m]));
    }
    /* the qualitative tiles with their column titles */
    if (r->qual_caption) {
        const int top = 28, W = r->qual_w, H = r->qual_h;
        fprintf(g, "\nreset\nset terminal %s size %d,%d\nset output 'qualitative.png'\nunset border\nunset tics\n"
                   "unset key\nset lmargin at screen 0\nset rmargin at screen 1\nset bmargin at screen 0\n"
                   "set tmargin at screen %.6f\nset xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\n",
                term, W, H + top, (double)H / (H + top), W - 1, H - 1);
        for (int c = 0; c < r->qual_cols; c++)
            fprintf(g, "set label %d '%s' at screen %.6f,%.6f center\n", c + 1, gq_(r->qual_titles[c]),
                    (r->qual_gap * (c + 1) + r->qual_tile * (c + 0.5)) / W, 1 - 0.5 * top / (H + top));
        fprintf(g, "plot 'data/qualitative_tiles.png' binary filetype=png with rgbimage\n");
        fig_add_(r, "fig/qualitative.png", r->qual_caption);
    }
    if (sg_atomic_commit(&af, err)) return -1;
    int rc = spawn_(fdir, S_("%s/gnuplot.log", fdir), (char *const[]){"gnuplot", "figures.gp", NULL});
    if (rc != 0) {
        r->figs_missing = S_("gnuplot failed (exit %d): see %s/gnuplot.log", rc, fdir);
        r->n_figs = 0;
        return 0;
    }
    for (int i = 0; i < r->n_figs; i++)
        if (!is_file_(S_("%s/%s", r->o.out, r->figs[i]))) {
            r->figs_missing = S_("gnuplot did not write %s: see %s/gnuplot.log", r->figs[i], fdir);
            r->n_figs = 0;
        }
    return 0;
}

/* ---- the qualitative figure ------------------------------------------------------------- */
/* Nearest-neighbour copy of src (c = 1 with palette, or c = 3) into a t x t
 * tile of dst at (x0, y0), aspect kept, centred on the background. */
static void blit_(sg_image *dst, int x0, int y0, int t, const sg_image *src, const uint8_t *palette)
{
    double sc = fmin((double)t / src->w, (double)t / src->h);
    int w = (int)(src->w * sc), h = (int)(src->h * sc);
    int ox = x0 + (t - w) / 2, oy = y0 + (t - h) / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = (int)(x / sc), sy = (int)(y / sc);
            if (sx >= src->w) sx = src->w - 1;
            if (sy >= src->h) sy = src->h - 1;
            const uint8_t *s = src->data + ((size_t)sy * (size_t)src->w + (size_t)sx) * (size_t)src->c;
            const uint8_t *rgb = src->c == 1 ? palette + 3 * s[0] : s;
            memcpy(dst->data + ((size_t)(oy + y) * (size_t)dst->w + (size_t)(ox + x)) * 3, rgb, 3);
        }
}

static int open_dataset_(sg_dataset *ds, const char *kind, const char *root, const char *list, int k, int ignore,
                         sg_err *err)
{
    if (!strcmp(kind, "voc")) return sg_dataset_open_voc(ds, root, list, err);
    if (!strcmp(kind, "cityscapes")) return sg_dataset_open_cityscapes(ds, root, list, err);
    uint8_t palette[768];
    sg_voc_palette(palette); /* as sg-eval colours list datasets */
    sg_list_dataset_config lc = {.root = root, .lists = (const char *const[]){list}, .n_lists = 1,
                                 .n_classes = k, .ignore_index = ignore, .palette = palette};
    return sg_dataset_open_list(ds, &lc, err);
}

/* The weights a method evaluates: metadata "eval_weights" when the driver
 * writes it, else the teacher ("ema") when the checkpoint holds one (the
 * methods with a teacher evaluate it), else "model". */
static const char *eval_weights_(const char *ckpt)
{
    sg_st_file f;
    sg_err err;
    if (sg_st_open(&f, ckpt, &err)) return "model";
    const char *w = sg_st_meta(&f, "eval_weights");
    const char *res = "model";
    if (w) res = S_("%s", w);
    else
        for (int i = 0; i < f.n_tensors; i++)
            if (!strncmp(f.tensors[i].name, "ema/", 4)) res = "ema";
    sg_st_close(&f);
    return res;
}

/* The dataset of the runs, from the first readable config.resolved. */
typedef struct qual_cfg_ {
    const char *kind, *root, *val, *mode;
    long k, ignore, crop, stride;
} qual_cfg_;

static bool data_cfg_(rep_ *r, qual_cfg_ *q)
{
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                sg_config *c = load_config_(run_dir_(r, m, p, s));
                if (!c) continue;
                sg_err err;
                const char *kind, *root, *val, *mode;
                bool ok = !sg_config_string(c, "data.kind", "list", &kind, &err) &&
                          !sg_config_string(c, "data.root", NULL, &root, &err) &&
                          !sg_config_string(c, "data.val", NULL, &val, &err) &&
                          !sg_config_string(c, "eval.mode", "whole", &mode, &err) &&
                          !sg_config_int(c, "data.n_classes", 0, 0, 256, &q->k, &err) &&
                          !sg_config_int(c, "data.ignore_index", 255, 0, 255, &q->ignore, &err) &&
                          !sg_config_int(c, "eval.crop", 0, 0, 1 << 20, &q->crop, &err) &&
                          !sg_config_int(c, "eval.stride", 0, 0, 1 << 20, &q->stride, &err);
                if (ok) {
                    q->kind = S_("%s", kind);
                    q->root = root[0] == '/' ? S_("%s", root) : S_("%s/%s", r->o.base, root);
                    q->val = val[0] == '/' ? S_("%s", val) : S_("%s/%s", r->o.base, val);
                    q->mode = S_("%s", mode);
                }
                sg_config_free(c);
                if (ok) return true;
            }
    return false;
}

/* The class names of that dataset, for the per-class figure; without them
 * the figure shows class indices. */
static void class_names_(rep_ *r)
{
    qual_cfg_ q;
    if (!data_cfg_(r, &q)) return;
    sg_dataset ds;
    sg_err err;
    if (open_dataset_(&ds, q.kind, q.root, q.val, (int)q.k, (int)q.ignore, &err)) return;
    if (ds.n_classes >= r->n_classes && ds.class_names) {
        r->class_names = sg_xcalloc((size_t)r->n_classes + 1, sizeof *r->class_names);
        for (int k = 0; k < r->n_classes; k++) r->class_names[k] = S_("%s", ds.class_names[k]);
    }
    sg_dataset_free(&ds);
}

static int write_qualitative_(rep_ *r, const char *sg_eval, sg_err *err)
{
    if (r->o.qualitative <= 0 || !r->n_m || !r->n_p || !r->n_s) return 0;
    qual_cfg_ q;
    if (!data_cfg_(r, &q)) {
        note_(r, "qualitative figure not made: no run directory has a readable config.resolved");
        return 0;
    }
    if (!have_prog_(sg_eval)) {
        note_(r, "qualitative figure not made: %s not found (pass --sg-eval)", sg_eval);
        return 0;
    }
    /* The smallest protocol, where the methods differ most, and the first seed. */
    int p = 0, s = 0;
    char *qdir = S_("%s/qual", r->o.out);
    if (sg_mkdirs(qdir, err)) return -1;
    FILE *in = fopen(q.val, "r");
    if (!in) {
        note_(r, "qualitative figure not made: %s: %s", q.val, strerror(errno));
        return 0;
    }
    sg_atomic_file af;
    FILE *o = out_open_(&af, qdir, "val.txt", err);
    if (!o) {
        fclose(in);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (n < r->o.qualitative && getline(&line, &cap, in) > 0) {
        const char *t = line;
        while (*t == ' ' || *t == '\t') t++;
        if (*t == '#' || *t == '\n' || !*t) continue;
        fputs(line, o);
        n++;
    }
    free(line);
    fclose(in);
    if (sg_atomic_commit(&af, err)) return -1;
    char *list = S_("%s/val.txt", qdir);
    sg_dataset ds;
    if (open_dataset_(&ds, q.kind, q.root, list, (int)q.k, (int)q.ignore, err)) {
        note_(r, "qualitative figure not made: %s", err->msg);
        return 0;
    }
    if (ds.n == 0) {
        sg_dataset_free(&ds);
        note_(r, "qualitative figure not made: %s holds no samples", q.val);
        return 0;
    }
    const int T = 160, G = 4, cols = 2 + r->n_m;
    r->qual_titles = sg_xcalloc((size_t)cols, sizeof *r->qual_titles);
    r->qual_titles[0] = "image";
    r->qual_titles[1] = "ground truth";
    sg_image fig;
    sg_image_alloc(&fig, ds.n * T + (ds.n + 1) * G, cols * T + (cols + 1) * G, 3);
    memset(fig.data, 255, (size_t)fig.h * (size_t)fig.w * 3);
    const char *caption = S_("Protocol %s, seed %llu, the first %d images of %s. Columns: image | ground truth",
                             r->protos[p].name, r->seeds[s], ds.n, q.val);
    int rc = 0;
    for (int i = 0; i < ds.n && !rc; i++) {
        sg_image img = {0}, mask = {0};
        if (sg_dataset_load(&ds, i, &img, &mask, err)) {
            rc = -1;
            break;
        }
        blit_(&fig, G, G + i * (T + G), T, &img, ds.palette);
        blit_(&fig, 2 * G + T, G + i * (T + G), T, &mask, ds.palette);
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    for (int m = 0; m < r->n_m && !rc; m++) {
        char *ckpt = S_("%s/ckpt/last.safetensors", run_dir_(r, m, p, s));
        const char *why = NULL;
        if (cell_at_(r, m, p, s)->row < 0) {
            why = "the run has not finished";
        } else if (!is_file_(ckpt)) {
            why = "no checkpoint";
        } else {
            char *pred = S_("%s/%s", qdir, safe_(r->methods[m]));
            const char *w = eval_weights_(ckpt);
            char *argv[32];
            int a = 0;
            argv[a++] = (char *)sg_eval;
            argv[a++] = "--checkpoint", argv[a++] = ckpt;
            argv[a++] = "--dataset", argv[a++] = (char *)q.kind;
            argv[a++] = "--root", argv[a++] = (char *)q.root;
            argv[a++] = "--list", argv[a++] = list;
            argv[a++] = "--classes", argv[a++] = S_("%ld", q.k);
            argv[a++] = "--ignore", argv[a++] = S_("%ld", q.ignore);
            argv[a++] = "--weights", argv[a++] = (char *)w;
            argv[a++] = "--mode", argv[a++] = (char *)q.mode;
            if (q.crop) argv[a++] = "--crop", argv[a++] = S_("%ld", q.crop);
            if (q.stride) argv[a++] = "--stride", argv[a++] = S_("%ld", q.stride);
            argv[a++] = "--pred-dir", argv[a++] = pred;
            argv[a++] = "--threads", argv[a++] = "1";
            argv[a] = NULL;
            int e = spawn_(NULL, S_("%s.log", pred), argv);
            if (e) why = S_("sg-eval failed (exit %d, see %s.log)", e, pred);
            for (int i = 0; i < ds.n && !why; i++) {
                char *base = S_("%s", ds.samples[i].image), *name = strrchr(base, '/');
                name = name ? name + 1 : base;
                char *dot = strrchr(name, '.');
                if (dot) *dot = 0;
                sg_image pi = {0};
                sg_err e2;
                if (sg_image_read(S_("%s/%s.png", pred, name), &pi, &e2)) {
                    why = S_("%s", e2.msg);
                    break;
                }
                blit_(&fig, (3 + m) * G + (2 + m) * T, G + i * (T + G), T, &pi, ds.palette);
                sg_image_free(&pi);
            }
        }
        caption = S_("%s | %s%s", caption, r->methods[m], why ? " (grey: missing)" : "");
        r->qual_titles[2 + m] = why ? S_("%s (missing)", r->methods[m]) : r->methods[m];
        for (int i = 0; i < ds.n && why; i++)
            for (int y = 0; y < T; y++) {
                size_t row = (size_t)(G + i * (T + G) + y), col = (size_t)((3 + m) * G + (2 + m) * T);
                memset(fig.data + (row * (size_t)fig.w + col) * 3, 192, (size_t)T * 3); /* grey: missing */
            }
        if (why) note_(r, "qualitative figure: %s / %s / seed %llu shown grey: %s", r->methods[m],
                       r->protos[p].name, r->seeds[s], why);
    }
    if (!rc) rc = sg_png_write(S_("%s/fig/data/qualitative_tiles.png", r->o.out), &fig, NULL, err);
    r->qual_cols = cols;
    r->qual_w = fig.w;
    r->qual_h = fig.h;
    r->qual_tile = T;
    r->qual_gap = G;
    sg_image_free(&fig);
    sg_dataset_free(&ds);
    if (rc) return -1;
    r->qual_caption = S_("%s; predictions of each method's final checkpoint (sg-eval), in the dataset palette.",
                         caption);
    return 0;
}

/* ---- pdflatex ---------------------------------------------------------------------------- */
static int build_pdf_(rep_ *r, sg_err *err)
{
    if (r->o.pdf < 0) return 0;
    if (!have_prog_("pdflatex")) {
        fprintf(stderr, "sg-report: pdflatex not found: report.pdf not built (the CSV, Markdown and PNG outputs "
                        "are); install texlive-latex-base texlive-latex-recommended texlive-fonts-recommended "
                        "lmodern\n");
        return r->o.pdf > 0 ? sg_err_set(err, "--pdf: pdflatex is not installed") : 0;
    }
    char *const argv[] = {"pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-jobname=report.tmp",
                          "report.tex", NULL};
    char *log = S_("%s/report.tmp.log", r->o.out);
    /* Twice: the second pass fills the table of contents and longtable widths. */
    for (int pass = 0; pass < 2; pass++) {
        int rc = spawn_(r->o.out, S_("%s/pdflatex.out", r->o.out), argv);
        if (rc) return sg_err_set(err, "pdflatex failed (exit %d): see %s", rc, log);
    }
    if (rename(S_("%s/report.tmp.pdf", r->o.out), S_("%s/report.pdf", r->o.out)))
        return sg_err_set(err, "%s/report.pdf: %s", r->o.out, strerror(errno));
    static const char *const junk[] = {"aux", "toc", "out", "log"};
    for (int i = 0; i < 4; i++) unlink(S_("%s/report.tmp.%s", r->o.out, junk[i]));
    unlink(S_("%s/pdflatex.out", r->o.out));
    return 0;
}

/* ---- main ------------------------------------------------------------------------------- */
static int usage_(const char *why)
{
    fprintf(stderr,
            "sg-report: %s\nusage: sg-report --results CSV --runs DIR --out DIR [--published CSV]\n"
            "                 [--experiments DIR] [--seeds FILE] [--base DIR] [--sg-eval PATH]\n"
            "                 [--methods A,B] [--protocols P,Q] [--qualitative N] [--dataset NAME]\n"
            "                 [--pdf | --no-pdf]\n",
            why);
    return 2;
}

static int run_(rep_ *r, const char *sg_eval, sg_err *err)
{
    if (read_results_(r, err) || read_published_(r, err)) return -1;
    if (!r->dataset) r->dataset = r->o.dataset;
    if (!r->dataset) {
        const char *b = strrchr(r->o.out, '/');
        r->dataset = S_("%s", b && b[1] ? b + 1 : r->o.out);
    }
    if (r->o.dataset && strcmp(r->o.dataset, r->dataset))
        return sg_err_set(err, "%s: dataset '%s', but --dataset %s", r->o.results, r->dataset, r->o.dataset);
    if (build_grid_(r, err)) return -1;
    if (sg_mkdirs(S_("%s/fig/data", r->o.out), err))
        return -1;
    class_names_(r);
    if (write_qualitative_(r, sg_eval, err) || write_figures_(r, err)) return -1;
    if (write_latex_(r, err) || write_summary_(r, err) || write_markdown_(r, err)) return -1;
    if (r->figs_missing) fprintf(stderr, "sg-report: figures not produced: %s\n", r->figs_missing);
    int done, n = n_expected_(r, &done);
    if (done < n || r->n_notes)
        fprintf(stderr, "sg-report: %d of %d runs finished; %d missing or failed, %d note%s (listed in results.md)\n",
                done, n, n - done, r->n_notes, r->n_notes == 1 ? "" : "s");
    return build_pdf_(r, err);
}

int main(int argc, char **argv)
{
    rep_ r = {.o = {.base = ".", .qualitative = 4, .pdf = 0, .argc = argc, .argv = argv}};
    const char *sg_eval = NULL;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--pdf")) {
            r.o.pdf = 1;
            continue;
        }
        if (!strcmp(k, "--no-pdf")) {
            r.o.pdf = -1;
            continue;
        }
        if (i + 1 >= argc) return usage_(S_("%s takes a value", k));
        const char *v = argv[++i];
        if (!strcmp(k, "--results")) r.o.results = v;
        else if (!strcmp(k, "--runs")) r.o.runs = v;
        else if (!strcmp(k, "--out")) r.o.out = v;
        else if (!strcmp(k, "--published")) r.o.published = v;
        else if (!strcmp(k, "--experiments")) r.o.experiments = v;
        else if (!strcmp(k, "--seeds")) r.o.seeds = v;
        else if (!strcmp(k, "--base")) r.o.base = v;
        else if (!strcmp(k, "--sg-eval")) sg_eval = v;
        else if (!strcmp(k, "--dataset")) r.o.dataset = v;
        else if (!strcmp(k, "--methods")) r.o.methods = v;
        else if (!strcmp(k, "--protocols")) r.o.protocols = v;
        else if (!strcmp(k, "--qualitative")) {
            char *end;
            long q = strtol(v, &end, 10);
            if (end == v || *end || q < 0 || q > 64) {
                pool_free_();
                return usage_("--qualitative takes 0..64 images");
            }
            r.o.qualitative = (int)q;
        } else {
            int rc = usage_(S_("unknown option %s", k));
            pool_free_();
            return rc;
        }
    }
    if (!r.o.results || !r.o.runs || !r.o.out) {
        pool_free_();
        return usage_("--results, --runs and --out are required");
    }
    if (!r.o.experiments) r.o.experiments = "experiments";
    if (!sg_eval) {
        /* the sg-eval built beside this program, else the one on PATH */
        const char *slash = strrchr(argv[0], '/');
        char *beside = slash ? S_("%.*s/sg-eval", (int)(slash - argv[0]), argv[0]) : NULL;
        sg_eval = beside && access(beside, X_OK) == 0 ? beside : "sg-eval";
    }
    sg_err err;
    int rc = run_(&r, sg_eval, &err);
    if (rc) fprintf(stderr, "sg-report: %s\n", err.msg);
    free(r.rows);
    free(r.methods);
    free(r.protos);
    free(r.seeds);
    free(r.cells);
    free(r.notes);
    free(r.pubs);
    free(r.class_names);
    free(r.figs);
    free(r.fig_caps);
    free(r.qual_titles);
    pool_free_();
    return rc ? 1 : 0;
}
