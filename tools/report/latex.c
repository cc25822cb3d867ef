/*
 * latex.c: tables.tex (the tables with booktabs), report.tex (tables,
 * missing runs, figures, published numbers, the method READMEs, each
 * included once, and the provenance) and report.pdf through pdflatex.
 * Covered by tests/report.sh.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ---- LaTeX ------------------------------------------------------------------------------- */
static const char *pm_tex_(double mean, double sd, int n)
{
    if (n == 0) return "missing";
    if (n == 1) return fmt("%.2f (1 seed)", mean);
    return fmt("$%.2f \\pm %.2f$", mean, sd);
}

static void tex_tables_(rep_ *r, FILE *o)
{
    fprintf(o, "\\begin{center}\\small\n\\begin{tabular}{llrrrrr}\n\\toprule\nMethod & Protocol & Labeled & "
               "Seeds & Final mIoU & Best mIoU & Published \\\\\n\\midrule\n");
    for (int m = 0; m < r->n_m; m++) {
        if (m) fprintf(o, "\\addlinespace\n");
        for (int p = 0; p < r->n_p; p++) {
            if (!in_grid(r, m, p)) continue;
            stat_ st = cell_stat(r, m, p);
            const pub_ *q = pub_find(r, r->methods[m], r->protos[p].name);
            tex(o, r->methods[m]);
            fputs(" & ", o);
            tex(o, r->protos[p].name);
            fprintf(o, " & %s & %d%s & %s & %s & %s \\\\\n", labeled_text(&r->protos[p]), st.n,
                    st.n_missing ? fmt(" (%d missing)", st.n_missing) : "", pm_tex_(st.final_mean, st.final_sd, st.n),
                    pm_tex_(st.best_mean, st.best_sd, st.n),
                    q ? fmt("%.2f\\textsuperscript{[%d]}", q->miou, pub_source_index(r, q->source)) : "--");
        }
    }
    if (r->on_test)
        fprintf(o, "\\bottomrule\n\\end{tabular}\n\n\\smallskip Table 1: mIoU (\\%%) on the held-out test set "
                   "of %s, mean $\\pm$ sample standard deviation over seeds. Final: the last iteration; best: the "
                   "weights of the best validation evaluation during training; both evaluated once on the test "
                   "set, which neither training nor selection saw. Published: the original papers' best-on-val "
                   "number for the same protocol.\n",
                r->dataset);
    else
        fprintf(o, "\\bottomrule\n\\end{tabular}\n\n\\smallskip Table 1: mIoU (\\%%) on %s, mean $\\pm$ "
                   "sample standard deviation over seeds. Final: the last iteration; best: the best evaluation "
                   "during training; published: the original papers' best-on-val number for the same protocol.\n",
                r->dataset);
    const pub_ *src[256];
    int n_src = pub_sources(r, src, 256);
    for (int i = 0; i < n_src; i++) {
        fprintf(o, "%s[%d] ", i ? "; " : "\\\\ Sources: ", i + 1);
        tex(o, src[i]->source);
    }
    fprintf(o, "\\end{center}\n\n");

    int sup = find_method(r, "supervised");
    if (sup >= 0 && r->n_m > 1) {
        fprintf(o, "\\begin{center}\\small\n\\begin{tabular}{llrrr}\n\\toprule\nMethod & Protocol & Pairs & "
                   "$\\Delta$ final [95\\%% CI] & $\\Delta$ best [95\\%% CI] \\\\\n\\midrule\n");
        for (int m = 0; m < r->n_m; m++)
            for (int p = 0; p < r->n_p && m != sup; p++) {
                if (!in_grid(r, m, p)) continue;
                diff_ d = cell_diff(r, m, sup, p);
                tex(o, r->methods[m]);
                fputs(" & ", o);
                tex(o, r->protos[p].name);
                fprintf(o, " & %d & ", d.n);
                tex(o, diff_text(d.mean, d.lo, d.hi, d.n));
                fputs(" & ", o);
                tex(o, diff_text(d.best_mean, d.best_lo, d.best_hi, d.n));
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
            stat_ st = cell_stat(r, m, p);
            if (!st.n) continue;
            tex(o, r->methods[m]);
            fputs(" & ", o);
            tex(o, r->protos[p].name);
            fprintf(o, " & %ld & %s & %s & %s & %s & %s \\\\\n", st.iterations,
                    isfinite(st.ips) ? fmt("%.1f", st.ips) : "n/a", isfinite(st.gflop) ? fmt("%.2f", st.gflop) : "n/a",
                    isfinite(st.tflop_run) ? fmt("%.1f", st.tflop_run) : "n/a",
                    isfinite(st.cpu_hours_total) ? fmt("%.3f", st.cpu_hours_total) : "n/a",
                    isfinite(st.hours_total) ? fmt("%.3f", st.hours_total) : "n/a");
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
    int done, n = n_expected(r, &done);
    fprintf(o, "%d of %d expected runs (%d methods $\\times$ %d protocols $\\times$ %d seeds%s) have a row in "
               "results.csv.\n", done, n, r->n_m, r->n_p, r->n_s,
            r->o.n_only ? ", less the cells outside the sparse grid" : "");
    if (done == n && !r->n_notes) {
        fprintf(o, "None is missing.\n");
        return;
    }
    fprintf(o, "\\begin{itemize}\n");
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s && in_grid(r, m, p); s++) {
                const cell_ *c = cell_at(r, m, p, s);
                if (c->row >= 0) continue;
                fprintf(o, "\\item \\textbf{MISSING} ");
                tex(o, fmt("%s / %s / seed %llu: %s", r->methods[m], r->protos[p].name, r->seeds[s],
                           missing_why(c)));
                fputc('\n', o);
            }
    for (int i = 0; i < r->n_notes; i++) {
        fprintf(o, "\\item \\textbf{NOTE} ");
        tex(o, r->notes[i]);
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
        chomp(line);
        verb_line(o, line);
    }
    fputs("\\end{Verbatim}\n", o);
    free(line);
    fclose(in);
}

static void tex_provenance_(rep_ *r, FILE *o)
{
    struct utsname u;
    const char *host = uname(&u) == 0 ? fmt("%s %s %s %s", u.nodename, u.sysname, u.release, u.machine) : "unknown";
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(o, "\\section{Provenance}\nReport built %s on ", when);
    tex(o, host);
    fprintf(o, " by\n\\begin{Verbatim}[fontsize=\\scriptsize]\n");
    /* One option per line, so the command fits the page. */
    for (int i = 0; i < r->o.argc; i++)
        fprintf(o, "%s%s", !i ? "" : strncmp(r->o.argv[i], "--", 2) ? " " : " \\\n    ", r->o.argv[i]);
    fprintf(o, "\n\\end{Verbatim}\nEvery number above comes from these rows of ");
    tex_path(o, r->o.results);
    fprintf(o, " and their run directories ");
    tex_path(o, fmt("%s/%s/<protocol>/<method>/seed<seed>/", r->o.runs, r->dataset));
    fprintf(o, " (config.resolved, log.tsv, eval.tsv, result.json, ckpt/). The machine is the one recorded in "
               "result.json (listed below the table); ``not recorded'' when the run did not write it.\n\n"
               "\\begin{scriptsize}\n\\begin{longtable}{lllrrrllll}\n\\toprule\nMethod & Protocol & Seed & Iter. & "
               "Final & Best & Commit & Backend & Config hash & Machine \\\\\n\\midrule\n\\endhead\n");
    /* The machines, numbered in order of appearance: one line each under
     * the table instead of a column too wide for the page. */
    const char **machines = NULL;
    int n_machines = 0;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s && in_grid(r, m, p); s++) {
                const cell_ *c = cell_at(r, m, p, s);
                tex_cells(o, 3, r->methods[m], r->protos[p].name, fmt("%llu", r->seeds[s]));
                fputs(" & ", o);
                if (c->row < 0) {
                    fprintf(o, "\\multicolumn{7}{l}{\\textbf{missing}: ");
                    tex(o, missing_why(c));
                    fprintf(o, "} \\\\\n");
                    continue;
                }
                const row_ *w = &r->rows[c->row];
                fprintf(o, "%ld & %.2f & %.2f & ", w->iterations, w->final, w->best);
                const char *machine = "not recorded";
                if (*c->machine) {
                    int k = 0;
                    while (k < n_machines && strcmp(machines[k], c->machine)) k++;
                    if (k == n_machines) {
                        machines = xrealloc(machines, (size_t)(n_machines + 1) * sizeof *machines);
                        machines[n_machines++] = c->machine;
                    }
                    machine = fmt("M%d", k + 1);
                }
                tex_cells(o, 4, fmt("%.12s", w->commit), w->backend, w->hash, machine);
                fprintf(o, " \\\\\n");
            }
    fprintf(o, "\\bottomrule\n\\end{longtable}\n");
    for (int k = 0; k < n_machines; k++) {
        fprintf(o, "M%d: ", k + 1);
        tex(o, machines[k]);
        fprintf(o, "\\\\\n");
    }
    fprintf(o, "\\end{scriptsize}\n");
    free(machines);
    /* One resolved configuration per method (the first finished run); the
     * others differ by their split and seed, see the config hashes above. */
    for (int m = 0; m < r->n_m; m++) {
        const char *dir = NULL;
        for (int p = 0; p < r->n_p && !dir; p++)
            for (int s = 0; s < r->n_s && !dir; s++) {
                char *d = run_dir(r, m, p, s);
                if (is_file(fmt("%s/config.resolved", d))) dir = d;
            }
        if (!dir) continue;
        fprintf(o, "\\subsection*{Configuration: ");
        tex(o, r->methods[m]);
        fprintf(o, "}\n");
        tex_path(o, fmt("%s/config.resolved", dir));
        fprintf(o, "\n");
        tex_verbatim_file_(o, fmt("%s/config.resolved", dir));
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
        tex_cells(o, 5, q->protocol, q->method, q->paper_method, q->backbone, q->crop);
        fprintf(o, " & %.2f & ", q->miou);
        tex(o, q->source);
        fprintf(o, " \\\\\n");
    }
    fprintf(o, "\\bottomrule\n\\end{longtable}\n\\end{scriptsize}\n");
}

