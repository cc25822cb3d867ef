/*
 * test_ops_norm.c: sg_batchnorm2d and sg_layernorm against PyTorch fixtures
 * (tests/ref/gen_norm.py -> tests/data/norm.bin): outputs, input/weight/bias
 * gradients and the updated running statistics; finite-difference gradient
 * checks; thread-count independence; misuse aborts.
 *
 * Sensitivity: the batch-norm fixture has a channel with variance ~9e-6
 * (comparable to eps = 1e-5), so a wrong or missing eps moves that channel's
 * output by tens of percent; running_var after one step differs by
 * momentum * var / (n - 1) ~ 1e-3 relative if the biased variance were used,
 * and by ~10% if momentum were 0.01 instead of 0.1; all far above the
 * tolerances below.
 */
#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

/* sg_gradcheck on g_be. */
static int gc_(const char *label, sg_gc_fn fn, sg_tensor **in, int n_in, void *arg, sg_gc_opts o)
{
    o.be = g_be;
    return sg_gradcheck(label, fn, in, n_in, arg, o);
}

#define GEN "tests/ref/gen_norm.py"

/* Outputs reach ~50 (the eval channel whose running variance is ~1e-5);
 * statistics are in double here and in ATen's batch norm (float in its layer
 * norm), the rest a few float roundings. Observed differences are <= 3e-7
 * relative: 1e-5 absolute plus 1e-5 relative. */
#define OUT_ATOL 1e-5
#define OUT_RTOL 1e-5
/* Running statistics are one fused update of O(1) values, computed in double
 * here and float in ATen: within a couple of ulps, so 1e-6 + 1e-6 relative
 * (the biased-variance error is ~1e-3 relative). */
#define RUN_ATOL 1e-6
#define RUN_RTOL 1e-6
/* dx of batch norm is invstd * w * (...) with invstd up to ~230 on the
 * tiny-variance channel, and cancels three terms of that size: 1e-4
 * absolute plus 1e-5 relative covers the float rounding of both sides. */
#define DX_ATOL 1e-4
#define DX_RTOL 1e-5
/* dweight/dbias are sums of 12..70 products (double here and in ATen's
 * batch norm, float in layer norm) with some cancellation; observed <= 1.3e-6
 * relative: 1e-5 + 1e-5 relative. */
#define DW_ATOL 1e-5
#define DW_RTOL 1e-5

/* Finite differences with eps = 1e-2 on smooth functions of O(1) inputs:
 * truncation ~eps^2 |f'''| and float rounding of the probed loss ~1e-5 are
 * far inside 1e-3 absolute plus 1e-2 relative. */
static const sg_gc_opts GC = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2};

/* ---- batch norm parity --------------------------------------------------------------- */
/* With `disturb`, the running statistics are updated by another training
 * call between forward and backward: an evaluation node must differentiate
 * the statistics it normalised with, not the buffers' later values. */
