/*
 * figures.c: the gnuplot figures in fig/: mIoU vs labeled images, the gain
 * over supervised vs labeled images, mIoU vs training compute, per-class IoU,
 * loss and evaluation curves per method, the effect of the pretrained
 * backbone (pretraining.png: supervised against supervised-scratch, the same
 * trainer without it) and the titles of the qualitative figures; fig/data/
 * holds the plotted numbers and fig/figures.gp the script.
 *
 * The gain figure leaves out the <m>-scratch methods: such a baseline runs
 * at the smallest protocol only, so it would be a lone point well below zero
 * that stretches the axis over the semi-supervised methods' gains, and it is
 * no semi-supervised method; its paired difference stays in diff.csv and the
 * tables, and pretraining.png shows it. Covered by tests/report.sh.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- figures ---------------------------------------------------------------------------- */
/* A name inside a single-quoted gnuplot string. */
static const char *gq_(const char *s)
{
    char *t = fmt("%s", s);
    for (char *p = t; *p; p++)
        if (*p == '\'' || *p == '\\') *p = '_';
    return t;
}

/* A figure, opening a subsection titled heading unless that is NULL. */
static void fig_add_headed_(rep_ *r, const char *heading, const char *file, const char *caption)
{
    r->figs = xrealloc(r->figs, (size_t)(r->n_figs + 1) * sizeof *r->figs);
    r->fig_caps = xrealloc(r->fig_caps, (size_t)(r->n_figs + 1) * sizeof *r->fig_caps);
    r->fig_heads = xrealloc(r->fig_heads, (size_t)(r->n_figs + 1) * sizeof *r->fig_heads);
    r->figs[r->n_figs] = fmt("%s", file);
    r->fig_heads[r->n_figs] = heading ? fmt("%s", heading) : NULL;
    r->fig_caps[r->n_figs++] = fmt("%s", caption);
}

static void fig_add_(rep_ *r, const char *file, const char *caption)
{
    fig_add_headed_(r, NULL, file, caption);
}

/* Methods share each protocol's x in the label-count figures, so each point
 * is drawn at a small offset from it: the j-th of the n methods with a point
 * at that protocol (in method order) at its count times
 * 2^((j - (n - 1) / 2) SG_FIG_SPREAD), centred, the same on a log or a linear
 * axis; a method alone at a protocol sits on its count. The data files keep
 * the count and add the drawn x as their last column. x[m n_p + p] for the
 * points drawn[m n_p + p] marks (0 elsewhere), in the pool. */
