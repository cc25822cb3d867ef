/*
 * test_ops_linear.c: sg_linear and sg_matmul against PyTorch fixtures
 * (tests/ref/gen_linear.py -> tests/data/linear.bin), finite-difference
 * gradient checks for every operand, and misuse aborts.
 */
#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#include <stdio.h>

#define GEN "tests/ref/gen_linear.py"

/* Dot products of K <= 30 float products (K = 4 forward; the weight gradient
 * sums R = 30 rows), accumulated by BLAS in an order different from
 * PyTorch's: a few ulps of sums of magnitude ~10. Observed <= 4e-8 absolute
 * (1.5e-6 relative on a sum that nearly cancels), hence the absolute floor. */
#define ATOL 1e-7
#define RTOL 1e-5
/* Central differences of a bilinear map are exact up to float rounding of
 * the outputs (~1e-6 / 2 eps): tight relative tolerance is safe. */
static const sg_gc_opts GC = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-3};

static void check_grads_(const sg_fixture *fx, sg_ctx *ctx, const char *name, sg_tensor *out,
                         sg_tensor **in, const char *const *gname, int n_in)
{
    char key[128];
    snprintf(key, sizeof key, "%s.out", name);
    tap_ok(sg_check_close(fx, key, out->data, sg_numel(out), ATOL, RTOL),
           "%s forward matches PyTorch", name);
    snprintf(key, sizeof key, "%s.dout", name);
    sg_tensor *dout = sg_fixture_tensor(fx, key, false);
    sg_backward_with(ctx, out, dout->data);
    for (int i = 0; i < n_in; i++) {
        snprintf(key, sizeof key, "%s.d%s", name, gname[i]);
        tap_ok(sg_check_close(fx, key, in[i]->grad, sg_numel(in[i]), ATOL, RTOL),
               "%s backward d%s matches PyTorch", name, gname[i]);
    }
    sg_tensor_free(dout);
}

static void test_linear_parity(const sg_fixture *fx)
{
    const char *const tags[2] = {"2d", "4d"};
    for (int t = 0; t < 2; t++)
        for (int bias = 0; bias < 2; bias++) {
            sg_ctx ctx;
            sg_ctx_init(&ctx);
            char key[64], name[64];
            snprintf(key, sizeof key, "linear.%s.x", tags[t]);
            snprintf(name, sizeof name, "linear.%s.%s", tags[t], bias ? "bias" : "nobias");
            sg_tensor *in[3] = {sg_fixture_tensor(fx, key, true),
                                sg_fixture_tensor(fx, "linear.w", true),
                                sg_fixture_tensor(fx, "linear.b", true)};
            sg_tensor *out = sg_linear(&ctx, in[0], in[1], bias ? in[2] : NULL);
            tap_ok(out->ndim == in[0]->ndim && out->shape[out->ndim - 1] == 3,
                   "%s keeps the leading dims and has 3 out-features", name);
            check_grads_(fx, &ctx, name, out, in, (const char *const[]){"x", "w", "b"},
                         bias ? 3 : 2);
            for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);
            sg_ctx_free(&ctx);
        }
}

static void test_matmul_parity(const sg_fixture *fx)
{
    const char *const tags[2] = {"2d", "3d"};
    for (int t = 0; t < 2; t++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                sg_ctx ctx;
                sg_ctx_init(&ctx);
                char name[64], ka[80], kb[80];
                snprintf(name, sizeof name, "matmul.%s.t%d%d", tags[t], ta, tb);
                snprintf(ka, sizeof ka, "%s.a", name);
                snprintf(kb, sizeof kb, "%s.b", name);
                sg_tensor *in[2] = {sg_fixture_tensor(fx, ka, true),
                                    sg_fixture_tensor(fx, kb, true)};
                sg_tensor *out = sg_matmul(&ctx, in[0], in[1], ta, tb);
                check_grads_(fx, &ctx, name, out, in, (const char *const[]){"a", "b"}, 2);
                for (int i = 0; i < 2; i++) sg_tensor_free(in[i]);
                sg_ctx_free(&ctx);
            }
}

static sg_tensor *linear_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_linear(ctx, in[0], in[1], in[2]);
}

static sg_tensor *matmul_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const int *tr = arg;
    return sg_matmul(ctx, in[0], in[1], tr[0], tr[1]);
}

static void test_grad(void)
{
    int sx[4] = {2, 3, 5, 4}, sw[2] = {3, 4}, sb[1] = {3};
    sg_tensor *in[3] = {sg_tensor_alloc(SG_F32, 4, sx, true), sg_tensor_alloc(SG_F32, 2, sw, true),
                        sg_tensor_alloc(SG_F32, 1, sb, true)};
    for (int i = 0; i < 3; i++) sg_test_fill_uniform(in[i], (uint64_t)i, -1.0f, 1.0f);
    sg_gradcheck("linear 4-D (x, w, b)", linear_fn, in, 3, NULL, GC);
    for (int i = 0; i < 3; i++) sg_tensor_free(in[i]);

    const int M = 3, K = 4, N = 5, B = 2;
    for (int batched = 0; batched < 2; batched++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int sa[3] = {B, ta ? K : M, ta ? M : K}, sbb[3] = {B, tb ? N : K, tb ? K : N};
                int nd = batched ? 3 : 2;
                sg_tensor *ab[2] = {sg_tensor_alloc(SG_F32, nd, batched ? sa : sa + 1, true),
                                    sg_tensor_alloc(SG_F32, nd, batched ? sbb : sbb + 1, true)};
                sg_test_fill_uniform(ab[0], 10, -1.0f, 1.0f);
                sg_test_fill_uniform(ab[1], 11, -1.0f, 1.0f);
                int tr[2] = {ta, tb};
                char label[64];
                snprintf(label, sizeof label, "matmul %s trans_a=%d trans_b=%d (a, b)",
                         batched ? "3-D" : "2-D", ta, tb);
                sg_gradcheck(label, matmul_fn, ab, 2, tr, GC);
                for (int i = 0; i < 2; i++) sg_tensor_free(ab[i]);
            }
}

static void linear_mismatch_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int sx[2] = {2, 5}, sw[2] = {3, 4};
    sg_linear(&ctx, sg_tensor_alloc(SG_F32, 2, sx, false), sg_tensor_alloc(SG_F32, 2, sw, false),
              NULL);
}

static void matmul_mismatch_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int sa[3] = {2, 3, 4}, sb[3] = {2, 5, 6};
    sg_matmul(&ctx, sg_tensor_alloc(SG_F32, 3, sa, false), sg_tensor_alloc(SG_F32, 3, sb, false),
              false, false);
}

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(linear_mismatch_, NULL,
                           (const char *const[]){"sg_linear", "[2, 5]", "[3, 4]"}, 3),
           "linear aborts on an in-feature mismatch, naming both shapes");
    tap_ok(sg_expect_abort(matmul_mismatch_, NULL,
                           (const char *const[]){"sg_matmul", "[2, 3, 4]", "[2, 5, 6]"}, 3),
           "matmul aborts on an inner-dimension mismatch, naming both shapes");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("linear.bin", GEN);
    test_linear_parity(fx);
    test_matmul_parity(fx);
    test_grad();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
