/*
 * test_ops_elementwise.c: element-wise ops (relu, gelu, add, sub, mul, scale,
 * dropout2d) against PyTorch fixtures (tests/ref/gen_elementwise.py ->
 * tests/data/elementwise.bin), finite-difference gradient checks, dropout2d's
 * mask statistics, and misuse aborts.
 */
#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GEN "tests/ref/gen_elementwise.py"

/* Forward of element-wise float ops differs from PyTorch only by the last
 * bit of rounding: 1e-6 absolute plus 1e-5 relative bounds that. */
#define FWD_ATOL 1e-6
#define FWD_RTOL 1e-5
/* add, sub, mul, scale and their gradients are one IEEE operation per
 * element on the same float operands as PyTorch: results must be identical. */
#define EXACT_ATOL 0.0
#define EXACT_RTOL 0.0

/* Must match DROP_SEED / DROP_STREAM in tests/ref/gen_elementwise.py. */
#define DROP_SEED 0x0123456789ABCDEFull
#define DROP_STREAM_KIND SG_RNG_DROPOUT
#define DROP_STREAM_A 3
#define DROP_STREAM_B 7

/* Finite differences with eps = 1e-2 on smooth ops: truncation error
 * ~eps^2 |f'''| and float rounding of the probed loss ~1e-5 stay well inside
 * 1e-3 absolute plus 1e-2 relative. */
static const sg_gc_opts GC = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2};

static const int SHAPE[4] = {2, 3, 5, 5};

/* ---- unary: relu, gelu, scale ------------------------------------------------------ */
typedef sg_tensor *(*unary_fn)(sg_ctx *ctx, sg_tensor *x, const void *arg);

static sg_tensor *relu_op(sg_ctx *ctx, sg_tensor *x, const void *arg)
{
    (void)arg;
    return sg_relu(ctx, x);
}

static sg_tensor *gelu_op(sg_ctx *ctx, sg_tensor *x, const void *arg)
{
    (void)arg;
    return sg_gelu(ctx, x);
}

static sg_tensor *scale_op(sg_ctx *ctx, sg_tensor *x, const void *arg)
{
    return sg_scale(ctx, x, *(const float *)arg);
}

static sg_tensor *mul_same_op(sg_ctx *ctx, sg_tensor *x, const void *arg)
{
    (void)arg;
    return sg_mul(ctx, x, x);
}

static void unary_parity(const sg_fixture *fx, const char *name, unary_fn fn, const void *arg,
                         double atol, double rtol)
{
    char key[64], kout[64], kdout[64], kdx[64];
    snprintf(key, sizeof key, "%s.x", name);
    snprintf(kout, sizeof kout, "%s.out", name);
    snprintf(kdout, sizeof kdout, "%s.dout", name);
    snprintf(kdx, sizeof kdx, "%s.dx", name);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_fixture_tensor(fx, key, true);
    sg_tensor *dout = sg_fixture_tensor(fx, kdout, false);
    sg_tensor *out = fn(&ctx, x, arg);
    tap_ok(sg_check_close(fx, kout, out->data, sg_numel(out), atol, rtol),
           "%s forward matches PyTorch", name);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, kdx, x->grad, sg_numel(x), atol, rtol),
           "%s backward matches PyTorch", name);
    sg_tensor_free(x);
    sg_tensor_free(dout);
    sg_ctx_free(&ctx);
}

/* ---- binary: add, sub, mul -------------------------------------------------------- */
typedef sg_tensor *(*binary_fn)(sg_ctx *ctx, sg_tensor *a, sg_tensor *b);

