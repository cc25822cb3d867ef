/*
 * test_dnnl.c: the oneDNN CPU backend (src/cpu/dnnl_*.c behind
 * sg_backend_cpu_dnnl()) against the reference backend, which the
 * PyTorch fixtures check (tests/test_ops_conv.c, tests/test_ops_norm.c):
 * - convolution forward, dx, dw, db over the cases of tests/test_ops_conv.c
 *   (inputs from tests/data/conv.bin: stride 2, dilation 2 and 4, groups,
 *   depthwise, 1x1, 7x7 s2 stem, odd sizes, bias or not) plus wider
 *   synthetic ones (ASPP-like dilation 12 on an 8x8 map);
 * - which algorithm runs: Winograd for a 3x3 stride-1 convolution with
 *   16 x 16 outputs on an AVX-512 CPU (within its own tolerance, bitwise
 *   repeatable), direct for smaller outputs, grouped ones and under
 *   SG_CPU_CONV=direct, an abort for an unknown SG_CPU_CONV;
 * - batch norm training / evaluation, with and without affine parameters,
 *   including the running-statistics update;
 * - max pooling 3x3 s2 p1, 2x2 s2 and tied maxima (padding acts as -inf);
 * - gradients accumulate (+=), also through a small graph where oneDNN
 *   writes freshly allocated gradient buffers directly;
 * - primitives are cached (repeated calls build nothing new);
 * - bitwise repeatability for a fixed thread count, and the tiny net of
 *   tests/tiny_net.h trained 5 steps twice on the fast path gives identical
 *   weights and BN statistics.
 * Built without oneDNN, it checks that asking for the oneDNN backend fails
 * with a clear message and reports SKIP.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "semiseg.h"
#include "tap.h"

#ifndef SG_HAVE_DNNL
/* In a child: the default CPU backend under SG_CPU_PATH=fast. */
static void select_fast_(void *arg)
{
    (void)arg;
    setenv("SG_CPU_PATH", "fast", 1);
    sg_backend_cpu_default();
}

int main(void)
{
    const char *expect[] = {"SG_CPU_PATH=fast needs oneDNN", "libdnnl-dev"};
    sg_err err = {{0}};
    bool ok = sg_expect_abort(select_fast_, NULL, expect, 2) && sg_backend_cpu_dnnl() == NULL &&
              sg_backend_cpu_default() == sg_backend_cpu_reference() &&
              sg_backend_by_name("fast", &err) == NULL && strstr(err.msg, "oneDNN") != NULL;
    if (!ok) {
        tap_ok(0, "without oneDNN, the reference backend is the default and asking for the "
                  "oneDNN one fails naming oneDNN");
        return tap_done();
    }
    tap_skip_all("built without oneDNN (install libdnnl-dev and reconfigure); asking for the "
                 "oneDNN backend fails as it should");
}
#else

#include "../src/cpu/dnnl_common.h"
#include "../src/cpu/dnnl_ops.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tiny_net.h"

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

/* ---- tolerances ------------------------------------------------------------------
 * Both paths compute in float32 from the same inputs and differ only in the
 * order of their sums (oneDNN: its own GEMM blocking and reductions; the
 * reference: OpenBLAS in K order, double sums for db and the BN statistics).
 * A result summing K terms sits within about sqrt(K) * 2^-24 of the summed
 * magnitudes on either path.
 *
 * Convolution: the largest sums are K = 32*9 = 288 products (out, dx of the
 * wide cases) and N*Ho*Wo = 2*15*17 = 510 (dw, db), with results up to ~20.
 * Observed: 5e-7 on out/dx, 1.05e-5 on dw = -4.73 and 5.7e-6 on db = 21.0.
 * 1e-5 absolute + 5e-6 relative (the bound test_ops_conv.c uses against
 * PyTorch) keeps a 3x margin on the worst of them, while a wrong tap,
 * stride, group or dilation offset changes values by O(0.1). */
#define CONV_ATOL 1e-5
#define CONV_RTOL 5e-6
/* Winograd convolution (dnnl_conv.c) on the 32-channel 16 x 16 case: out and
 * dx (up to 2.0 and 1.2) are observed within 1.8e-6 of the reference, inside
 * CONV_ATOL/RTOL. dw is summed over 32 tiles in the transform domain and
 * brought back by an inverse transform with constants up to 8, which
 * magnifies the rounding: observed 3.3e-5 on dw = -0.79 (values up to 30,
 * so 1.1e-6 of the largest), and 9.6e-6 on db = -22.8 (up to 34). 1e-4 absolute + 5e-6
 * relative for dw and db keeps a 3x margin; a wrong tile offset or transform
 * moves values by O(0.1). */
#define WINO_DW_ATOL 1e-4
#define WINO_DW_RTOL 5e-6
/* Batch norm: oneDNN sums the statistics and the dw/db reductions of
 * n = N*HW <= 1152 values in float where the reference uses double.
 * Observed: 5e-7 on out and dx (O(3)), 1.05e-5 on db = 10.0 and 8.6e-6 on
 * dw = 4.4. 1e-5 absolute + 5e-6 relative keeps a 3.5x margin; a missing
 * mean term or the wrong (biased/unbiased) variance moves values by 1e-3 or
 * more. */
#define BN_ATOL 1e-5
#define BN_RTOL 5e-6
/* Running statistics: (1 - m) r + m stat in double on both paths, from
 * batch statistics that agree to a few float ulps: observed 1.2e-7 on 1.13;
 * 1e-6 absolute and relative. */
