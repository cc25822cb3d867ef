/*
 * qualitative.c: the dataset the runs used (from their config.resolved), its
 * class names for the per-class figure, and the tiles of the qualitative
 * figures of the smallest and the largest protocol: image | ground truth |
 * the prediction of each method whose first seed finished there (sg-eval on
 * its final checkpoint). Covered by tests/report.sh.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (w) res = fmt("%s", w);
    else
        for (int i = 0; i < f.n_tensors; i++)
            if (!strncmp(f.tensors[i].name, "ema/", 4)) res = "ema";
    sg_st_close(&f);
    return res;
}

/* The dataset of the runs, from the first readable config.resolved. */
typedef struct qual_cfg_ {
    const char *kind, *root, *val, *mode;
    const char *val_named; /* data.val as the runs' configs give it, for the caption */
    const char *names;     /* data.class_names, or NULL */
    long k, ignore, crop, stride;
} qual_cfg_;

static bool data_cfg_(rep_ *r, qual_cfg_ *q)
{
    for (int m = 0; m < r->n_m; m++)
        for (int p = 0; p < r->n_p; p++)
            for (int s = 0; s < r->n_s; s++) {
                sg_config *c = load_config(run_dir(r, m, p, s));
                if (!c) continue;
                sg_err err;
                const char *kind, *root, *val, *mode, *names;
                bool ok = !sg_config_string(c, "data.kind", "list", &kind, &err) &&
                          !sg_config_string(c, "data.root", NULL, &root, &err) &&
                          !sg_config_string(c, "data.val", NULL, &val, &err) &&
                          !sg_config_string(c, "eval.mode", "whole", &mode, &err) &&
                          !sg_config_int(c, "data.n_classes", 0, 0, 256, &q->k, &err) &&
                          !sg_config_int(c, "data.ignore_index", 255, 0, 255, &q->ignore, &err) &&
                          !sg_config_int(c, "eval.crop", 0, 0, 1 << 20, &q->crop, &err) &&
                          !sg_config_int(c, "eval.stride", 0, 0, 1 << 20, &q->stride, &err) &&
                          !sg_config_string(c, "data.class_names", "", &names, &err);
                if (ok) {
                    q->kind = fmt("%s", kind);
                    q->root = root[0] == '/' ? fmt("%s", root) : fmt("%s/%s", r->o.base, root);
                    q->val = val[0] == '/' ? fmt("%s", val) : fmt("%s/%s", r->o.base, val);
                    q->val_named = fmt("%s", val);
                    q->mode = fmt("%s", mode);
                    q->names = names[0] ? fmt("%s", names) : NULL;
                }
                sg_config_free(c);
                if (ok) return true;
            }
    return false;
}

/* The class names of that dataset, for the per-class figure, from the runs'
 * configs alone (built in for VOC and Cityscapes, data.class_names or
 * "class<k>" for a list dataset); without a readable config the figure shows
 * class indices. */
void load_class_names(rep_ *r)
{
    qual_cfg_ q;
    if (!data_cfg_(r, &q)) return;
    const char *const *known = !strcmp(q.kind, "voc") ? sg_voc_class_names
                               : !strcmp(q.kind, "cityscapes") ? sg_cityscapes_class_names
                                                                : NULL;
    long n_known = !strcmp(q.kind, "voc") ? 21 : !strcmp(q.kind, "cityscapes") ? 19 : q.k;
    char **parsed = NULL;
    if (!known && q.names) {
        sg_err err;
        if (q.k < 1) {
            note(r, "class names not used: data.class_names without data.n_classes");
            return;
        }
        if (!(parsed = sg_class_names_parse(q.names, (int)q.k, &err))) {
            note(r, "class names not used: data.class_names: %s", err.msg);
            return;
        }
        known = (const char *const *)parsed;
    }
    if (!known || n_known >= r->n_classes) { /* a list dataset without names: "class<k>", as eval.tsv */
        r->class_names = sg_xcalloc((size_t)r->n_classes + 1, sizeof *r->class_names);
        for (int k = 0; k < r->n_classes; k++) r->class_names[k] = known ? fmt("%s", known[k]) : fmt("class%d", k);
    }
    free(parsed);
}