static void binary_parity(const sg_fixture *fx, const char *name, binary_fn fn)
{
    char ka[64], kb[64], kout[64], kdout[64], kda[64], kdb[64];
    snprintf(ka, sizeof ka, "%s.a", name);
    snprintf(kb, sizeof kb, "%s.b", name);
    snprintf(kout, sizeof kout, "%s.out", name);
    snprintf(kdout, sizeof kdout, "%s.dout", name);
    snprintf(kda, sizeof kda, "%s.da", name);
    snprintf(kdb, sizeof kdb, "%s.db", name);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *a = sg_fixture_tensor(fx, ka, true);
    sg_tensor *b = sg_fixture_tensor(fx, kb, true);
    sg_tensor *dout = sg_fixture_tensor(fx, kdout, false);
    sg_tensor *out = fn(&ctx, a, b);
    tap_ok(sg_check_close(fx, kout, out->data, sg_numel(out), EXACT_ATOL, EXACT_RTOL),
           "%s forward matches PyTorch", name);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, kda, a->grad, sg_numel(a), EXACT_ATOL, EXACT_RTOL) &&
               sg_check_close(fx, kdb, b->grad, sg_numel(b), EXACT_ATOL, EXACT_RTOL),
           "%s backward (both operands) matches PyTorch", name);
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(dout);
    sg_ctx_free(&ctx);
}

/* A binary op where only one operand requires a gradient leaves the other's
 * grad untouched (NULL buffer), and the needed one is still right. */
static void test_mul_one_sided(const sg_fixture *fx)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *a = sg_fixture_tensor(fx, "mul.a", false);
    sg_tensor *b = sg_fixture_tensor(fx, "mul.b", true);
    sg_tensor *dout = sg_fixture_tensor(fx, "mul.dout", false);
    sg_tensor *out = sg_mul(&ctx, a, b);
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(a->grad == NULL &&
               sg_check_close(fx, "mul.db", b->grad, sg_numel(b), EXACT_ATOL, EXACT_RTOL),
           "mul with a constant operand: only b gets a gradient, and it matches");
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_tensor_free(dout);
    sg_ctx_free(&ctx);
}

/* ---- dropout2d --------------------------------------------------------------------- */
static uint64_t drop_stream(void)
{
    return sg_rng_stream(DROP_STREAM_KIND, DROP_STREAM_A, DROP_STREAM_B);
}

static void test_dropout2d_parity(const sg_fixture *fx)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_fixture_tensor(fx, "dropout2d.x", true);
    sg_tensor *dout = sg_fixture_tensor(fx, "dropout2d.dout", false);
    float p = (float)sg_fixture_scalar(fx, "dropout2d.p");
    sg_tensor *out = sg_dropout2d(&ctx, x, p, DROP_SEED, drop_stream());

    /* The mask alone, read back from the output: a channel is kept iff any
     * of its elements is nonzero (randn inputs are never exactly 0). */
    size_t n_mask;
    const double *want = sg_fixture_doubles(fx, "dropout2d.mask", &n_mask);
    size_t planes = (size_t)x->shape[0] * x->shape[1], hw = (size_t)x->shape[2] * x->shape[3];
    int mask_ok = n_mask == planes;
    for (size_t i = 0; mask_ok && i < planes; i++) {
        int kept = 0;
        for (size_t j = 0; j < hw; j++) kept |= out->data[i * hw + j] != 0.0f;
        mask_ok = kept == (want[i] != 0.0);
    }
    tap_ok(mask_ok, "dropout2d mask equals the Python Philox4x32-10 mask");
    tap_ok(sg_check_close(fx, "dropout2d.out", out->data, sg_numel(out), FWD_ATOL, FWD_RTOL),
           "dropout2d forward matches x * mask / (1 - p) in PyTorch");
    sg_backward_with(&ctx, out, dout->data);
    tap_ok(sg_check_close(fx, "dropout2d.dx", x->grad, sg_numel(x), FWD_ATOL, FWD_RTOL),
           "dropout2d backward matches PyTorch");
    sg_tensor_free(x);
    sg_tensor_free(dout);
    sg_ctx_free(&ctx);
}

/* Over many channels the kept fraction is Binomial(n, 1-p): within 4
 * standard deviations of n(1-p) (a false failure has probability ~6e-5, and
 * the draw is fixed, so the test is deterministic). */