static void bn_parity(const sg_fixture *fx, const char *name, bool disturb)
{
    char p[64];
    snprintf(p, sizeof p, "bn.%s.", name);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *x = sg_fixture_tensor_opt_at(fx, p, "x", true);
    sg_tensor *w = sg_fixture_tensor_opt_at(fx, p, "weight", true);
    sg_tensor *b = sg_fixture_tensor_opt_at(fx, p, "bias", true);
    sg_tensor *rm = sg_fixture_tensor_opt_at(fx, p, "rm0", false);
    sg_tensor *rv = sg_fixture_tensor_opt_at(fx, p, "rv0", false);
    sg_tensor *dout = sg_fixture_tensor_opt_at(fx, p, "dout", false);
    bool training = sg_fixture_scalar_at(fx, p, "training") != 0.0;
    float eps = (float)sg_fixture_scalar_at(fx, p, "eps"), momentum = (float)sg_fixture_scalar_at(fx, p, "momentum");
    const char *what = disturb ? " (running stats changed before backward)" : "";

    sg_tensor *out = sg_batchnorm2d(&ctx, x, w, b, rm, rv, training, momentum, eps);
    size_t C = (size_t)x->shape[1];
    tap_ok(sg_check_close_at(fx, p, "out", out->data, sg_numel(out), OUT_ATOL, OUT_RTOL),
           "batchnorm %s forward matches PyTorch%s", name, disturb ? " (again)" : "");
    if (!disturb)
        tap_ok(sg_check_close_at(fx, p, "rm1", rm->data, C, RUN_ATOL, RUN_RTOL) &&
                   sg_check_close_at(fx, p, "rv1", rv->data, C, RUN_ATOL, RUN_RTOL),
               "batchnorm %s running_mean/running_var match PyTorch", name);
    if (disturb) {
        bool prev = sg_ctx_set_grad(&ctx, false);
        sg_batchnorm2d(&ctx, x, w, b, rm, rv, true, 0.5f, eps);
        sg_ctx_set_grad(&ctx, prev);
    }
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close_at(fx, p, "dx", x->grad, sg_numel(x), DX_ATOL, DX_RTOL),
           "batchnorm %s dx matches PyTorch%s", name, what);
    if (w)
        tap_ok(sg_check_close_at(fx, p, "dweight", w->grad, C, DW_ATOL, DW_RTOL) &&
                   sg_check_close_at(fx, p, "dbias", b->grad, C, DW_ATOL, DW_RTOL),
               "batchnorm %s dweight/dbias match PyTorch%s", name, what);
    sg_tensor *all[] = {x, w, b, rm, rv, dout};
    for (int i = 0; i < 6; i++)
        if (all[i]) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
}

/* ---- layer norm parity --------------------------------------------------------------- */
static void ln_parity(const sg_fixture *fx, const char *name)
{
    char p[64];
    snprintf(p, sizeof p, "ln.%s.", name);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *x = sg_fixture_tensor_opt_at(fx, p, "x", true);
    sg_tensor *w = sg_fixture_tensor_opt_at(fx, p, "weight", true);
    sg_tensor *b = sg_fixture_tensor_opt_at(fx, p, "bias", true);
    sg_tensor *dout = sg_fixture_tensor_opt_at(fx, p, "dout", false);
    float eps = (float)sg_fixture_scalar_at(fx, p, "eps");
    sg_tensor *out = sg_layernorm(&ctx, x, w, b, eps);
    size_t D = (size_t)x->shape[x->ndim - 1];
    tap_ok(sg_check_close_at(fx, p, "out", out->data, sg_numel(out), OUT_ATOL, OUT_RTOL),
           "layernorm %s (%d-D) forward matches PyTorch", name, x->ndim);
    sg_backward_with(&ctx, out, dout->data);
    /* Layer-norm rows have variance ~4, so dx is O(1): the output tolerance fits. */
    tap_ok(sg_check_close_at(fx, p, "dx", x->grad, sg_numel(x), OUT_ATOL, OUT_RTOL),
           "layernorm %s dx matches PyTorch", name);
    if (w)
        tap_ok(sg_check_close_at(fx, p, "dweight", w->grad, D, DW_ATOL, DW_RTOL) &&
                   sg_check_close_at(fx, p, "dbias", b->grad, D, DW_ATOL, DW_RTOL),
               "layernorm %s dweight/dbias match PyTorch", name);
    sg_tensor *all[] = {x, w, b, dout};
    for (int i = 0; i < 4; i++)
        if (all[i]) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
}

/* ---- gradient checks ------------------------------------------------------------------- */
typedef struct {
    sg_tensor *rm, *rv;
    bool training;
} bn_arg;

static sg_tensor *gc_bn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    bn_arg *a = arg;
    return sg_batchnorm2d(ctx, in[0], in[1], in[2], a->rm, a->rv, a->training, 0.1f, 1e-5f);
}

static sg_tensor *gc_ln(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_layernorm(ctx, in[0], in[1], in[2], 1e-5f);
}

