/*
 * fixture.c: loads the tests/data fixtures (format in tests/ref/fixture.py).
 * Every size is checked against the file length, so a truncated fixture fails
 * with a message instead of reading past the buffer.
 */
#include "fixture.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_VERSION 1u

typedef struct {
    char *name;
    uint32_t dtype, ndim, dims[8];
    size_t count;
    const unsigned char *data;
    double *as_double;
} sg_record;

struct sg_fixture {
    char path[1024];
    unsigned char *buf;
    size_t len;
    sg_record *recs;
    uint32_t n;
};

static uint32_t rd_u32_(const sg_fixture *f, size_t *off)
{
    SG_CHECK(*off + 4 <= f->len, "%s: truncated fixture at byte %zu", f->path, *off);
    uint32_t v;
    memcpy(&v, f->buf + *off, 4);
    *off += 4;
    return v;
}

void sg_fixture_path(char *buf, size_t len, const char *name)
{
    const char *top = getenv("top_srcdir");
    snprintf(buf, len, "%s/tests/data/%s", top ? top : ".", name);
}

sg_fixture *sg_fixture_open(const char *name, const char *generator)
{
    sg_fixture *f = sg_xcalloc(1, sizeof *f);
    sg_fixture_path(f->path, sizeof f->path, name);
    FILE *fp = fopen(f->path, "rb");
    SG_CHECK(fp != NULL, "cannot open fixture %s (set top_srcdir, or HINT: regenerate with "
                         "/usr/bin/python3 %s)", f->path, generator);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    SG_CHECK(len > 0, "%s: empty fixture", f->path);
    f->len = (size_t)len;
    f->buf = sg_xmalloc(f->len);
    SG_CHECK(fread(f->buf, 1, f->len, fp) == f->len, "%s: short read", f->path);
    fclose(fp);
    SG_CHECK(f->len >= 12 && memcmp(f->buf, "SGFX", 4) == 0,
             "%s: not a semiseg fixture (bad magic). HINT: regenerate with /usr/bin/python3 %s",
             f->path, generator);
    size_t off = 4;
    uint32_t version = rd_u32_(f, &off);
    SG_CHECK(version == FIXTURE_VERSION,
             "%s: fixture version %u, reader expects %u. HINT: regenerate with /usr/bin/python3 %s",
             f->path, version, FIXTURE_VERSION, generator);
    f->n = rd_u32_(f, &off);
    SG_CHECK(f->n < 100000, "%s: implausible record count %u", f->path, f->n);
    f->recs = sg_xcalloc(f->n ? f->n : 1, sizeof *f->recs);
    for (uint32_t i = 0; i < f->n; i++) {
        sg_record *r = &f->recs[i];
        uint32_t nl = rd_u32_(f, &off);
        SG_CHECK(nl < 1024 && off + nl <= f->len, "%s: bad name length", f->path);
        r->name = sg_xmalloc(nl + 1);
        memcpy(r->name, f->buf + off, nl);
        r->name[nl] = 0;
        off += nl;
        r->dtype = rd_u32_(f, &off);
        r->ndim = rd_u32_(f, &off);
        SG_CHECK(r->dtype <= 2 && r->ndim >= 1 && r->ndim <= 8, "%s: record %s: bad header",
                 f->path, r->name);
        r->count = 1;
        for (uint32_t d = 0; d < r->ndim; d++) {
            r->dims[d] = rd_u32_(f, &off);
            r->count *= r->dims[d];
        }
        size_t esize = r->dtype == 2 ? 8 : 4;
        SG_CHECK(r->count <= f->len && off + r->count * esize <= f->len,
                 "%s: record %s runs past the end of the file", f->path, r->name);
        r->data = f->buf + off;
        off += r->count * esize;
    }
    SG_CHECK(off == f->len, "%s: %zu trailing bytes", f->path, f->len - off);
    return f;
}

void sg_fixture_close(sg_fixture *f)
{
    if (!f) return;
    for (uint32_t i = 0; i < f->n; i++) {
        free(f->recs[i].name);
        free(f->recs[i].as_double);
    }
    free(f->recs);
    free(f->buf);
    free(f);
}

static sg_record *find_(const sg_fixture *f, const char *key)
{
    for (uint32_t i = 0; i < f->n; i++)
        if (strcmp(f->recs[i].name, key) == 0) return &f->recs[i];
    return NULL;
}

bool sg_fixture_has(const sg_fixture *f, const char *key) { return find_(f, key) != NULL; }

static sg_record *get_(const sg_fixture *f, const char *key)
{
    sg_record *r = find_(f, key);
    SG_CHECK(r != NULL, "%s: no record named '%s'", f->path, key);
    return r;
}