#define SG_FIG_SPREAD 0.035
static double *dodged_x_(const rep_ *r, const bool *drawn)
{
    double *x = pool_calloc((size_t)r->n_m * r->n_p, sizeof *x);
    for (int p = 0; p < r->n_p; p++) {
        int n = 0;
        for (int m = 0; m < r->n_m; m++) n += drawn[m * r->n_p + p];
        for (int m = 0, j = 0; m < r->n_m; m++)
            if (drawn[m * r->n_p + p])
                x[m * r->n_p + p] = r->protos[p].n_labeled * exp2((j++ - (n - 1) / 2.0) * SG_FIG_SPREAD);
    }
    return x;
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
        chomp(line);
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
        if (!tok || !parse_num(tok, &v)) continue;
        if (t.n == cap_n) {
            cap_n = cap_n ? 2 * cap_n : 1024;
            t.iters = xrealloc(t.iters, (size_t)cap_n * sizeof *t.iters);
            t.v = xrealloc(t.v, (size_t)cap_n * sizeof *t.v);
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

static int cmp_long_(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* The row of t at iteration it (the last one: a resumed run evaluates
 * again), or -1. */
static int tsv_at_(const tsv_col_ *t, long it)
{
    for (int i = t->n - 1; i >= 0; i--)
        if (t->iters[i] == it) return i;
    return -1;
}

/* The evaluation mIoU of method m at protocol p: at each iteration any seed
 * evaluated, the mean and sd over the seeds that did (a seed that lost an
 * evaluation leaves the others' mean at that iteration alone). */
typedef struct curve_ {
    long *iters;
    double *mean, *sd;
    int *seeds, n;
} curve_;

static curve_ eval_curve_(rep_ *r, int m, int p)
{
    curve_ c = {0};
    tsv_col_ *ev = sg_xcalloc((size_t)r->n_s + 1, sizeof *ev);
    long *all = NULL;
    int n_all = 0;
    for (int s = 0; s < r->n_s; s++) {
        ev[s] = tsv_read_(fmt("%s/eval.tsv", run_dir(r, m, p, s)), "miou");
        all = xrealloc(all, (size_t)(n_all + ev[s].n) * sizeof *all);
        for (int i = 0; i < ev[s].n; i++) all[n_all++] = ev[s].iters[i];
    }
    qsort(all, (size_t)n_all, sizeof *all, cmp_long_);
    c.iters = sg_xcalloc((size_t)n_all + 1, sizeof *c.iters);
    c.mean = sg_xcalloc((size_t)n_all + 1, sizeof *c.mean);
    c.sd = sg_xcalloc((size_t)n_all + 1, sizeof *c.sd);
    c.seeds = sg_xcalloc((size_t)n_all + 1, sizeof *c.seeds);
    double *x = sg_xcalloc((size_t)r->n_s + 1, sizeof *x);
    for (int i = 0; i < n_all; i++) {
        if (i && all[i] == all[i - 1]) continue;
        int k = 0;
        for (int s = 0; s < r->n_s; s++) {
            int j = tsv_at_(&ev[s], all[i]);
            if (j >= 0) x[k++] = ev[s].v[j];
        }
        double sd;
        mean_sd(x, k, &c.mean[c.n], &sd);
        c.sd[c.n] = isfinite(sd) ? sd : 0.0;
        c.seeds[c.n] = k;
        c.iters[c.n++] = all[i];
    }
    for (int s = 0; s < r->n_s; s++) tsv_free_(&ev[s]);
    free(ev);
    free(all);
    free(x);
    return c;
}

static void curve_free_(curve_ *c)
{
    free(c->iters);
    free(c->mean);
    free(c->sd);
    free(c->seeds);
}

/* Writes c to fdir/name (gnuplot columns 1:2:3: iteration, mean, sd). */
static int curve_write_(const curve_ *c, const char *fdir, const char *name, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open(&af, fdir, name, err);
    if (!o) return -1;
    fprintf(o, "# iteration\tmean mIoU\tsd (0: one seed)\tseeds\n");
    for (int i = 0; i < c->n; i++) fprintf(o, "%ld\t%.4f\t%.4f\t%d\n", c->iters[i], c->mean[i], c->sd[i], c->seeds[i]);
    return sg_atomic_commit(&af, err);
}

/* Writes the curves of method m: per protocol, the seed-mean loss averaged
 * into at most 200 bins, and the eval mIoU mean and sd per evaluation; sets
 * the gnuplot plot terms of each panel (empty: no data). Returns -1 with err
 * set when a file cannot be written. */
static int curves_data_(rep_ *r, int m, const char *fdir, char **loss_terms, char **eval_terms, sg_err *err)
{
    *loss_terms = fmt("%s", "");
    *eval_terms = fmt("%s", "");
    bool ok = true;
    for (int p = 0; p < r->n_p; p++) {
        /* loss: average over seeds at each iteration, then into bins */
        long max_it = 0;
        tsv_col_ *ls = sg_xcalloc((size_t)r->n_s + 1, sizeof *ls);
        for (int s = 0; s < r->n_s; s++) {
            ls[s] = tsv_read_(fmt("%s/log.tsv", run_dir(r, m, p, s)), "loss");
            for (int i = 0; i < ls[s].n; i++)
                if (ls[s].iters[i] > max_it) max_it = ls[s].iters[i];
        }
        if (max_it > 0) {
            const char *name = fmt("data/loss_%s_%s.dat", safe_name(r->methods[m]), safe_name(r->protos[p].name));
            sg_atomic_file af;
            FILE *o = out_open(&af, fdir, name, err);
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
                *loss_terms = fmt("%s%s'%s' using 1:2 with lines lw 1.5 title '%s'", *loss_terms,
                                 **loss_terms ? ", " : "",
                                 name, gq_(r->protos[p].name));
            }
        }
        for (int s = 0; s < r->n_s; s++) tsv_free_(&ls[s]);
        free(ls);
        curve_ ev = eval_curve_(r, m, p);
        if (ev.n) {
            const char *name = fmt("data/eval_%s_%s.dat", safe_name(r->methods[m]), safe_name(r->protos[p].name));
            if (curve_write_(&ev, fdir, name, err)) ok = false;
            else
                *eval_terms = fmt("%s%s'%s' using 1:2:3 with yerrorlines title '%s'", *eval_terms,
                                 **eval_terms ? ", " : "", name, gq_(r->protos[p].name));
        }
        curve_free_(&ev);
    }
    return ok ? 0 : -1;
}

/* fig/pretraining.png: supervised with and without the pretrained backbone
 * (supervised-scratch), at each protocol where both have evaluation curves
 * (one panel each): the seed-mean val mIoU during training, each line keyed
 * with the final mIoU the tables report. Returns -1 with err set when a file
 * cannot be written. */
static int pretraining_(rep_ *r, FILE *g, const char *fdir, const char *term, sg_err *err)
{
    const int ms[2] = {find_method(r, "supervised"), find_method(r, "supervised-scratch")};
    const char *panels = "", *protos = "";
    int n_panels = 0;
    for (int p = 0; p < r->n_p && ms[0] >= 0 && ms[1] >= 0; p++) {
        curve_ c[2] = {eval_curve_(r, ms[0], p), eval_curve_(r, ms[1], p)};
        const char *terms = "";
        for (int i = 0; i < 2 && c[0].n && c[1].n; i++) {
            const char *name = fmt("data/pretraining_%s_%s.dat", safe_name(r->protos[p].name),
                                   safe_name(r->methods[ms[i]]));
            if (curve_write_(&c[i], fdir, name, err)) {
                curve_free_(&c[0]);
                curve_free_(&c[1]);
                return -1;
            }
            stat_ st = cell_stat(r, ms[i], p);
            terms = fmt("%s%s'%s' using 1:2 with linespoints lt %d title '%s: final %s mIoU %s%s'", terms,
                        *terms ? ", " : "", name, ms[i] + 1, gq_(r->methods[ms[i]]), r->on_test ? "test" : "val",
                        pm_text(st.final_mean, st.final_sd, st.n), st.n > 1 ? fmt(" (%d seeds)", st.n) : "");
        }
        curve_free_(&c[0]);
        curve_free_(&c[1]);
        if (!*terms) continue;
        panels = fmt("%sset title 'protocol %s (%s labeled)'\nplot %s\n", panels, gq_(r->protos[p].name),
                     labeled_text(&r->protos[p]), terms);
        protos = fmt("%s%s%s", protos, *protos ? ", " : "", r->protos[p].name);
        n_panels++;
    }
    if (!n_panels) return 0;
    fprintf(g, "\nset terminal %s size %d,480\nset output 'pretraining.png'\nset multiplot layout 1,%d title "
               "'supervised with and without the pretrained backbone (%s)'\nset key below\n"
               "set xlabel 'iteration'\nset ylabel 'val mIoU (%%), mean over seeds'\n%sunset multiplot\n"
               "set key outside right top\n",
            term, 300 + 500 * n_panels, n_panels, gq_(r->dataset), panels);
    fig_add_headed_(r, "Effect of the pretrained backbone", "fig/pretraining.png",
                    fmt("What the pretrained backbone brings: the supervised trainer with it (supervised) and "
                        "without it (supervised-scratch), validation mIoU during training (eval.tsv, mean over the "
                        "seeds that evaluated at each iteration), protocol %s; the key gives each one's final %s "
                        "mIoU, mean and standard deviation over seeds (Table 1).",
                        protos, r->on_test ? "test" : "val"));
    return 0;
}

int write_figures(rep_ *r, sg_err *err)
{
    char *fdir = fmt("%s/fig", r->o.out);
    if (!have_prog("gnuplot")) {
        r->figs_missing = "gnuplot is not installed (Debian: apt-get install gnuplot-nox)";
        for (int i = 0; i < r->n_qual; i++)
            fig_add_headed_(r, i ? NULL : "Predictions", fmt("fig/%s", r->qual[i].tiles), r->qual[i].caption);
        return 0;
    }
    char *const probe[] = {"gnuplot", "-e", "set terminal pngcairo", NULL};
    bool cairo = spawn(NULL, NULL, probe) == 0;
    const char *term = cairo ? "pngcairo noenhanced font 'sans,10'" : "png noenhanced";
    sg_atomic_file af;
    FILE *g = out_open(&af, fdir, "figures.gp", err);
    if (!g) return -1;
    fprintf(g, "# Generated by sg-report; run in this directory: gnuplot figures.gp\nset termoption noenhanced\n"
               "set encoding utf8\nset grid\nset key outside right top\n");
    /* One line type per method (lt = its index + 1), told apart in print
     * and by colour-blind readers: the Okabe-Ito colours without the
     * yellow (invisible on white), each with its own dash pattern and
     * point shape; eleven, for the ten known methods and supervised-scratch. */
    static const char *const styles[11] = {
        "lc rgb '#000000' dt 1 pt 7",          "lc rgb '#E69F00' dt 2 pt 5",
        "lc rgb '#0072B2' dt 3 pt 9",          "lc rgb '#009E73' dt 4 pt 11",
        "lc rgb '#D55E00' dt 5 pt 13",         "lc rgb '#CC79A7' dt (8,4,2,4) pt 4",
        "lc rgb '#56B4E9' dt (12,4) pt 6",     "lc rgb '#999999' dt (2,2) pt 8",
        "lc rgb '#7F3C8D' dt (12,3,3,3) pt 10", "lc rgb '#3D5A80' dt (6,2,2,2,2,2) pt 12",
        "lc rgb '#882255' dt (3,6) pt 15"};
    for (int k = 0; k < 11; k++) fprintf(g, "set linetype %d lw 1.5 %s\n", k + 1, styles[k]);
    fprintf(g, "set linetype cycle 11\n");
    /* x tics at the protocols' label counts. */
    const char *xtics = "";
    for (int p = 0; p < r->n_p; p++)
        if (r->protos[p].n_labeled > 0)
            xtics = fmt("%s%s%d", xtics, *xtics ? ", " : "", r->protos[p].n_labeled);

    /* mIoU vs labeled images, final mean +- sd per method */
    const size_t cells = (size_t)r->n_m * r->n_p;
    stat_ *cell = pool_calloc(cells, sizeof *cell);
    bool *drawn = pool_calloc(cells, sizeof *drawn);
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            const int i = m * r->n_p + p;
            cell[i] = cell_stat(r, m, p);
            drawn[i] = cell[i].n && r->protos[p].n_labeled >= 1;
        }
    const double *x_at = dodged_x_(r, drawn);
    const char *terms = "";
    int min_nl = 1 << 30, max_nl = 0;
    for (int m = 0; m < r->n_m; m++) {
        const char *name = fmt("data/miou_vs_labeled_%s.dat", safe_name(r->methods[m]));
        sg_atomic_file daf;
        FILE *o = out_open(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# labeled\tfinal mIoU mean\tsd (0: one seed)\tseeds\tprotocol\tx drawn\n");
        int k = 0;
        for (int p = 0; p < r->n_p; p++) {
            const int i = m * r->n_p + p;
            if (!drawn[i]) continue;
            fprintf(o, "%d\t%.4f\t%.4f\t%d\t%s\t%.4f\n", r->protos[p].n_labeled, cell[i].final_mean,
                    isfinite(cell[i].final_sd) ? cell[i].final_sd : 0.0, cell[i].n, gq_(r->protos[p].name), x_at[i]);
            if (r->protos[p].n_labeled < min_nl) min_nl = r->protos[p].n_labeled;
            if (r->protos[p].n_labeled > max_nl) max_nl = r->protos[p].n_labeled;
            k++;
        }
        if (sg_atomic_commit(&daf, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (k) terms = fmt("%s%s'%s' using 6:2:3 with yerrorlines lt %d title '%s'", terms, *terms ? ", " : "",
                          name, m + 1, gq_(r->methods[m]));
    }
    if (*terms) {
        fprintf(g, "\nset terminal %s size 800,500\nset output 'miou_vs_labeled.png'\nset title 'mIoU vs labeled "
                   "images (%s; final iteration, mean and sd over seeds)'\nset xlabel 'labeled images'\n"
                   "set ylabel 'mIoU (%%)'\n%s\nset xrange [%g:%g]\nset xtics (%s)\nplot %s\nunset logscale x\n"
                   "unset xrange\nset xtics autofreq\n",
                term, gq_(r->dataset), max_nl >= 4 * min_nl ? "set logscale x 2" : "unset logscale x",
                min_nl * 0.8, max_nl * 1.25, xtics, terms);
        fig_add_(r, "fig/miou_vs_labeled.png", fmt("Final-iteration mIoU against the number of labeled images, "
                                                  "mean and standard deviation over seeds (%s); the methods are "
                                                  "drawn side by side around each protocol's count.", r->dataset));
    }

    /* The gain over supervised against the labels: the paired difference
     * (final mIoU, same seeds) with its 95% Student-t interval (diff.csv).
     * The methods are drawn side by side (dodged_x_); a three-seed
     * interval can be tens of points wide when one seed collapses, which
     * would flatten every other method to a line, so the y range reaches at
     * most SG_GAIN_CLIP points beyond the extreme means and the caption says
     * when an interval is cut at the edge. */
    const double SG_GAIN_CLIP = 10.0;
    const int sup = find_method(r, "supervised");
    diff_ *dd = pool_calloc(cells, sizeof *dd);
    memset(drawn, 0, cells * sizeof *drawn);
    for (int m = 0; m < r->n_m && sup >= 0; m++) {
        if (m == sup || strcmp(method_dir(r->methods[m]), r->methods[m])) continue; /* <m>-scratch: see the top */
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p) || r->protos[p].n_labeled < 1) continue;
            const int i = m * r->n_p + p;
            dd[i] = cell_diff(r, m, sup, p);
            drawn[i] = dd[i].n >= 2 && isfinite(dd[i].lo);
        }
    }
    x_at = dodged_x_(r, drawn);
    terms = "";
    double mean_lo = INFINITY, mean_hi = -INFINITY, ci_lo = INFINITY, ci_hi = -INFINITY;
    for (int m = 0; m < r->n_m && sup >= 0; m++) {
        if (m == sup || strcmp(method_dir(r->methods[m]), r->methods[m])) continue;
        const char *name = fmt("data/gain_vs_labeled_%s.dat", safe_name(r->methods[m]));
        sg_atomic_file daf;
        FILE *o = out_open(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# labeled\tgain over supervised (final mIoU points, paired by seed)\tci95 low\tci95 high\t"
                   "pairs\tprotocol\tx drawn\n");
        int k = 0;
        for (int p = 0; p < r->n_p; p++) {
            const int i = m * r->n_p + p;
            if (!drawn[i]) continue;
            const diff_ d = dd[i];
            fprintf(o, "%d\t%.4f\t%.4f\t%.4f\t%d\t%s\t%.4f\n", r->protos[p].n_labeled, d.mean, d.lo, d.hi, d.n,
                    gq_(r->protos[p].name), x_at[i]);
            mean_lo = fmin(mean_lo, d.mean), mean_hi = fmax(mean_hi, d.mean);
            ci_lo = fmin(ci_lo, d.lo), ci_hi = fmax(ci_hi, d.hi);
            k++;
        }
        if (sg_atomic_commit(&daf, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (k) terms = fmt("%s%s'%s' using 7:2:3:4 with yerrorlines lt %d title '%s'", terms, *terms ? ", " : "",
                          name, m + 1, gq_(r->methods[m]));
    }
    if (*terms) {
        /* The zero line stays in view: the figure is read against it. */
        const double y_lo = fmin(fmax(ci_lo, mean_lo - SG_GAIN_CLIP), 0.0) - 1.0;
        const double y_hi = fmax(fmin(ci_hi, mean_hi + SG_GAIN_CLIP), 0.0) + 1.0;
        const bool cut = ci_lo < y_lo || ci_hi > y_hi;
        fprintf(g, "\nset terminal %s size 800,500\nset output 'gain_vs_labeled.png'\nset title 'gain over "
                   "supervised vs labeled images (%s; final iteration, paired by seed, 95%% CI)'\n"
                   "set xlabel 'labeled images'\nset ylabel 'mIoU gain (points)'\n%s\nset xrange [%g:%g]\n"
                   "set yrange [%.2f:%.2f]\nset xtics (%s)\nset xzeroaxis lt -1\nplot %s\nunset logscale x\n"
                   "unset xrange\nunset yrange\nset xtics autofreq\nunset xzeroaxis\n",
                term, gq_(r->dataset), max_nl >= 4 * min_nl ? "set logscale x 2" : "unset logscale x",
                min_nl * 0.8, max_nl * 1.25, y_lo, y_hi, xtics, terms);
        fig_add_(r, "fig/gain_vs_labeled.png",
                 fmt("Each method's final-iteration mIoU minus supervised's, paired by seed, with the 95%% "
                     "Student-t interval, against the number of labeled images (%s; diff.csv); the methods are "
                     "drawn side by side around each protocol's count.%s",
                     r->dataset, cut ? fmt(" Intervals reaching more than %.0f points beyond the extreme means "
                                           "are cut at the plot's edge (diff.csv has them whole).", SG_GAIN_CLIP)
                                     : ""));
    }

    /* mIoU vs compute: training TFLOP per run (counted by the runs, the same
     * on any machine) when every finished cell recorded it, else the mean
     * wall-clock hours per run. */
    bool by_flop = true;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat(r, m, p);
            if (st.n && !(st.tflop_run > 0)) by_flop = false;
        }
    terms = "";
    for (int m = 0; m < r->n_m; m++) {
        const char *name = fmt("data/miou_vs_compute_%s.dat", safe_name(r->methods[m]));
        sg_atomic_file daf;
        FILE *o = out_open(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# %s\tfinal mIoU mean\tprotocol\n",
                by_flop ? "training TFLOP per run" : "run hours (mean over seeds)");
        int k = 0;
        for (int p = 0; p < r->n_p; p++) {
            stat_ st = cell_stat(r, m, p);
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
            /* Explicit lt: the labels term would otherwise take a colour
             * of its own and two methods would share one. */
            terms = fmt("%s%s'%s' using 1:2 with points lt %d pt 7 ps 1.3 title '%s', '' using 1:2:3 with labels "
                        "offset char 1,0.6 notitle", terms, *terms ? ", " : "", name, m + 1, gq_(r->methods[m]));
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
        const char *name = fmt("data/per_class_%s.dat", safe_name(r->protos[p].name));
        sg_atomic_file daf;
        FILE *o = out_open(&daf, fdir, name, err);
        if (!o) {
            sg_atomic_abort(&af);
            return -1;
        }
        fprintf(o, "# class");
        terms = "";
        int col = 2;
        int *used = sg_xcalloc((size_t)r->n_m + 1, sizeof *used);
        for (int m = 0; m < r->n_m; m++) {
            for (int s = 0; s < r->n_s; s++) used[m] += cell_at(r, m, p, s)->row >= 0;
            if (!used[m]) continue;
            fprintf(o, "\t%s", gq_(r->methods[m]));
            terms = fmt("%s%s'%s' using %d%s title '%s'", terms, *terms ? ", " : "", name, col,
                       col == 2 ? ":xtic(1)" : "", gq_(r->methods[m]));
            col++;
        }
        fprintf(o, "\n");
        for (int k = 0; k < r->n_classes; k++) {
            fprintf(o, "\"%s\"", r->class_names ? r->class_names[k] : fmt("%d", k));
            for (int m = 0; m < r->n_m; m++) {
                if (!used[m]) continue;
                double sum = 0;
                int n = 0;
                for (int s = 0; s < r->n_s; s++) {
                    const cell_ *c = cell_at(r, m, p, s);
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
        char *png = fmt("per_class_%s.png", safe_name(r->protos[p].name));
        fprintf(g, "\nset terminal %s size 900,450\nset output '%s'\nset title 'per-class IoU, protocol %s (final "
                   "iteration, mean over seeds)'\nset style data histograms\nset style histogram clustered gap 1\n"
                   "set style fill solid 0.8 border -1\nset xlabel 'class'\nset ylabel 'IoU (%%)'\nset yrange [0:100]\n"
                   "set xtics rotate by -30\nplot %s\nset style data points\nunset yrange\nset xtics norotate\n",
                term, png, r->protos[p].name, terms);
        fig_add_(r, fmt("fig/%s", png), fmt("Per-class IoU at the final iteration, mean over seeds, protocol %s.",
                                          r->protos[p].name));
    }

    /* loss and eval curves per method. A panel without data (a run stopped
     * before its first evaluation) says so: "plot NaN" would be a gnuplot
     * error that loses every figure after it. */
    static const char empty_panel_[] = "unset logscale y\nset label 1 'no data yet' at graph 0.5,0.5 center\n"
                                       "plot [0:1] [0:1] -1 notitle\nunset label 1";
    for (int m = 0; m < r->n_m; m++) {
        char *lt, *et;
        if (curves_data_(r, m, fdir, &lt, &et, err)) {
            sg_atomic_abort(&af);
            return -1;
        }
        if (!*lt && !*et) continue;
        char *png = fmt("curves_%s.png", safe_name(r->methods[m]));
        fprintf(g, "\nset terminal %s size 1100,420\nset output '%s'\nset multiplot layout 1,2 title '%s'\n"
                   "set xlabel 'iteration'\nset ylabel 'training loss'\nset title 'loss (mean over seeds)'\n"
                   "set logscale y\n%s\nunset logscale y\nset ylabel 'mIoU (%%)'\nset title 'evaluation mIoU "
                   "(mean, sd over seeds)'\n%s\nunset multiplot\n", term, png, r->methods[m],
                *lt ? fmt("plot %s", lt) : empty_panel_, *et ? fmt("plot %s", et) : empty_panel_);
        fig_add_(r, fmt("fig/%s", png), fmt("%s: training loss (first term of log.tsv, seed mean, binned) and "
                                          "evaluation mIoU (eval.tsv, mean and sd over seeds), one line per protocol.",
                                          r->methods[m]));
    }
    if (pretraining_(r, g, fdir, term, err)) {
        sg_atomic_abort(&af);
        return -1;
    }
    /* the qualitative tiles with their column titles */
    for (int i = 0; i < r->n_qual; i++) {
        const qual_ *f = &r->qual[i];
        const int top = 28, W = f->w, H = f->h;
        fprintf(g, "\nreset\nset terminal %s size %d,%d\nset output '%s'\nunset border\nunset tics\n"
                   "unset key\nset lmargin at screen 0\nset rmargin at screen 1\nset bmargin at screen 0\n"
                   "set tmargin at screen %.6f\nset xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\n",
                term, W, H + top, f->png, (double)H / (H + top), W - 1, H - 1);
        for (int c = 0; c < f->cols; c++)
            fprintf(g, "set label %d '%s' at screen %.6f,%.6f center\n", c + 1, gq_(f->titles[c]),
                    (f->gap * (c + 1) + f->tile * (c + 0.5)) / W, 1 - 0.5 * top / (H + top));
        fprintf(g, "plot '%s' binary filetype=png with rgbimage\n", f->tiles);
        fig_add_headed_(r, i ? NULL : "Predictions", fmt("fig/%s", f->png), f->caption);
    }
    if (sg_atomic_commit(&af, err)) return -1;
    int rc = spawn(fdir, fmt("%s/gnuplot.log", fdir), (char *const[]){"gnuplot", "figures.gp", NULL});
    if (rc != 0) {
        r->figs_missing = fmt("gnuplot failed (exit %d): see %s/gnuplot.log", rc, fdir);
        r->n_figs = 0;
        return 0;
    }
    for (int i = 0; i < r->n_figs; i++)
        if (!is_file(fmt("%s/%s", r->o.out, r->figs[i]))) {
            r->figs_missing = fmt("gnuplot did not write %s: see %s/gnuplot.log", r->figs[i], fdir);
            r->n_figs = 0;
        }
    return 0;
}