#define RUN_ATOL 1e-6
#define RUN_RTOL 1e-6
/* Max pooling copies values, so the forward must match exactly; a dx element
 * sums at most 4 window gradients (3x3 windows, stride 2), and only the order
 * of those few additions could differ (observed: none): 1e-6 absolute. */
#define POOL_ATOL 1e-6
#define POOL_RTOL 0.0
/* Five training steps on either path: per-op differences of a few ulps,
 * carried through five SGD steps of the tiny net; observed 2.4e-7 on weights
 * O(0.5) and equal losses to 7 digits. 1e-5 absolute and relative keeps a
 * 40x margin and still rules out a path that trains differently (a wrong
 * gradient moves a weight by ~lr * grad ~ 1e-2). */
#define TRAIN_ATOL 1e-5
#define TRAIN_RTOL 1e-5

/* ---- running one op graph on one path --------------------------------------------- */
#define MAX_SEGS 12

/* Flat copies of the results of one run: the output, then each input's
 * gradient, then each state tensor (running statistics) after the run. */
typedef struct {
    int n;
    const char *name[MAX_SEGS];
    float *v[MAX_SEGS];
    size_t len[MAX_SEGS];
} result;

static void res_add_(result *r, const char *name, const float *p, size_t n)
{
    SG_CHECK(r->n < MAX_SEGS, "too many result segments");
    r->name[r->n] = name;
    r->len[r->n] = n;
    r->v[r->n] = sg_xmalloc(n * sizeof(float) + 1);
    memcpy(r->v[r->n], p, n * sizeof(float));
    r->n++;
}

static void res_free_(result *r)
{
    for (int i = 0; i < r->n; i++) free(r->v[i]);
    r->n = 0;
}

static const char *const input_names_[] = {"dx", "dw", "db", "d3", "d4", "d5"};
static const char *const state_names_[] = {"running_mean", "running_var", "s2", "s3"};

/* Runs fn on `path` with a fixed upstream gradient, returns the output, the
 * gradients of the inputs that require one, and the state tensors after the
 * run; gradients and states are restored to what they were, so runs can be
 * compared. With twice, the backward runs on two separate graphs (gradients
 * accumulate twice). */
static result run_(const sg_backend *path, sg_gc_fn fn, sg_tensor **in, int n_in, void *arg,
                   sg_tensor **state, int n_state, bool twice)
{
    float *saved[4];
    for (int i = 0; i < n_state; i++) {
        size_t n = sg_numel(state[i]);
        saved[i] = sg_xmalloc(n * sizeof(float));
        memcpy(saved[i], state[i]->data, n * sizeof(float));
    }
    for (int i = 0; i < n_in; i++)
        if (in[i]) sg_tensor_zero_grad(in[i]);
    g_be = path;
    result r = {0};
    for (int pass = 0; pass < (twice ? 2 : 1); pass++) {
        sg_ctx ctx;
        sg_ctx_init_on(&ctx, g_be);
        sg_tensor *out = fn(&ctx, in, arg);
        size_t no = sg_numel(out);
        float *dout = sg_xmalloc(no * sizeof(float));
        sg_rng rng;
        sg_rng_init(&rng, 7, sg_rng_stream(SG_RNG_TEST, 40, no));
        sg_rng_fill_uniform(&rng, dout, no, -1.0f, 1.0f);
        if (pass == 0) res_add_(&r, "out", out->data, no);
        sg_backward_with(&ctx, out, dout);
        free(dout);
        sg_ctx_free(&ctx);
    }
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) {
            res_add_(&r, input_names_[i], in[i]->grad, sg_numel(in[i]));
            sg_tensor_zero_grad(in[i]);
        }
    for (int i = 0; i < n_state; i++) {
        size_t n = sg_numel(state[i]);
        res_add_(&r, state_names_[i], state[i]->data, n);
        memcpy(state[i]->data, saved[i], n * sizeof(float));
        free(saved[i]);
    }
    g_be = sg_backend_cpu_reference();
    return r;
}

typedef struct {
    double atol, rtol;
} tol;

/* Segment i of fast vs ref within tols[i] (the last entry repeats). */
static int res_close_(const result *fast, const result *ref, const tol *tols, int n_tols)
{
    if (fast->n != ref->n) return 0;
    int ok = 1;
    for (int i = 0; i < ref->n; i++) {
        const tol *t = &tols[i < n_tols ? i : n_tols - 1];
        ok &= fast->len[i] == ref->len[i] &&
              sg_allclose(fast->v[i], ref->v[i], ref->len[i], t->atol, t->rtol, ref->name[i]);
    }
    return ok;
}

/* "out, dx, dw" */
static const char *res_names_(const result *r, char *buf, size_t len)
{
    buf[0] = 0;
    for (int i = 0; i < r->n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", r->name[i]);
    return buf;
}

static int res_equal_(const result *a, const result *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->v[i], b->v[i], a->len[i] * sizeof(float)))
            return 0;
    return 1;
}

/* ---- convolution ---------------------------------------------------------------- */
static sg_tensor *conv_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_conv2d(ctx, in[0], in[1], in[2], *(const sg_conv2d_params *)arg);
}

static const tol conv_tol_ = {CONV_ATOL, CONV_RTOL};

/* FAST vs REFERENCE for forward and every gradient, within t; then two
 * backward passes on the fast path give exactly twice one pass (x + x is
 * exact), which a kernel that overwrote instead of adding would fail. */
