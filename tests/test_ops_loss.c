/*
 * test_ops_loss.c: softmax, log_softmax, cross-entropy, MSE, KL divergence
 * and entropy against PyTorch fixtures (tests/ref/gen_loss.py ->
 * tests/data/loss.bin), OHEM cross-entropy against TorchSemiSeg's criterion
 * (tests/ref/gen_ohem.py -> tests/data/ohem.bin), finite-difference gradient
 * checks, misuse aborts, the CPU kernels' vectorisable exp (src/cpu/vexp.h)
 * against libm, softmax rows longer than the kernel's exp chunk, and the
 * kernels' one-pixel row loops against their pixel tiles, bit for bit.
 */
#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cpu/vexp.h"

#define GEN "tests/ref/gen_loss.py"
#define IGNORE 255

typedef struct {
    double atol, rtol;
} tol_t;

/* softmax/log_softmax over 4..7 channels: one exp, a double sum and a
 * division per element; results differ from PyTorch's float arithmetic by a
 * few ulps (observed <= 2e-6 relative), and probabilities go down to ~1e-5,
 * so the absolute floor sits well below them. */
static const tol_t SOFTMAX_TOL = {1e-7, 1e-5};
/* Losses: per-element terms agree to a few ulps; reduced values sum <= 120
 * terms, in double here and in float (vectorised order) in PyTorch. */
static const tol_t LOSS_TOL = {1e-7, 1e-5};
/* Gradients: a few rounded float products per element, worst where
 * softmax - 1 cancels (observed 2e-6 relative). Mean-reduced gradients are as
 * small as 1e-4, so the absolute floor is 1e-8: a 1e-4 relative error in a
 * 1/count scale still fails. */
static const tol_t GRAD_TOL = {1e-8, 1e-5};
/* Gradient checks: central differences with eps 1e-2 on smooth functions
 * (truncation error ~eps^2 |f'''| ~ 1e-4) and float outputs (~1e-5 after the
 * division by 2 eps): 1e-3 absolute + 1e-2 relative. */
static const sg_gc_opts GC = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2};

/* |got - want| <= atol + rtol |want|, where a NaN matches only a NaN
 * (torch's NaNs: the all-ignored mean CE, the KL target gradient at 0). */
static int close_(const sg_fixture *fx, const char *key, const float *got, size_t n, tol_t t)
{
    size_t m, bad = 0, worst = 0;
    const double *want = sg_fixture_doubles(fx, key, &m);
    if (m != n) {
        tap_diag("%s: fixture has %zu elements, computed %zu", key, m, n);
        return 0;
    }
    double worst_err = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double err = isnan(w) || isnan(g) ? (isnan(w) && isnan(g) ? 0.0 : INFINITY)
                                          : fabs(g - w) - (t.atol + t.rtol * fabs(w));
        if (err > 0) bad++;
        if (err > worst_err) {
            worst_err = err;
            worst = i;
        }
    }
    if (bad)
        tap_diag("%s: %zu of %zu off; worst [%zu] got %.9g want %.9g", key, bad, n, worst,
                 (double)got[worst], want[worst]);
    return bad == 0;
}

/* Checks `name`.out, backpropagates `name`.dout and checks `name`.d<gname[i]>
 * for every input that takes a gradient (gname[i] non-NULL). */
static void parity_(const sg_fixture *fx, sg_ctx *ctx, const char *name, sg_tensor *out,
                    sg_tensor **in, const char *const *gname, int n_in, tol_t fwd, tol_t bwd)
{
    char key[128];
    snprintf(key, sizeof key, "%s.out", name);
    tap_ok(close_(fx, key, out->data, sg_numel(out), fwd), "%s forward matches PyTorch", name);
    snprintf(key, sizeof key, "%s.dout", name);
    sg_tensor *dout = sg_fixture_tensor(fx, key, false);
    sg_backward_with(ctx, out, dout->data);
    for (int i = 0; i < n_in; i++) {
        if (!gname[i]) continue;
        snprintf(key, sizeof key, "%s.d%s", name, gname[i]);
        tap_ok(close_(fx, key, in[i]->grad, sg_numel(in[i]), bwd),
               "%s backward d%s matches PyTorch", name, gname[i]);
    }
    sg_tensor_free(dout);
}

