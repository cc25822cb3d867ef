/*
 * data.c: the tables sg-report reads: results.csv (one row per finished run)
 * and the published numbers (reports/published.csv), with the CSV parsing
 * they share and the look-up of the published number and its source for a
 * method and protocol. Covered by tests/report.sh.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int col_(char **names, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], want)) return i;
    return -1;
}

/* ---- reading results.csv -------------------------------------------------------------- */
int read_results(rep_ *r, sg_err *err)
{
    FILE *fp = fopen(r->o.results, "r");
    if (!fp) {
        if (errno == ENOENT) {
            note(r, "%s does not exist: no run has finished", r->o.results);
            return 0;
        }
        return sg_err_set(err, "%s: %s", r->o.results, strerror(errno));
    }
    char *line = NULL, *hdr = NULL;
    size_t cap = 0;
    int rc = 0, lineno = 0, n_h = 0;
    char *h[MAX_FIELDS];
    int c_method = -1, c_dataset = -1, c_protocol = -1, c_nl = -1, c_seed = -1, c_final = -1, c_best = -1,
        c_iter = -1, c_cls = -1, c_wall = -1, c_ips = -1, c_backend = -1, c_commit = -1, c_hash = -1, c_fin = -1,
        c_tfinal = -1, c_tbest = -1, n_test = 0;
    while (getline(&line, &cap, fp) > 0) {
        lineno++;
        chomp(line);
        if (!*line) continue;
        if (!hdr) {
            hdr = fmt("%s", line);
            n_h = csv_split_(hdr, h);
            c_method = col_(h, n_h, "method");
            c_dataset = col_(h, n_h, "dataset");
            c_protocol = col_(h, n_h, "protocol");
            c_nl = col_(h, n_h, "n_labeled");
            c_seed = col_(h, n_h, "seed");
            c_final = col_(h, n_h, "final_miou");
            c_best = col_(h, n_h, "best_miou");
            c_tfinal = col_(h, n_h, "test_final_miou");
            c_tbest = col_(h, n_h, "test_best_miou");
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
        if (!r->dataset) r->dataset = fmt("%s", f[c_dataset]);
        if (strcmp(f[c_dataset], r->dataset)) {
            rc = sg_err_set(err, "%s:%d: dataset '%s', expected '%s' (one results.csv per dataset)", r->o.results,
                            lineno, f[c_dataset], r->dataset);
            break;
        }
        row_ w = {.line = lineno, .final = NAN, .best = NAN, .wall_s = NAN, .ips = NAN};
        double nl, seed, it = 0;
        if (strlen(f[c_method]) >= NAME_LEN || strlen(f[c_protocol]) >= NAME_LEN || !*f[c_method] ||
            !*f[c_protocol] || !parse_num(f[c_nl], &nl) || !parse_num(f[c_seed], &seed) || seed < 0 ||
            !parse_num(f[c_final], &w.final) || !parse_num(f[c_best], &w.best) ||
            (c_iter >= 0 && !parse_num(f[c_iter], &it))) {
            rc = sg_err_set(err, "%s:%d: a bad method, protocol, n_labeled, seed, iterations or mIoU field",
                            r->o.results, lineno);
            break;
        }
        /* A row with a test set reports its test values (results.c leaves
         * both fields empty without one). */
        const bool tested = c_tfinal >= 0 && c_tbest >= 0 && (*f[c_tfinal] || *f[c_tbest]);
        if (tested && (!parse_num(f[c_tfinal], &w.final) || !parse_num(f[c_tbest], &w.best))) {
            rc = sg_err_set(err, "%s:%d: a bad test_final_miou or test_best_miou field", r->o.results, lineno);
            break;
        }
        n_test += tested;
        if (n_test && n_test != r->n_rows + 1) {
            rc = sg_err_set(err, "%s:%d: rows with and without a test set (data.test) cannot share one table",
                            r->o.results, lineno);
            break;
        }
        copy_str(w.method, NAME_LEN, f[c_method]);
        copy_str(w.protocol, NAME_LEN, f[c_protocol]);
        w.n_labeled = (int)nl;
        w.seed = (unsigned long long)seed;
        w.iterations = (long)it;
        if (c_wall >= 0 && !parse_num(f[c_wall], &w.wall_s)) w.wall_s = NAN;
        if (c_ips >= 0 && !parse_num(f[c_ips], &w.ips)) w.ips = NAN;
        copy_str(w.backend, NAME_LEN, c_backend >= 0 ? f[c_backend] : "");
        copy_str(w.commit, NAME_LEN, c_commit >= 0 ? f[c_commit] : "");
        copy_str(w.hash, NAME_LEN, c_hash >= 0 ? f[c_hash] : "");
        copy_str(w.finished, NAME_LEN, c_fin >= 0 ? f[c_fin] : "");
        if (c_cls >= 0) {
            char *p = f[c_cls], *end;
            while (w.n_cls < MAX_CLASSES) {
                double v = strtod(p, &end);
                if (end == p) break;
                w.cls[w.n_cls++] = v;
                p = end;
            }
        }
        r->rows = xrealloc(r->rows, (size_t)(r->n_rows + 1) * sizeof *r->rows);
        r->rows[r->n_rows++] = w;
    }
    free(line);
    fclose(fp);
    r->on_test = rc == 0 && r->n_rows > 0 && n_test == r->n_rows;
    return rc;
}

/* ---- published numbers ------------------------------------------------------------------ */
int read_published(rep_ *r, sg_err *err)
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
        chomp(line);
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
        if (n != n_h || !parse_num(f[c[6]], &p.miou)) {
            rc = sg_err_set(err, "%s:%d: %d fields (header %d) or a bad miou", r->o.published, lineno, n, n_h);
            goto out;
        }
        p.dataset = fmt("%s", f[c[0]]);
        p.protocol = fmt("%s", f[c[1]]);
        p.method = fmt("%s", f[c[2]]);
        p.paper_method = fmt("%s", f[c[3]]);
        p.backbone = fmt("%s", f[c[4]]);
        p.crop = fmt("%s", f[c[5]]);
        p.source = fmt("%s", f[c[7]]);
        r->pubs = xrealloc(r->pubs, (size_t)(r->n_pubs + 1) * sizeof *r->pubs);
        r->pubs[r->n_pubs++] = p;
    }
out:
    free(line);
    fclose(fp);
    return rc;
}

const pub_ *pub_find(const rep_ *r, const char *method, const char *protocol)
{
    for (int i = 0; i < r->n_pubs; i++)
        if (!strcmp(r->pubs[i].dataset, r->dataset) && !strcmp(r->pubs[i].method, method) &&
            !strcmp(r->pubs[i].protocol, protocol))
            return &r->pubs[i];
    return NULL;
}

/* The published rows shown in the main table, one per distinct source, in
 * order of appearance: source k is cited as [k]. Returns their number. */
int pub_sources(const rep_ *r, const pub_ **out, int max)
{
    int k = 0;
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++) {
            const pub_ *q = pub_find(r, r->methods[m], r->protos[p].name);
            bool seen = false;
            for (int i = 0; q && i < k && !seen; i++) seen = !strcmp(out[i]->source, q->source);
            if (q && !seen && k < max) out[k++] = q;
        }
    return k;
}

int pub_source_index(const rep_ *r, const char *src)
{
    const pub_ *list[256];
    int n = pub_sources(r, list, 256);
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i]->source, src)) return i + 1;
    return 0;
}