static void check_conv_within_(const char *label, sg_tensor **in, sg_conv2d_params p,
                               const tol *tols, int n_tols)
{
    result ref = run_(sg_backend_cpu_reference(), conv_fn, in, 3, &p, NULL, 0, false);
    result fast = run_(sg_backend_cpu_dnnl(), conv_fn, in, 3, &p, NULL, 0, false);
    char names[64];
    tap_ok(res_close_(&fast, &ref, tols, n_tols), "conv2d %s: fast path matches reference (%s)", label,
           res_names_(&ref, names, sizeof names));
    result twice = run_(sg_backend_cpu_dnnl(), conv_fn, in, 3, &p, NULL, 0, true);
    int ok = twice.n == fast.n;
    for (int i = 1; ok && i < fast.n; i++)
        for (size_t j = 0; j < fast.len[i]; j++) ok &= twice.v[i][j] == 2.0f * fast.v[i][j];
    tap_ok(ok, "conv2d %s: fast-path gradients accumulate (two passes = 2 x one pass)", label);
    res_free_(&ref);
    res_free_(&fast);
    res_free_(&twice);
}

static void check_conv_(const char *label, sg_tensor **in, sg_conv2d_params p)
{
    check_conv_within_(label, in, p, &conv_tol_, 1);
}

static const char *key_(const char *c, const char *field)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "%s.%s", c, field);
    return buf;
}

static void test_conv_fixture_cases(const sg_fixture *fx)
{
    static const char *const cases[] = {"conv3x3", "stride2",   "dil2",      "dil4",
                                        "groups2", "depthwise", "pointwise", "pointwise_s2",
                                        "stem7x7"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *c = cases[i];
        const double *pr = sg_fixture_doubles(fx, key_(c, "params"), NULL);
        sg_conv2d_params p = sg_conv2d_params_make((int)pr[0], (int)pr[1], (int)pr[2], (int)pr[3]);
        sg_tensor *in[3] = {sg_fixture_tensor(fx, key_(c, "x"), true),
                            sg_fixture_tensor(fx, key_(c, "w"), true),
                            sg_fixture_has(fx, key_(c, "b"))
                                ? sg_fixture_tensor(fx, key_(c, "b"), true)
                                : NULL};
        check_conv_(c, in, p);
        for (int j = 0; j < 3; j++) sg_tensor_free(in[j]);
    }
}

/* Inputs in [-1, 1], weights scaled by 1/sqrt(fan-in) so outputs stay O(1). */
static void make_conv_(sg_tensor **in, int n, int cin, int h, int w, int cout, int k, int groups,
                       bool bias, uint64_t stream)
{
    int fan = cin / groups * k * k;
    in[0] = sg_tensor_alloc(SG_F32, 4, (const int[]){n, cin, h, w}, true);
    in[1] = sg_tensor_alloc(SG_F32, 4, (const int[]){cout, cin / groups, k, k}, true);
    in[2] = bias ? sg_tensor_alloc(SG_F32, 1, (const int[]){cout}, true) : NULL;
    sg_test_fill_uniform(in[0], stream, -1.0f, 1.0f);
    float s = 1.0f / sqrtf((float)fan);
    sg_test_fill_uniform(in[1], stream + 1, -s, s);
    if (bias) sg_test_fill_uniform(in[2], stream + 2, -1.0f, 1.0f);
}

static void free3_(sg_tensor **in)
{
    for (int j = 0; j < 3; j++) sg_tensor_free(in[j]);
}

static void test_conv_wide_cases(void)
{
    sg_tensor *in[3];
    make_conv_(in, 2, 32, 15, 17, 48, 3, 1, true, 300);
    check_conv_("wide 3x3 32->48 15x17", in, sg_conv2d_params_make(1, 1, 1, 1));
    free3_(in);
    /* ASPP rate 12 on an 8x8 map: most taps read only padding. */
    make_conv_(in, 2, 32, 8, 8, 16, 3, 1, false, 310);
    check_conv_("ASPP-like 3x3 dilation 12 pad 12 on 8x8", in, sg_conv2d_params_make(1, 12, 12, 1));
    free3_(in);
    make_conv_(in, 2, 32, 13, 11, 32, 3, 32, true, 320);
    check_conv_("wide depthwise 32 stride 2", in, sg_conv2d_params_make(2, 1, 1, 32));
    free3_(in);
    /* A gradient for w and b only (a frozen input), and for x only. */
    make_conv_(in, 2, 8, 9, 9, 8, 3, 1, true, 330);
    in[0]->requires_grad = false;
    check_conv_("no dx wanted", in, sg_conv2d_params_make(1, 1, 1, 1));
    in[0]->requires_grad = true;
    in[1]->requires_grad = in[2]->requires_grad = false;
    check_conv_("only dx wanted", in, sg_conv2d_params_make(2, 1, 1, 1));
    free3_(in);
}

/* ---- convolution algorithm (Winograd or direct) ----------------------------------- */
/* out, dx, then dw and db (res_close_ repeats the last). */
static const tol wino_tols_[] = {{CONV_ATOL, CONV_RTOL}, {CONV_ATOL, CONV_RTOL},
                                 {WINO_DW_ATOL, WINO_DW_RTOL}};

/* The dims of a 3x3, stride 1, pad 1 convolution of (n, c, h, h) to c channels. */
static sg_conv2d_dims wino_dims_(int n, int c, int h, bool groups2)
{
    return (sg_conv2d_dims){.N = n, .Cin = c, .H = h, .W = h, .Cout = c, .kh = 3, .kw = 3,
                            .Ho = h, .Wo = h, .stride_h = 1, .stride_w = 1, .pad_h = 1,
                            .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = groups2 ? 2 : 1};
}