/* ---- softmax ------------------------------------------------------------------------- */
static void test_softmax_parity(const sg_fixture *fx)
{
    static const struct {
        const char *tag;
        int dim;
    } cases[] = {{"nchw", 1}, {"mat", 1}, {"last3", 2}, {"wide", 1}};
    for (int c = 0; c < 4; c++)
        for (int lg = 0; lg < 2; lg++) {
            sg_ctx ctx;
            sg_ctx_init(&ctx);
            char key[64], name[64];
            snprintf(key, sizeof key, "softmax.%s.x", cases[c].tag);
            snprintf(name, sizeof name, "%s.%s", lg ? "log_softmax" : "softmax", cases[c].tag);
            sg_tensor *x = sg_fixture_tensor(fx, key, true);
            sg_tensor *out =
                lg ? sg_log_softmax(&ctx, x, cases[c].dim) : sg_softmax(&ctx, x, cases[c].dim);
            parity_(fx, &ctx, name, out, &x, (const char *const[]){"x"}, 1, SOFTMAX_TOL,
                    SOFTMAX_TOL);
            sg_tensor_free(x);
            sg_ctx_free(&ctx);
        }
}

static sg_tensor *softmax_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    int dim = *(const int *)arg;
    return dim < 0 ? sg_log_softmax(ctx, in[0], -dim) : sg_softmax(ctx, in[0], dim);
}

static void test_softmax_grad(void)
{
    int s4[4] = {2, 3, 5, 5}, s2[2] = {3, 7};
    sg_tensor *x4 = sg_tensor_alloc(SG_F32, 4, s4, true);
    sg_tensor *x2 = sg_tensor_alloc(SG_F32, 2, s2, true);
    sg_test_fill_uniform(x4, 1, -2.0f, 2.0f);
    sg_test_fill_uniform(x2, 2, -2.0f, 2.0f);
    int d1 = 1, dm1 = -1;
    sg_gradcheck("softmax dim 1 (2,3,5,5)", softmax_fn, &x4, 1, &d1, GC);
    sg_gradcheck("log_softmax dim 1 (2,3,5,5)", softmax_fn, &x4, 1, &dm1, GC);
    sg_gradcheck("softmax last dim (3,7)", softmax_fn, &x2, 1, &d1, GC);
    sg_gradcheck("log_softmax last dim (3,7)", softmax_fn, &x2, 1, &dm1, GC);
    sg_tensor_free(x4);
    sg_tensor_free(x2);
}

/* ---- cross-entropy ------------------------------------------------------------------- */
static const char *const RED_NAMES[] = {"none", "mean", "sum", "batchmean"};

static void test_ce_parity(const sg_fixture *fx)
{
    const sg_reduction reds[] = {SG_REDUCE_NONE, SG_REDUCE_SUM, SG_REDUCE_MEAN};
    for (int r = 0; r < 3; r++)
        for (int weighted = 0; weighted < 2; weighted++) {
            sg_ctx ctx;
            sg_ctx_init(&ctx);
            sg_tensor *in[2] = {sg_fixture_tensor(fx, "ce.logits", true),
                                sg_fixture_tensor(fx, "ce.weight", true)};
            sg_tensor *target = sg_fixture_tensor(fx, "ce.target", false);
            char name[64];
            snprintf(name, sizeof name, "%s.%s", weighted ? "ce_w" : "ce", RED_NAMES[reds[r]]);
            sg_tensor *out =
                sg_cross_entropy(&ctx, in[0], target, weighted ? in[1] : NULL, IGNORE, reds[r]);
            parity_(fx, &ctx, name, out, in,
                    (const char *const[]){"logits", weighted ? "weight" : NULL}, 2, LOSS_TOL,
                    GRAD_TOL);
            for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
            sg_tensor_free(target);
            sg_ctx_free(&ctx);
        }

    /* 90 pixels: the kernels' 64-pixel tiles, one of them partial. */
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *in[2] = {sg_fixture_tensor(fx, "ce_wide.logits", true),
                        sg_fixture_tensor(fx, "ce_wide.weight", true)};
    sg_tensor *target = sg_fixture_tensor(fx, "ce_wide.target", false);
    sg_tensor *out = sg_cross_entropy(&ctx, in[0], target, in[1], IGNORE, SG_REDUCE_MEAN);
    parity_(fx, &ctx, "ce_wide.mean", out, in, (const char *const[]){"logits", "weight"}, 2,
            LOSS_TOL, GRAD_TOL);
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    sg_tensor_free(target);
    sg_ctx_free(&ctx);

    /* Every pixel ignored: MEAN is 0/0 = NaN with zero gradients (torch 1.13). */
    sg_ctx_init(&ctx);
    sg_tensor *logits = sg_fixture_tensor(fx, "ce.logits", true);
    target = sg_fixture_tensor(fx, "ce.target", false);
    for (size_t i = 0; i < sg_numel(target); i++) target->i32[i] = IGNORE;
    out = sg_cross_entropy(&ctx, logits, target, NULL, IGNORE, SG_REDUCE_MEAN);
    tap_ok(isnan(out->data[0]), "ce all-ignored mean is NaN");
    parity_(fx, &ctx, "ce_allignored.mean", out, &logits, (const char *const[]){"logits"}, 1,
            LOSS_TOL, GRAD_TOL);
    sg_tensor_free(logits);
    sg_tensor_free(target);
    sg_ctx_free(&ctx);
}

