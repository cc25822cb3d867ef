/*
 * report.h: the private types and the functions shared between the parts of
 * sg-report (tools/sg-report.c and the files of tools/report/); not part of the
 * library API. One rep_ holds a whole report: the options, the results.csv
 * rows, the expected grid of method x protocol x seed cells, the published
 * numbers and the figures produced. Strings returned by fmt() and the other
 * helpers live until exit (util.c). Covered by tests/report.sh.
 */
#ifndef SEMISEG_TOOLS_REPORT_H
#define SEMISEG_TOOLS_REPORT_H

#include "semiseg.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define NAME_LEN 64
#define MAX_CLASSES 256

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

/* One qualitative figure (qualitative.c): tiles of image | ground truth |
 * each method's prediction, which gnuplot titles into fig/<png>. */
typedef struct qual_ {
    const char *png, *tiles, *caption; /* fig/<png>, fig/<tiles> */
    char **titles;                     /* (cols) column titles */
    int cols, w, h, tile, gap;
} qual_;

typedef struct opts_ {
    const char *results, *runs, *out, *published, *experiments, *seeds, *base, *dataset;
    const char *methods, *protocols; /* comma-separated lists of expected ones, or NULL */
    /* --only P=A,B: at protocol P only methods A, B belong to the grid (a
     * sparse grid: make reproduce-demo runs every method at the smallest
     * protocol only); up to 16. */
    const char *only[16];
    int n_only;
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
    /* Every row carries test values (data.test): final and best are then the
     * final and best-on-val weights evaluated on the held-out test set. */
    bool on_test;
    /* figures actually produced, in order; fig_heads[i]: the heading of a
     * subsection that figure i opens (it runs to the next heading), or NULL */
    char **figs, **fig_caps, **fig_heads;
    int n_figs;
    const char *figs_missing; /* why figures are absent, or NULL */
    /* the qualitative figures: the smallest protocol's, then the largest's */
    qual_ qual[2];
    int n_qual;
} rep_;

/* One method x protocol over its finished seeds (stats.c). */
typedef struct stat_ {
    int n, n_missing;
    double final_mean, final_sd, best_mean, best_sd;
    double ips, gflop, hours_total, hours_mean;
    double cpu_hours_total;   /* NAN unless every finished seed recorded cpu_s */
    double tflop_run;         /* training compute of one run: gflop x iterations / 1000 */
    long iterations;
} stat_;

/* One method minus supervised on one protocol, paired by seed (stats.c). */
typedef struct diff_ {
    int n;
    double mean, lo, hi, best_mean, best_lo, best_hi;
    char seeds[256];
} diff_;

/* util.c: strings, files and programs */
void *xrealloc(void *p, size_t n);
char *pool_keep(char *s);
void *pool_calloc(size_t n, size_t size); /* zeroed, kept in the pool until exit */
char *fmt(const char *format, ...) SG_PRINTF(1, 2);
char *vfmt(const char *format, va_list ap);
void pool_free(void);
void copy_str(char *dst, size_t len, const char *src);
char *safe_name(const char *s);
bool is_file(const char *path);
bool is_dir(const char *path);
bool have_prog(const char *name);
int spawn(const char *cwd, const char *log, char *const argv[]);
void chomp(char *s);
bool parse_num(const char *s, double *out);
FILE *out_open(sg_atomic_file *af, const char *dir, const char *name, sg_err *err);

/* data.c: results.csv and the published numbers */
int read_results(rep_ *r, sg_err *err);
int read_published(rep_ *r, sg_err *err);
const pub_ *pub_find(const rep_ *r, const char *method, const char *protocol);
int pub_sources(const rep_ *r, const pub_ **out, int max);
int pub_source_index(const rep_ *r, const char *src);

/* grid.c: the expected runs and their directories */
cell_ *cell_at(rep_ *r, int m, int p, int s);
void note(rep_ *r, const char *format, ...) SG_PRINTF(2, 3);
int find_method(const rep_ *r, const char *m);
/* The experiments/ folder of method m (its README): m itself, or <b> for a
 * method named <b>-scratch (b's trainer without the pretrained backbone). */
const char *method_dir(const char *m);
char *run_dir(const rep_ *r, int m, int p, int s);
sg_config *load_config(const char *dir);
int build_grid(rep_ *r, sg_err *err);
const char *missing_why(const cell_ *c);
int n_expected(const rep_ *r, int *n_done);
/* Whether method m at protocol p belongs to the grid: always, unless an
 * --only names p without m and the cell has neither a row nor a run
 * directory (what ran is always reported). */
bool in_grid(const rep_ *r, int m, int p);

/* stats.c */
void mean_sd(const double *x, int n, double *mean, double *sd);
stat_ cell_stat(rep_ *r, int m, int p);
diff_ cell_diff(rep_ *r, int m, int sup, int p);

/* escape.c: LaTeX text */
void tex_n(FILE *o, const char *s, size_t n, bool code);
void tex(FILE *o, const char *s);
void tex_cells(FILE *o, int n, ...);
void tex_path(FILE *o, const char *s);
void verb_line(FILE *o, const char *s);

/* md2tex.c */
int md_to_tex(FILE *o, const char *path, const char *method, sg_err *err);

/* markdown.c: summary.csv, diff.csv, results.md, table.md */
const char *labeled_text(const proto_ *p);
const char *pm_text(double mean, double sd, int n);
const char *diff_text(double mean, double lo, double hi, int n);
int write_summary(rep_ *r, sg_err *err);
int write_markdown(rep_ *r, sg_err *err);

/* latex.c: tables.tex, report.tex, report.pdf */
int write_latex(rep_ *r, sg_err *err);
int build_pdf(rep_ *r, sg_err *err);

/* figures.c */
int write_figures(rep_ *r, sg_err *err);

/* qualitative.c */
void load_class_names(rep_ *r);
int write_qualitative(rep_ *r, const char *sg_eval, sg_err *err);

#endif
