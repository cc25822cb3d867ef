/*
 * test_ops_conv.c: sg_conv2d, sg_maxpool2d and sg_global_avgpool against
 * PyTorch fixtures (tests/ref/gen_conv.py -> tests/data/conv.bin: forward and
 * input/weight/bias gradients; one case is a shape the oneDNN path runs with
 * Winograd), finite-difference gradient checks, thread-count
 * independence, and misuse aborts. Convolutions whose dilation reaches past
 * the map (kernel rows/columns that read only padding, which op_conv.c crops
 * away) are checked against a direct double-precision convolution, including
 * the exact zero gradient of the dead taps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

/* sg_gradcheck on g_be. */
static int gc_(const char *label, sg_gc_fn fn, sg_tensor **in, int n_in, void *arg, sg_gc_opts o)
{
    o.be = g_be;
    return sg_gradcheck(label, fn, in, n_in, arg, o);
}

#define GEN "tests/ref/gen_conv.py"

/* The fixture is the float64 result rounded to float32, so only our float32
 * accumulation error remains. out and dx sum at most K = 3*7*7 = 147 products
 * in GEMM order, dw at most N*Ho*Wo = 2*11*13 = 286: about sqrt(K) * 2^-24 of
 * the summed magnitudes, observed up to 7e-7 on O(1) outputs and 1.2e-5 on
 * dw ~ 13. 1e-5 absolute plus 5e-6 relative keeps a 6x margin, while a wrong
 * tap, stride or group offset moves values by O(0.1). */
#define CONV_ATOL 1e-5
#define CONV_RTOL 5e-6
/* The "winograd" case (16 channels, 16 x 16, which the oneDNN path runs with
 * Winograd F(4x4, 3x3), src/cpu/dnnl_conv.c): out and dx (up to 4.3) stay
 * within CONV_ATOL/RTOL (observed 3.3e-6). dw sums 16 tiles in the transform
 * domain and comes back through an inverse transform with constants up to
 * 8, which magnifies its rounding: observed up to 3.0e-5 (on dw = -8.0, inside
 * the relative part) and 1.8e-5 on dw = -0.70, 1.45e-5 beyond 5e-6 relative;
 * values run to 57. 5e-5 absolute keeps a 3x margin on that; a wrong tile
 * offset moves values by O(0.1). */
#define WINO_DW_ATOL 5e-5
/* db is a double sum rounded once: only the final float rounding, 2^-24 relative,
 * plus 1e-6 absolute for sums that cancel towards 0. */
#define DB_ATOL 1e-6
#define DB_RTOL 1e-6
/* Max pooling copies values and gradients exactly (one dout per window, and
 * at most kernel^2 = 9 float additions into one dx element): 1e-6 absolute
 * covers those few roundings. */
#define POOL_ATOL 1e-6
#define POOL_RTOL 1e-6
/* Global average: a double sum of 35 values rounded once, and dout/35 rounded
 * once: last-bit differences only. */
#define AVG_ATOL 1e-7
#define AVG_RTOL 1e-6

/* Conv is bilinear, so central differences are exact but for rounding: only
 * the <= Cout*k*k outputs touched by one element change, each off by ~1e-7
 * relative, so L moves by ~1e-6 and the quotient by 2 eps = 2e-2 by ~5e-5
 * (observed 1.1e-5): 1e-4 absolute and relative. */
static const sg_gc_opts CONV_GC = {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4};
/* Pools are piecewise linear and the inputs keep every argmax fixed under
 * eps, so the same rounding bound applies (observed 7e-7). */
static const sg_gc_opts POOL_GC = {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-4};

/* ---- PyTorch parity ------------------------------------------------------------ */
/* Record "<case>.<field>" of the fixture. */
static const char *key_(const char *c, const char *field)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "%s.%s", c, field);
    return buf;
}

static sg_tensor *load_(const sg_fixture *fx, const char *c, const char *field, bool rg)
{
    return sg_fixture_tensor(fx, key_(c, field), rg);
}