static void test_dropout2d_keep_rate(float p)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int n = 64, c = 64;
    sg_tensor *x = sg_tensor_new4(&ctx, n, c, 1, 1);
    for (int i = 0; i < n * c; i++) x->data[i] = 1.0f;
    sg_tensor *out = sg_dropout2d(&ctx, x, p, 99, sg_rng_stream(SG_RNG_DROPOUT, 1, 2));
    int kept = 0, values_ok = 1;
    float keep = 1.0f / (1.0f - p);
    for (int i = 0; i < n * c; i++) {
        if (out->data[i] != 0.0f) kept++;
        values_ok &= out->data[i] == 0.0f || out->data[i] == keep;
    }
    double mean = n * c * (1.0 - p), sd = sqrt(n * c * p * (1.0 - p));
    tap_ok(fabs(kept - mean) <= 4.0 * sd && values_ok,
           "dropout2d p=%.2f keeps %d of %d channels (expected %.0f +- %.0f), kept ones scaled "
           "by 1/(1-p)", (double)p, kept, n * c, mean, 4.0 * sd);
    sg_ctx_free(&ctx);
}

static void test_dropout2d_identity_and_streams(void)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, SHAPE, false);
    sg_test_fill_uniform(x, 7, -2.0f, 2.0f);
    size_t bytes = sg_numel(x) * sizeof(float);
    sg_tensor *o0 = sg_dropout2d(&ctx, x, 0.0f, 5, drop_stream());
    tap_ok(memcmp(o0->data, x->data, bytes) == 0, "dropout2d p=0 is the identity, bit for bit");

    sg_tensor *big = sg_tensor_new4(&ctx, 8, 16, 1, 1);
    for (int i = 0; i < 128; i++) big->data[i] = 1.0f;
    sg_tensor *a = sg_dropout2d(&ctx, big, 0.5f, 5, sg_rng_stream(SG_RNG_DROPOUT, 0, 1));
    sg_tensor *b = sg_dropout2d(&ctx, big, 0.5f, 5, sg_rng_stream(SG_RNG_DROPOUT, 0, 1));
    sg_tensor *c = sg_dropout2d(&ctx, big, 0.5f, 5, sg_rng_stream(SG_RNG_DROPOUT, 0, 2));
    sg_tensor *d = sg_dropout2d(&ctx, big, 0.5f, 6, sg_rng_stream(SG_RNG_DROPOUT, 0, 1));
    tap_ok(memcmp(a->data, b->data, 128 * sizeof(float)) == 0 &&
               memcmp(a->data, c->data, 128 * sizeof(float)) != 0 &&
               memcmp(a->data, d->data, 128 * sizeof(float)) != 0,
           "dropout2d mask is a function of (seed, stream): repeatable, and differs across "
           "streams and seeds");
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

/* ---- gradient checks ----------------------------------------------------------------- */
static sg_tensor *gc_relu(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_relu(ctx, in[0]);
}

static sg_tensor *gc_gelu(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_gelu(ctx, in[0]);
}

static sg_tensor *gc_add(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_add(ctx, in[0], in[1]);
}

static sg_tensor *gc_sub(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_sub(ctx, in[0], in[1]);
}

static sg_tensor *gc_mul(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_mul(ctx, in[0], in[1]);
}

/* x*x + x - 0.5x: one tensor in four operand slots of three ops, so every
 * contribution must be added, none overwritten. */
static sg_tensor *gc_reuse(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    sg_tensor *x = in[0];
    return sg_sub(ctx, sg_add(ctx, sg_mul(ctx, x, x), x), sg_scale(ctx, x, 0.5f));
}

static sg_tensor *gc_scale(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_scale(ctx, in[0], -1.75f);
}

static sg_tensor *gc_dropout2d(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_dropout2d(ctx, in[0], 0.5f, 11, sg_rng_stream(SG_RNG_DROPOUT, 0, 3));
}

static void test_grads(void)
{
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, SHAPE, true);
    sg_tensor *y = sg_tensor_alloc(SG_F32, 4, SHAPE, true);
    /* |x| >= 0.1 > eps: the central difference never straddles relu's kink. */
    sg_test_fill_away_from_zero(x, 1, -2.0f, 2.0f, 0.1f);
    sg_gradcheck("relu", gc_relu, &x, 1, NULL, GC);
    /* GELU is smooth; [-3, 3] spans its curved region and both tails. */
    sg_test_fill_uniform(x, 2, -3.0f, 3.0f);
    sg_test_fill_uniform(y, 3, -2.0f, 2.0f);
    sg_gradcheck("gelu", gc_gelu, &x, 1, NULL, GC);
    sg_tensor *xy[2] = {x, y};
    sg_gradcheck("add", gc_add, xy, 2, NULL, GC);
    sg_gradcheck("sub", gc_sub, xy, 2, NULL, GC);
    sg_gradcheck("mul", gc_mul, xy, 2, NULL, GC);
    sg_gradcheck("scale", gc_scale, &x, 1, NULL, GC);
    sg_gradcheck("x*x + x - 0.5x (one input used four times)", gc_reuse, &x, 1, NULL, GC);
    sg_gradcheck("dropout2d", gc_dropout2d, &x, 1, NULL, GC);
    sg_tensor_free(x);
    sg_tensor_free(y);
}