/* One section per method from its experiments/ README. A README is
 * included once: a method that shares its folder with an earlier one (a
 * <m>-scratch after m) gets a section pointing there instead. */
static void tex_methods_(rep_ *r, FILE *o)
{
    fprintf(o, "\n\\clearpage\n\\part*{Methods}\nEach method's README (experiments/<method>/README.md), "
               "converted from Markdown; a method <m>-scratch is m's trainer without the pretrained backbone and "
               "shares m's README.\n\n");
    for (int m = 0; m < r->n_m; m++) {
        const char *dir = method_dir(r->methods[m]);
        char *path = fmt("%s/%s/README.md", r->o.experiments, dir);
        int first = 0;
        while (strcmp(method_dir(r->methods[first]), dir)) first++;
        fprintf(o, "\n");
        if (first < m) {
            fprintf(o, "\\section{");
            tex(o, r->methods[m]);
            fprintf(o, "}\n");
            tex(o, fmt("The trainer of %s without the pretrained backbone: its README is the section of %s above (",
                       dir, r->methods[first]));
            tex_path(o, path);
            fprintf(o, ").\n");
            continue;
        }
        sg_err e2;
        if (!is_file(path) || md_to_tex(o, path, r->methods[m], &e2)) {
            fprintf(o, "\\section{");
            tex(o, r->methods[m]);
            fprintf(o, "}\n\\textbf{No README}: ");
            tex_path(o, path);
            fprintf(o, " could not be read.\n");
            note(r, "%s: no README for the method section", path);
        }
    }
    fprintf(o, "\n");
}