typedef struct {
    const sg_tensor *target;
    sg_reduction red;
} ce_arg;

static sg_tensor *ce_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const ce_arg *a = arg;
    return sg_cross_entropy(ctx, in[0], a->target, in[1], IGNORE, a->red);
}

static void test_ce_grad(void)
{
    int sl[4] = {2, 3, 5, 5}, st[3] = {2, 5, 5};
    sg_tensor *in[2] = {sg_tensor_alloc(SG_F32, 4, sl, true), sg_tensor_alloc(SG_F32, 3, st, true)};
    sg_tensor *target = sg_tensor_alloc(SG_I32, 3, st, false);
    sg_test_fill_uniform(in[0], 3, -2.0f, 2.0f);
    sg_test_fill_uniform(in[1], 4, 0.5f, 1.5f);
    for (size_t i = 0; i < sg_numel(target); i++)
        target->i32[i] = i % 7 == 3 ? IGNORE : (int32_t)((i * 5 + 1) % 3);
    for (int r = 0; r < 3; r++) {
        ce_arg a = {target, (sg_reduction)r};
        char label[64];
        snprintf(label, sizeof label, "cross_entropy %s (logits, weight)", RED_NAMES[r]);
        sg_gradcheck(label, ce_fn, in, 2, &a, GC);
    }
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
    sg_tensor_free(target);
}

/* ---- MSE and KL ----------------------------------------------------------------------- */
static void test_pointwise_parity(const sg_fixture *fx, bool kl)
{
    const sg_reduction reds[] = {SG_REDUCE_NONE, SG_REDUCE_SUM, SG_REDUCE_MEAN,
                                 SG_REDUCE_BATCHMEAN};
    const char *const g[2] = {kl ? "li" : "a", kl ? "t" : "b"};
    for (int r = 0; r < (kl ? 4 : 3); r++) {
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        char key0[32], key1[32], name[64];
        snprintf(key0, sizeof key0, "%s.%s", kl ? "kl" : "mse", g[0]);
        snprintf(key1, sizeof key1, "%s.%s", kl ? "kl" : "mse", g[1]);
        snprintf(name, sizeof name, "%s.%s", kl ? "kl" : "mse", RED_NAMES[reds[r]]);
        sg_tensor *in[2] = {sg_fixture_tensor(fx, key0, true), sg_fixture_tensor(fx, key1, true)};
        sg_tensor *out =
            kl ? sg_kl_div(&ctx, in[0], in[1], reds[r]) : sg_mse_loss(&ctx, in[0], in[1], reds[r]);
        parity_(fx, &ctx, name, out, in, g, 2, LOSS_TOL, GRAD_TOL);
        for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
        sg_ctx_free(&ctx);
    }
}

static sg_tensor *pointwise_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    int r = *(const int *)arg; /* reduction; negative: -(reduction + 1) of sg_kl_div */
    return r < 0 ? sg_kl_div(ctx, in[0], in[1], (sg_reduction)(-r - 1))
                 : sg_mse_loss(ctx, in[0], in[1], (sg_reduction)r);
}