/* The tiles: TILE pixels square, GAP pixels apart. */
enum { TILE = 160, GAP = 4 };

/* sg-eval's predictions of checkpoint ckpt on list, written to pred/ and
 * drawn into the tile column at x0 of fig: NULL, else why the column stays
 * grey. */
static const char *predict_column_(const qual_cfg_ *q, const sg_dataset *ds, const char *list, const char *ckpt,
                                   const char *pred, const char *sg_eval, sg_image *fig, int x0)
{
    if (!is_file(ckpt)) return "no checkpoint";
    const char *w = eval_weights_(ckpt);
    char *argv[32];
    int a = 0;
    argv[a++] = (char *)sg_eval;
    argv[a++] = "--checkpoint", argv[a++] = (char *)ckpt;
    argv[a++] = "--dataset", argv[a++] = (char *)q->kind;
    argv[a++] = "--root", argv[a++] = (char *)q->root;
    argv[a++] = "--list", argv[a++] = (char *)list;
    argv[a++] = "--classes", argv[a++] = fmt("%ld", q->k);
    argv[a++] = "--ignore", argv[a++] = fmt("%ld", q->ignore);
    argv[a++] = "--weights", argv[a++] = (char *)w;
    argv[a++] = "--mode", argv[a++] = (char *)q->mode;
    if (q->crop) argv[a++] = "--crop", argv[a++] = fmt("%ld", q->crop);
    if (q->stride) argv[a++] = "--stride", argv[a++] = fmt("%ld", q->stride);
    argv[a++] = "--pred-dir", argv[a++] = (char *)pred;
    argv[a++] = "--threads", argv[a++] = "1";
    argv[a] = NULL;
    int e = spawn(NULL, fmt("%s.log", pred), argv);
    if (e) return fmt("sg-eval failed (exit %d, see %s.log)", e, pred);
    for (int i = 0; i < ds->n; i++) {
        char *base = fmt("%s", ds->samples[i].image), *name = strrchr(base, '/');
        name = name ? name + 1 : base;
        char *dot = strrchr(name, '.');
        if (dot) *dot = 0;
        sg_image pi = {0};
        sg_err e2;
        if (sg_image_read(fmt("%s/%s.png", pred, name), &pi, &e2)) return fmt("%s", e2.msg);
        blit_(fig, x0, GAP + i * (TILE + GAP), TILE, &pi, ds->palette);
        sg_image_free(&pi);
    }
    return NULL;
}

/* The qualitative figure of protocol p, fig/qualitative<suffix>.png: image |
 * ground truth | each method whose first seed finished at p (a method that
 * did not run there has nothing to show). Returns -1 with err set when an
 * image cannot be read or the tiles written. */