/* All three passes of d run Winograd (want) or none does. */
static bool conv_runs_winograd_(const sg_conv2d_dims *d, bool want)
{
    bool ok = true;
    for (int pass = 0; pass < 3; pass++) {
        const char *impl = sg_dnnl_conv2d_impl((sg_dnnl_conv_pass)pass, d, true);
        bool wino = impl && strstr(impl, "wino") != NULL;
        if (wino != want) tap_diag("pass %d runs %s", pass, impl ? impl : "(no name)");
        ok &= wino == want;
    }
    return ok;
}

/* In a child: a convolution under a misspelled SG_CPU_CONV. */
static void conv_bad_algo_env_(void *arg)
{
    (void)arg;
    setenv("SG_CPU_CONV", "winnograd", 1);
    sg_conv2d_dims d = wino_dims_(1, 16, 4, false);
    sg_dnnl_conv2d_impl(SG_DNNL_CONV_PASS_FWD, &d, false);
}

static void test_conv_algorithm(void)
{
    const char *bad[] = {"SG_CPU_CONV=winnograd", "expected winograd or direct"};
    tap_ok(sg_expect_abort(conv_bad_algo_env_, NULL, bad, 2),
           "SG_CPU_CONV with an unknown value aborts naming the variable and the choices");
    /* Winograd's shapes at 16 x 16 outputs, the smallest that get it. */
    sg_conv2d_dims big = wino_dims_(2, 32, 16, false);
    const char *impl = sg_dnnl_conv2d_impl(SG_DNNL_CONV_PASS_FWD, &big, true);
    if (!impl || !strstr(impl, "wino")) {
        tap_diag("oneDNN runs %s for a 3x3 32-channel 16x16 convolution: no Winograd on this CPU "
                 "(oneDNN has it for AVX-512 only); the Winograd checks are skipped",
                 impl ? impl : "(no name)");
        return;
    }
    tap_ok(conv_runs_winograd_(&big, true),
           "a 3x3 stride-1 32-channel convolution with 16x16 outputs runs Winograd in every pass");
    sg_conv2d_dims small = wino_dims_(2, 32, 15, false), grouped = wino_dims_(2, 32, 16, true);
    tap_ok(conv_runs_winograd_(&small, false) && conv_runs_winograd_(&grouped, false),
           "15x15 outputs and grouped convolutions stay direct");
    sg_tensor *in[3];
    sg_conv2d_params p = sg_conv2d_params_make(1, 1, 1, 1);
    make_conv_(in, 2, 32, 16, 16, 32, 3, 1, true, 340);
    check_conv_within_("Winograd 3x3 32->32 16x16", in, p, wino_tols_, 3);
    /* Same thread count, same inputs: the same bits. */
    result r1 = run_(sg_backend_cpu_dnnl(), conv_fn, in, 3, &p, NULL, 0, false);
    result r2 = run_(sg_backend_cpu_dnnl(), conv_fn, in, 3, &p, NULL, 0, false);
    tap_ok(res_equal_(&r1, &r2), "Winograd convolution: two runs give the same bits");
    setenv("SG_CPU_CONV", "direct", 1);
    tap_ok(conv_runs_winograd_(&big, false), "SG_CPU_CONV=direct: the same shape runs direct");
    check_conv_("3x3 32->32 16x16 under SG_CPU_CONV=direct", in, p);
    unsetenv("SG_CPU_CONV");
    res_free_(&r1);
    res_free_(&r2);
    free3_(in);
}

/* ---- batch norm ------------------------------------------------------------------ */
typedef struct {
    bool training, relu;
    sg_tensor *rm, *rv;
} bn_args;

static sg_tensor *bn_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const bn_args *a = arg;
    return (a->relu ? sg_batchnorm2d_relu : sg_batchnorm2d)(ctx, in[0], in[1], in[2], a->rm, a->rv,
                                                           a->training, 0.1f, 1e-5f);
}

static const tol bn_tol_ = {BN_ATOL, BN_RTOL}, run_tol_ = {RUN_ATOL, RUN_RTOL};

/* freeze_w: the weight needs no gradient, the bias does. relu: the fused
 * BN + ReLU (sg_batchnorm2d_relu). The fast path's sums are split into
 * fixed partial sums (batchnorm_fast.c), so HW is chosen with and without a
 * tail of HW % 16 elements, and HW = 1. */
