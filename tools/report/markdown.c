/*
 * markdown.c: the plain-text outputs: summary.csv and diff.csv, results.md
 * (every table, the missing runs, the figures) and table.md (the compact table
 * for the README), with the number formats they share with the LaTeX tables.
 * Covered by tests/report.sh.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>

/* ---- formatting ------------------------------------------------------------------------- */
static const char *num4_(double v)
{
    return isfinite(v) ? fmt("%.4f", v) : "nan";
}

const char *pm_text(double mean, double sd, int n)
{
    if (n == 0) return "missing";
    if (n == 1) return fmt("%.2f (1 seed)", mean);
    return fmt("%.2f ± %.2f", mean, sd);
}

const char *labeled_text(const proto_ *p)
{
    return p->n_labeled >= 0 ? fmt("%d", p->n_labeled) : "?";
}

int write_summary(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open(&af, r->o.out, "summary.csv", err);
    if (!o) return -1;
    fprintf(o, "method,protocol,n_labeled,n_seeds,n_missing,final_miou_mean,final_miou_std,best_miou_mean,"
               "best_miou_std,images_per_s_mean,gflop_per_iter,run_hours_total,cpu_hours_total,published_miou,"
               "published_source,evaluated_on\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p)) continue;
            stat_ st = cell_stat(r, m, p);
            const pub_ *q = pub_find(r, r->methods[m], r->protos[p].name);
            fprintf(o, "%s,%s,%d,%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,", r->methods[m], r->protos[p].name,
                    r->protos[p].n_labeled, st.n, st.n_missing, num4_(st.final_mean), num4_(st.final_sd),
                    num4_(st.best_mean), num4_(st.best_sd), num4_(st.ips), num4_(st.gflop), num4_(st.hours_total),
                    num4_(st.cpu_hours_total), q ? fmt("%g", q->miou) : "");
            if (q) {
                fputc('"', o);
                for (const char *c = q->source; *c; c++) fprintf(o, *c == '"' ? "\"\"" : "%c", *c);
                fputc('"', o);
            }
            fprintf(o, ",%s\n", r->on_test ? "test" : "val");
        }
    if (sg_atomic_commit(&af, err)) return -1;

    o = out_open(&af, r->o.out, "diff.csv", err);
    if (!o) return -1;
    fprintf(o, "method,protocol,n_pairs,seeds,diff_final_mean,diff_final_ci95_low,diff_final_ci95_high,"
               "diff_best_mean,diff_best_ci95_low,diff_best_ci95_high\n");
    int sup = find_method(r, "supervised");
    for (int m = 0; m < r->n_m && sup >= 0; m++)
        for (int p = 0; p < r->n_p && m != sup; p++) {
            if (!in_grid(r, m, p)) continue;
            diff_ d = cell_diff(r, m, sup, p);
            fprintf(o, "%s,%s,%d,%s,%s,%s,%s,%s,%s,%s\n", r->methods[m], r->protos[p].name, d.n, d.seeds,
                    num4_(d.mean), num4_(d.lo), num4_(d.hi), num4_(d.best_mean), num4_(d.best_lo),
                    num4_(d.best_hi));
        }
    return sg_atomic_commit(&af, err);
}

const char *diff_text(double mean, double lo, double hi, int n)
{
    if (n == 0) return "no paired seeds";
    if (n == 1) return fmt("%+.2f (1 pair, no CI)", mean);
    return fmt("%+.2f [%+.2f, %+.2f]", mean, lo, hi);
}

