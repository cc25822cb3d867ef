/*
 * sg-report: the report of one dataset's grid of runs (reports/README.md),
 * built from results.csv and the run directories alone.
 *
 *   sg-report --results reports/<dataset>/results.csv --runs <runs root>
 *             --out reports/<dataset> [--published reports/published.csv]
 *             [--experiments DIR] [--seeds FILE] [--base DIR] [--sg-eval PATH]
 *             [--methods A,B] [--protocols P,Q] [--only P=A,B]... [--qualitative N]
 *             [--dataset NAME] [--pdf | --no-pdf]
 *
 * Inputs. results.csv (results.c: one row per finished run, mIoU in percent);
 * the run directories <runs>/<dataset>/<protocol>/<method>/seed<seed>/ with
 * config.resolved, log.tsv, eval.tsv, result.json and ckpt/last.safetensors
 * (run.h). The expected grid is every method x protocol x seed seen in either
 * (plus those named by --methods, --protocols and --seeds, so that a method
 * that never started is listed), less the cells --only takes out of a sparse
 * grid (--only P=A,B: at protocol P only A and B run; a cell that has a row
 * or a run directory is reported anyway); a cell without a results.csv row
 * is listed as missing with what its directory shows (absent, or log.tsv
 * stopped at iteration i of n), never dropped. A method named <m>-scratch
 * (as supervised-scratch: m's trainer without the pretrained backbone) is
 * listed right after m and uses experiments/<m>/ (its README is shown once).
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
 *                 the gain over supervised vs labeled images (paired by seed,
 *                 95% interval; x tics at the protocols' label counts; one
 *                 colour, dash pattern and point shape per method, legible in
 *                 print; <m>-scratch methods left out), mIoU vs training
 *                 compute, per-class IoU, loss / eval curves;
 *                 pretraining.png when supervised and supervised-scratch
 *                 both have eval.tsv curves at some protocol: their seed-mean
 *                 val mIoU against the iteration, keyed with each one's final
 *                 mIoU mean +- sd (under "Effect of the pretrained backbone");
 *                 and qualitative.png (image | ground truth | each method
 *                 whose first seed finished there) for the smallest protocol,
 *                 qualitative_<P>.png for the largest protocol P (when it
 *                 differs), whose predictions come from the sg-eval binary
 *                 (--pred-dir, into qual/<method>[_<P>]/) on the final
 *                 checkpoint of the first seed, on the first --qualitative (4)
 *                 val images. fig/data/ holds the plotted numbers,
 *                 fig/figures.gp the script (PNGs are written by gnuplot, not
 *                 atomically).
 * Published numbers (reports/published.csv, with citations) sit beside ours
 * where (dataset, protocol, method) match; the first matching row is shown.
 *
 * Paths inside config.resolved (data.root, data.val) are taken relative to
 * --base (default: the working directory, where the grid ran).
 * Exit status: 0 done (missing tools, gnuplot or pdflatex, are reported and
 * their outputs skipped, unless --pdf asked for the PDF), 1 a runtime error,
 * 2 usage. Covered by tests/report.sh.
 *
 * This file holds the option parsing and the order of the steps; the steps
 * live in tools/report/ (report.h: the shared types and what each file does).
 */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- main ------------------------------------------------------------------------------- */
static int usage_(const char *why)
{
    FILE *fp = why ? stderr : stdout;
    if (why) fprintf(fp, "sg-report: %s\n", why);
    fprintf(fp,
            "usage: sg-report --results CSV --runs DIR --out DIR [--published CSV]\n"
            "                 [--experiments DIR] [--seeds FILE] [--base DIR] [--sg-eval PATH]\n"
            "                 [--methods A,B] [--protocols P,Q] [--only P=A,B]... [--qualitative N]\n"
            "                 [--dataset NAME]\n"
            "                 [--pdf | --no-pdf]\n");
    return why ? 2 : 0;
}

static int run_(rep_ *r, const char *sg_eval, sg_err *err)
{
    if (read_results(r, err) || read_published(r, err)) return -1;
    if (!r->dataset) r->dataset = r->o.dataset;
    if (!r->dataset) {
        const char *b = strrchr(r->o.out, '/');
        r->dataset = fmt("%s", b && b[1] ? b + 1 : r->o.out);
    }
    if (r->o.dataset && strcmp(r->o.dataset, r->dataset))
        return sg_err_set(err, "%s: dataset '%s', but --dataset %s", r->o.results, r->dataset, r->o.dataset);
    if (build_grid(r, err)) return -1;
    if (sg_mkdirs(fmt("%s/fig/data", r->o.out), err))
        return -1;
    load_class_names(r);
    if (write_qualitative(r, sg_eval, err) || write_figures(r, err)) return -1;
    if (write_latex(r, err) || write_summary(r, err) || write_markdown(r, err)) return -1;
    if (r->figs_missing) fprintf(stderr, "sg-report: figures not produced: %s\n", r->figs_missing);
    int done, n = n_expected(r, &done);
    if (done < n || r->n_notes)
        fprintf(stderr, "sg-report: %d of %d runs finished; %d missing or failed, %d note%s (listed in results.md)\n",
                done, n, n - done, r->n_notes, r->n_notes == 1 ? "" : "s");
    return build_pdf(r, err);
}

int main(int argc, char **argv)
{
    rep_ r = {.o = {.base = ".", .qualitative = 4, .pdf = 0, .argc = argc, .argv = argv}};
    const char *sg_eval = NULL;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage_(NULL);
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
        if (i + 1 >= argc) return usage_(fmt("%s takes a value", k));
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
        else if (!strcmp(k, "--only")) {
            if (!strchr(v, '=') || strchr(v, '=') == v || r.o.n_only == 16) {
                pool_free();
                return usage_("--only takes PROTOCOL=METHOD,... (at most 16 times)");
            }
            r.o.only[r.o.n_only++] = v;
        }
        else if (!strcmp(k, "--qualitative")) {
            char *end;
            long q = strtol(v, &end, 10);
            if (end == v || *end || q < 0 || q > 64) {
                pool_free();
                return usage_("--qualitative takes 0..64 images");
            }
            r.o.qualitative = (int)q;
        } else {
            int rc = usage_(fmt("unknown option %s", k));
            pool_free();
            return rc;
        }
    }
    if (!r.o.results || !r.o.runs || !r.o.out) {
        pool_free();
        return usage_("--results, --runs and --out are required");
    }
    if (!r.o.experiments) r.o.experiments = "experiments";
    if (!sg_eval) {
        /* the sg-eval built beside this program, else the one on PATH */
        const char *slash = strrchr(argv[0], '/');
        char *beside = slash ? fmt("%.*s/sg-eval", (int)(slash - argv[0]), argv[0]) : NULL;
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
    free(r.fig_heads);
    for (int i = 0; i < r.n_qual; i++) free(r.qual[i].titles);
    pool_free();
    return rc ? 1 : 0;
}