static void check_bn_(int n, int c, int h, int w, bool affine, bool freeze_w, bool training,
                      bool relu, uint64_t stream)
{
    sg_tensor *in[3] = {sg_tensor_alloc(SG_F32, 4, (const int[]){n, c, h, w}, true),
                        affine ? sg_tensor_alloc(SG_F32, 1, (const int[]){c}, true) : NULL,
                        affine ? sg_tensor_alloc(SG_F32, 1, (const int[]){c}, true) : NULL};
    /* Channels with different offsets and scales, as BN sees after a conv. */
    sg_test_fill_uniform(in[0], stream, -1.0f, 1.0f);
    size_t hw = (size_t)h * w;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t j = 0; j < hw; j++) {
                float *v = &in[0]->data[((size_t)i * c + ch) * hw + j];
                *v = *v * (0.5f + 0.3f * (float)ch) + 0.2f * (float)(ch - c / 2);
            }
    if (affine) {
        sg_test_fill_uniform(in[1], stream + 1, 0.5f, 1.5f);
        sg_test_fill_uniform(in[2], stream + 2, -0.5f, 0.5f);
        in[1]->requires_grad = !freeze_w;
    }
    bn_args a = {training, relu, sg_tensor_alloc(SG_F32, 1, (const int[]){c}, false),
                 sg_tensor_alloc(SG_F32, 1, (const int[]){c}, false)};
    sg_test_fill_uniform(a.rm, stream + 3, -0.5f, 0.5f);
    sg_test_fill_uniform(a.rv, stream + 4, 0.5f, 2.0f);
    sg_tensor *state[2] = {a.rm, a.rv};

    result ref = run_(sg_backend_cpu_reference(), bn_fn, in, 3, &a, state, 2, false);
    result fast = run_(sg_backend_cpu_dnnl(), bn_fn, in, 3, &a, state, 2, false);
    /* out, dx, [dw,] [db,] running_mean, running_var */
    tol t[6];
    int nt = 0;
    for (int i = 0; i < ref.n - 2; i++) t[nt++] = bn_tol_;
    t[nt++] = run_tol_;
    const char *what = !affine ? "no affine" : freeze_w ? "affine, frozen weight" : "affine";
    const char *op = relu ? "batchnorm2d_relu" : "batchnorm2d";
    char names[96];
    tap_ok(res_close_(&fast, &ref, t, nt),
           "%s %s %s [%d, %d, %d, %d]: fast path matches reference (%s; running stats %s)", op,
           training ? "train" : "eval", what, n, c, h, w, res_names_(&ref, names, sizeof names),
           training ? "updated" : "unchanged");
    /* One channel per thread and fixed partial sums: the same bits at any
     * thread count. */
    int threads = sg_get_num_threads();
    sg_set_num_threads(threads == 1 ? 2 : 1);
    result other = run_(sg_backend_cpu_dnnl(), bn_fn, in, 3, &a, state, 2, false);
    sg_set_num_threads(threads);
    int same_bits = other.n == fast.n;
    for (int i = 0; same_bits && i < fast.n; i++)
        same_bits = memcmp(other.v[i], fast.v[i], fast.len[i] * sizeof(float)) == 0;
    tap_ok(same_bits, "%s %s %s: fast path gives the same bits at 1 and %d threads", op,
           training ? "train" : "eval", what, threads == 1 ? 2 : threads);
    res_free_(&other);
    if (!training) {
        /* Evaluation must leave the running statistics alone. */
        int same = memcmp(fast.v[fast.n - 2], a.rm->data, (size_t)c * sizeof(float)) == 0 &&
                   memcmp(fast.v[fast.n - 1], a.rv->data, (size_t)c * sizeof(float)) == 0;
        tap_ok(same, "%s eval on the fast path keeps the running statistics", op);
    }
    result twice = run_(sg_backend_cpu_dnnl(), bn_fn, in, 3, &a, NULL, 0, true);
    int ok = 1;
    for (int i = 1; i < twice.n; i++)
        for (size_t j = 0; j < twice.len[i]; j++) ok &= twice.v[i][j] == 2.0f * fast.v[i][j];
    tap_ok(ok, "%s %s %s: fast-path gradients accumulate", op, training ? "train" : "eval", what);
    res_free_(&ref);
    res_free_(&fast);
    res_free_(&twice);
    free3_(in);
    sg_tensor_free(a.rm);
    sg_tensor_free(a.rv);
}

static void test_bn(void)
{
    for (int training = 1; training >= 0; training--)
        for (int affine = 1; affine >= 0; affine--)
            for (int relu = 0; relu <= 1; relu++)
                check_bn_(4, 6, 5, 7, affine, false, training, relu,
                          400 + 10 * (uint64_t)(2 * training + affine) + (uint64_t)relu);
    check_bn_(4, 6, 5, 7, true, true, true, false, 440);
    check_bn_(4, 6, 5, 7, true, true, false, false, 440);
    check_bn_(8, 16, 12, 12, true, false, true, false, 450);
    check_bn_(8, 16, 12, 12, true, false, true, true, 455);
    check_bn_(8, 16, 1, 1, true, false, true, true, 460);
    check_bn_(3, 5, 16, 16, false, false, true, true, 465);
}

/* ---- max pooling ----------------------------------------------------------------- */
typedef struct {
    int kernel, stride, pad;
} pool_args;

static sg_tensor *pool_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const pool_args *a = arg;
    return sg_maxpool2d(ctx, in[0], a->kernel, a->stride, a->pad);
}

static void check_pool_(const sg_fixture *fx, const char *c)
{
    const double *pr = sg_fixture_doubles(fx, key_(c, "params"), NULL);
    pool_args a = {(int)pr[0], (int)pr[1], (int)pr[2]};
    sg_tensor *x = sg_fixture_tensor(fx, key_(c, "x"), true);
    result ref = run_(sg_backend_cpu_reference(), pool_fn, &x, 1, &a, NULL, 0, false);
    result fast = run_(sg_backend_cpu_dnnl(), pool_fn, &x, 1, &a, NULL, 0, false);
    const tol t[] = {{0.0, 0.0}, {POOL_ATOL, POOL_RTOL}};
    tap_ok(res_close_(&fast, &ref, t, 2),
           "maxpool2d %s (%dx%d s%d p%d): fast path matches reference (out exactly, dx)", c,
           a.kernel, a.kernel, a.stride, a.pad);

    /* A forward that is not recorded takes the inference primitive. */
    g_be = sg_backend_cpu_dnnl();
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_ctx_set_grad(&ctx, false);
    sg_tensor *out = sg_maxpool2d(&ctx, x, a.kernel, a.stride, a.pad);
    tap_ok(memcmp(out->data, ref.v[0], ref.len[0] * sizeof(float)) == 0,
           "maxpool2d %s: fast-path forward without recording matches", c);
    sg_ctx_free(&ctx);
    g_be = sg_backend_cpu_reference();

    result twice = run_(sg_backend_cpu_dnnl(), pool_fn, &x, 1, &a, NULL, 0, true);
    int ok = 1;
    for (size_t j = 0; j < twice.len[1]; j++) ok &= twice.v[1][j] == 2.0f * fast.v[1][j];
    tap_ok(ok, "maxpool2d %s: fast-path dx accumulates", c);
    res_free_(&ref);
    res_free_(&fast);
    res_free_(&twice);
    sg_tensor_free(x);
}