static void test_pointwise_grad(void)
{
    int s[4] = {2, 3, 5, 5};
    sg_tensor *in[2] = {sg_tensor_alloc(SG_F32, 4, s, true), sg_tensor_alloc(SG_F32, 4, s, true)};
    char label[64];
    sg_test_fill_uniform(in[0], 5, -2.0f, 2.0f);
    sg_test_fill_uniform(in[1], 6, -2.0f, 2.0f);
    for (int r = 0; r < 3; r++) {
        snprintf(label, sizeof label, "mse_loss %s (a, b)", RED_NAMES[r]);
        sg_gradcheck(label, pointwise_fn, in, 2, &r, GC);
    }
    /* Strictly positive targets, >= 0.1 > eps: the target gradient log t is
     * smooth there (torch's is NaN at t == 0). */
    sg_test_fill_uniform(in[0], 7, -3.0f, -0.5f);
    sg_test_fill_uniform(in[1], 8, 0.1f, 1.0f);
    for (int r = 0; r < 4; r++) {
        int code = -r - 1;
        snprintf(label, sizeof label, "kl_div %s (log_input, target)", RED_NAMES[r]);
        sg_gradcheck(label, pointwise_fn, in, 2, &code, GC);
    }
    for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
}

/* Reductions over more than one SG_LOSS_BLOCK (4096) partial sum: SUM and
 * MEAN of 2 x 3 x 40 x 40 = 9600 squared differences against the NONE map
 * summed here in double, in index order. Both sum the same float terms in
 * double, so only the final rounding to float differs: 1 ulp (1e-7 relative). */
static void test_multiblock_sum(void)
{
    int s[4] = {2, 3, 40, 40};
    sg_tensor *a = sg_tensor_alloc(SG_F32, 4, s, false), *b = sg_tensor_alloc(SG_F32, 4, s, false);
    sg_test_fill_uniform(a, 12, -1.0f, 1.0f);
    sg_test_fill_uniform(b, 13, -1.0f, 1.0f);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *map = sg_mse_loss(&ctx, a, b, SG_REDUCE_NONE);
    double want = 0.0;
    for (size_t i = 0; i < sg_numel(map); i++) want += map->data[i];
    float got_sum = sg_mse_loss(&ctx, a, b, SG_REDUCE_SUM)->data[0];
    float got_mean = sg_mse_loss(&ctx, a, b, SG_REDUCE_MEAN)->data[0];
    float want_f[2] = {(float)want, (float)(want / 9600.0)}, got[2] = {got_sum, got_mean};
    tap_ok(sg_allclose(got, want_f, 2, 0.0, 1.2e-7, "mse multi-block"),
           "mse_loss SUM/MEAN over 3 partial-sum blocks match a serial double sum");
    sg_ctx_free(&ctx);
    sg_tensor_free(a);
    sg_tensor_free(b);
}

/* ---- entropy --------------------------------------------------------------------------- */
static void test_entropy_parity(const sg_fixture *fx)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *p = sg_fixture_tensor(fx, "entropy.p", true);
    sg_tensor *out = sg_entropy(&ctx, p, 1e-10f);
    parity_(fx, &ctx, "entropy", out, &p, (const char *const[]){"p"}, 1, LOSS_TOL, GRAD_TOL);
    sg_tensor_free(p);
    sg_ctx_free(&ctx);
}

static sg_tensor *entropy_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_entropy(ctx, in[0], 1e-10f);
}

static void test_entropy_grad(void)
{
    int s[4] = {2, 3, 5, 5};
    sg_tensor *p = sg_tensor_alloc(SG_F32, 4, s, true);
    /* p >= 0.1 > eps keeps p log p smooth under the perturbation. */
    sg_test_fill_uniform(p, 9, 0.1f, 1.0f);
    sg_gradcheck("entropy (p)", entropy_fn, &p, 1, NULL, GC);
    sg_tensor_free(p);
}

/* ---- misuse ----------------------------------------------------------------------------- */
static void ce_bad_target_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int sl[4] = {2, 3, 4, 5}, st[3] = {2, 4, 5};
    sg_tensor *logits = sg_tensor_alloc(SG_F32, 4, sl, false);
    sg_tensor *target = sg_tensor_alloc(SG_I32, 3, st, false);
    target->i32[(1 * 4 + 2) * 5 + 3] = 7;
    sg_cross_entropy(&ctx, logits, target, NULL, IGNORE, SG_REDUCE_MEAN);
}