static int qual_figure_(rep_ *r, const qual_cfg_ *q, sg_dataset *ds, const char *list, int p, const char *suffix,
                        const char *sg_eval, sg_err *err)
{
    const int s = 0;
    int *ms = sg_xcalloc((size_t)r->n_m + 1, sizeof *ms), n = 0;
    for (int m = 0; m < r->n_m; m++)
        if (cell_at(r, m, p, s)->row >= 0) ms[n++] = m;
    if (!n) {
        note(r, "qualitative figure of protocol %s not made: no method finished seed %llu there", r->protos[p].name,
             r->seeds[s]);
        free(ms);
        return 0;
    }
    const int cols = 2 + n;
    qual_ *f = &r->qual[r->n_qual++];
    f->titles = sg_xcalloc((size_t)cols, sizeof *f->titles);
    f->titles[0] = "image";
    f->titles[1] = "ground truth";
    sg_image fig;
    sg_image_alloc(&fig, ds->n * TILE + (ds->n + 1) * GAP, cols * TILE + (cols + 1) * GAP, 3);
    memset(fig.data, 255, (size_t)fig.h * (size_t)fig.w * 3);
    const char *caption = fmt("Protocol %s, seed %llu, the first %d images of %s. Columns: image | ground truth",
                             r->protos[p].name, r->seeds[s], ds->n, q->val_named);
    int rc = 0;
    for (int i = 0; i < ds->n && !rc; i++) {
        sg_image img = {0}, mask = {0};
        if (sg_dataset_load(ds, i, &img, &mask, err)) {
            rc = -1;
            break;
        }
        blit_(&fig, GAP, GAP + i * (TILE + GAP), TILE, &img, ds->palette);
        blit_(&fig, 2 * GAP + TILE, GAP + i * (TILE + GAP), TILE, &mask, ds->palette);
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    for (int j = 0; j < n && !rc; j++) {
        const int m = ms[j], x0 = (3 + j) * GAP + (2 + j) * TILE;
        const char *why = predict_column_(q, ds, list, fmt("%s/ckpt/last.safetensors", run_dir(r, m, p, s)),
                                          fmt("%s/qual/%s%s", r->o.out, safe_name(r->methods[m]), suffix), sg_eval,
                                          &fig, x0);
        caption = fmt("%s | %s%s", caption, r->methods[m], why ? " (grey: missing)" : "");
        f->titles[2 + j] = why ? fmt("%s (missing)", r->methods[m]) : r->methods[m];
        if (!why) continue;
        for (int i = 0; i < ds->n; i++)
            for (int y = 0; y < TILE; y++) {
                size_t row = (size_t)(GAP + i * (TILE + GAP) + y);
                memset(fig.data + (row * (size_t)fig.w + (size_t)x0) * 3, 192, (size_t)TILE * 3); /* grey: missing */
            }
        note(r, "qualitative figure: %s / %s / seed %llu shown grey: %s", r->methods[m], r->protos[p].name,
             r->seeds[s], why);
    }
    f->png = fmt("qualitative%s.png", suffix);
    f->tiles = fmt("data/qualitative%s_tiles.png", suffix);
    if (!rc) rc = sg_png_write(fmt("%s/fig/%s", r->o.out, f->tiles), &fig, NULL, err);
    f->cols = cols;
    f->w = fig.w;
    f->h = fig.h;
    f->tile = TILE;
    f->gap = GAP;
    sg_image_free(&fig);
    free(ms);
    if (rc) return -1;
    f->caption = fmt("%s; predictions of each method's final checkpoint (sg-eval), in the dataset palette.", caption);
    return 0;
}

int write_qualitative(rep_ *r, const char *sg_eval, sg_err *err)
{
    if (r->o.qualitative <= 0 || !r->n_m || !r->n_p || !r->n_s) return 0;
    qual_cfg_ q;
    if (!data_cfg_(r, &q)) {
        note(r, "qualitative figure not made: no run directory has a readable config.resolved");
        return 0;
    }
    if (!have_prog(sg_eval)) {
        note(r, "qualitative figure not made: %s not found (pass --sg-eval)", sg_eval);
        return 0;
    }
    char *qdir = fmt("%s/qual", r->o.out);
    if (sg_mkdirs(qdir, err)) return -1;
    FILE *in = fopen(q.val, "r");
    if (!in) {
        note(r, "qualitative figure not made: %s: %s", q.val, strerror(errno));
        return 0;
    }
    sg_atomic_file af;
    FILE *o = out_open(&af, qdir, "val.txt", err);
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
    char *list = fmt("%s/val.txt", qdir);
    sg_dataset ds;
    if (open_dataset_(&ds, q.kind, q.root, list, (int)q.k, (int)q.ignore, err)) {
        note(r, "qualitative figure not made: %s", err->msg);
        return 0;
    }
    if (ds.n == 0) {
        sg_dataset_free(&ds);
        note(r, "qualitative figure not made: %s holds no samples", q.val);
        return 0;
    }
    /* The smallest protocol, where the methods differ most, and the largest,
     * where the labels are most plentiful. */
    const int last = r->n_p - 1;
    int rc = qual_figure_(r, &q, &ds, list, 0, "", sg_eval, err);
    if (!rc && last > 0)
        rc = qual_figure_(r, &q, &ds, list, last, fmt("_%s", safe_name(r->protos[last].name)), sg_eval, err);
    sg_dataset_free(&ds);
    return rc;
}