/* ---- a small graph: fresh gradient buffers and shared inputs --------------------- */
typedef struct {
    sg_tensor *rm, *rv;
} graph_args;

/* conv0 -> BN -> maxpool -> (conv_a + conv_b): each op's dx is written
 * into a fresh buffer except the pool output's, which two convolutions
 * feed (the second adds), and x's, a long-lived leaf. */
static sg_tensor *graph_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const graph_args *a = arg;
    sg_tensor *h = sg_conv2d(ctx, in[0], in[1], NULL, sg_conv2d_params_make(1, 1, 1, 1));
    h = sg_batchnorm2d(ctx, h, in[2], in[3], a->rm, a->rv, true, 0.1f, 1e-5f);
    h = sg_maxpool2d(ctx, h, 3, 2, 1);
    sg_tensor *u = sg_conv2d(ctx, h, in[4], NULL, sg_conv2d_params_make(1, 1, 1, 1));
    sg_tensor *v = sg_conv2d(ctx, h, in[5], NULL, sg_conv2d_params_make(1, 2, 2, 1));
    return sg_add(ctx, u, v);
}

typedef struct {
    sg_tensor *in[6];
    graph_args a;
} graph;

static graph make_graph_(void)
{
    graph g;
    const int c = 16;
    g.in[0] = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 8, 16, 16}, true);
    g.in[1] = sg_tensor_alloc(SG_F32, 4, (const int[]){c, 8, 3, 3}, true);
    g.in[2] = sg_tensor_alloc(SG_F32, 1, (const int[]){c}, true);
    g.in[3] = sg_tensor_alloc(SG_F32, 1, (const int[]){c}, true);
    g.in[4] = sg_tensor_alloc(SG_F32, 4, (const int[]){c, c, 3, 3}, true);
    g.in[5] = sg_tensor_alloc(SG_F32, 4, (const int[]){c, c, 3, 3}, true);
    for (int i = 0; i < 6; i++) sg_test_fill_uniform(g.in[i], 500 + (uint64_t)i, -0.3f, 0.3f);
    sg_test_fill_uniform(g.in[0], 510, -1.0f, 1.0f);
    sg_test_fill_uniform(g.in[2], 511, 0.5f, 1.5f);
    g.a.rm = sg_tensor_alloc(SG_F32, 1, (const int[]){c}, false);
    g.a.rv = sg_tensor_alloc(SG_F32, 1, (const int[]){c}, false);
    for (int i = 0; i < c; i++) g.a.rv->data[i] = 1.0f;
    return g;
}

static void free_graph_(graph *g)
{
    for (int i = 0; i < 6; i++) sg_tensor_free(g->in[i]);
    sg_tensor_free(g->a.rm);
    sg_tensor_free(g->a.rv);
}

static void test_graph(void)
{
    graph g = make_graph_();
    sg_tensor *state[2] = {g.a.rm, g.a.rv};
    result ref = run_(sg_backend_cpu_reference(), graph_fn, g.in, 6, &g.a, state, 2, false);
    result fast = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
    /* Two convolutions deep: each layer's rounding (CONV_ATOL) passes through
     * the next, so twice the single-op bound. */
    const tol t[] = {{2 * CONV_ATOL, 2 * CONV_RTOL}, {2 * CONV_ATOL, 2 * CONV_RTOL},
                     {2 * CONV_ATOL, 2 * CONV_RTOL}, {2 * CONV_ATOL, 2 * CONV_RTOL},
                     {2 * CONV_ATOL, 2 * CONV_RTOL}, {2 * CONV_ATOL, 2 * CONV_RTOL},
                     {2 * CONV_ATOL, 2 * CONV_RTOL}, {RUN_ATOL, RUN_RTOL}};
    tap_ok(res_close_(&fast, &ref, t, 8),
           "conv-BN-maxpool-(conv + conv) graph: fast path matches reference (out, 6 gradients, "
           "running stats)");

    /* Repeatability: the same thread count gives the same bits, and so does
     * another count for its own repeats. */
    int prev = sg_get_num_threads();
    for (int threads = 1; threads <= 2; threads++) {
        sg_set_num_threads(threads);
        result a = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
        result b = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
        tap_ok(res_equal_(&a, &b), "graph on the fast path, %d thread%s: two runs bitwise equal",
               threads, threads > 1 ? "s" : "");
        res_free_(&a);
        res_free_(&b);
    }
    sg_set_num_threads(prev);
    res_free_(&ref);
    res_free_(&fast);
    free_graph_(&g);
}