int write_latex(rep_ *r, sg_err *err)
{
    sg_atomic_file af;
    FILE *o = out_open(&af, r->o.out, "tables.tex", err);
    if (!o) return -1;
    tex_tables_(r, o);
    if (sg_atomic_commit(&af, err)) return -1;

    o = out_open(&af, r->o.out, "report.tex", err);
    if (!o) return -1;
    int done, n = n_expected(r, &done);
    fprintf(o, "%% Generated by sg-report; rebuild with make report.\n"
               "\\documentclass[10pt,a4paper]{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
               "\\usepackage{lmodern}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{booktabs,array,tabularx,"
               "longtable,graphicx,fancyvrb}\n\\usepackage[hidelinks]{hyperref}\n\\setlength{\\parindent}{0pt}\n"
               "\\setlength{\\parskip}{4pt}\n\\title{Semi-supervised segmentation benchmark: ");
    tex(o, r->dataset);
    fprintf(o, "}\n\\author{semiseg sg-report}\n\\date{%d of %d runs finished}\n\\begin{document}\n\\maketitle\n"
               "\\setcounter{tocdepth}{1}\n\\tableofcontents\n\n\\section{Results}\n\\input{tables.tex}\n", done, n);
    fprintf(o, "\\section{Missing or failed runs}\n");
    tex_missing_(r, o);
    fprintf(o, "\\section{Figures}\n");
    if (r->figs_missing) {
        fprintf(o, "Figures not produced: ");
        tex(o, r->figs_missing);
        fprintf(o, "\n\n");
    }
    for (int i = 0; i < r->n_figs; i++) {
        if (r->fig_heads[i]) {
            fprintf(o, "\\subsection{");
            tex(o, r->fig_heads[i]);
            fprintf(o, "}\n");
        }
        fprintf(o, "\\begin{center}\n\\includegraphics[width=%s]{%s}\\\\[2pt]\n\\small Figure %d: ",
                strstr(r->figs[i], "curves_") || strstr(r->figs[i], "qualitative") ? "\\linewidth" : "0.8\\linewidth",
                r->figs[i], i + 1);
        tex(o, r->fig_caps[i]);
        fprintf(o, "\n\\end{center}\n\n");
    }
    tex_published_(r, o);
    tex_methods_(r, o);
    fprintf(o, "\\clearpage\n\\appendix\n");
    tex_provenance_(r, o);
    fprintf(o, "\\end{document}\n");
    return sg_atomic_commit(&af, err);
}