static sg_conv2d_params conv_params_(const sg_fixture *fx, const char *c)
{
    const double *p = sg_fixture_doubles(fx, key_(c, "params"), NULL);
    return sg_conv2d_params_make((int)p[0], (int)p[1], (int)p[2], (int)p[3]);
}

static void test_conv_parity(const sg_fixture *fx, const char *c, double dw_atol)
{
    sg_conv2d_params p = conv_params_(fx, c);
    sg_tensor *x = load_(fx, c, "x", true);
    sg_tensor *w = load_(fx, c, "w", true);
    sg_tensor *b = sg_fixture_has(fx, key_(c, "b")) ? load_(fx, c, "b", true) : NULL;
    sg_tensor *dout = load_(fx, c, "dout", false);

    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = sg_conv2d(&ctx, x, w, b, p);
    tap_ok(sg_check_close(fx, key_(c, "out"), out->data, sg_numel(out), CONV_ATOL, CONV_RTOL),
           "conv2d %s forward matches PyTorch", c);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, key_(c, "dx"), x->grad, sg_numel(x), CONV_ATOL, CONV_RTOL),
           "conv2d %s dx matches PyTorch", c);
    tap_ok(sg_check_close(fx, key_(c, "dw"), w->grad, sg_numel(w), dw_atol, CONV_RTOL),
           "conv2d %s dw matches PyTorch", c);
    if (b)
        tap_ok(sg_check_close(fx, key_(c, "db"), b->grad, sg_numel(b), DB_ATOL, DB_RTOL),
               "conv2d %s db matches PyTorch", c);
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(w);
    sg_tensor_free(b);
    sg_tensor_free(dout);
}

/* Backward adds: a second pass over the same tensors doubles every gradient.
 * Inputs with requires_grad false get none. */
static void test_conv_accumulates(const sg_fixture *fx, const char *c, bool x_grad)
{
    sg_conv2d_params p = conv_params_(fx, c);
    sg_tensor *x = load_(fx, c, "x", x_grad);
    sg_tensor *w = load_(fx, c, "w", true);
    sg_tensor *b = sg_fixture_has(fx, key_(c, "b")) ? load_(fx, c, "b", true) : NULL;
    sg_tensor *dout = load_(fx, c, "dout", false);
    for (int pass = 0; pass < 2; pass++) {
        sg_ctx ctx;
        sg_ctx_init_on(&ctx, g_be);
        sg_backward_with(&ctx, sg_conv2d(&ctx, x, w, b, p), dout->data);
        sg_ctx_free(&ctx);
    }
    const sg_tensor *ts[3] = {x, w, b};
    const char *fields[3] = {"dx", "dw", "db"};
    int ok = x_grad || x->grad == NULL;
    for (int i = 0; i < 3; i++) {
        if (!ts[i] || (i == 0 && !x_grad)) continue;
        size_t n;
        const double *ref = sg_fixture_doubles(fx, key_(c, fields[i]), &n);
        float *twice = sg_xmalloc(n * sizeof(float));
        for (size_t j = 0; j < n; j++) twice[j] = (float)(2.0 * ref[j]);
        /* Two additions of values within CONV_ATOL/RTOL each. */
        ok &= sg_allclose(ts[i]->grad, twice, n, 2 * CONV_ATOL, CONV_RTOL, fields[i]);
        free(twice);
    }
    tap_ok(ok, "conv2d %s gradients accumulate over two backward passes (dx %s)", c,
           x_grad ? "too" : "not requested, none made");
    sg_tensor_free(x);
    sg_tensor_free(w);
    sg_tensor_free(b);
    sg_tensor_free(dout);
}

static void test_maxpool_parity(const sg_fixture *fx, const char *c)
{
    const double *pr = sg_fixture_doubles(fx, key_(c, "params"), NULL);
    sg_tensor *x = load_(fx, c, "x", true);
    sg_tensor *dout = load_(fx, c, "dout", false);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = sg_maxpool2d(&ctx, x, (int)pr[0], (int)pr[1], (int)pr[2]);
    tap_ok(sg_check_close(fx, key_(c, "out"), out->data, sg_numel(out), POOL_ATOL, POOL_RTOL),
           "%s forward matches PyTorch", c);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, key_(c, "dx"), x->grad, sg_numel(x), POOL_ATOL, POOL_RTOL),
           "%s dx matches PyTorch", c);
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(dout);
}