/* ---- misuse -------------------------------------------------------------------------- */
typedef struct {
    binary_fn fn;
} misuse_arg;

static void binary_mismatch_(void *arg)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int sa[4] = {2, 3, 4, 5}, sb[4] = {2, 3, 5, 4};
    sg_tensor *a = sg_tensor_new(&ctx, SG_F32, 4, sa);
    sg_tensor *b = sg_tensor_new(&ctx, SG_F32, 4, sb);
    ((misuse_arg *)arg)->fn(&ctx, a, b);
}

static void gelu_int_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_gelu(&ctx, sg_tensor_new(&ctx, SG_I32, 4, SHAPE));
}

static void scale_int_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_scale(&ctx, sg_tensor_new(&ctx, SG_I32, 4, SHAPE), 2.0f);
}

static void dropout_p1_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_dropout2d(&ctx, sg_tensor_new(&ctx, SG_F32, 4, SHAPE), 1.0f, 1, 2);
}

static void dropout_3d_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_dropout2d(&ctx, sg_tensor_new(&ctx, SG_F32, 3, SHAPE), 0.5f, 1, 2);
}

static void test_misuse(void)
{
    const struct {
        const char *name;
        binary_fn fn;
    } ops[] = {{"sg_add", sg_add}, {"sg_sub", sg_sub}, {"sg_mul", sg_mul}};
    for (int i = 0; i < 3; i++) {
        misuse_arg a = {ops[i].fn};
        const char *expect[] = {ops[i].name, "[2, 3, 4, 5]", "[2, 3, 5, 4]"};
        tap_ok(sg_expect_abort(binary_mismatch_, &a, expect, 3),
               "%s with mismatched shapes aborts naming the op and both shapes", ops[i].name);
    }
    const char *gelu_expect[] = {"sg_gelu", "float"};
    tap_ok(sg_expect_abort(gelu_int_, NULL, gelu_expect, 2), "sg_gelu on an int tensor aborts");
    const char *scale_expect[] = {"sg_scale", "float"};
    tap_ok(sg_expect_abort(scale_int_, NULL, scale_expect, 2), "sg_scale on an int tensor aborts");
    const char *p_expect[] = {"sg_dropout2d", "p = 1"};
    tap_ok(sg_expect_abort(dropout_p1_, NULL, p_expect, 2), "sg_dropout2d with p = 1 aborts");
    const char *d_expect[] = {"sg_dropout2d", "[2, 3, 5]"};
    tap_ok(sg_expect_abort(dropout_3d_, NULL, d_expect, 2),
           "sg_dropout2d on a 3-D tensor aborts naming its shape");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("elementwise.bin", GEN);
    unary_parity(fx, "relu", relu_op, NULL, FWD_ATOL, FWD_RTOL);
    unary_parity(fx, "gelu", gelu_op, NULL, FWD_ATOL, FWD_RTOL);
    binary_parity(fx, "add", sg_add);
    binary_parity(fx, "sub", sg_sub);
    binary_parity(fx, "mul", sg_mul);
    test_mul_one_sided(fx);
    unary_parity(fx, "mul_same", mul_same_op, NULL, EXACT_ATOL, EXACT_RTOL);
    float s = (float)sg_fixture_scalar(fx, "scale.s");
    unary_parity(fx, "scale", scale_op, &s, EXACT_ATOL, EXACT_RTOL);
    test_dropout2d_parity(fx);
    test_dropout2d_keep_rate(0.3f);
    test_dropout2d_keep_rate(0.75f);
    test_dropout2d_identity_and_streams();
    test_grads();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
