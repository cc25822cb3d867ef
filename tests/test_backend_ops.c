/*
 * test_backend_ops.c: every kernel-table entry (include/semiseg/backend.h) of
 * every backend present, against the reference CPU backend. Model: ggml's
 * tests/test-backend-ops.cpp: one static table of cases (entry, parameters,
 * shapes as data) and one runner per argument-list family that feeds it.
 *
 * For each case and each non-reference backend (oneDNN in oneDNN builds,
 * cuda:0 in CUDA builds with a device) the runner draws deterministic inputs
 * on the host (sg_rng, stream SG_RNG_TEST/case/buffer: both backends get the
 * same numbers), copies them over with the backend's to_device, runs the
 * entry and reads every output back with to_host; the same runner on the
 * reference gives the expected values. Each output buffer has 256 guard
 * bytes on each side holding a sentinel, which must come back intact.
 * Gradient outputs are pre-filled with random non-zero values, checking +=
 * (zeroed where a case passes dx_zero = true). Backend-defined saved state
 * (batch-norm statistics, pooling indices/workspace) is never compared: a
 * backward case runs the backend's own forward first.
 *
 * Per float output: NaN/Inf of the backend where the reference is finite
 * fails (a reference NaN at the same place is expected: KL's dtarget at
 * t = 0); normalised MSE sum (a-b)^2 / sum b^2, largest absolute and
 * relative errors, and |a - b| <= atol + rtol |b| everywhere. Integer
 * outputs (labels, counts, ids) must be equal. Tolerances (tol_of), for
 * inputs of magnitude O(1):
 * - TB (copies, selections, one correctly rounded operation: relu, add,
 *   concat, nearest, argmax, masks): bitwise on every backend.
 * - TE (a few float operations: mul/scale backward, mse, sgd, ema): bitwise
 *   on CPU backends (the same C); on CUDA, where nvcc may contract a*b+c to
 *   an FMA, about one ulp of the larger product: 2e-7 abs + 4 ulp (2.4e-7)
 *   rel, NMSE 1e-12.
 * - TM (transcendentals, short row sums: gelu, softmax, cross entropy, KL,
 *   entropy, layer norm, bilinear, pooling means): CUDA's expf/logf/erff are
 *   within 2 ulp, glibc's within 1, and a row of C <= 256 terms adds a few
 *   ulp: 1e-6 abs + 1e-6 (16 ulp) rel, NMSE 1e-11; bitwise on CPU.
 * - TS (sum, mean, weighted_sum, accumulated in double and rounded once):
 *   another order of the double partials moves the result by at most one
 *   rounding: 1.2e-7 (2^-23) rel + 1e-9 abs.
 * - TC (convolution, linear, matmul: float sums of K terms in a library's
 *   order, error about sqrt(K) 2^-24 sum|terms|): the cases keep K <= 288
 *   and dw/db reductions N Ho Wo <= 512 as tests/test_dnnl.c does, whose
 *   observed errors (5e-7 on out/dx, 1.05e-5 on dw = -4.7, 5.7e-6 on db = 21)
 *   set 1e-5 abs + 5e-6 rel; the same here, and NMSE 1e-10. A wrong tap,
 *   stride, group or dilation moves values by O(0.1).
 * - TBN (batch norm): test_dnnl.c's 1e-5 abs + 5e-6 rel (oneDNN sums the
 *   N HW <= 1152 values in float, the reference in double); running
 *   statistics 1e-6 abs and rel.
 * - TP (max pooling): the forward copies values, so exact; a dx element
 *   sums a few window gradients in some order: 1e-6 abs.
 *
 * An entry a backend shares with the reference (same function pointer: on
 * oneDNN all but conv/bn/pool) gives `# SKIP same kernel as the reference`,
 * a NULL one `# SKIP backend X has no kernel E`. A backend whose table says
 * `deterministic` runs each case twice and must repeat bitwise. A case no
 * other backend ran runs twice on the reference, which must repeat bitwise,
 * so every case asserts something on every machine. The first check fails
 * for any non-memory entry of sg_backend_entries without a case.
 * SG_TEST_VERBOSE=1 prints the errors of every comparison.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semiseg.h"
#include "tap.h"

/* ---- results ------------------------------------------------------------------------- */
enum { T_F32, T_I32, T_U8, T_SZ };          /* T_SZ: a host scalar (count), as int64 */
static const size_t type_size_[] = {4, 4, 1, 8};
#define MAX_SEG 8
#define MAX_BUF 24
#define GUARD 256                            /* bytes each side: keeps CUDA's alignment */
#define SENTINEL 0xA5

typedef struct { const char *name; int type; size_t n; void *v; bool guards_ok; } seg;
typedef struct { int n; seg s[MAX_SEG]; } result;

/* One run of one case on one backend: its device buffers and what came back. */
typedef struct run {
    const sg_backend *be;
    sg_arena ws;
    int ci, k, nb, nh; /* case index, buffers drawn (rng streams), device and host buffers */
    struct { unsigned char *base; size_t bytes; const char *name; int type; } b[MAX_BUF];
    void *host[MAX_BUF];
    result *res;
} run; /* b[i].name non-NULL: an output, read back with its guards */

static sg_rng rng_(run *r)
{
    sg_rng g;
    sg_rng_init(&g, 20240601, sg_rng_stream(SG_RNG_TEST, (uint64_t)r->ci, (uint64_t)r->k++));
    return g;
}

static void *hmem_(run *r, size_t bytes)
{
    SG_CHECK(r->nh < MAX_BUF, "too many host buffers");
    return r->host[r->nh++] = sg_xmalloc(bytes ? bytes : 1);
}

/* Host values uniform in [lo, hi). */
static float *rnd_(run *r, size_t n, float lo, float hi)
{
    float *h = hmem_(r, n * sizeof(float));
    sg_rng g = rng_(r);
    sg_rng_fill_uniform(&g, h, n, lo, hi);
    return h;
}

/* Device buffer of `bytes` with guards, initialised from `host` (NULL: zero);
 * `name` makes it an output. */
static void *dev_(run *r, const char *name, int type, const void *host, size_t bytes)
{
    SG_CHECK(r->nb < MAX_BUF, "too many device buffers");
    size_t total = bytes + 2 * GUARD;
    unsigned char *tmp = sg_xmalloc(total);
    memset(tmp, SENTINEL, GUARD);
    memset(tmp + GUARD + bytes, SENTINEL, GUARD);
    if (host)
        memcpy(tmp + GUARD, host, bytes);
    else
        memset(tmp + GUARD, 0, bytes);
    unsigned char *base = r->be->alloc(total);
    r->be->to_device(base, tmp, total);
    free(tmp);
    r->b[r->nb].base = base;
    r->b[r->nb].bytes = bytes;
    r->b[r->nb].name = name;
    r->b[r->nb].type = type;
    r->nb++;
    return base + GUARD;
}

#define up_(r, h, n) ((float *)dev_((r), NULL, T_F32, (h), (n) * sizeof(float)))
#define upi_(r, h, n) ((int32_t *)dev_((r), NULL, T_I32, (h), (n) * sizeof(int32_t)))
/* Random float input in [lo, hi). */
static float *in_(run *r, size_t n, float lo, float hi) { return up_(r, rnd_(r, n, lo, hi), n); }
/* Output pre-filled in [lo, hi) (lo == hi: zero) */
static float *out_(run *r, const char *name, size_t n, float lo, float hi)
{
    return dev_(r, name, T_F32, lo == hi ? NULL : rnd_(r, n, lo, hi), n * sizeof(float));
}
#define PRE -1.0f, 1.0f
#define ZERO 0.0f, 0.0f

/* Random integers in [lo, hi); with `ign`, about one in `ign` is 255. */
static int32_t *rndi_(run *r, size_t n, int lo, int hi, int ign)
{
    int32_t *h = hmem_(r, n * sizeof(int32_t));
    sg_rng g = rng_(r);
    for (size_t i = 0; i < n; i++) {
        h[i] = lo + (int32_t)sg_rng_below(&g, (uint32_t)(hi - lo));
        if (ign && sg_rng_below(&g, (uint32_t)ign) == 0) h[i] = 255;
    }
    return h;
}

static void *outraw_(run *r, const char *name, int type, size_t n)
{
    void *h = hmem_(r, n * type_size_[type]);
    memset(h, 0x5C, n * type_size_[type]); /* not the sentinel: a write must replace it */
    return dev_(r, name, type, h, n * type_size_[type]);
}

static void seg_add_(run *r, const char *name, int type, size_t n, const void *v, bool g)
{
    result *res = r->res;
    SG_CHECK(res->n < MAX_SEG, "too many outputs");
    seg *s = &res->s[res->n++];
    *s = (seg){name, type, n, sg_xmalloc(n * type_size_[type] + 1), g};
    memcpy(s->v, v, n * type_size_[type]);
}

/* A host scalar output (a count). */
static void outsz_(run *r, const char *name, long long v) { seg_add_(r, name, T_SZ, 1, &v, true); }

/* Reads every output back (guards included), then frees the run. */
static void finish_(run *r)
{
    r->be->synchronize();
    for (int i = 0; i < r->nb; i++) {
        if (r->b[i].name) {
            size_t total = r->b[i].bytes + 2 * GUARD;
            unsigned char *tmp = sg_xmalloc(total);
            r->be->to_host(tmp, r->b[i].base, total);
            bool g = true;
            for (size_t j = 0; j < GUARD; j++)
                g &= tmp[j] == SENTINEL && tmp[GUARD + r->b[i].bytes + j] == SENTINEL;
            seg_add_(r, r->b[i].name, r->b[i].type, r->b[i].bytes / type_size_[r->b[i].type],
                     tmp + GUARD, g);
            free(tmp);
        }
        r->be->free(r->b[i].base);
    }
    for (int i = 0; i < r->nh; i++) free(r->host[i]);
    sg_arena_free(&r->ws);
}