static void test_grads(void)
{
    int xs[4] = {2, 3, 5, 5}, cs[1] = {3};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, xs, true);
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *b = sg_tensor_alloc(SG_F32, 1, cs, true);
    bn_arg a = {sg_tensor_alloc(SG_F32, 1, cs, false), sg_tensor_alloc(SG_F32, 1, cs, false), true};
    sg_test_fill_uniform(x, 10, -2.0f, 2.0f);
    sg_test_fill_uniform(w, 11, 0.5f, 1.5f);
    sg_test_fill_uniform(b, 12, -1.0f, 1.0f);
    sg_test_fill_uniform(a.rm, 13, -0.5f, 0.5f);
    sg_test_fill_uniform(a.rv, 14, 0.5f, 1.5f);
    sg_tensor *in[3] = {x, w, b};
    gc_("batchnorm train affine (x, weight, bias)", gc_bn, in, 3, &a, GC);
    sg_tensor *plain[3] = {x, NULL, NULL};
    gc_("batchnorm train without affine", gc_bn, plain, 3, &a, GC);
    a.training = false;
    sg_test_fill_uniform(a.rv, 14, 0.5f, 1.5f);
    gc_("batchnorm eval affine (x, weight, bias)", gc_bn, in, 3, &a, GC);

    int ls[3] = {2, 4, 6}, ds[1] = {6};
    sg_tensor *lx = sg_tensor_alloc(SG_F32, 3, ls, true);
    sg_tensor *lw = sg_tensor_alloc(SG_F32, 1, ds, true);
    sg_tensor *lb = sg_tensor_alloc(SG_F32, 1, ds, true);
    sg_test_fill_uniform(lx, 15, -2.0f, 2.0f);
    sg_test_fill_uniform(lw, 16, 0.5f, 1.5f);
    sg_test_fill_uniform(lb, 17, -1.0f, 1.0f);
    sg_tensor *lin[3] = {lx, lw, lb};
    gc_("layernorm (x, weight, bias)", gc_ln, lin, 3, NULL, GC);
    sg_tensor *all[] = {x, w, b, a.rm, a.rv, lx, lw, lb};
    for (int i = 0; i < 8; i++) sg_tensor_free(all[i]);
}

/* ---- fused batch norm + ReLU -------------------------------------------------------------- */
/* out, dx, dw, db and the running statistics of either relu(batchnorm2d) or
 * batchnorm2d_relu on fresh copies of the same inputs, concatenated. */
static float *bn_relu_run_(bool fused, bool training, size_t *len)
{
    int xs[4] = {2, 3, 5, 5}, cs[1] = {3};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, xs, true);
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *b = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *rm = sg_tensor_alloc(SG_F32, 1, cs, false), *rv = sg_tensor_alloc(SG_F32, 1, cs, false);
    sg_test_fill_uniform(x, 30, -2.0f, 2.0f);
    sg_test_fill_uniform(w, 31, 0.5f, 1.5f);
    sg_test_fill_uniform(b, 32, -0.5f, 0.5f);
    sg_test_fill_uniform(rm, 33, -0.5f, 0.5f);
    sg_test_fill_uniform(rv, 34, 0.5f, 1.5f);
    sg_tensor *dout = sg_tensor_alloc(SG_F32, 4, xs, false);
    sg_test_fill_uniform(dout, 35, -1.0f, 1.0f);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = fused ? sg_batchnorm2d_relu(&ctx, x, w, b, rm, rv, training, 0.1f, 1e-5f)
                           : sg_relu(&ctx, sg_batchnorm2d(&ctx, x, w, b, rm, rv, training, 0.1f,
                                                          1e-5f));
    sg_backward_with(&ctx, out, dout->data);
    const sg_tensor *parts[] = {out, x, w, b, rm, rv};
    *len = 0;
    for (int i = 0; i < 6; i++) *len += sg_numel(parts[i]);
    float *r = malloc(*len * sizeof *r), *q = r;
    for (int i = 0; i < 6; i++) {
        const float *src = i == 0 ? parts[i]->data : i < 4 ? parts[i]->grad : parts[i]->data;
        memcpy(q, src, sg_numel(parts[i]) * sizeof *q);
        q += sg_numel(parts[i]);
    }
    sg_ctx_free(&ctx);
    sg_tensor *all[] = {x, w, b, rm, rv, dout};
    for (int i = 0; i < 6; i++) sg_tensor_free(all[i]);
    return r;
}

static sg_tensor *gc_bn_relu(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    bn_arg *a = arg;
    return sg_batchnorm2d_relu(ctx, in[0], in[1], in[2], a->rm, a->rv, a->training, 0.1f, 1e-5f);
}