static void md_tables_(rep_ *r, FILE *o)
{
    if (r->on_test)
        fprintf(o, "## mIoU (%%) on the held-out test set, mean ± sample standard deviation over seeds\n\n"
                   "*final*: the model at the last iteration; *best*: the weights of the best validation "
                   "evaluation during training (model selection on val, as papers do); both evaluated once, on "
                   "the test set, which neither training nor selection saw. *published*: best-on-val numbers "
                   "of the original papers for the same protocol, where one exists (sources below).\n\n");
    else
        fprintf(o, "## mIoU (%%), mean ± sample standard deviation over seeds\n\n"
                   "*final*: the model at the last iteration (the honest number); *best*: the best evaluation "
                   "during training (what papers report). *published*: best-on-val numbers of the original "
                   "papers for the same protocol, where one exists (sources below).\n\n");
    fprintf(o, "| method | protocol | labeled | seeds | final mIoU | best mIoU | published |\n"
               "|---|---|---:|---:|---:|---:|---:|\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p)) continue;
            stat_ st = cell_stat(r, m, p);
            const pub_ *q = pub_find(r, r->methods[m], r->protos[p].name);
            fprintf(o, "| %s | %s | %s | %d%s | %s | %s | %s |\n", r->methods[m], r->protos[p].name,
                    labeled_text(&r->protos[p]), st.n, st.n_missing ? fmt(" (%d missing)", st.n_missing) : "",
                    pm_text(st.final_mean, st.final_sd, st.n), pm_text(st.best_mean, st.best_sd, st.n),
                    q ? fmt("%.2f [%d]", q->miou, pub_source_index(r, q->source)) : "–");
        }
    const pub_ *src[256];
    int n_src = pub_sources(r, src, 256);
    if (n_src) fprintf(o, "\n");
    for (int i = 0; i < n_src; i++)
        fprintf(o, "[%d] %s (%s, %s%s%s).  \n", i + 1, src[i]->source, src[i]->paper_method, src[i]->backbone,
                *src[i]->crop ? ", crop " : "", src[i]->crop);
    int sup = find_method(r, "supervised");
    fprintf(o, "\n## Difference to supervised (mIoU points, paired by seed, 95%% Student-t interval)\n\n");
    if (sup < 0) {
        fprintf(o, "No supervised runs: no differences.\n");
    } else {
        fprintf(o, "| method | protocol | pairs (seeds) | Δ final [95%% CI] | Δ best [95%% CI] |\n"
                   "|---|---|---|---:|---:|\n");
        for (int m = 0; m < r->n_m; m++)
            for (int p = 0; p < r->n_p && m != sup; p++) {
                if (!in_grid(r, m, p)) continue;
                diff_ d = cell_diff(r, m, sup, p);
                fprintf(o, "| %s | %s | %d (%s) | %s | %s |\n", r->methods[m], r->protos[p].name, d.n,
                        d.n ? d.seeds : "none", diff_text(d.mean, d.lo, d.hi, d.n),
                        diff_text(d.best_mean, d.best_lo, d.best_hi, d.n));
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
            stat_ st = cell_stat(r, m, p);
            if (!st.n) continue;
            fprintf(o, "| %s | %s | %ld | %s | %s | %s | %s | %s |\n", r->methods[m], r->protos[p].name,
                    st.iterations, isfinite(st.ips) ? fmt("%.1f", st.ips) : "n/a",
                    isfinite(st.gflop) ? fmt("%.2f", st.gflop) : "n/a",
                    isfinite(st.tflop_run) ? fmt("%.1f", st.tflop_run) : "n/a",
                    isfinite(st.cpu_hours_total) ? fmt("%.3f", st.cpu_hours_total) : "n/a",
                    isfinite(st.hours_total) ? fmt("%.3f", st.hours_total) : "n/a");
        }
}

static void md_missing_(rep_ *r, FILE *o)
{
    int done, n = n_expected(r, &done);
    fprintf(o, "\n## Missing or failed runs\n\n%d of %d expected runs (%d methods x %d protocols x %d seeds%s) "
               "have a row in results.csv.\n\n", done, n, r->n_m, r->n_p, r->n_s,
            r->o.n_only ? ", less the cells outside the sparse grid" : "");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s && in_grid(r, m, p); s++) {
                const cell_ *c = cell_at(r, m, p, s);
                if (c->row < 0)
                    fprintf(o, "- MISSING %s / %s / seed %llu: %s\n", r->methods[m], r->protos[p].name, r->seeds[s],
                            missing_why(c));
            }
    for (int i = 0; i < r->n_notes; i++) fprintf(o, "- NOTE %s\n", r->notes[i]);
}

int write_markdown(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open(&af, r->o.out, "results.md", err);
    if (!o) return -1;
    int done, n = n_expected(r, &done);
    fprintf(o, "# Results: %s\n\nGenerated by sg-report from `%s` and the run directories under `%s` "
               "(%d of %d expected runs finished).\n\n", r->dataset, r->o.results, r->o.runs, done, n);
    md_tables_(r, o);
    md_missing_(r, o);
    if (r->n_figs) fprintf(o, "\n## Figures\n\n");
    for (int i = 0; i < r->n_figs; i++) {
        if (r->fig_heads[i]) fprintf(o, "### %s\n\n", r->fig_heads[i]);
        fprintf(o, "![%s](%s)\n\n*%s*\n\n", r->figs[i], r->figs[i], r->fig_caps[i]);
    }
    if (r->figs_missing) fprintf(o, "\nFigures not produced: %s\n", r->figs_missing);
    if (sg_atomic_commit(&af, err)) return -1;

    /* The compact table for the README: methods x protocols, final (best). */
    o = out_open(&af, r->o.out, "table.md", err);
    if (!o) return -1;
    fprintf(o, "| method |");
    for (int p = 0; p < r->n_p; p++) fprintf(o, " %s labeled |", labeled_text(&r->protos[p]));
    fprintf(o, "\n|---|");
    for (int p = 0; p < r->n_p; p++) fprintf(o, "---:|");
    fprintf(o, "\n");
    for (int m = 0; m < r->n_m; m++) {
        fprintf(o, "| %s |", r->methods[m]);
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p)) {
                fprintf(o, " not run |");
                continue;
            }
            stat_ st = cell_stat(r, m, p);
            fprintf(o, " %s%s |", pm_text(st.final_mean, st.final_sd, st.n),
                    st.n && st.n_missing ? fmt(" (%d of %d seeds)", st.n, st.n + st.n_missing) : "");
        }
        fprintf(o, "\n");
    }
    fprintf(o, "\nFinal-iteration mIoU (%%) on %s, mean ± standard deviation over %d seeds (%d of %d runs "
               "finished); generated by sg-report.\n", r->dataset, r->n_s, done, n);
    return sg_atomic_commit(&af, err);
}