static void res_free_(result *res)
{
    for (int i = 0; i < res->n; i++) free(res->s[i].v);
    res->n = 0;
}

/* ---- cases --------------------------------------------------------------------------- */
enum tolc { TB, TE, TM, TS, TC, TBN, TP };
static const char *const tol_names_[] = {"TB", "TE", "TM", "TS", "TC", "TBN", "TP"};

typedef struct tcase tcase;
typedef void (*runner)(run *r, const tcase *c);
struct tcase {           /* entry under test, its runner and tolerance class; shapes and */
    const char *entry;   /* flags p and scalars f (meaning per runner); `also`: another */
    runner fn;           /* entry the runner calls (the forward of a backward) */
    int tol;
    const char *desc;
    int p[16];
    double f[4];
    const char *also;
};

#define E(name) (!strcmp(c->entry, #name))
#define BE (r->be)

/* conv: p = N Cin H W Cout kh kw sh sw ph pw dh dw groups bias mode
 * (mode 0 forward, 1 backward, 2 backward with dx_zero, 3 backward without dx) */
static void r_conv(run *r, const tcase *c)
{
    const int *p = c->p;
    sg_conv2d_dims d = {.N = p[0], .Cin = p[1], .H = p[2], .W = p[3], .Cout = p[4], .kh = p[5],
                        .kw = p[6], .stride_h = p[7], .stride_w = p[8], .pad_h = p[9],
                        .pad_w = p[10], .dil_h = p[11], .dil_w = p[12], .groups = p[13]};
    d.Ho = (d.H + 2 * d.pad_h - d.dil_h * (d.kh - 1) - 1) / d.stride_h + 1;
    d.Wo = (d.W + 2 * d.pad_w - d.dil_w * (d.kw - 1) - 1) / d.stride_w + 1;
    size_t nx = (size_t)d.N * d.Cin * d.H * d.W, no = (size_t)d.N * d.Cout * d.Ho * d.Wo;
    size_t nw = (size_t)d.Cout * (d.Cin / d.groups) * d.kh * d.kw;
    float *x = in_(r, nx, -1, 1), *w = in_(r, nw, -1, 1);
    float *b = p[14] ? in_(r, (size_t)d.Cout, -1, 1) : NULL;
    if (p[15] == 0) {
        BE->conv2d_forward(&r->ws, out_(r, "out", no, PRE), x, w, b, &d);
        return;
    }
    float *dout = in_(r, no, -1, 1);
    float *dx = p[15] == 3 ? NULL : p[15] == 2 ? out_(r, "dx", nx, ZERO) : out_(r, "dx", nx, PRE);
    float *dw = out_(r, "dw", nw, PRE), *db = b ? out_(r, "db", (size_t)d.Cout, PRE) : NULL;
    BE->conv2d_backward(&r->ws, dx, dw, db, p[15] == 2, dout, x, w, &d);
}