static void test_avgpool_parity(const sg_fixture *fx)
{
    sg_tensor *x = sg_fixture_tensor(fx, "avgpool.x", true);
    sg_tensor *dout = sg_fixture_tensor(fx, "avgpool.dout", false);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = sg_global_avgpool(&ctx, x);
    tap_ok(out->ndim == 4 && out->shape[0] == 2 && out->shape[1] == 3 && out->shape[2] == 1 &&
               out->shape[3] == 1,
           "global avgpool output is (N, C, 1, 1)");
    tap_ok(sg_check_close(fx, "avgpool.out", out->data, sg_numel(out), AVG_ATOL, AVG_RTOL),
           "global avgpool forward matches PyTorch");
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, "avgpool.dx", x->grad, sg_numel(x), AVG_ATOL, AVG_RTOL),
           "global avgpool dx matches PyTorch");
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(dout);
}

static sg_tensor *conv_fn_(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_conv2d(ctx, in[0], in[1], in[2], *(const sg_conv2d_params *)arg);
}

/* ---- dead taps -------------------------------------------------------------------- */
/* out, dx and dw of a bias-free, ungrouped convolution by direct summation in
 * double, for upstream gradient dout (the definition, nothing shared with
 * conv2d.c or op_conv.c). */
static void direct_conv_(const sg_tensor *x, const sg_tensor *w, const float *dout,
                         sg_conv2d_params p, int Ho, int Wo, double *out, double *dx, double *dw)
{
    const int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int O = w->shape[0], K = w->shape[2];
    memset(dx, 0, sg_numel(x) * sizeof *dx);
    memset(dw, 0, sg_numel(w) * sizeof *dw);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    const size_t oi = (((size_t)n * O + o) * Ho + oh) * Wo + ow;
                    double acc = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++) {
                                int ih = oh * p.stride_h - p.pad_h + i * p.dil_h;
                                int iw = ow * p.stride_w - p.pad_w + j * p.dil_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                size_t xi = (((size_t)n * C + c) * H + ih) * W + iw;
                                size_t wi = (((size_t)o * C + c) * K + i) * K + j;
                                acc += (double)x->data[xi] * w->data[wi];
                                dx[xi] += (double)dout[oi] * w->data[wi];
                                dw[wi] += (double)dout[oi] * x->data[xi];
                            }
                    out[oi] = acc;
                }
}

static int close_to_(const float *got, const double *want, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]))) return 0;
    return 1;
}

/* A 3x3 convolution with dilation `dil` and padding `dil` on an (h, w) map
 * against direct_conv_: out, dx, dw (exactly 0 at every dead tap), and a
 * finite-difference check of the same configuration. */