static void mse_shape_mismatch_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int sa[4] = {2, 3, 5, 5}, sb[4] = {2, 3, 5, 4};
    sg_tensor *a = sg_tensor_alloc(SG_F32, 4, sa, false);
    sg_tensor *b = sg_tensor_alloc(SG_F32, 4, sb, false);
    sg_mse_loss(&ctx, a, b, SG_REDUCE_MEAN);
}

static void softmax_bad_dim_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int s[2] = {3, 7};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 2, s, false);
    sg_softmax(&ctx, x, 2);
}

/* vexp.h's exp against libm's over its whole range (the documented 1.5 ulp,
 * allowed 4), and its limits: exp(0) = 1 exactly, below -708 the value at
 * -708 (tiny, positive), above 709 the value at 709, NaN stays NaN. */
static void test_vexp(void)
{
    double worst = 0.0;
    const int n = 400001;
    for (int i = 0; i < n; i++) {
        double x = -708.0 + (709.0 + 708.0) * i / (n - 1);
        double want = exp(x), got = sg_vexp(x);
        double err = fabs(got - want) / want;
        if (err > worst) worst = err;
    }
    tap_ok(worst <= 4.0 * 0x1p-52, "vexp within 4 ulp of libm exp on [-708, 709] (worst %.2f ulp)",
           worst / 0x1p-52);
    tap_ok(sg_vexp(0.0) == 1.0, "vexp(0) is exactly 1");
    double lo = sg_vexp(-708.0);
    tap_ok(sg_vexp(-1000.0) == lo && sg_vexp(-INFINITY) == lo && lo > 0.0 && lo < 1e-307 &&
               (float)lo == 0.0f,
           "vexp below -708 is exp(-708) (%g), 0 in float", lo);
    tap_ok(sg_vexp(1000.0) == sg_vexp(709.0) && isfinite(sg_vexp(709.0)),
           "vexp above 709 is exp(709), finite");
    tap_ok(isnan(sg_vexp(NAN)), "vexp(NaN) is NaN");
}

/* Rows of C contiguous channels (softmax over the last dim: the attention's
 * case) longer than the row loop's exp chunk, with masked (-inf) entries,
 * against the double-precision formula with libm's exp. */
static void test_softmax_long_rows(void)
{
    const int rows = 3, C = 600;
    sg_tensor *x = sg_tensor_alloc(SG_F32, 2, (const int[]){rows, C}, false);
    uint64_t state = 12345;
    for (int i = 0; i < rows * C; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        x->data[i] = (float)((double)(state >> 11) / 0x1p53 * 20.0 - 10.0);
    }
    x->data[5] = x->data[C + 300] = -INFINITY;
    for (int lg = 0; lg < 2; lg++) {
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        sg_tensor *out = lg ? sg_log_softmax(&ctx, x, 1) : sg_softmax(&ctx, x, 1);
        int ok = 1;
        for (int r = 0; r < rows; r++) {
            const float *xr = x->data + (size_t)r * C;
            float m = xr[0];
            for (int c = 1; c < C; c++) m = fmaxf(m, xr[c]);
            double s = 0.0;
            for (int c = 0; c < C; c++) s += exp((double)(xr[c] - m));
            for (int c = 0; c < C; c++) {
                double want = lg ? (double)(xr[c] - m) - log(s) : exp((double)(xr[c] - m)) / s;
                float got = out->data[(size_t)r * C + c];
                if (isinf(xr[c]))
                    ok &= lg ? isinf(got) && got < 0 : got == 0.0f;
                else
                    ok &= fabs(got - want) <= 1e-6 * fabs(want) + 1e-30;
            }
        }
        tap_ok(ok, "%s over rows of %d channels (masked -inf entries) matches the double formula",
               lg ? "log_softmax" : "softmax", C);
        sg_ctx_free(&ctx);
    }
    sg_tensor_free(x);
}

/* One-pixel maps (HW = 1: rows of K contiguous logits, CTT's InfoNCE rows)
 * take row loops in the CPU kernels, which must give the bits of the pixel
 * tiles that the PyTorch fixtures above check. The same numbers laid out as
 * N one-pixel images (N, K, 1, 1) and as one image of N pixels (1, K, N, 1)
 * go through the two paths: the cross-entropy (per-pixel weights, ignored
 * pixels, a per-pixel upstream gradient) and log_softmax, forward and
 * backward, compared bit for bit; K = 600 exceeds the row's exp chunk and
 * the logits span [-30, 30] with a -inf entry, so the max matters. */