/* p = planes kh kw ckh ckw kh0 kw0 add */
static void r_crop(run *r, const tcase *c)
{
    const int *p = c->p;
    size_t nw = (size_t)p[0] * p[1] * p[2], nc = (size_t)p[0] * p[3] * p[4];
    float *w = p[7] ? out_(r, "w", nw, PRE) : in_(r, nw, -1, 1);
    float *wc = p[7] ? in_(r, nc, -1, 1) : out_(r, "wc", nc, PRE);
    BE->conv2d_crop_weight(w, wc, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
}

/* bn: p = N C HW training relu affine mode (0 forward, 1 backward, 2 dx_zero);
 * f = momentum eps. The backward runs the backend's forward for its saved. */
static void r_bn(run *r, const tcase *c)
{
    const int *p = c->p;
    int N = p[0], C = p[1], HW = p[2];
    size_t n = (size_t)N * C * HW;
    float *x = in_(r, n, -1.5f, 2.5f);
    float *w = p[5] ? in_(r, (size_t)C, 0.5f, 1.5f) : NULL;
    float *b = p[5] ? in_(r, (size_t)C, -0.5f, 0.5f) : NULL;
    float *rm = out_(r, "running_mean", (size_t)C, -0.5f, 0.5f);
    float *rv = out_(r, "running_var", (size_t)C, 0.5f, 1.5f);
    float *saved = dev_(r, NULL, T_F32, NULL, 2 * (size_t)C * sizeof(float));
    float *out = out_(r, "out", n, PRE);
    BE->batchnorm_forward(&r->ws, out, saved, rm, rv, x, w, b, p[3], p[4], (float)c->f[0],
                          (float)c->f[1], N, C, HW);
    if (!p[6]) return;
    float *dout = in_(r, n, -1, 1); /* may be overwritten with relu: this run's own copy */
    float *dx = out_(r, "dx", n, p[6] == 2 ? 0.0f : -1.0f, p[6] == 2 ? 0.0f : 1.0f);
    float *dw = w ? out_(r, "dw", (size_t)C, PRE) : NULL;
    float *db = w ? out_(r, "db", (size_t)C, PRE) : NULL;
    BE->batchnorm_backward(&r->ws, dx, dw, db, p[6] == 2, dout, out, x, w, b, saved, p[3], p[4],
                           (float)c->f[1], N, C, HW);
}

/* layernorm_channels: p = N C HW affine mode(0 forward, 1 backward, 2 backward without dw/db);
 * f = eps */
static void r_lnc(run *r, const tcase *c)
{
    const int *p = c->p;
    const size_t pos = (size_t)p[0] * p[2], n = pos * p[1];
    float *x = in_(r, n, -2, 3);
    float *w = p[3] ? in_(r, (size_t)p[1], 0.5f, 1.5f) : NULL;
    float *b = p[3] ? in_(r, (size_t)p[1], -0.5f, 0.5f) : NULL;
    float *out = out_(r, "out", n, PRE), *mean = out_(r, "mean", pos, PRE);
    float *rstd = out_(r, "rstd", pos, PRE);
    BE->layernorm_channels_forward(out, mean, rstd, x, w, b, (float)c->f[0], p[0], p[1],
                                   (size_t)p[2]);
    if (!p[4]) return;
    float *dout = in_(r, n, -1, 1), *dx = out_(r, "dx", n, PRE);
    float *dw = w && p[4] == 1 ? out_(r, "dw", (size_t)p[1], PRE) : NULL;
    float *db = w && p[4] == 1 ? out_(r, "db", (size_t)p[1], PRE) : NULL;
    BE->layernorm_channels_backward(dx, dw, db, dout, x, w, mean, rstd, p[0], p[1], (size_t)p[2]);
}

/* attention: p = B H N M D channels_first mode (0 forward; backward: mask 1 dq, 2 dk, 4 dv);
 * f = scale. The backward runs the backend's forward for its prob. */
static void r_attn(run *r, const tcase *c)
{
    const int *p = c->p;
    const int B = p[0], H = p[1], N = p[2], M = p[3], D = p[4];
    const size_t nq = (size_t)B * N * H * D, nk = (size_t)B * M * H * D;
    float *q = in_(r, nq, -1.5f, 1.5f), *k = in_(r, nk, -1.5f, 1.5f), *v = in_(r, nk, -1, 1);
    float *out = out_(r, "out", nq, PRE);
    float *prob = out_(r, "prob", (size_t)B * H * N * M, PRE);
    BE->attention_forward(&r->ws, out, prob, q, k, v, B, H, N, M, D, (float)c->f[0], p[5]);
    if (!p[6]) return;
    float *dout = in_(r, nq, -1, 1);
    float *dq = p[6] & 1 ? out_(r, "dq", nq, PRE) : NULL;
    float *dk = p[6] & 2 ? out_(r, "dk", nk, PRE) : NULL;
    float *dv = p[6] & 4 ? out_(r, "dv", nk, PRE) : NULL;
    BE->attention_backward(&r->ws, dq, dk, dv, dout, q, k, v, prob, B, H, N, M, D, (float)c->f[0],
                           p[5]);
}

/* layernorm: p = rows D affine mode; f = eps */
static void r_ln(run *r, const tcase *c)
{
    const int *p = c->p;
    size_t rows = (size_t)p[0], n = rows * p[1];
    float *x = in_(r, n, -2, 3);
    float *w = p[2] ? in_(r, (size_t)p[1], 0.5f, 1.5f) : NULL;
    float *b = p[2] ? in_(r, (size_t)p[1], -0.5f, 0.5f) : NULL;
    float *out = out_(r, "out", n, PRE), *mean = out_(r, "mean", rows, PRE);
    float *rstd = out_(r, "rstd", rows, PRE);
    BE->layernorm_forward(out, mean, rstd, x, w, b, (float)c->f[0], rows, p[1]);
    if (!p[3]) return;
    float *dout = in_(r, n, -1, 1), *dx = out_(r, "dx", n, PRE);
    float *dw = w ? out_(r, "dw", (size_t)p[1], PRE) : NULL;
    float *db = w ? out_(r, "db", (size_t)p[1], PRE) : NULL;
    BE->layernorm_backward(dx, dw, db, dout, x, w, mean, rstd, rows, p[1]);
}

/* maxpool: p = N C H W kernel stride pad ties mode (0 forward, 1 backward, 2 dx_zero) */
static void r_pool(run *r, const tcase *c)
{
    const int *p = c->p;
    int N = p[0], C = p[1], H = p[2], W = p[3], k = p[4], s = p[5], pad = p[6];
    int Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
    size_t nx = (size_t)N * C * H * W, no = (size_t)N * C * Ho * Wo;
    float *xh = rnd_(r, nx, -1, 1);
    if (p[7]) /* four levels only: many windows have tied maxima */
        for (size_t i = 0; i < nx; i++) xh[i] = floorf(xh[i] * 2.0f) * 0.5f;
    float *x = up_(r, xh, nx), *out = out_(r, "out", no, PRE);
    void *saved = BE->maxpool2d_forward(&r->ws, out, x, p[8] != 0, N, C, H, W, Ho, Wo, k, s, pad);
    if (!p[8]) return;
    float *dout = in_(r, no, -1, 1);
    float *dx = p[8] == 2 ? out_(r, "dx", nx, ZERO) : out_(r, "dx", nx, PRE);
    BE->maxpool2d_backward(dx, p[8] == 2, dout, saved, N, C, H, W, Ho, Wo, k, s, pad);
}

/* Element-wise entries of one or two tensors: p = n (or planes hw); f = scalar. */
static void r_ew(run *r, const tcase *c)
{
    size_t n = (size_t)c->p[0];
    float *xh = rnd_(r, n, -4, 4);
    for (size_t i = 0; i < n; i += 7) xh[i] = i % 2 ? -0.0f : 0.0f; /* relu's boundary */
    float *x = up_(r, xh, n), *y = in_(r, n, -2, 2), s = (float)c->f[0];
    if (E(relu_forward)) BE->relu_forward(out_(r, "out", n, PRE), x, n);
    if (E(gelu_forward)) BE->gelu_forward(out_(r, "out", n, PRE), x, n);
    if (E(scale_forward)) BE->scale_forward(out_(r, "out", n, PRE), x, s, n);
    if (E(relu_backward)) BE->relu_backward(out_(r, "dx", n, PRE), y, x, n);
    if (E(gelu_backward)) BE->gelu_backward(out_(r, "dx", n, PRE), y, x, n);
    if (E(scale_backward)) BE->scale_backward(out_(r, "dx", n, PRE), y, s, n);
    if (E(ema_blend)) BE->ema_blend(out_(r, "e", n, PRE), y, n, s, (float)(1.0 - c->f[0]));
    if (E(add_forward)) BE->add_forward(out_(r, "out", n, PRE), x, y, n);
    if (E(sub_forward)) BE->sub_forward(out_(r, "out", n, PRE), x, y, n);
    if (E(mul_forward)) BE->mul_forward(out_(r, "out", n, PRE), x, y, n);
    if (E(mse_forward)) BE->mse_forward(out_(r, "out", n, PRE), x, y, n);
    /* p[1]: which gradients are wanted (1 da, 2 db, 3 both) */
    float *da = c->p[1] & 1 ? out_(r, "da", n, PRE) : NULL;
    float *db = c->p[1] & 2 ? out_(r, "db", n, PRE) : NULL;
    float *dout = c->p[1] ? in_(r, n, -1, 1) : NULL;
    if (E(add_backward)) BE->add_backward(da, db, dout, n);
    if (E(sub_backward)) BE->sub_backward(da, db, dout, n);
    if (E(mul_backward)) BE->mul_backward(da, db, dout, x, y, n);
    if (E(dropout2d_forward) || E(dropout2d_backward)) { /* p = n planes: keep 2, drop 0 */
        size_t planes = (size_t)c->p[2], hw = n / planes;
        float *sh = rnd_(r, planes, 0, 1);
        for (size_t i = 0; i < planes; i++) sh[i] = sh[i] < 0.5f ? 0.0f : 2.0f;
        float *sc = up_(r, sh, planes);
        if (E(dropout2d_forward))
            BE->dropout2d_forward(out_(r, "out", n, PRE), x, sc, planes, hw);
        else
            BE->dropout2d_backward(out_(r, "dx", n, PRE), y, sc, planes, hw);
    }
}

/* resize: p = planes h w oh ow align_corners */
static void r_resize(run *r, const tcase *c)
{
    const int *p = c->p;
    size_t ni = (size_t)p[0] * p[1] * p[2], no = (size_t)p[0] * p[3] * p[4];
    if (E(resize_nearest_labels)) {
        int32_t *x = upi_(r, rndi_(r, ni, 0, 21, 8), ni);
        BE->resize_nearest_labels(outraw_(r, "out", T_I32, no), x, p[0], p[1], p[2], p[3], p[4]);
        return;
    }
    float *x = in_(r, ni, -1, 1), *dout = in_(r, no, -1, 1);
    if (E(resize_bilinear_forward))
        BE->resize_bilinear_forward(&r->ws, out_(r, "out", no, PRE), x, p[0], p[1], p[2], p[3],
                                    p[4], p[5]);
    if (E(resize_bilinear_backward))
        BE->resize_bilinear_backward(&r->ws, out_(r, "dx", ni, PRE), dout, p[0], p[1], p[2], p[3],
                                     p[4], p[5]);
    if (E(resize_nearest_forward))
        BE->resize_nearest_forward(out_(r, "out", no, PRE), x, p[0], p[1], p[2], p[3], p[4]);
    if (E(resize_nearest_backward))
        BE->resize_nearest_backward(out_(r, "dx", ni, PRE), dout, p[0], p[1], p[2], p[3], p[4]);
}

/* concat/narrow: p = outer big_len off len inner; x or dout of (outer, len, inner) */
static void r_layout(run *r, const tcase *c)
{
    const int *p = c->p;
    size_t big = (size_t)p[0] * p[1] * p[4], small = (size_t)p[0] * p[3] * p[4];
    if (E(concat_forward))
        BE->concat_forward(out_(r, "out", big, PRE), in_(r, small, -1, 1), (size_t)p[0], p[1],
                           p[2], p[3], (size_t)p[4]);
    if (E(concat_backward))
        BE->concat_backward(out_(r, "dx", small, PRE), in_(r, big, -1, 1), (size_t)p[0], p[1],
                            p[2], p[3], (size_t)p[4]);
    if (E(narrow_forward))
        BE->narrow_forward(out_(r, "out", small, PRE), in_(r, big, -1, 1), (size_t)p[0], p[1],
                           p[2], p[3], (size_t)p[4]);
    if (E(narrow_backward))
        BE->narrow_backward(out_(r, "dx", big, PRE), in_(r, small, -1, 1), (size_t)p[0], p[1],
                            p[2], p[3], (size_t)p[4]);
}

/* softmax/log_softmax over dim C of (outer, C, inner): p = outer C inner.
 * The backward's y is the reference's forward of random logits. */
static void r_softmax(run *r, const tcase *c)
{
    int o = c->p[0], C = c->p[1], in = c->p[2];
    size_t n = (size_t)o * C * in;
    float *xh = rnd_(r, n, -4, 4), *yh = hmem_(r, n * sizeof(float));
    const sg_backend *ref = sg_backend_cpu_reference();
    bool log = E(log_softmax_forward) || E(log_softmax_backward);
    (log ? ref->log_softmax_forward : ref->softmax_forward)(yh, xh, o, C, in);
    float *x = up_(r, xh, n), *y = up_(r, yh, n), *dout = in_(r, n, -1, 1);
    if (E(softmax_forward)) BE->softmax_forward(out_(r, "out", n, PRE), x, o, C, in);
    if (E(log_softmax_forward)) BE->log_softmax_forward(out_(r, "out", n, PRE), x, o, C, in);
    if (E(softmax_backward)) BE->softmax_backward(out_(r, "dx", n, PRE), dout, y, o, C, in);
    if (E(log_softmax_backward))
        BE->log_softmax_backward(out_(r, "dx", n, PRE), dout, y, o, C, in);
}

/* reductions: p = n weighted NC HW; f = divisor */
static void r_reduce(run *r, const tcase *c)
{
    size_t n = (size_t)c->p[0];
    float *x = in_(r, n, -1, 2), *w = c->p[1] ? in_(r, n, 0, 1) : NULL;
    float *d1 = in_(r, 1, -2, 2);
    if (E(sum_forward)) BE->sum_forward(&r->ws, out_(r, "out", 1, PRE), x, n);
    if (E(mean_forward)) BE->mean_forward(&r->ws, out_(r, "out", 1, PRE), x, n);
    if (E(weighted_sum)) BE->weighted_sum(&r->ws, out_(r, "out", 1, PRE), x, w, n, c->f[0]);
    if (E(sum_backward)) BE->sum_backward(out_(r, "dx", n, PRE), d1, n);
    if (E(mean_backward)) BE->mean_backward(out_(r, "dx", n, PRE), d1, n);
    size_t nc = (size_t)c->p[2], hw = (size_t)c->p[3];
    if (E(global_avgpool_forward))
        BE->global_avgpool_forward(out_(r, "out", nc, PRE), in_(r, nc * hw, -1, 1), (int)nc,
                                   (int)hw);
    if (E(global_avgpool_backward))
        BE->global_avgpool_backward(out_(r, "dx", nc * hw, PRE), in_(r, nc, -1, 1), (int)nc,
                                    (int)hw);
}

/* linear: p = R I O bias mask(1 dx, 2 dw, 4 db); matmul: p = B M N K ta tb mask(1 da, 2 db) */
static void r_mm(run *r, const tcase *c)
{
    const int *p = c->p;
    if (E(linear_forward) || E(linear_backward)) {
        int R = p[0], I = p[1], O = p[2];
        float *x = in_(r, (size_t)R * I, -1, 1), *w = in_(r, (size_t)O * I, -1, 1);
        float *b = p[3] ? in_(r, (size_t)O, -1, 1) : NULL;
        if (E(linear_forward)) {
            BE->linear_forward(out_(r, "out", (size_t)R * O, PRE), x, w, b, R, I, O);
            return;
        }
        float *dout = in_(r, (size_t)R * O, -1, 1);
        float *dx = p[4] & 1 ? out_(r, "dx", (size_t)R * I, PRE) : NULL;
        float *dw = p[4] & 2 ? out_(r, "dw", (size_t)O * I, PRE) : NULL;
        float *db = p[4] & 4 ? out_(r, "db", (size_t)O, PRE) : NULL;
        BE->linear_backward(dx, dw, db, dout, x, w, R, I, O);
        return;
    }
    int B = p[0], M = p[1], N = p[2], K = p[3];
    size_t na = (size_t)B * M * K, nb = (size_t)B * K * N, nc = (size_t)B * M * N;
    float *a = in_(r, na, -1, 1), *b = in_(r, nb, -1, 1);
    if (E(matmul_forward)) {
        BE->matmul_forward(out_(r, "c", nc, PRE), a, b, B, M, N, K, p[4], p[5]);
        return;
    }
    float *dc = in_(r, nc, -1, 1);
    BE->matmul_backward(p[6] & 1 ? out_(r, "da", na, PRE) : NULL,
                        p[6] & 2 ? out_(r, "db", nb, PRE) : NULL, dc, a, b, B, M, N, K, p[4],
                        p[5]);
}

/* losses: CE p = N K HW weighted per_pixel dweight, f = divisor;
 * check_targets p = n K bad_at; mse/kl p = n per_element mask, f = divisor;
 * entropy p = N C HW, f = eps */
static void r_loss(run *r, const tcase *c)
{
    const int *p = c->p;
    if (E(cross_entropy_forward) || E(cross_entropy_backward)) {
        int N = p[0], K = p[1], HW = p[2];
        size_t np = (size_t)N * HW, nl = np * K;
        float *lh = rnd_(r, nl, -3, 3);
        int32_t *th = rndi_(r, np, 0, K, 6);
        float *wh = p[3] ? rnd_(r, np, 0, 2) : NULL;
        float *lg = up_(r, lh, nl), *wt = p[3] ? up_(r, wh, np) : NULL;
        int32_t *t = upi_(r, th, np);
        if (E(cross_entropy_forward)) {
            BE->cross_entropy_forward(out_(r, "ce", np, PRE), out_(r, "lse", np, PRE),
                                      p[3] ? out_(r, "wce", np, PRE) : NULL, lg, t, wt, N, K, HW,
                                      255);
            return;
        }
        float *ceh = hmem_(r, np * 4), *lseh = hmem_(r, np * 4);
        sg_backend_cpu_reference()->cross_entropy_forward(ceh, lseh, NULL, lh, th, wh, N, K, HW,
                                                          255);
        float *dout = p[4] ? in_(r, np, -1, 1) : in_(r, 1, 0.5f, 2);
        BE->cross_entropy_backward(out_(r, "dlogits", nl, PRE),
                                   p[5] ? out_(r, "dweight", np, PRE) : NULL, dout, p[4], c->f[0],
                                   lg, up_(r, lseh, np), up_(r, ceh, np), t, wt, N, K, HW, 255);
        return;
    }
    if (E(cross_entropy_check_targets)) {
        size_t n = (size_t)p[0], count = 0;
        long bad = 0;
        int32_t *th = rndi_(r, n, 0, p[1], 5);
        if (p[2] >= 0) th[p[2]] = p[1]; /* one out of range */
        if (p[2] >= 0 && p[2] + 7 < p[0]) th[p[2] + 7] = -1;
        BE->cross_entropy_check_targets(upi_(r, th, n), n, p[1], 255, &count, &bad);
        outsz_(r, "first_bad", bad);
        outsz_(r, "count", bad < 0 ? (long long)count : 0); /* defined without a bad one only */
        return;
    }
    if (E(entropy_forward) || E(entropy_backward)) {
        size_t np = (size_t)p[0] * p[2], n = np * p[1];
        float *ph = rnd_(r, n, 0, 1);
        for (size_t i = 0; i < n; i += 5) ph[i] = 0.0f;
        float *pr = up_(r, ph, n), eps = (float)c->f[0];
        if (E(entropy_forward))
            BE->entropy_forward(out_(r, "out", np, PRE), pr, eps, p[0], p[1], p[2]);
        else
            BE->entropy_backward(out_(r, "dp", n, PRE), in_(r, np, -1, 1), pr, eps, p[0], p[1],
                                 p[2]);
        return;
    }
    size_t n = (size_t)p[0];
    bool kl = E(kl_div_forward) || E(kl_div_backward);
    float *ah = rnd_(r, n, kl ? -5.0f : -2.0f, kl ? 0.0f : 2.0f), *bh = rnd_(r, n, kl ? 0 : -2, 1);
    if (kl)
        for (size_t i = 0; i < n; i += 6) bh[i] = 0.0f; /* xlogy(0, 0) = 0; dtarget NaN there */
    float *a = up_(r, ah, n), *b = up_(r, bh, n);
    if (E(kl_div_forward)) {
        BE->kl_div_forward(out_(r, "out", n, PRE), a, b, n);
        return;
    }
    float *dout = p[1] ? in_(r, n, -1, 1) : in_(r, 1, 0.5f, 2);
    float *da = p[2] & 1 ? out_(r, "da", n, PRE) : NULL;
    float *db = p[2] & 2 ? out_(r, "db", n, PRE) : NULL;
    if (E(mse_backward)) BE->mse_backward(da, db, dout, p[1], c->f[0], a, b, n);
    if (E(kl_div_backward)) BE->kl_div_backward(da, db, dout, p[1], c->f[0], a, b, n);
}

/* sgd: p = n momentum first; f = lr wd momentum */
static void r_sgd(run *r, const tcase *c)
{
    size_t n = (size_t)c->p[0];
    float *pp = out_(r, "p", n, PRE), *buf = c->p[1] ? out_(r, "buf", n, PRE) : NULL;
    BE->sgd_update(pp, buf, in_(r, n, -1, 1), n, (float)c->f[0], (float)c->f[1], (float)c->f[2],
                   c->p[2]);
}

/* semi-supervised primitives and argmax: p = N K HW flag; f = tau / factor */
static void r_semi(run *r, const tcase *c)
{
    const int *p = c->p;
    int N = p[0], K = p[1];
    size_t HW = (size_t)p[2], np = N * HW, n = np * K;
    float tau = (float)c->f[0];
    /* Logits on a grid of eighths: ties for "first maximum". */
    float *xh = rnd_(r, n, -1, 1), *ph = hmem_(r, n * sizeof(float));
    for (size_t i = 0; i < n; i++) xh[i] = floorf(xh[i] * 8.0f) * 0.125f;
    sg_backend_cpu_reference()->softmax_forward(ph, xh, N, K, (int)HW);
    /* Confidences on a grid of 1/16, so some equal tau (>= tau keeps them). */
    float *confh = rnd_(r, np, 0, 1);
    for (size_t i = 0; i < np; i++) confh[i] = floorf(confh[i] * 16.0f) / 16.0f;
    int32_t *ign = upi_(r, rndi_(r, np, 0, 2, 4), np); /* 0, 1 or 255 */
    float *x = up_(r, xh, n), *pr = up_(r, ph, n), *conf = up_(r, confh, np);
    size_t v1 = 0, v2 = 0;
    if (E(pseudo_label))
        BE->pseudo_label(outraw_(r, "label", T_I32, np), out_(r, "conf", np, PRE), x, pr, N, K,
                         HW);
    if (E(argmax_u8)) BE->argmax_u8(outraw_(r, "ids", T_U8, np), x, N, K, HW);
    if (E(paste)) { /* p[3] = element size; the planes of x as bytes */
        size_t es = (size_t)p[3], bytes = n * sizeof(float);
        int C = K * (int)(sizeof(float) / es);
        int32_t *box = upi_(r, rndi_(r, np, 0, 2, 0), np);
        void *a = dev_(r, NULL, T_U8, xh, bytes), *b = dev_(r, NULL, T_U8, ph, bytes);
        BE->paste(outraw_(r, "out", T_U8, bytes), a, b, box, es, N, C, HW);
    }
    if (E(count_confident)) {
        BE->count_confident(conf, p[3] ? ign : NULL, tau, np, &v1, &v2);
        outsz_(r, "valid", (long long)v1);
        outsz_(r, "kept", (long long)v2);
    }
    if (E(valid_from_ignore)) BE->valid_from_ignore(out_(r, "valid", np, PRE), ign, np);
    if (E(masked_target))
        BE->masked_target(outraw_(r, "target", T_I32, np), out_(r, "weight", np, PRE),
                          upi_(r, rndi_(r, np, 0, K, 0), np), conf, ign, tau, np);
    if (E(ohem_target_prob)) /* targets in [0, K + 1): one in K + 1 out of range, some 255 */
        BE->ohem_target_prob(out_(r, "pgt", np, PRE), pr, upi_(r, rndi_(r, np, 0, K + 1, 4), np),
                             255, N, K, HW);
    if (E(ohem_select)) { /* probabilities on a grid of 1/16, some equal tau, some NaN */
        float *pg = rnd_(r, np, 0, 1);
        for (size_t i = 0; i < np; i++) pg[i] = i % 7 == 3 ? NAN : floorf(pg[i] * 16.0f) / 16.0f;
        BE->ohem_select(outraw_(r, "target", T_I32, np), upi_(r, rndi_(r, np, 0, K, 4), np),
                        up_(r, pg, np), tau, 255, np);
    }
    if (E(confidence_indicator)) {
        BE->confidence_indicator(out_(r, "ind", np, PRE), &v1, pr, tau, N, K, HW);
        outsz_(r, "kept", (long long)v1);
    }
    if (E(cons_weight_map)) {
        float *vh = rnd_(r, np, 0, 1), *ih = rnd_(r, np, 0, 1);
        for (size_t i = 0; i < np; i++) vh[i] = vh[i] < 0.8f, ih[i] = ih[i] < 0.5f;
        BE->cons_weight_map(out_(r, "wmap", n, PRE), up_(r, vh, np), up_(r, ih, np), tau, p[3],
                            N, K, HW);
    }
}

/* index_select: p = M row n, the n indices drawn in [0, M - 2) (repeats, and
 * the last two rows read by nobody); permute: p = shape[4] perm[4]. The
 * index_select backward's lists are built here as sg_index_select builds
 * them (src/core/op_layout.c): per source row, its output rows in order. */
static void r_gather(run *r, const tcase *c)
{
    const int *p = c->p;
    if (E(permute_forward) || E(permute_backward)) {
        sg_permute_dims d = {{p[0], p[1], p[2], p[3]}, {p[4], p[5], p[6], p[7]}};
        size_t n = (size_t)p[0] * p[1] * p[2] * p[3];
        if (E(permute_forward)) BE->permute_forward(out_(r, "out", n, PRE), in_(r, n, -1, 1), &d);
        else BE->permute_backward(out_(r, "dx", n, PRE), in_(r, n, -1, 1), &d);
        return;
    }
    const int M = p[0], n = p[2];
    const size_t row = (size_t)p[1];
    int32_t *idx = rndi_(r, (size_t)n, 0, M - 2, 0);
    if (E(index_select_forward)) {
        float *x = in_(r, (size_t)M * row, -1, 1);
        BE->index_select_forward(out_(r, "out", (size_t)n * row, PRE), x,
                                 upi_(r, idx, (size_t)n), n, row);
        return;
    }
    int32_t *start = hmem_(r, ((size_t)M + 1) * sizeof(int32_t));
    int32_t *rows = hmem_(r, (size_t)n * sizeof(int32_t));
    memset(start, 0, ((size_t)M + 1) * sizeof(int32_t));
    for (int j = 0; j < n; j++) start[idx[j] + 1]++;
    for (int m = 0; m < M; m++) start[m + 1] += start[m];
    for (int j = 0, k = 0; k < n; j++) /* rows of source j, in output order */
        for (int i = 0; i < n; i++)
            if (idx[i] == j) rows[k++] = i;
    float *dout = in_(r, (size_t)n * row, -1, 1);
    BE->index_select_backward(out_(r, "dx", (size_t)M * row, PRE), dout,
                              upi_(r, start, (size_t)M + 1), upi_(r, rows, (size_t)n), M, row);
}

/* per-position operations over C of (outer, C, inner): p = outer C inner
 * mode (cosine backward: 1 da and db, 2 db only); f = eps. With eps > 0,
 * position 0 of x (cosine's a) is zero and position 1 scaled to a norm
 * below eps = 0.01, so the clamp is exercised; cosine's b has the same at
 * positions 2 and 3. */
static void r_chan(run *r, const tcase *c)
{
    const int o = c->p[0], C = c->p[1], in = c->p[2];
    const size_t n = (size_t)o * C * in, P = (size_t)o * in;
    const float eps = (float)c->f[0];
    float *xh = rnd_(r, n, -1, 1), *bh = rnd_(r, n, -1, 1);
    for (int ch = 0; ch < C && eps > 0; ch++) {
        /* channel ch of position q: (q / in) C in + q % in + ch in */
        for (size_t q = 0; q < 4; q++) {
            float *h = q < 2 ? xh : bh;
            h[q / in * C * in + q % in + (size_t)ch * in] *= q % 2 ? 1e-3f : 0.0f;
        }
    }
    float *x = up_(r, xh, n), *b = up_(r, bh, n);
    if (E(normalize_forward)) BE->normalize_forward(out_(r, "out", n, PRE), x, eps, o, C, in);
    if (E(normalize_backward))
        BE->normalize_backward(out_(r, "dx", n, PRE), in_(r, n, -1, 1), x, eps, o, C, in);
    if (E(cosine_similarity_forward))
        BE->cosine_similarity_forward(out_(r, "out", P, PRE), x, b, eps, o, C, in);
    if (E(cosine_similarity_backward)) {
        float *da = c->p[3] == 1 ? out_(r, "da", n, PRE) : NULL;
        BE->cosine_similarity_backward(da, out_(r, "db", n, PRE), in_(r, P, -1, 1), x, b, eps, o,
                                       C, in);
    }
    if (E(standardize_forward)) BE->standardize_forward(out_(r, "out", n, PRE), x, o, C, in);
    if (E(standardize_backward))
        BE->standardize_backward(out_(r, "dx", n, PRE), in_(r, n, -1, 1), x, o, C, in);
}

#define CASE(ent, f_, t, d, ...) {.entry = #ent, .fn = f_, .tol = t, .desc = d, .p = __VA_ARGS__}
/* conv forward and backward of one geometry:
 * (N, Cin, H, W) -> Cout, kernel kh x kw, stride, pad, dilation, groups, bias */
#define CONVX(d, N, Ci, H, W, Co, kh, kw, sh, sw, ph, pw, dh, dw, g, bias) \
    CASE(conv2d_forward, r_conv, TC, d, \
         {N, Ci, H, W, Co, kh, kw, sh, sw, ph, pw, dh, dw, g, bias, 0}), \
    CASE(conv2d_backward, r_conv, TC, d, \
         {N, Ci, H, W, Co, kh, kw, sh, sw, ph, pw, dh, dw, g, bias, 1})
#define CONV(d, N, Ci, H, W, Co, k, s, pd, dl, g, bias) \
    CONVX(d, N, Ci, H, W, Co, k, k, s, s, pd, pd, dl, dl, g, bias)
#define BN(d, N, C, HW, train, relu, aff, mode) \
    CASE(batchnorm_forward, r_bn, TBN, d, {N, C, HW, train, relu, aff, 0}, {0.1, 1e-5}), \
    CASE(batchnorm_backward, r_bn, TBN, d, {N, C, HW, train, relu, aff, mode}, {0.1, 1e-5}, \
         "batchnorm_forward")
#define POOL(d, N, C, H, W, k, s, pd, ties) \
    CASE(maxpool2d_forward, r_pool, TP, d, {N, C, H, W, k, s, pd, ties, 0}), \
    CASE(maxpool2d_backward, r_pool, TP, d, {N, C, H, W, k, s, pd, ties, 1}, {0}, \
         "maxpool2d_forward")
#define EW(ent, t, d, ...) CASE(ent, r_ew, t, d, __VA_ARGS__)
#define RS(ent, t, d, pl, h, w, oh, ow, ac) CASE(ent, r_resize, t, d, {pl, h, w, oh, ow, ac})
#define SM(ent, d, o, C, in) CASE(ent, r_softmax, TM, d, {o, C, in})
#define LAY(ent, d, ...) CASE(ent, r_layout, TB, d, {__VA_ARGS__})

static const tcase cases[] = {
    /* convolution (sizes keep K <= 288 and N Ho Wo <= 512: see TC) */
    CONV("3x3 s1 p1 bias [2,8,9,11]->12", 2, 8, 9, 11, 12, 3, 1, 1, 1, 1, 1),
    CONV("3x3 stride 2 odd [2,8,15,17]->16", 2, 8, 15, 17, 16, 3, 2, 1, 1, 1, 1),
    CONV("3x3 dilation 2 p2 no bias [2,16,13,13]->8", 2, 16, 13, 13, 8, 3, 1, 2, 2, 1, 0),
    CONV("3x3 dilation 4 p4 [1,8,16,16]->8", 1, 8, 16, 16, 8, 3, 1, 4, 4, 1, 1),
    CONV("groups 4 [2,16,10,10]->16", 2, 16, 10, 10, 16, 3, 1, 1, 1, 4, 1),
    CONV("depthwise [2,12,11,9]->12 no bias", 2, 12, 11, 9, 12, 3, 1, 1, 1, 12, 0),
    CONV("depthwise s2 [1,16,14,14]", 1, 16, 14, 14, 16, 3, 2, 1, 1, 16, 1),
    CONV("1x1 [2,32,8,8]->24", 2, 32, 8, 8, 24, 1, 1, 0, 1, 1, 1),
    CONV("1x1 s2 no bias [2,16,9,9]->32", 2, 16, 9, 9, 32, 1, 2, 0, 1, 1, 0),
    CONV("7x7 s2 p3 stem [2,3,23,21]->8", 2, 3, 23, 21, 8, 7, 2, 3, 1, 1, 0),
    CONV("5x5 p0 odd [1,5,13,11]->7", 1, 5, 13, 11, 7, 5, 1, 0, 1, 1, 1),
    CONVX("asym 3x1 s(2,1) pad(1,0) [2,8,12,10]->8", 2, 8, 12, 10, 8, 3, 1, 2, 1, 1, 0, 1, 1, 1, 1),
    CONVX("asym 1x5 pad(0,4) dil(1,2) [1,6,7,15]->6", 1, 6, 7, 15, 6, 1, 5, 1, 1, 0, 4, 1, 2, 1, 0),
    CONVX("asym pad (0,2) 3x3 s2 [2,4,9,10]->6", 2, 4, 9, 10, 6, 3, 3, 2, 2, 0, 2, 1, 1, 1, 1),
    CASE(conv2d_backward, r_conv, TC, "dx_zero 3x3 s2 [2,8,15,17]->16",
         {2, 8, 15, 17, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2}),
    CASE(conv2d_backward, r_conv, TC, "dx_zero depthwise dil 2 [2,8,12,12]",
         {2, 8, 12, 12, 8, 3, 3, 1, 1, 2, 2, 2, 2, 8, 0, 2}),
    CASE(conv2d_backward, r_conv, TC, "no dx (first layer) 7x7 s2 [2,3,23,21]->8",
         {2, 3, 23, 21, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1, 3}),
    CASE(conv2d_crop_weight, r_crop, TB, "crop 7x7 -> 3x3 at (2,1)", {6, 7, 7, 3, 3, 2, 1, 0}),
    CASE(conv2d_crop_weight, r_crop, TB, "add 3x3 -> 1x2 at (1,0)", {5, 3, 3, 1, 2, 1, 0, 1}),
    /* batch norm: training / eval, relu, affine; backward accumulates or dx_zero */
    BN("train [4,8,36]", 4, 8, 36, 1, 0, 1, 1), BN("train relu [2,16,25]", 2, 16, 25, 1, 1, 1, 1),
    BN("train no affine [3,6,49]", 3, 6, 49, 1, 0, 0, 1),
    BN("train relu no affine dx_zero [2,8,64]", 2, 8, 64, 1, 1, 0, 2),
    BN("eval [2,8,30]", 2, 8, 30, 0, 0, 1, 1),
    BN("eval relu dx_zero [2,12,17]", 2, 12, 17, 0, 1, 1, 2),
    BN("eval no affine [1,5,121]", 1, 5, 121, 0, 0, 0, 1),
    BN("train wide [8,4,144]", 8, 4, 144, 1, 0, 1, 2),
    CASE(layernorm_forward, r_ln, TM, "rows 37 D 96", {37, 96, 1, 0}, {1e-5}),
    CASE(layernorm_forward, r_ln, TM, "no affine rows 5 D 256", {5, 256, 0, 0}, {1e-6}),
    CASE(layernorm_backward, r_ln, TM, "rows 37 D 96", {37, 96, 1, 1}, {1e-5}, "layernorm_forward"),
    CASE(layernorm_backward, r_ln, TM, "no affine rows 9 D 33", {9, 33, 0, 1}, {1e-5},
         "layernorm_forward"),
    /* pooling */
    POOL("3x3 s2 p1 [2,4,15,17]", 2, 4, 15, 17, 3, 2, 1, 0),
    POOL("3x3 s2 p1 ties [2,4,16,13]", 2, 4, 16, 13, 3, 2, 1, 1),
    POOL("2x2 s2 ties [1,6,10,11]", 1, 6, 10, 11, 2, 2, 0, 1),
    POOL("3x3 s1 p1 ties [1,3,9,9]", 1, 3, 9, 9, 3, 1, 1, 1),
    CASE(maxpool2d_backward, r_pool, TP, "dx_zero 3x3 s2 p1 ties [2,4,16,13]", {2, 4, 16, 13, 3,
         2, 1, 1, 2}, {0}, "maxpool2d_forward"),
    CASE(global_avgpool_forward, r_reduce, TM, "[24 planes, 13x17]", {0, 0, 24, 221}),
    CASE(global_avgpool_backward, r_reduce, TM, "[24 planes, 13x17]", {0, 0, 24, 221}),
    /* element-wise (odd sizes; a large one for multi-block grids) */
    EW(relu_forward, TB, "n 4099", {4099}), EW(relu_forward, TB, "n 300007", {300007}),
    EW(relu_backward, TB, "n 4099", {4099}), EW(gelu_forward, TM, "n 4099", {4099}),
    EW(gelu_backward, TM, "n 4099", {4099}), EW(gelu_backward, TM, "n 300007", {300007}),
    EW(scale_forward, TB, "s -0.37", {1031}, {-0.37}),
    EW(scale_backward, TE, "s 0.125", {1031}, {0.125}),
    EW(add_forward, TB, "", {2053}), EW(sub_forward, TB, "", {2053}),
    EW(mul_forward, TB, "", {2053}), EW(mse_forward, TE, "", {2053}),
    EW(add_backward, TB, "da db", {2053, 3}), EW(add_backward, TB, "db only", {2053, 2}),
    EW(sub_backward, TB, "da db", {2053, 3}), EW(sub_backward, TB, "da only", {2053, 1}),
    EW(mul_backward, TE, "da db", {2053, 3}), EW(mul_backward, TE, "db only", {2053, 2}),
    EW(dropout2d_forward, TB, "12 planes x 35", {420, 0, 12}),
    EW(dropout2d_backward, TE, "12 planes x 35", {420, 0, 12}),
    EW(ema_blend, TE, "decay 0.999", {5003}, {0.999}), EW(ema_blend, TE, "decay 0.5", {77}, {0.5}),
    /* resize */
    RS(resize_bilinear_forward, TM, "up ac=0", 6, 7, 9, 17, 20, 0),
    RS(resize_bilinear_forward, TM, "up ac=1", 6, 7, 9, 17, 20, 1),
    RS(resize_bilinear_forward, TM, "down ac=0", 4, 21, 19, 8, 6, 0),
    RS(resize_bilinear_forward, TM, "down ac=1", 4, 21, 19, 8, 6, 1),
    RS(resize_bilinear_backward, TM, "up ac=0", 6, 7, 9, 17, 20, 0),
    RS(resize_bilinear_backward, TM, "up ac=1", 6, 7, 9, 17, 20, 1),
    RS(resize_bilinear_backward, TM, "down ac=0", 4, 21, 19, 8, 6, 0),
    RS(resize_bilinear_backward, TM, "down ac=1", 4, 21, 19, 8, 6, 1),
    RS(resize_nearest_forward, TB, "up", 5, 6, 7, 13, 15, 0),
    RS(resize_nearest_forward, TB, "down", 5, 17, 13, 6, 5, 0),
    RS(resize_nearest_backward, TM, "up", 5, 6, 7, 13, 15, 0),
    RS(resize_nearest_backward, TM, "down", 5, 17, 13, 6, 5, 0),
    RS(resize_nearest_labels, TB, "up", 2, 9, 11, 20, 23, 0),
    RS(resize_nearest_labels, TB, "down", 2, 31, 29, 8, 9, 0),
    /* concat / narrow */
    LAY(concat_forward, "dim 1 off 3", 2, 11, 3, 5, 37),
    LAY(concat_forward, "last dim", 6, 9, 4, 5, 1),
    LAY(concat_backward, "dim 1 off 3", 2, 11, 3, 5, 37),
    LAY(narrow_forward, "dim 1 start 2", 3, 10, 2, 7, 13),
    LAY(narrow_backward, "dim 1 start 2", 3, 10, 2, 7, 13),
    LAY(narrow_backward, "last dim", 5, 8, 0, 3, 1),
    /* softmax over dim 1 of NCHW (outer N, inner HW) and over the last dim */
    SM(softmax_forward, "dim 1 NCHW", 2, 19, 45), SM(softmax_forward, "last dim", 33, 10, 1),
    SM(softmax_backward, "dim 1 NCHW", 2, 19, 45), SM(softmax_backward, "last dim", 33, 10, 1),
    SM(log_softmax_forward, "dim 1 NCHW", 2, 19, 45), SM(log_softmax_forward, "last dim", 33, 10,
         1),
    SM(log_softmax_backward, "dim 1 NCHW", 2, 19, 45),
    SM(log_softmax_backward, "last dim", 33, 10, 1),
    /* reductions */
    CASE(sum_forward, r_reduce, TS, "n 100003", {100003}),
    CASE(mean_forward, r_reduce, TS, "n 100003", {100003}),
    CASE(mean_forward, r_reduce, TS, "n 1", {1}),
    CASE(weighted_sum, r_reduce, TS, "weighted / 173", {9001, 1}, {173.0}),
    CASE(weighted_sum, r_reduce, TS, "unweighted / 1", {9001, 0}, {1.0}),
    CASE(sum_backward, r_reduce, TB, "n 4097", {4097}),
    CASE(mean_backward, r_reduce, TE, "n 4097", {4097}),
    /* linear, matmul */
    CASE(linear_forward, r_mm, TC, "bias R 37 I 64 O 19", {37, 64, 19, 1}),
    CASE(linear_forward, r_mm, TC, "no bias R 8 I 288 O 5", {8, 288, 5, 0}),
    CASE(linear_backward, r_mm, TC, "dx dw db", {37, 64, 19, 1, 7}),
    CASE(linear_backward, r_mm, TC, "dw only", {37, 64, 19, 0, 2}),
    CASE(matmul_forward, r_mm, TC, "B 3 M 17 N 9 K 40", {3, 17, 9, 40, 0, 0}),
    CASE(matmul_forward, r_mm, TC, "trans a", {3, 17, 9, 40, 1, 0}),
    CASE(matmul_forward, r_mm, TC, "trans b", {2, 8, 33, 64, 0, 1}),
    CASE(matmul_forward, r_mm, TC, "trans a b", {2, 8, 33, 64, 1, 1}),
    CASE(matmul_backward, r_mm, TC, "da db", {3, 17, 9, 40, 0, 0, 3}),
    CASE(matmul_backward, r_mm, TC, "trans a b, da db", {2, 8, 33, 64, 1, 1, 3}),
    CASE(matmul_backward, r_mm, TC, "trans b, db only", {2, 8, 33, 64, 0, 1, 2}),
    /* losses: logits (N, K, HW), 1 in 6 pixels ignored (255) */
    CASE(cross_entropy_forward, r_loss, TM, "unweighted [2,7,45]", {2, 7, 45, 0}),
    CASE(cross_entropy_forward, r_loss, TM, "weighted [2,21,30]", {2, 21, 30, 1}),
    CASE(cross_entropy_backward, r_loss, TM, "scalar dout / 61", {2, 7, 45, 0, 0, 0}, {61.0}),
    CASE(cross_entropy_backward, r_loss, TM, "per pixel", {2, 7, 45, 0, 1, 0}, {1.0}),
    CASE(cross_entropy_backward, r_loss, TM, "weighted scalar / 60 dweight", {2, 21, 30, 1, 0, 1},
         {60.0}),
    CASE(cross_entropy_backward, r_loss, TM, "weighted per pixel dweight", {2, 21, 30, 1, 1, 1},
         {1.0}),
    CASE(cross_entropy_check_targets, r_loss, TB, "valid", {1000, 19, -1}),
    CASE(cross_entropy_check_targets, r_loss, TB, "bad at 357", {1000, 19, 357}),
    CASE(mse_backward, r_loss, TE, "scalar / 1000, da db", {1000, 0, 3}, {1000.0}),
    CASE(mse_backward, r_loss, TE, "per element, db", {1000, 1, 2}, {1.0}),
    CASE(kl_div_forward, r_loss, TM, "t = 0 somewhere", {999}),
    CASE(kl_div_backward, r_loss, TM, "scalar / 999, both", {999, 0, 3}, {999.0}),
    CASE(kl_div_backward, r_loss, TM, "per element, dlog_input", {999, 1, 1}, {1.0}),
    CASE(entropy_forward, r_loss, TM, "[2,5,33] eps 1e-8", {2, 5, 33}, {1e-8}),
    CASE(entropy_backward, r_loss, TM, "[2,5,33] eps 1e-8", {2, 5, 33}, {1e-8}),
    /* optimizer: lr wd momentum */
    CASE(sgd_update, r_sgd, TE, "momentum first", {3001, 1, 1}, {0.01, 1e-4, 0.9}),
    CASE(sgd_update, r_sgd, TE, "momentum not first", {3001, 1, 0}, {0.01, 1e-4, 0.9}),
    CASE(sgd_update, r_sgd, TE, "no momentum", {3001, 0, 0}, {0.05, 5e-4, 0.0}),
    /* semi-supervised primitives, argmax: N K HW flag, tau */
    CASE(pseudo_label, r_semi, TB, "[2,19,50] ties", {2, 19, 50}),
    CASE(argmax_u8, r_semi, TB, "[2,21,61] ties", {2, 21, 61}),
    CASE(argmax_u8, r_semi, TB, "K 256 [1,256,7]", {1, 256, 7}),
    CASE(paste, r_semi, TB, "float [2,3,40]", {2, 3, 40, 4}),
    CASE(paste, r_semi, TB, "uint8 [2,12,40]", {2, 3, 40, 1}),
    CASE(count_confident, r_semi, TB, "with ignore", {2, 1, 300, 1}, {0.625}),
    CASE(count_confident, r_semi, TB, "no ignore", {2, 1, 300, 0}, {0.5}),
    CASE(valid_from_ignore, r_semi, TB, "", {2, 1, 300}),
    CASE(masked_target, r_semi, TB, "tau 0.75", {2, 19, 300}, {0.75}),
    CASE(confidence_indicator, r_semi, TB, "[2,4,77] thresh 0.5", {2, 4, 77}, {0.5}),
    CASE(ohem_target_prob, r_semi, TB, "[2,19,300] ignore, out of range", {2, 19, 300}),
    CASE(ohem_select, r_semi, TB, "tau 0.6875, NaN", {2, 19, 300}, {0.6875}),
    CASE(cons_weight_map, r_semi, TB, "per pixel", {2, 5, 60, 1}, {0.0}),
    CASE(cons_weight_map, r_semi, TB, "factor 0.3", {2, 5, 60, 0}, {0.3}),
    /* gathers: index_select M row n; permute shape perm */
    CASE(index_select_forward, r_gather, TB, "M 40 row 33 n 300", {40, 33, 300}),
    CASE(index_select_forward, r_gather, TB, "M 9 row 1 n 5", {9, 1, 5}),
    CASE(index_select_backward, r_gather, TB, "M 40 row 33 n 300", {40, 33, 300}),
    CASE(index_select_backward, r_gather, TB, "M 9 row 1 n 5", {9, 1, 5}),
    CASE(permute_forward, r_gather, TB, "[2,3,4,5] (0,2,3,1)", {2, 3, 4, 5, 0, 2, 3, 1}),
    CASE(permute_forward, r_gather, TB, "[3,5,6,7] (3,2,1,0)", {3, 5, 6, 7, 3, 2, 1, 0}),
    CASE(permute_backward, r_gather, TB, "[2,3,4,5] (0,2,3,1)", {2, 3, 4, 5, 0, 2, 3, 1}),
    CASE(permute_backward, r_gather, TB, "2-D [1,1,7,9] (0,1,3,2)", {1, 1, 7, 9, 0, 1, 3, 2}),
    /* per-position normalisation over channels: outer C inner, eps */
    CASE(normalize_forward, r_chan, TM, "[4,19,37] eps 0.01", {4, 19, 37}, {0.01}),
    CASE(normalize_forward, r_chan, TM, "(N, C) [50,64] eps 1e-12", {50, 64, 1}, {1e-12}),
    CASE(normalize_backward, r_chan, TM, "[4,19,37] eps 0.01", {4, 19, 37}, {0.01}),
    CASE(normalize_backward, r_chan, TM, "(N, C) [50,64] eps 1e-12", {50, 64, 1}, {1e-12}),
    CASE(cosine_similarity_forward, r_chan, TM, "[4,19,37] eps 0.01", {4, 19, 37}, {0.01}),
    CASE(cosine_similarity_forward, r_chan, TM, "(N, C) [50,64] eps 1e-8", {50, 64, 1}, {1e-8}),
    CASE(cosine_similarity_backward, r_chan, TM, "[4,19,37] eps 0.01, da db", {4, 19, 37, 1},
         {0.01}),
    CASE(cosine_similarity_backward, r_chan, TM, "(N, C) [50,64] eps 1e-8, db only",
         {50, 64, 1, 2}, {1e-8}),
    CASE(standardize_forward, r_chan, TM, "[4,19,37]", {4, 19, 37}),
    CASE(standardize_forward, r_chan, TM, "(N, C) [50,2]", {50, 2, 1}),
    CASE(standardize_backward, r_chan, TM, "[4,19,37]", {4, 19, 37}),
    CASE(standardize_backward, r_chan, TM, "(N, C) [50,64]", {50, 64, 1}),
    /* transformer ops: layer norm over channels (N C HW), attention (B H N M D layout) */
    CASE(layernorm_channels_forward, r_lnc, TM, "[2,24,35] eps 1e-6", {2, 24, 35, 1, 0}, {1e-6}),
    CASE(layernorm_channels_forward, r_lnc, TM, "no affine [3,64,70]", {3, 64, 70, 0, 0}, {1e-5}),
    CASE(layernorm_channels_backward, r_lnc, TM, "[2,24,35]", {2, 24, 35, 1, 1}, {1e-6},
         "layernorm_channels_forward"),
    CASE(layernorm_channels_backward, r_lnc, TM, "dx only [1,7,300]", {1, 7, 300, 1, 2}, {1e-5},
         "layernorm_channels_forward"),
    CASE(attention_forward, r_attn, TC, "tokens B 2 H 3 N 20 M 13 D 8", {2, 3, 20, 13, 8, 0, 0},
         {0.35}),
    CASE(attention_forward, r_attn, TC, "channels-first B 2 H 2 N 64 M 16 D 16",
         {2, 2, 64, 16, 16, 1, 0}, {0.25}),
    CASE(attention_backward, r_attn, TC, "tokens dq dk dv", {2, 3, 20, 13, 8, 0, 7}, {0.35},
         "attention_forward"),
    CASE(attention_backward, r_attn, TC, "channels-first dq dk dv", {2, 2, 64, 16, 16, 1, 7},
         {0.25}, "attention_forward"),
    CASE(attention_backward, r_attn, TC, "channels-first dv only, 1 head", {1, 1, 30, 30, 12, 1, 4},
         {0.3}, "attention_forward"),
    CASE(attention_backward, r_attn, TC, "tokens dq only", {1, 4, 9, 25, 4, 0, 1}, {0.5},
         "attention_forward"),
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- comparison ---------------------------------------------------------------------- */
typedef struct { double nmse, atol, rtol; bool bitwise; } tol;

static tol tol_of(int cls, const sg_backend *be, const char *seg_name)
{
    static const tol bit = {0, 0, 0, true};
    bool cpu = be->device.type == SG_DEVICE_CPU;
    switch (cls) {
    case TE: return cpu ? bit : (tol){1e-12, 2e-7, 2.4e-7, false};
    case TM: return cpu ? bit : (tol){1e-11, 1e-6, 1e-6, false};
    case TS: return cpu ? bit : (tol){1e-13, 1e-9, 1.2e-7, false};
    case TC: return (tol){1e-10, 1e-5, 5e-6, false};
    case TBN:
        if (!strncmp(seg_name, "running_", 8)) return (tol){1e-11, 1e-6, 1e-6, false};
        return (tol){1e-10, 1e-5, 5e-6, false};
    case TP: return strcmp(seg_name, "dx") ? bit : (tol){1e-12, 1e-6, 0, false};
    default: return bit;
    }
}

static bool verbose_;

/* Backend result `a` against reference `b`; prints what differs. */
static bool compare_(const result *a, const result *b, int cls, const sg_backend *be, bool bitwise,
                     const char *what)
{
    if (a->n != b->n) {
        tap_diag("%s: %d outputs against %d", what, a->n, b->n);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < a->n; i++) {
        const seg *x = &a->s[i], *y = &b->s[i];
        if (!x->guards_ok)
            tap_diag("%s: %s: guard bytes around the output overwritten", what, x->name), ok = 0;
        tol t = tol_of(cls, be, x->name);
        if (bitwise || x->type != T_F32) t = (tol){0, 0, 0, true};
        if (x->n != y->n || x->type != y->type) {
            tap_diag("%s: %s: size or type differs", what, x->name), ok = false;
            continue;
        }
        if (x->type != T_F32) {
            size_t es = type_size_[x->type];
            for (size_t j = 0; j < x->n; j++)
                if (memcmp((char *)x->v + j * es, (char *)y->v + j * es, es)) {
                    long long u = 0, v = 0;
                    memcpy(&u, (char *)x->v + j * es, es);
                    memcpy(&v, (char *)y->v + j * es, es);
                    tap_diag("%s: %s[%zu] = %lld, reference %lld", what, x->name, j, u, v), ok = 0;
                    break;
                }
            continue;
        }
        const float *fa = x->v, *fb = y->v;
        double num = 0, den = 0, maxabs = 0, maxrel = 0;
        size_t nonfinite = 0, over = 0, worst = 0, bitdiff = 0;
        for (size_t j = 0; j < x->n; j++) {
            bitdiff += memcmp(&fa[j], &fb[j], 4) != 0;
            if (!isfinite(fb[j]) || !isfinite(fa[j])) { /* only where the reference has one */
                nonfinite += !(isnan(fb[j]) ? isnan(fa[j]) : fa[j] == fb[j]);
                continue;
            }
            double e = fabs((double)fa[j] - fb[j]);
            num += e * e;
            den += (double)fb[j] * fb[j];
            if (fb[j] != 0 && e / fabs(fb[j]) > maxrel) maxrel = e / fabs(fb[j]);
            if (e > t.atol + t.rtol * fabs(fb[j])) over++;
            if (e > maxabs) maxabs = e, worst = j;
        }
        double nmse = den > 0 ? num / den : num > 0 ? INFINITY : 0;
        bool seg_ok = t.bitwise ? bitdiff == 0 && nonfinite == 0
                                : nonfinite == 0 && over == 0 && nmse <= t.nmse;
        if (!seg_ok || verbose_)
            tap_diag("%s: %s (%zu): nmse %.3g (<= %.3g), max abs %.3g at %zu (%.9g vs %.9g), "
                     "max rel %.3g, %zu over tol, %zu non-finite, %zu not bitwise (%s%s)",
                     what, x->name, x->n, nmse, t.nmse, maxabs, worst, fa[worst], fb[worst],
                     maxrel, over, nonfinite, bitdiff, t.bitwise ? "bitwise" : tol_names_[cls],
                     seg_ok ? "" : ": FAIL");
        ok &= seg_ok;
    }
    return ok;
}

/* ---- driver -------------------------------------------------------------------------- */
static int entry_index_(const char *name)
{
    for (int i = 0; i < sg_backend_n_entries; i++)
        if (!strcmp(sg_backend_entries[i].name, name)) return i;
    return -1;
}

static void (*fn_of_(const sg_backend *be, int e))(void)
{
    void (*fn)(void);
    memcpy(&fn, (const char *)be + sg_backend_entries[e].offset, sizeof fn);
    return fn;
}

static bool is_memory_(const char *name)
{
    static const char *const mem[] = {"alloc",   "free",    "memset_zero", "copy",
                                      "to_device", "to_host", "synchronize"};
    for (size_t i = 0; i < sizeof mem / sizeof mem[0]; i++)
        if (!strcmp(mem[i], name)) return true;
    return false;
}

static void run_case_(const sg_backend *be, int ci, result *res)
{
    run r = {.be = be, .ci = ci, .res = res};
    be->device.type == SG_DEVICE_CPU ? sg_arena_init(&r.ws) : sg_arena_init_on(&r.ws, be);
    cases[ci].fn(&r, &cases[ci]);
    finish_(&r);
}

/* Case ci on be against `want`: a TAP line; the results stay in *got. */
static void check_(const sg_backend *be, int ci, const result *want, bool bitwise, result *got)
{
    const tcase *c = &cases[ci];
    char what[256];
    snprintf(what, sizeof what, "%s %s %s", be->name, c->entry, c->desc);
    run_case_(be, ci, got);
    tap_ok(compare_(got, want, c->tol, be, bitwise, what), "%s%s", what,
           bitwise ? " repeats bitwise" : "");
}

/* Every non-memory entry has a case, and every case names an entry. */
static void check_coverage_(void)
{
    bool ok = true;
    for (int e = 0; e < sg_backend_n_entries; e++) {
        const char *name = sg_backend_entries[e].name;
        int n = 0;
        for (int ci = 0; ci < N_CASES; ci++) n += !strcmp(cases[ci].entry, name);
        if (!is_memory_(name) && n == 0)
            tap_diag("entry %s has no case in tests/test_backend_ops.c", name), ok = false;
        if (!is_memory_(name) && verbose_) tap_diag("cases of %s: %d", name, n);
    }
    for (int ci = 0; ci < N_CASES; ci++)
        if (entry_index_(cases[ci].entry) < 0 ||
            (cases[ci].also && entry_index_(cases[ci].also) < 0))
            tap_diag("case %d names an unknown entry %s", ci, cases[ci].entry), ok = false;
    tap_ok(ok, "every non-memory entry of the kernel table (%d entries) has a case (%d cases)",
           sg_backend_n_entries, N_CASES);
}

int main(void)
{
    verbose_ = getenv("SG_TEST_VERBOSE") && *getenv("SG_TEST_VERBOSE") == '1';
    check_coverage_();
    const sg_backend *ref = sg_backend_cpu_reference();
    const sg_backend *bes[2];
    int nbe = 0;
    if (sg_backend_cpu_dnnl()) bes[nbe++] = sg_backend_cpu_dnnl();
    sg_err err = {{0}};
    const sg_backend *cuda = sg_backend_cuda(0, &err);
    if (cuda)
        bes[nbe++] = cuda;
    else
        tap_diag("no CUDA backend: %s", err.msg);
    for (int b = 0; b < nbe; b++)
        tap_diag("backend %s (%sdeterministic) against %s", bes[b]->name,
                 bes[b]->deterministic ? "" : "not ", ref->name);

    int compared = 0, skipped = 0, repeat_ref = 0;
    for (int ci = 0; ci < N_CASES; ci++) {
        const tcase *c = &cases[ci];
        int e = entry_index_(c->entry), e2 = c->also ? entry_index_(c->also) : -1, ran = 0;
        if (e < 0 || (c->also && e2 < 0)) continue; /* reported by check_coverage_ */
        result want = {0}, got = {0}, again = {0};
        run_case_(ref, ci, &want);
        for (int b = 0; b < nbe; b++) {
            const sg_backend *be = bes[b];
            bool missing = !fn_of_(be, e) || (e2 >= 0 && !fn_of_(be, e2));
            if (missing || (fn_of_(be, e) == fn_of_(ref, e) &&
                            (e2 < 0 || fn_of_(be, e2) == fn_of_(ref, e2)))) {
                if (missing)
                    tap_ok(1, "%s %s %s # SKIP backend %s has no kernel %s", be->name, c->entry,
                           c->desc, be->name, fn_of_(be, e) ? c->also : c->entry);
                else
                    tap_ok(1, "%s %s %s # SKIP same kernel as the reference", be->name,
                           c->entry, c->desc);
                skipped++;
                continue;
            }
            check_(be, ci, &want, false, &got);
            if (be->deterministic) check_(be, ci, &got, true, &again);
            res_free_(&got), res_free_(&again);
            compared++, ran++;
        }
        if (!ran) /* nothing else ran it: the reference must at least repeat itself */
            check_(ref, ci, &want, true, &again), res_free_(&again), repeat_ref++;
        res_free_(&want);
    }
    tap_diag("%d cases: %d compared against the reference, %d skipped, %d checked for "
             "repeatability on the reference only",
             N_CASES, compared, skipped, repeat_ref);
    return tap_done();
}