/* ---- pdflatex ---------------------------------------------------------------------------- */
int build_pdf(rep_ *r, sg_err *err)
{
    if (r->o.pdf < 0) return 0;
    if (!have_prog("pdflatex")) {
        fprintf(stderr, "sg-report: pdflatex not found: report.pdf not built (the CSV, Markdown and PNG outputs "
                        "are); install texlive-latex-base texlive-latex-recommended texlive-fonts-recommended "
                        "lmodern\n");
        return r->o.pdf > 0 ? sg_err_set(err, "--pdf: pdflatex is not installed") : 0;
    }
    char *const argv[] = {"pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-jobname=report.tmp",
                          "report.tex", NULL};
    char *log = fmt("%s/report.tmp.log", r->o.out);
    /* Twice: the second pass fills the table of contents and longtable widths. */
    for (int pass = 0; pass < 2; pass++) {
        int rc = spawn(r->o.out, fmt("%s/pdflatex.out", r->o.out), argv);
        if (rc) return sg_err_set(err, "pdflatex failed (exit %d): see %s", rc, log);
    }
    if (rename(fmt("%s/report.tmp.pdf", r->o.out), fmt("%s/report.pdf", r->o.out)))
        return sg_err_set(err, "%s/report.pdf: %s", r->o.out, strerror(errno));
    static const char *const junk[] = {"aux", "toc", "out", "log"};
    for (int i = 0; i < 4; i++) unlink(fmt("%s/report.tmp.%s", r->o.out, junk[i]));
    unlink(fmt("%s/pdflatex.out", r->o.out));
    return 0;
}