static int same_bits_(const float *row, const float *tile, int N, int K)
{
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            float a = row[(size_t)n * K + k], b = tile[(size_t)k * N + n];
            if (memcmp(&a, &b, sizeof a)) {
                tap_diag("row %d, class %d: %.9g (row loop) vs %.9g (tile)", n, k, (double)a, (double)b);
                return 0;
            }
        }
    return 1;
}

/* One path's forward and backward in a context of its own: the loss
 * (log_softmax when target is NULL) with upstream gradient dout; out gets
 * the forward's values. */
static void rows_tiles_pass_(sg_tensor *x, const sg_tensor *target, sg_tensor *w, const float *dout,
                             float *out)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *y = target ? sg_cross_entropy(&ctx, x, target, w, IGNORE, SG_REDUCE_NONE)
                          : sg_log_softmax(&ctx, x, 1);
    memcpy(out, y->data, sg_numel(y) * sizeof *out);
    sg_backward_with(&ctx, y, dout);
    sg_ctx_free(&ctx);
}

static void test_rows_match_tiles(void)
{
    const int N = 37, K = 600;
    sg_tensor *xr = sg_tensor_alloc(SG_F32, 2, (const int[]){N, K}, true);
    sg_tensor *xt = sg_tensor_alloc(SG_F32, 4, (const int[]){1, K, N, 1}, true);
    sg_tensor *wr = sg_tensor_alloc(SG_F32, 3, (const int[]){N, 1, 1}, true);
    sg_tensor *wt = sg_tensor_alloc(SG_F32, 3, (const int[]){1, N, 1}, true);
    sg_tensor *tr = sg_tensor_alloc(SG_I32, 3, (const int[]){N, 1, 1}, false);
    sg_tensor *tt = sg_tensor_alloc(SG_I32, 3, (const int[]){1, N, 1}, false);
    sg_test_fill_uniform(xr, 31, -30.0f, 30.0f);
    sg_test_fill_uniform(wr, 32, 0.5f, 1.5f);
    xr->data[(size_t)3 * K + 17] = -INFINITY;
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) xt->data[(size_t)k * N + n] = xr->data[(size_t)n * K + k];
        wt->data[n] = wr->data[n];
        tr->i32[n] = tt->i32[n] = n % 5 == 2 ? IGNORE : (int32_t)((n * 97) % K);
    }
    float *dce = malloc((size_t)N * sizeof *dce), *dls = malloc((size_t)N * K * sizeof *dls),
          *dlt = malloc((size_t)N * K * sizeof *dlt), *yr = malloc((size_t)N * K * sizeof *yr),
          *yt = malloc((size_t)N * K * sizeof *yt);
    for (int n = 0; n < N; n++) dce[n] = 0.25f + 0.01f * (float)n;
    /* Upstream gradients with full mantissas, so that a sum in another order shows. */
    sg_tensor *dl = sg_tensor_alloc(SG_F32, 2, (const int[]){N, K}, false);
    sg_test_fill_uniform(dl, 33, -1.0f, 1.0f);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) dlt[(size_t)k * N + n] = dls[(size_t)n * K + k] = dl->data[(size_t)n * K + k];
    sg_tensor_free(dl);

    /* The cross-entropy takes (N, K, H, W) logits: xr's numbers as N one-pixel images. */
    sg_tensor *x4 = sg_tensor_alloc(SG_F32, 4, (const int[]){N, K, 1, 1}, true);
    memcpy(x4->data, xr->data, (size_t)N * K * sizeof(float));
    rows_tiles_pass_(x4, tr, wr, dce, yr);
    rows_tiles_pass_(xt, tt, wt, dce, yt);
    tap_ok(same_bits_(yr, yt, 1, N), "cross-entropy forward: one-pixel rows give the bits of a pixel tile");
    tap_ok(same_bits_(x4->grad, xt->grad, N, K), "cross-entropy backward dlogits: rows = tile, bit for bit");
    tap_ok(same_bits_(wr->grad, wt->grad, 1, N), "cross-entropy backward dweight: rows = tile, bit for bit");

    sg_tensor_zero_grad(xt);
    rows_tiles_pass_(xr, NULL, NULL, dls, yr);
    rows_tiles_pass_(xt, NULL, NULL, dlt, yt);
    tap_ok(same_bits_(yr, yt, N, K), "log_softmax forward: rows = tile, bit for bit");
    tap_ok(same_bits_(xr->grad, xt->grad, N, K), "log_softmax backward: rows = tile, bit for bit");

    free(dce);
    free(dls);
    free(dlt);
    free(yr);
    free(yt);
    sg_tensor *all[] = {xr, xt, x4, wr, wt, tr, tt};
    for (int i = 0; i < 7; i++) sg_tensor_free(all[i]);
}

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(ce_bad_target_, NULL,
                           (const char *const[]){"sg_cross_entropy", "target 7", "(n=1, y=2, x=3)"},
                           3),
           "cross_entropy aborts on a target out of range, naming value and pixel");
    tap_ok(sg_expect_abort(mse_shape_mismatch_, NULL,
                           (const char *const[]){"sg_mse_loss", "[2, 3, 5, 5]", "[2, 3, 5, 4]"}, 3),
           "mse_loss aborts on a shape mismatch, naming both shapes");
    tap_ok(sg_expect_abort(softmax_bad_dim_, NULL,
                           (const char *const[]){"sg_softmax", "dim 2", "[3, 7]"}, 3),
           "softmax aborts on a dim out of range");
}