/* The fused op gives the bits of relu(batchnorm2d) on the reference path
 * (the same arithmetic, with the mask inside the loops), and agrees with it
 * on the fast path within the parity tolerances (oneDNN's BN in both, but
 * the fast fused op clamps in place, so only the order of identical float
 * operations could differ: DX/DW bounds are far above that). */
static void test_bn_relu(void)
{
    const sg_backend *saved = g_be;
    for (int training = 0; training < 2; training++) {
        size_t n1, n2;
        g_be = sg_backend_cpu_reference();
        float *a = bn_relu_run_(false, training, &n1), *f = bn_relu_run_(true, training, &n2);
        tap_ok(n1 == n2 && memcmp(a, f, n1 * sizeof *a) == 0,
               "batchnorm2d_relu (%s) on the reference path: out, gradients and running stats "
               "bitwise equal to relu(batchnorm2d)",
               training ? "train" : "eval");
        free(a);
        free(f);
        if (!(sg_backend_cpu_dnnl() != NULL)) continue;
        g_be = sg_backend_cpu_dnnl();
        a = bn_relu_run_(false, training, &n1);
        f = bn_relu_run_(true, training, &n2);
        int ok = n1 == n2;
        for (size_t i = 0; ok && i < n1; i++) ok = fabs(a[i] - f[i]) <= DX_ATOL + DX_RTOL * fabs(a[i]);
        tap_ok(ok, "batchnorm2d_relu (%s) on the fast path matches relu(batchnorm2d)",
               training ? "train" : "eval");
        free(a);
        free(f);
    }
    g_be = saved;

    int xs[4] = {2, 3, 5, 5}, cs[1] = {3};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, xs, true);
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *b = sg_tensor_alloc(SG_F32, 1, cs, true);
    bn_arg arg = {sg_tensor_alloc(SG_F32, 1, cs, false), sg_tensor_alloc(SG_F32, 1, cs, false),
                  false};
    /* Evaluation keeps the map affine per element, so inputs can be kept
     * away from the ReLU's kink: |out| >= 0.1 > eps * w / sqrt(var). */
    sg_test_fill_away_from_zero(x, 36, -2.0f, 2.0f, 0.2f);
    sg_init_constant(w, 1.0f);
    sg_init_constant(b, 0.0f);
    sg_init_constant(arg.rm, 0.0f);
    sg_init_constant(arg.rv, 1.0f);
    sg_tensor *in[3] = {x, w, b};
    gc_("batchnorm2d_relu eval (x, weight, bias)", gc_bn_relu, in, 3, &arg, GC);
    sg_tensor *all[] = {x, w, b, arg.rm, arg.rv};
    for (int i = 0; i < 5; i++) sg_tensor_free(all[i]);
}

/* ---- thread-count independence ----------------------------------------------------------- */
static void run_norms_(int threads, float *out)
{
    sg_set_num_threads(threads);
    int xs[4] = {3, 5, 4, 7}, cs[1] = {5}, ds[1] = {7};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, xs, true);
    sg_tensor *w = sg_tensor_alloc(SG_F32, 1, cs, true);
    sg_tensor *lw = sg_tensor_alloc(SG_F32, 1, ds, true);
    sg_tensor *rm = sg_tensor_alloc(SG_F32, 1, cs, false);
    sg_tensor *rv = sg_tensor_alloc(SG_F32, 1, cs, false);
    sg_test_fill_uniform(x, 20, -2.0f, 2.0f);
    sg_test_fill_uniform(w, 21, 0.5f, 1.5f);
    sg_test_fill_uniform(lw, 22, 0.5f, 1.5f);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *y = sg_batchnorm2d(&ctx, x, w, NULL, rm, rv, true, 0.1f, 1e-5f);
    sg_tensor *z = sg_layernorm(&ctx, y, lw, NULL, 1e-5f);
    sg_tensor *r = sg_tensor_like(&ctx, z);
    sg_test_fill_uniform(r, 23, -1.0f, 1.0f);
    sg_backward_with(&ctx, z, r->data);
    size_t n = sg_numel(x);
    memcpy(out, z->data, n * sizeof(float));
    memcpy(out + n, x->grad, n * sizeof(float));
    memcpy(out + 2 * n, w->grad, 5 * sizeof(float));
    memcpy(out + 2 * n + 5, lw->grad, 7 * sizeof(float));
    memcpy(out + 2 * n + 12, rv->data, 5 * sizeof(float));
    sg_tensor *all[] = {x, w, lw, rm, rv};
    for (int i = 0; i < 5; i++) sg_tensor_free(all[i]);
    sg_ctx_free(&ctx);
}