static void test_dead_taps_on_(const char *label, int h, int w, int dil)
{
    sg_conv2d_params p = sg_conv2d_params_make(1, dil, dil, 1);
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, h, w}, true);
    sg_tensor *wt = sg_tensor_alloc(SG_F32, 4, (const int[]){4, 3, 3, 3}, true);
    sg_test_fill_uniform(x, 20, -1.0f, 1.0f);
    sg_test_fill_uniform(wt, 21, -0.5f, 0.5f);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = sg_conv2d(&ctx, x, wt, NULL, p);
    /* Nominal FLOPs (sg_ctx.flops): 2 x N Cout Ho Wo Cin kh kw for the full
     * 3x3 kernel although most taps are dead and skipped; the backward adds
     * one forward each for dx and dw. */
    const double fwd = 2.0 * 2 * 4 * h * w * 3 * 9;
    tap_ok(ctx.flops == fwd, "conv2d %s: forward counts %.0f nominal FLOPs (got %.0f)", label, fwd, ctx.flops);
    sg_tensor *dout = sg_tensor_alloc(SG_F32, 4, out->shape, false);
    sg_test_fill_uniform(dout, 22, -1.0f, 1.0f);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(ctx.flops == 3 * fwd, "conv2d %s: forward + dx + dw count 3 forwards (got %.0f)", label, ctx.flops);

    const size_t no = sg_numel(out);
    double *ro = malloc(no * sizeof *ro), *rdx = malloc(sg_numel(x) * sizeof *rdx);
    double *rdw = malloc(sg_numel(wt) * sizeof *rdw);
    direct_conv_(x, wt, dout->data, p, out->shape[2], out->shape[3], ro, rdx, rdw);
    int dead_zero = 1, dead = 0;
    for (size_t i = 0; i < sg_numel(wt); i++)
        if (rdw[i] == 0.0) {
            dead++;
            dead_zero &= wt->grad[i] == 0.0f;
        }
    tap_ok(out->shape[2] == h && out->shape[3] == w &&
               close_to_(out->data, ro, no, CONV_ATOL, CONV_RTOL),
           "conv2d %s: output matches the direct convolution", label);
    tap_ok(close_to_(x->grad, rdx, sg_numel(x), CONV_ATOL, CONV_RTOL) &&
               close_to_(wt->grad, rdw, sg_numel(wt), CONV_ATOL, CONV_RTOL),
           "conv2d %s: dx and dw match the direct convolution", label);
    tap_ok(dead > 0 && dead_zero, "conv2d %s: the %d dead taps get an exactly zero gradient",
           label, dead);
    free(ro);
    free(rdx);
    free(rdw);
    sg_ctx_free(&ctx);
    sg_tensor_free(dout);

    char gl[160];
    snprintf(gl, sizeof gl, "conv2d %s: gradient check", label);
    sg_tensor *in[3] = {x, wt, NULL};
    gc_(gl, conv_fn_, in, 3, &p, CONV_GC);
    sg_tensor_free(x);
    sg_tensor_free(wt);
}

/* An input without gradient (the first layer): the backward computes dw
 * only, so it adds one forward's FLOPs; with recording off, none. */
static void test_conv_flops_without_input_grad(void)
{
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 4, 6, 5}, false);
    sg_tensor *wt = sg_tensor_alloc(SG_F32, 4, (const int[]){6, 2, 3, 3}, true);
    sg_test_fill_uniform(x, 30, -1.0f, 1.0f);
    sg_test_fill_uniform(wt, 31, -0.5f, 0.5f);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *out = sg_conv2d(&ctx, x, wt, NULL, sg_conv2d_params_make(2, 1, 1, 2));
    const double fwd = 2.0 * 2 * 6 * 3 * 3 * 2 * 9; /* N Cout Ho Wo (Cin/groups) kh kw */
    sg_backward(&ctx, sg_sum(&ctx, out));
    tap_ok(ctx.flops == 2 * fwd, "conv2d flops: forward + dw only = %.0f (got %.0f)", 2 * fwd, ctx.flops);
    sg_ctx_reset(&ctx);
    bool was = sg_ctx_set_grad(&ctx, false);
    sg_conv2d(&ctx, x, wt, NULL, sg_conv2d_params_make(2, 1, 1, 2));
    sg_ctx_set_grad(&ctx, was);
    tap_ok(ctx.flops == 3 * fwd, "conv2d flops: sg_ctx_reset keeps the count; a no-grad forward adds one");
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(wt);
}

/* test_dead_taps_on_ on the reference path and, when built, the oneDNN one. */
static void test_dead_taps(const char *label, int h, int w, int dil)
{
    const sg_backend *saved = g_be;
    char l[96];
    g_be = sg_backend_cpu_reference();
    snprintf(l, sizeof l, "%s, reference path", label);
    test_dead_taps_on_(l, h, w, dil);
    if ((sg_backend_cpu_dnnl() != NULL)) {
        g_be = sg_backend_cpu_dnnl();
        snprintf(l, sizeof l, "%s, fast path", label);
        test_dead_taps_on_(l, h, w, dil);
    }
    g_be = saved;
}