/* ---- OHEM cross-entropy ------------------------------------------------------------ */
/* Each case of ohem.bin: the loss and the logits' gradient, with the tolerances
 * of the mean CE it reduces to on the kept pixels. */
static void test_ohem_parity(void)
{
    sg_fixture *fx = sg_fixture_open("ohem.bin", "tests/ref/gen_ohem.py");
    const char *const cases[] = {"raise", "thresh", "zero", "many"};
    for (int c = 0; c < 4; c++) {
        char key[64], name[64];
        snprintf(key, sizeof key, "ohem.%s.hp", cases[c]);
        size_t m;
        const double *hp = sg_fixture_doubles(fx, key, &m);
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        sg_tensor *logits = sg_fixture_tensor(fx, "ohem.logits", true);
        sg_tensor *target = sg_fixture_tensor(fx, "ohem.target", false);
        sg_tensor *out = sg_ohem_cross_entropy(&ctx, logits, target, IGNORE, (float)hp[0],
                                               (long)hp[1]);
        snprintf(name, sizeof name, "ohem.%s", cases[c]);
        parity_(fx, &ctx, name, out, &logits, (const char *const[]){"logits"}, 1, LOSS_TOL,
                GRAD_TOL);
        sg_tensor_free(logits);
        sg_tensor_free(target);
        sg_ctx_free(&ctx);
    }
    sg_fixture_close(fx);
}

/* Finite differences through the selection: the logits move by eps = 1e-3,
 * far less than the gaps the fixture's thresholds keep (a kept set that
 * changed under the probe would show as a wrong derivative). */
static sg_tensor *ohem_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const sg_tensor *target = arg;
    return sg_ohem_cross_entropy(ctx, in[0], target, IGNORE, 0.3f, 12);
}

static void test_ohem_grad(void)
{
    int s[4] = {1, 4, 5, 6}, st[3] = {1, 5, 6};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, s, true);
    sg_tensor *t = sg_tensor_alloc(SG_I32, 3, st, false);
    sg_test_fill_uniform(x, 7, -2.0f, 2.0f);
    for (int i = 0; i < 30; i++) t->i32[i] = i % 7 == 3 ? IGNORE : (i * 5) % 4;
    sg_gradcheck("ohem_cross_entropy (thresh 0.3, min_kept 12)", ohem_fn, &x, 1, t,
                 (sg_gc_opts){.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2});
    sg_tensor_free(x);
    sg_tensor_free(t);
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("loss.bin", GEN);
    test_softmax_parity(fx);
    test_softmax_grad();
    test_vexp();
    test_softmax_long_rows();
    test_rows_match_tiles();
    test_ce_parity(fx);
    test_ce_grad();
    test_pointwise_parity(fx, false);
    test_pointwise_parity(fx, true);
    test_pointwise_grad();
    test_multiblock_sum();
    test_entropy_parity(fx);
    test_entropy_grad();
    test_ohem_parity();
    test_ohem_grad();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