static void test_threads(void)
{
    enum { N = 2 * 3 * 5 * 4 * 7 + 17 };
    static float one[N], many[N];
    int prev = sg_get_num_threads();
    run_norms_(1, one);
    run_norms_(4, many);
    sg_set_num_threads(prev);
    tap_ok(memcmp(one, many, sizeof one) == 0,
           "batchnorm + layernorm forward, backward and running stats: 1 and 4 threads agree "
           "bit for bit");
}

/* ---- misuse -------------------------------------------------------------------------------- */
static void bn_bad_weight_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    int xs[4] = {2, 3, 5, 5}, cs[1] = {3}, ws[1] = {4};
    sg_tensor *c = sg_tensor_new(&ctx, SG_F32, 1, cs);
    sg_batchnorm2d(&ctx, sg_tensor_new(&ctx, SG_F32, 4, xs), sg_tensor_new(&ctx, SG_F32, 1, ws),
                   NULL, c, c, true, 0.1f, 1e-5f);
}

static void bn_bad_running_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    int xs[4] = {2, 3, 5, 5}, cs[1] = {3}, bad[1] = {2};
    sg_batchnorm2d(&ctx, sg_tensor_new(&ctx, SG_F32, 4, xs), NULL, NULL,
                   sg_tensor_new(&ctx, SG_F32, 1, cs), sg_tensor_new(&ctx, SG_F32, 1, bad), false,
                   0.1f, 1e-5f);
}

static void bn_one_value_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    int xs[4] = {1, 3, 1, 1}, cs[1] = {3};
    sg_tensor *c = sg_tensor_new(&ctx, SG_F32, 1, cs);
    sg_batchnorm2d(&ctx, sg_tensor_new(&ctx, SG_F32, 4, xs), NULL, NULL, c, c, true, 0.1f, 1e-5f);
}

static void ln_bad_weight_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    int xs[3] = {2, 3, 6}, ws[1] = {5};
    sg_layernorm(&ctx, sg_tensor_new(&ctx, SG_F32, 3, xs), sg_tensor_new(&ctx, SG_F32, 1, ws),
                 NULL, 1e-5f);
}

static void test_misuse(void)
{
    const char *e1[] = {"sg_batchnorm2d", "weight", "[4]", "[2, 3, 5, 5]"};
    tap_ok(sg_expect_abort(bn_bad_weight_, NULL, e1, 4),
           "sg_batchnorm2d with a [4] weight for 3 channels aborts naming both shapes");
    const char *e2[] = {"sg_batchnorm2d", "running_var", "[2]", "[2, 3, 5, 5]"};
    tap_ok(sg_expect_abort(bn_bad_running_, NULL, e2, 4),
           "sg_batchnorm2d with a wrong-sized running_var aborts naming both shapes");
    const char *e3[] = {"sg_batchnorm2d", "more than 1 value", "[1, 3, 1, 1]"};
    tap_ok(sg_expect_abort(bn_one_value_, NULL, e3, 3),
           "sg_batchnorm2d training on one value per channel aborts");
    const char *e4[] = {"sg_layernorm", "weight", "[5]", "[2, 3, 6]"};
    tap_ok(sg_expect_abort(ln_bad_weight_, NULL, e4, 4),
           "sg_layernorm with a [5] weight for D = 6 aborts naming both shapes");
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    sg_fixture *fx = sg_fixture_open("norm.bin", GEN);
    bn_parity(fx, "train_affine", false);
    bn_parity(fx, "train_plain", false);
    bn_parity(fx, "eval_affine", false);
    bn_parity(fx, "eval_plain", false);
    bn_parity(fx, "eval_affine", true);
    ln_parity(fx, "rows");
    ln_parity(fx, "bnd");
    ln_parity(fx, "bnd_plain");
    test_grads();
    test_bn_relu();
    test_threads();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