sg_tensor *sg_fixture_tensor(const sg_fixture *f, const char *key, bool requires_grad)
{
    sg_record *r = get_(f, key);
    SG_CHECK(r->ndim <= SG_MAX_DIMS && r->dtype != 2, "%s: record %s is not a tensor", f->path, key);
    int shape[SG_MAX_DIMS];
    for (uint32_t d = 0; d < r->ndim; d++) shape[d] = (int)r->dims[d];
    sg_tensor *t = sg_tensor_alloc(r->dtype == 0 ? SG_F32 : SG_I32, (int)r->ndim, shape,
                                   requires_grad && r->dtype == 0);
    memcpy(t->data, r->data, r->count * 4);
    return t;
}

const double *sg_fixture_doubles(const sg_fixture *f, const char *key, size_t *n)
{
    sg_record *r = get_(f, key);
    if (!r->as_double) {
        r->as_double = sg_xmalloc(r->count * sizeof(double));
        for (size_t i = 0; i < r->count; i++) {
            if (r->dtype == 0) {
                float v;
                memcpy(&v, r->data + 4 * i, 4);
                r->as_double[i] = v;
            } else if (r->dtype == 1) {
                int32_t v;
                memcpy(&v, r->data + 4 * i, 4);
                r->as_double[i] = v;
            } else {
                memcpy(&r->as_double[i], r->data + 8 * i, 8);
            }
        }
    }
    if (n) *n = r->count;
    return r->as_double;
}

double sg_fixture_scalar(const sg_fixture *f, const char *key)
{
    size_t n;
    const double *v = sg_fixture_doubles(f, key, &n);
    SG_CHECK(n == 1, "%s: record %s has %zu elements, expected 1", f->path, key, n);
    return v[0];
}

int sg_fixture_load_weights(sg_param_set *set, const char *name, sg_err *err)
{
    char path[1024];
    sg_fixture_path(path, sizeof path, name);
    const sg_name_rule rules[1] = {{"", ""}};
    const sg_weights_opts opts = {.rules = rules, .n_rules = 1, .strict = true};
    return sg_weights_load(set, path, &opts, NULL, err);
}

sg_segformer_config sg_fixture_segformer_config(const sg_fixture *f)
{
    sg_segformer_config c = {0};
    const char *keys[4] = {"cfg.embed", "cfg.heads", "cfg.depths", "cfg.sr"};
    int *dst[4] = {c.backbone.embed_dims, c.backbone.num_heads, c.backbone.depths, c.backbone.sr_ratios};
    size_t n;
    for (int k = 0; k < 4; k++) {
        const double *v = sg_fixture_doubles(f, keys[k], &n);
        SG_CHECK(n == 4, "%s: %s has %zu entries, want 4", f->path, keys[k], n);
        for (int s = 0; s < 4; s++) dst[k][s] = (int)v[s];
    }
    const double *m = sg_fixture_doubles(f, "cfg.misc", &n);
    SG_CHECK(n >= 5, "%s: cfg.misc has %zu entries, want >= 5", f->path, n);
    c.backbone.mlp_ratio = (int)m[0];
    c.backbone.drop_path_rate = (float)m[1];
    c.embed_dim = (int)m[2];
    c.num_classes = (int)m[3];
    c.head_dropout = (float)m[4];
    return c;
}

int sg_allclose(const float *a, const float *b, size_t n, double atol, double rtol, const char *what)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double lim = atol + rtol * fabs((double)b[i]);
        if (!(d <= lim)) bad++; /* also catches NaN */
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad)
        tap_diag("%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g (atol %g rtol %g)",
                 what, bad, n, worst, (double)a[worst], (double)b[worst], atol, rtol);
    return bad == 0;
}

int sg_check_close(const sg_fixture *f, const char *key, const float *got, size_t n,
                   double atol, double rtol)
{
    sg_record *r = get_(f, key);
    SG_CHECK(r->dtype == 0, "%s: record %s is not float32", f->path, key);
    if (r->count != n) {
        tap_diag("%s: record %s has %zu elements, computed %zu", f->path, key, r->count, n);
        return 0;
    }
    float *want = sg_xmalloc(n * sizeof(float));
    memcpy(want, r->data, n * sizeof(float));
    int ok = sg_allclose(got, want, n, atol, rtol, key);
    free(want);
    return ok;
}

sg_tensor *sg_fixture_tensor_opt_at(const sg_fixture *f, const char *prefix, const char *name,
                                    bool requires_grad)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return sg_fixture_has(f, key) ? sg_fixture_tensor(f, key, requires_grad) : NULL;
}

int sg_check_close_at(const sg_fixture *f, const char *prefix, const char *name, const float *got, size_t n,
                      double atol, double rtol)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return sg_check_close(f, key, got, n, atol, rtol);
}

double sg_fixture_scalar_at(const sg_fixture *f, const char *prefix, const char *name)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s", prefix, name);
    return sg_fixture_scalar(f, key);
}