/* ---- the primitive cache --------------------------------------------------------- */
static void test_cache(void)
{
    graph g = make_graph_();
    sg_tensor *state[2] = {g.a.rm, g.a.rv};
    result a = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
    int built = sg_dnnl_cache_entries();
    result b = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
    tap_ok(built > 0 && sg_dnnl_cache_entries() == built,
           "a repeated graph reuses its %d cached primitives", built);
    /* oneDNN sizes a primitive for the thread count: another count builds
     * anew (one that test_graph has not used yet: it ran 1 and 2). */
    int prev = sg_get_num_threads();
    sg_set_num_threads((prev > 2 ? prev : 2) + 1);
    result c = run_(sg_backend_cpu_dnnl(), graph_fn, g.in, 6, &g.a, state, 2, false);
    sg_set_num_threads(prev);
    const tol t[] = {{2 * CONV_ATOL, 2 * CONV_RTOL}};
    tap_ok(sg_dnnl_cache_entries() > built && res_close_(&c, &a, t, 1),
           "another thread count gets its own primitives (%d in all) and the same results",
           sg_dnnl_cache_entries());
    res_free_(&a);
    res_free_(&b);
    res_free_(&c);
    free_graph_(&g);
}

/* ---- the tiny training net, trained on the fast path ----------------------------- */
#define TN_N 2
#define TN_C 16
#define TN_K 4
#define TN_HW 16
#define TN_STEPS 5

/* The net of tests/test_determinism.c at a smaller size: init 0 = He normal,
 * 1 = 0.1 normal, 2 = 1 + 0.1 normal, 3 = zeros, 4 = ones. */
static void build_tiny_(sg_param_set *s)
{
    static const struct {
        const char *name;
        int group, ndim, shape[4], init;
        bool buffer;
    } specs[] = {
        {"conv1.weight", 0, 4, {TN_C, 3, 3, 3}, 0, false},
        {"conv1.bias", 0, 1, {TN_C}, 1, false},
        {"bn1.weight", 0, 1, {TN_C}, 2, false},
        {"bn1.bias", 0, 1, {TN_C}, 1, false},
        {"conv2.weight", 0, 4, {TN_C, TN_C, 3, 3}, 0, false},
        {"bn2.weight", 0, 1, {TN_C}, 2, false},
        {"bn2.bias", 0, 1, {TN_C}, 1, false},
        {"cls.weight", 1, 4, {TN_K, TN_C, 1, 1}, 0, false},
        {"cls.bias", 1, 1, {TN_K}, 1, false},
        {"bn1.running_mean", 0, 1, {TN_C}, 3, true},
        {"bn1.running_var", 0, 1, {TN_C}, 4, true},
        {"bn2.running_mean", 0, 1, {TN_C}, 3, true},
        {"bn2.running_var", 0, 1, {TN_C}, 4, true},
    };
    sg_param_set_init(s);
    for (int i = 0; i < (int)(sizeof specs / sizeof *specs); i++) {
        sg_tensor *t = specs[i].buffer
                           ? sg_buffer_add(s, specs[i].name, specs[i].ndim, specs[i].shape)
                           : sg_param_add(s, specs[i].name, specs[i].group, specs[i].ndim,
                                          specs[i].shape);
        size_t n = sg_numel(t);
        sg_rng r;
        sg_rng_init(&r, 4321, sg_rng_stream(SG_RNG_INIT, (uint64_t)i, 0));
        int init = specs[i].init;
        if (init == 0)
            sg_rng_fill_normal(&r, t->data, n, 0.0f,
                               sqrtf(2.0f * (float)specs[i].shape[0] / (float)n));
        if (init == 1) sg_rng_fill_normal(&r, t->data, n, 0.0f, 0.1f);
        if (init == 2) sg_rng_fill_normal(&r, t->data, n, 1.0f, 0.1f);
        if (init == 4)
            for (size_t j = 0; j < n; j++) t->data[j] = 1.0f;
    }
}

static void train_tiny_(const sg_backend *path, sg_param_set *s, float *losses, sg_tensor *x,
                        const sg_tensor *y)
{
    g_be = path;
    build_tiny_(s);
    sg_sgd opt;
    sg_sgd_init(&opt, s, 2, 0.9f, 1e-4f);
    opt.groups[1].lr_mult = 10.0f;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    for (int it = 0; it < TN_STEPS; it++) {
        sg_param_zero_grad(s);
        sg_tensor *loss = tiny_net_loss(&ctx, s, x, y);
        losses[it] = loss->data[0];
        sg_backward(&ctx, loss);
        sg_sgd_step(&opt, s, sg_poly_lr(0.05f, it, TN_STEPS, 0.9f));
        sg_ctx_reset(&ctx);
    }
    sg_ctx_free(&ctx);
    sg_sgd_free(&opt);
    g_be = sg_backend_cpu_reference();
}

/* Entries (parameters and buffers) of a and b that are not within atol/rtol;
 * atol = rtol = 0 asks for bitwise equality. */
static int differing_(const sg_param_set *a, const sg_param_set *b, double atol, double rtol)
{
    int bad = 0;
    for (int k = 0; k < 2; k++) {
        int n = k ? a->n_buffers : a->n_params;
        for (int i = 0; i < n; i++) {
            const sg_param *pa = k ? &a->buffers[i] : &a->params[i];
            const sg_param *pb = k ? &b->buffers[i] : &b->params[i];
            size_t len = sg_numel(pa->t);
            int same = atol == 0.0 && rtol == 0.0
                           ? memcmp(pa->t->data, pb->t->data, len * sizeof(float)) == 0
                           : sg_allclose(pa->t->data, pb->t->data, len, atol, rtol, pa->name);
            if (!same) {
                tap_diag("%s differs", pa->name);
                bad++;
            }
        }
    }
    return bad;
}