/* ---- gradient checks ------------------------------------------------------------ */
static void conv_gradcheck(const char *label, int cin, int cout, int k, int bias,
                           sg_conv2d_params p)
{
    int xs[4] = {2, cin, 5, 5}, ws[4] = {cout, cin / p.groups, k, k}, bs[1] = {cout};
    sg_tensor *in[3] = {sg_tensor_alloc(SG_F32, 4, xs, true), sg_tensor_alloc(SG_F32, 4, ws, true),
                        bias ? sg_tensor_alloc(SG_F32, 1, bs, true) : NULL};
    sg_test_fill_uniform(in[0], 10, -1.0f, 1.0f);
    sg_test_fill_uniform(in[1], 11, -0.5f, 0.5f);
    if (bias) sg_test_fill_uniform(in[2], 12, -0.5f, 0.5f);
    gc_(label, conv_fn_, in, 3, &p, CONV_GC);
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
}

typedef struct {
    int kernel, stride, pad;
} pool_args;

static sg_tensor *maxpool_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const pool_args *a = arg;
    return sg_maxpool2d(ctx, in[0], a->kernel, a->stride, a->pad);
}

static sg_tensor *avgpool_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_global_avgpool(ctx, in[0]);
}

/* Distinct values 0.05 apart (a shuffled ramp), so a perturbation of
 * eps = 1e-2 never changes which element of a window is the maximum. */
static void fill_permutation_(sg_tensor *t)
{
    size_t n = sg_numel(t);
    sg_rng rng;
    sg_rng_init(&rng, 99, sg_rng_stream(SG_RNG_TEST, 2, 0));
    for (size_t i = 0; i < n; i++) t->data[i] = 0.05f * (float)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = sg_rng_below(&rng, (uint32_t)(i + 1));
        float v = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = v;
    }
}

static void test_pool_gradchecks(void)
{
    int shape[4] = {2, 3, 5, 5};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, shape, true);
    fill_permutation_(x);
    pool_args resnet = {3, 2, 1}, pairs = {2, 2, 0};
    gc_("maxpool2d 3x3 s2 p1", maxpool_fn, &x, 1, &resnet, POOL_GC);
    gc_("maxpool2d 2x2 s2 (odd size)", maxpool_fn, &x, 1, &pairs, POOL_GC);
    sg_test_fill_uniform(x, 13, -1.0f, 1.0f);
    gc_("global avgpool", avgpool_fn, &x, 1, NULL, POOL_GC);
    sg_tensor_free(x);
}

/* ---- thread-count independence -------------------------------------------------- */
/* Forward and all three gradients, bitwise, under 1 and 3 threads: a
 * promise of the reference path only (oneDNN's kernels depend on the thread
 * count, and tests/test_dnnl.c checks their repeatability instead). */
static void test_conv_threads(const sg_fixture *fx, const char *c)
{
    sg_conv2d_params p = conv_params_(fx, c);
    int prev = sg_get_num_threads();
    const sg_backend *prev_path = g_be;
    g_be = sg_backend_cpu_reference();
    float *res[2];
    size_t len[2];
    for (int run = 0; run < 2; run++) {
        sg_set_num_threads(run ? 3 : 1);
        sg_tensor *x = load_(fx, c, "x", true);
        sg_tensor *w = load_(fx, c, "w", true);
        sg_tensor *dout = load_(fx, c, "dout", false);
        sg_ctx ctx;
        sg_ctx_init_on(&ctx, g_be);
        sg_tensor *out = sg_conv2d(&ctx, x, w, NULL, p);
        size_t no = sg_numel(out), nx = sg_numel(x), nw = sg_numel(w);
        len[run] = (no + nx + nw) * sizeof(float);
        res[run] = sg_xmalloc(len[run]);
        memcpy(res[run], out->data, no * sizeof(float));
        sg_backward_with(&ctx, out, dout->data);
        memcpy(res[run] + no, x->grad, nx * sizeof(float));
        memcpy(res[run] + no + nx, w->grad, nw * sizeof(float));
        sg_ctx_free(&ctx);
        sg_tensor_free(x);
        sg_tensor_free(w);
        sg_tensor_free(dout);
    }
    sg_set_num_threads(prev);
    g_be = prev_path;
    tap_ok(len[0] == len[1] && memcmp(res[0], res[1], len[0]) == 0,
           "conv2d %s forward/backward bitwise equal with 1 and 3 threads", c);
    free(res[0]);
    free(res[1]);
}

