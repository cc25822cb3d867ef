/*
 * stats.c: the statistics of the report: sample mean and standard deviation,
 * the Student-t quantile t(0.975, df), each method x protocol over its seeds
 * (mIoU and cost) and each method minus supervised, paired by seed, with its
 * 95% interval. Covered by tests/report.sh (the fixture's numbers are worked
 * out by hand in tests/data/report/README.md).
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- statistics ------------------------------------------------------------------------ */
/* Sample mean and standard deviation (n - 1); sd is NAN for n < 2. */
void mean_sd(const double *x, int n, double *mean, double *sd)
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

stat_ cell_stat(rep_ *r, int m, int p)
{
    stat_ st = {0};
    double *f = sg_xcalloc((size_t)r->n_s + 1, sizeof *f), *b = sg_xcalloc((size_t)r->n_s + 1, sizeof *b);
    double ips = 0, gflop = 0, hours = 0, cpu = 0;
    int n_ips = 0, n_gflop = 0, n_hours = 0, n_cpu = 0;
    for (int s = 0; s < r->n_s; s++) {
        const cell_ *c = cell_at(r, m, p, s);
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
    mean_sd(f, st.n, &st.final_mean, &st.final_sd);
    mean_sd(b, st.n, &st.best_mean, &st.best_sd);
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

/* Method m minus supervised on protocol p, over the seeds both finished. */
diff_ cell_diff(rep_ *r, int m, int sup, int p)
{
    diff_ d = {0};
    double *x = sg_xcalloc((size_t)r->n_s + 1, sizeof *x), *y = sg_xcalloc((size_t)r->n_s + 1, sizeof *y);
    size_t len = 0;
    for (int s = 0; s < r->n_s; s++) {
        const cell_ *a = cell_at(r, m, p, s), *b = cell_at(r, sup, p, s);
        if (a->row < 0 || b->row < 0) continue;
        x[d.n] = r->rows[a->row].final - r->rows[b->row].final;
        y[d.n++] = r->rows[a->row].best - r->rows[b->row].best;
        if (len < sizeof d.seeds)
            len += (size_t)snprintf(d.seeds + len, sizeof d.seeds - len, "%s%llu", len ? " " : "", r->seeds[s]);
    }
    double sd, sdb;
    mean_sd(x, d.n, &d.mean, &sd);
    mean_sd(y, d.n, &d.best_mean, &sdb);
    double t = t975_(d.n - 1);
    d.lo = d.mean - t * sd / sqrt(d.n);
    d.hi = d.mean + t * sd / sqrt(d.n);
    d.best_lo = d.best_mean - t * sdb / sqrt(d.n);
    d.best_hi = d.best_mean + t * sdb / sqrt(d.n);
    free(x);
    free(y);
    return d;
}