static void test_tiny_training(void)
{
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){TN_N, 3, TN_HW, TN_HW}, false);
    sg_tensor *y = sg_tensor_alloc(SG_I32, 3, (const int[]){TN_N, TN_HW, TN_HW}, false);
    sg_rng r;
    sg_rng_init(&r, 4321, sg_rng_stream(SG_RNG_TEST, 41, 0));
    sg_rng_fill_normal(&r, x->data, sg_numel(x), 0.0f, 1.0f);
    for (size_t i = 0; i < sg_numel(y); i++) {
        uint32_t v = sg_rng_below(&r, 10 * TN_K);
        y->i32[i] = v < (uint32_t)TN_K * 9 ? (int32_t)(v % TN_K) : 255;
    }
    sg_param_set a, b, ref;
    float la[TN_STEPS], lb[TN_STEPS], lr[TN_STEPS];
    train_tiny_(sg_backend_cpu_dnnl(), &a, la, x, y);
    train_tiny_(sg_backend_cpu_dnnl(), &b, lb, x, y);
    train_tiny_(sg_backend_cpu_reference(), &ref, lr, x, y);
    tap_ok(isfinite(la[0]) && la[TN_STEPS - 1] < la[0],
           "tiny net trains on the fast path (loss %.5f -> %.5f)", (double)la[0],
           (double)la[TN_STEPS - 1]);
    tap_ok(memcmp(la, lb, sizeof la) == 0 && differing_(&a, &b, 0.0, 0.0) == 0,
           "tiny net, %d steps on the fast path twice: losses, weights and BN statistics "
           "bitwise equal",
           TN_STEPS);
    tap_ok(differing_(&a, &ref, TRAIN_ATOL, TRAIN_RTOL) == 0 &&
               fabs((double)la[TN_STEPS - 1] - lr[TN_STEPS - 1]) <= TRAIN_RTOL * fabs(lr[TN_STEPS - 1]),
           "tiny net: fast and reference training agree after %d steps (loss %.7f vs %.7f)",
           TN_STEPS, (double)la[TN_STEPS - 1], (double)lr[TN_STEPS - 1]);
    sg_param_set_free(&a);
    sg_param_set_free(&b);
    sg_param_set_free(&ref);
    sg_tensor_free(x);
    sg_tensor_free(y);
}

/* The convolution backward reorders dout once for both passes (a kept
 * blocked copy, sg_dnnl_arg.keep). A second backward given the same dout
 * buffer with other contents must not see the first's copy: its gradients
 * equal those of a fresh buffer holding the new values. */
static void test_conv_kept_dout(void)
{
    const sg_conv2d_dims d = {.N = 2, .Cin = 16, .H = 9, .W = 9, .Cout = 32, .kh = 3, .kw = 3,
                              .Ho = 9, .Wo = 9, .stride_h = 1, .stride_w = 1, .pad_h = 1,
                              .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    const size_t nx = 2 * 16 * 81, nw = 32 * 16 * 9, no = 2 * 32 * 81;
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float));
    float *dout = malloc(no * sizeof(float)), *fresh = malloc(no * sizeof(float));
    float *dx[2], *dw[2];
    for (int k = 0; k < 2; k++) {
        dx[k] = calloc(nx, sizeof(float));
        dw[k] = calloc(nw, sizeof(float));
    }
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 11) % 13) / 6.0f - 1.0f;
    for (size_t i = 0; i < no; i++) dout[i] = (float)((i * 7) % 19) / 9.0f - 1.0f;
    sg_dnnl_conv2d_backward(dx[0], dw[0], NULL, true, dout, x, w, &d);
    for (size_t i = 0; i < no; i++) dout[i] = fresh[i] = (float)((i * 5) % 23) / 11.0f - 1.0f;
    sg_dnnl_conv2d_backward(dx[0], dw[0], NULL, true, dout, x, w, &d); /* same buffer */
    sg_dnnl_conv2d_backward(dx[1], dw[1], NULL, true, fresh, x, w, &d);
    tap_ok(memcmp(dx[0], dx[1], nx * sizeof(float)) == 0 &&
               memcmp(dw[0], dw[1], nw * sizeof(float)) != 0,
           "conv backward: dx from a reused dout buffer equals dx from a fresh one (dw, "
           "accumulated over both calls, differs)");
    float *dw1 = calloc(nw, sizeof(float));
    sg_dnnl_conv2d_backward(NULL, dw1, NULL, true, fresh, x, w, &d);
    int ok = 1;
    for (size_t i = 0; i < nw; i++) ok &= fabsf(dw[1][i] - dw1[i]) == 0.0f;
    tap_ok(ok, "conv backward: dw with and without the shared dout copy are the same bits");
    free(dw1);
    for (int k = 0; k < 2; k++) {
        free(dx[k]);
        free(dw[k]);
    }
    free(x);
    free(w);
    free(dout);
    free(fresh);
}

int main(void)
{
    tap_ok((sg_backend_cpu_dnnl() != NULL), "built with oneDNN: the fast path is available");
    test_conv_kept_dout();
    g_be = sg_backend_cpu_reference();
    sg_fixture *fx = sg_fixture_open("conv.bin", "tests/ref/gen_conv.py");
    test_conv_fixture_cases(fx);
    test_conv_wide_cases();
    test_conv_algorithm();
    test_bn();
    check_pool_(fx, "maxpool3s2");
    check_pool_(fx, "maxpool2s2");
    check_pool_(fx, "maxpool_ties");
    test_graph();
    test_cache();
    test_tiny_training();
    sg_fixture_close(fx);
    return tap_done();
}
#endif