/* ---- misuse ------------------------------------------------------------------------ */
static void conv_channel_mismatch_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *x = sg_tensor_new4(&ctx, 2, 3, 5, 5);
    sg_tensor *w = sg_tensor_new4(&ctx, 4, 2, 3, 3);
    sg_conv2d(&ctx, x, w, NULL, sg_conv2d_params_make(1, 1, 1, 1));
}

static void conv_too_small_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *x = sg_tensor_new4(&ctx, 1, 2, 4, 4);
    sg_tensor *w = sg_tensor_new4(&ctx, 3, 2, 3, 3);
    /* Effective kernel 1 + 2*(3-1) = 5 > 4. */
    sg_conv2d(&ctx, x, w, NULL, sg_conv2d_params_make(1, 0, 2, 1));
}

static void maxpool_too_small_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_maxpool2d(&ctx, sg_tensor_new4(&ctx, 1, 2, 2, 3), 3, 2, 0);
}

static void test_misuse(void)
{
    const char *mismatch[] = {"sg_conv2d", "[2, 3, 5, 5]", "[4, 2, 3, 3]"};
    tap_ok(sg_expect_abort(conv_channel_mismatch_, NULL, mismatch, 3),
           "conv2d channel mismatch aborts naming the op and both shapes");
    const char *small[] = {"sg_conv2d", "[1, 2, 4, 4]", "[3, 2, 3, 3]", "< 1"};
    tap_ok(sg_expect_abort(conv_too_small_, NULL, small, 4),
           "conv2d with an empty output aborts naming the op and shapes");
    const char *pool[] = {"sg_maxpool2d", "[1, 2, 2, 3]"};
    tap_ok(sg_expect_abort(maxpool_too_small_, NULL, pool, 2),
           "maxpool2d with an empty output aborts naming the op and shape");
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    sg_fixture *fx = sg_fixture_open("conv.bin", GEN);
    static const char *const convs[] = {"conv3x3", "stride2",   "dil2",         "dil4",
                                        "groups2", "depthwise", "pointwise",    "pointwise_s2",
                                        "stem7x7"};
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++)
        test_conv_parity(fx, convs[i], CONV_ATOL);
    test_conv_parity(fx, "winograd", WINO_DW_ATOL);
    test_conv_accumulates(fx, "conv3x3", false);
    test_conv_accumulates(fx, "stride2", true);
    test_conv_accumulates(fx, "pointwise", true);
    test_maxpool_parity(fx, "maxpool3s2");
    test_maxpool_parity(fx, "maxpool2s2");
    test_maxpool_parity(fx, "maxpool_ties");
    test_avgpool_parity(fx);

    conv_gradcheck("conv2d 3x3 s1 p1 bias", 3, 4, 3, 1, sg_conv2d_params_make(1, 1, 1, 1));
    conv_gradcheck("conv2d 3x3 s2 dil2 groups3", 3, 6, 3, 1, sg_conv2d_params_make(2, 2, 2, 3));
    conv_gradcheck("conv2d 1x1 pointwise", 3, 4, 1, 0, sg_conv2d_params_make(1, 0, 1, 1));
    test_conv_flops_without_input_grad();
    test_pool_gradchecks();
    /* Only the centre tap is live (ASPP rate 12 on a small map), and a map
     * whose rows are too short for the outer taps but whose columns are not. */
    test_dead_taps("3x3 dilation 6 on 5x5 (centre tap only)", 5, 5, 6);
    test_dead_taps("3x3 dilation 4 on 4x6 (middle row only)", 4, 6, 4);

    test_conv_threads(fx, "stem7x7");
    test_conv_threads(fx, "depthwise");
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
