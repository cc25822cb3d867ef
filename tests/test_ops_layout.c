/*
 * test_ops_layout.c: sg_concat, sg_narrow, sg_sum and sg_mean against
 * PyTorch fixtures (tests/ref/gen_layout.py -> tests/data/layout.bin),
 * finite-difference gradient checks, thread-count independence of the
 * reductions, slices long enough to be split over the threads, and misuse
 * aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#define GEN "tests/ref/gen_layout.py"

/* concat and narrow only move values, and their backward copies (concat) or
 * adds into zeroed buffers (narrow) each element once: exact. */
#define COPY_ATOL 0.0
#define COPY_RTOL 0.0
/* sum/mean of 210 values ~N(0,1): PyTorch accumulates in float, we in
 * double, so the results differ by PyTorch's float rounding, bounded by about
 * log2(210) * 2^-24 * sum|x| ~ 8 * 6e-8 * 170 ~ 1e-5; observed 1.9e-6 on the
 * sum (-26.4) and 1.5e-8 on the mean. 2e-5 absolute covers the bound, while
 * an element dropped or counted twice moves the sum by O(1) and the mean by
 * O(1/210) = 5e-3. The backward broadcasts dout (mean: dout / 210 in float,
 * as PyTorch): exact. */
#define SUM_ATOL 2e-5
#define SUM_RTOL 0.0
/* Linear ops: the central difference is exact up to the float rounding of
 * the probed loss (~1e-7 relative of a sum of O(100) terms, / 2 eps = 2e-2):
 * 1e-4 absolute is a 20x margin; a misplaced slice is off by O(0.1-1). */
#define GC_OPTS ((sg_gc_opts){.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3, .max_elems = 200})

static void key_(char *buf, size_t len, const char *c, const char *field)
{
    snprintf(buf, len, "%s.%s", c, field);
}

/* Forward and backward of a recorded op against the fixture: xs are the
 * inputs `<c>.<x_names[i]>`, their gradients `<c>.d<x_names[i]>`. */
static void check_case_(const sg_fixture *fx, const char *c, sg_ctx *ctx, sg_tensor *out,
                        sg_tensor **xs, const char *const *x_names, int n, double atol,
                        double rtol, double grad_atol, double grad_rtol)
{
    char k[96], d[16];
    key_(k, sizeof k, c, "out");
    tap_ok(sg_check_close(fx, k, out->data, sg_numel(out), atol, rtol),
           "%s forward matches PyTorch", c);
    key_(k, sizeof k, c, "dout");
    sg_tensor *dout = sg_fixture_tensor(fx, k, false);
    sg_backward_with(ctx, out, dout->data);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        snprintf(d, sizeof d, "d%s", x_names[i]);
        key_(k, sizeof k, c, d);
        ok &= sg_check_close(fx, k, xs[i]->grad, sg_numel(xs[i]), grad_atol, grad_rtol);
    }
    tap_ok(ok, "%s backward matches PyTorch for all %d inputs", c, n);
    sg_tensor_free(dout);
}

static void test_concat_parity(const sg_fixture *fx, const char *c, int dim)
{
    static const char *const names[3] = {"x0", "x1", "x2"};
    char k[96];
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *xs[3];
    for (int i = 0; i < 3; i++) {
        key_(k, sizeof k, c, names[i]);
        xs[i] = sg_fixture_tensor(fx, k, true);
    }
    sg_tensor *out = sg_concat(&ctx, xs, 3, dim);
    check_case_(fx, c, &ctx, out, xs, names, 3, COPY_ATOL, COPY_RTOL, COPY_ATOL, COPY_RTOL);
    for (int i = 0; i < 3; i++) sg_tensor_free(xs[i]);
    sg_ctx_free(&ctx);
}

static void test_narrow_parity(const sg_fixture *fx, const char *c, int dim, int start, int len)
{
    static const char *const names[1] = {"x"};
    char k[96];
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    key_(k, sizeof k, c, "x");
    sg_tensor *x = sg_fixture_tensor(fx, k, true);
    sg_tensor *out = sg_narrow(&ctx, x, dim, start, len);
    check_case_(fx, c, &ctx, out, &x, names, 1, COPY_ATOL, COPY_RTOL, COPY_ATOL, COPY_RTOL);
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

static void test_reduce_parity(const sg_fixture *fx, const char *c, bool mean)
{
    static const char *const names[1] = {"x"};
    char k[96];
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    key_(k, sizeof k, c, "x");
    sg_tensor *x = sg_fixture_tensor(fx, k, true);
    sg_tensor *out = mean ? sg_mean(&ctx, x) : sg_sum(&ctx, x);
    tap_ok(out->ndim == 1 && out->shape[0] == 1, "%s returns shape [1]", c);
    check_case_(fx, c, &ctx, out, &x, names, 1, SUM_ATOL, SUM_RTOL, 0.0, 0.0);
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

/* ---- gradient checks ---------------------------------------------------------- */
typedef struct {
    int dim, start, len;
} layout_arg;

static sg_tensor *concat_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_concat(ctx, in, 3, ((const layout_arg *)arg)->dim);
}

static sg_tensor *narrow_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const layout_arg *a = arg;
    return sg_narrow(ctx, in[0], a->dim, a->start, a->len);
}

static sg_tensor *sum_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_sum(ctx, in[0]);
}

static sg_tensor *mean_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_mean(ctx, in[0]);
}

static void test_grad(void)
{
    /* concat: three inputs differing in the concatenated dim only. */
    for (int dim = 0; dim < 2; dim++) {
        sg_tensor *xs[3];
        for (int i = 0; i < 3; i++) {
            int shape[4] = {2, 3, 5, 5};
            shape[dim] = i + 1;
            xs[i] = sg_tensor_alloc(SG_F32, 4, shape, true);
            sg_test_fill_uniform(xs[i], (uint64_t)(10 + i), -2.0f, 2.0f);
        }
        layout_arg a = {.dim = dim};
        char label[32];
        snprintf(label, sizeof label, "concat dim %d", dim);
        sg_gradcheck(label, concat_fn, xs, 3, &a, GC_OPTS);
        for (int i = 0; i < 3; i++) sg_tensor_free(xs[i]);
    }

    int shape[4] = {2, 3, 5, 5};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, shape, true);
    sg_test_fill_uniform(x, 20, -2.0f, 2.0f);
    static const layout_arg narrows[] = {{0, 1, 1}, {1, 1, 2}, {2, 2, 3}, {3, 0, 2}};
    for (size_t i = 0; i < sizeof narrows / sizeof *narrows; i++) {
        char label[48];
        snprintf(label, sizeof label, "narrow dim %d [%d, %d)", narrows[i].dim, narrows[i].start,
                 narrows[i].start + narrows[i].len);
        layout_arg a = narrows[i];
        sg_gradcheck(label, narrow_fn, &x, 1, &a, GC_OPTS);
    }
    sg_gradcheck("sum", sum_fn, &x, 1, NULL, GC_OPTS);
    sg_gradcheck("mean", mean_fn, &x, 1, NULL, GC_OPTS);
    sg_tensor_free(x);
}

/* The sum splits into fixed chunks whatever the thread count, so a tensor
 * spanning many chunks sums to the same bits with 1 and 4 threads. */
static void test_sum_threads(void)
{
    int shape[1] = {50000};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 1, shape, false);
    sg_test_fill_uniform(x, 30, -1.0f, 1.0f);
    float got[2];
    const int threads[2] = {1, 4};
    const int saved = sg_get_num_threads();
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(threads[t]);
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        got[t] = sg_sum(&ctx, x)->data[0];
        sg_ctx_free(&ctx);
    }
    sg_set_num_threads(saved);
    tap_ok(memcmp(&got[0], &got[1], sizeof(float)) == 0,
           "sum of 50000 elements is bitwise identical with 1 and 4 threads");
    sg_tensor_free(x);
}

/* Slices long enough that layout.c cuts rows into several chunks, with a
 * partial last one, and shares them over the threads: narrow along dim 0 (one
 * row of 35000 floats: 16384 + 16384 + 2232) and dim 1 (two rows of 21000),
 * and concat along dim 1 (two rows per input). Values move exactly, so the
 * forward and two accumulated backward passes are compared for equality with
 * index arithmetic, at 1 and 2 threads. */
static bool narrow_large_ok_(int dim, int start, int len)
{
    const int shape[4] = {2, 5, 100, 70};
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, shape, true);
    sg_test_fill_uniform(x, 40, -1.0f, 1.0f);
    size_t outer = dim == 0 ? 1 : 2, inner = dim == 0 ? 5 * 7000 : 7000;
    size_t x_row = (size_t)shape[dim] * inner, run = (size_t)len * inner;
    bool ok = true;
    float *dout = NULL;
    for (int pass = 0; pass < 2; pass++) {
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        sg_tensor *out = sg_narrow(&ctx, x, dim, start, len);
        size_t n = sg_numel(out);
        if (!dout) {
            dout = sg_xmalloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) dout[i] = (float)(i % 1000) - 500.0f;
        }
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < run; i++)
                ok &= out->data[o * run + i] == x->data[o * x_row + (size_t)start * inner + i];
        sg_backward_with(&ctx, out, dout);
        sg_ctx_free(&ctx);
    }
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < x_row; i++) {
            size_t j = i - (size_t)start * inner;
            bool in = i >= (size_t)start * inner && j < run;
            ok &= x->grad[o * x_row + i] == (in ? 2.0f * dout[o * run + j] : 0.0f);
        }
    free(dout);
    sg_tensor_free(x);
    return ok;
}

static bool concat_large_ok_(void)
{
    sg_tensor *xs[3];
    for (int i = 0; i < 3; i++) {
        xs[i] = sg_tensor_alloc(SG_F32, 4, (const int[]){2, i + 1, 100, 70}, true);
        sg_test_fill_uniform(xs[i], (uint64_t)(50 + i), -1.0f, 1.0f);
    }
    const size_t inner = 7000, out_row = 6 * inner;
    bool ok = true;
    float *dout = NULL;
    for (int pass = 0; pass < 2; pass++) {
        sg_ctx ctx;
        sg_ctx_init(&ctx);
        sg_tensor *out = sg_concat(&ctx, xs, 3, 1);
        size_t n = sg_numel(out);
        if (!dout) {
            dout = sg_xmalloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) dout[i] = (float)(i % 999) - 499.0f;
        }
        for (int k = 0, off = 0; k < 3; off += k + 1, k++)
            for (size_t o = 0; o < 2; o++)
                for (size_t i = 0; i < (size_t)(k + 1) * inner; i++)
                    ok &= out->data[o * out_row + (size_t)off * inner + i] ==
                          xs[k]->data[o * (size_t)(k + 1) * inner + i];
        sg_backward_with(&ctx, out, dout);
        sg_ctx_free(&ctx);
    }
    for (int k = 0, off = 0; k < 3; off += k + 1, k++)
        for (size_t o = 0; o < 2; o++)
            for (size_t i = 0; i < (size_t)(k + 1) * inner; i++)
                ok &= xs[k]->grad[o * (size_t)(k + 1) * inner + i] ==
                      2.0f * dout[o * out_row + (size_t)off * inner + i];
    free(dout);
    for (int i = 0; i < 3; i++) sg_tensor_free(xs[i]);
    return ok;
}

static void test_large_rows(void)
{
    const int saved = sg_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        sg_set_num_threads(t);
        tap_ok(narrow_large_ok_(0, 1, 1) && narrow_large_ok_(1, 1, 3),
               "narrow of 35000- and 21000-float rows (several chunks), %d thread(s): forward "
               "and two accumulated backwards exact", t);
        tap_ok(concat_large_ok_(),
               "concat along dim 1 of [2, k, 100, 70] inputs, %d thread(s): forward and two "
               "accumulated backwards exact", t);
    }
    sg_set_num_threads(saved);
}

/* ---- misuse ------------------------------------------------------------------- */
static void concat_mismatch_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *xs[2] = {sg_tensor_new4(&ctx, 2, 3, 5, 5), sg_tensor_new4(&ctx, 2, 4, 5, 6)};
    sg_concat(&ctx, xs, 2, 1);
}

static void narrow_out_of_range_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_narrow(&ctx, sg_tensor_new4(&ctx, 2, 3, 5, 5), 2, 3, 3);
}

static void narrow_bad_dim_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_narrow(&ctx, sg_tensor_new4(&ctx, 2, 3, 5, 5), 4, 0, 1);
}

static void sum_of_labels_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_sum(&ctx, sg_tensor_new(&ctx, SG_I32, 3, (const int[]){2, 5, 5}));
}

static void test_misuse(void)
{
    const char *cat[] = {"sg_concat", "[2, 3, 5, 5]", "[2, 4, 5, 6]"};
    tap_ok(sg_expect_abort(concat_mismatch_, NULL, cat, 3),
           "concat shape mismatch aborts naming the op and both shapes");
    const char *nar[] = {"sg_narrow", "start 3, length 3", "[2, 3, 5, 5]"};
    tap_ok(sg_expect_abort(narrow_out_of_range_, NULL, nar, 3),
           "narrow past the end aborts naming the op, range and shape");
    const char *dim[] = {"sg_narrow", "dim 4", "[2, 3, 5, 5]"};
    tap_ok(sg_expect_abort(narrow_bad_dim_, NULL, dim, 3),
           "narrow of a missing dim aborts naming the op, dim and shape");
    const char *sum[] = {"sg_sum", "[2, 5, 5]"};
    tap_ok(sg_expect_abort(sum_of_labels_, NULL, sum, 2),
           "sum of an int tensor aborts naming the op and shape");
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("layout.bin", GEN);
    test_concat_parity(fx, "cat_dim0", 0);
    test_concat_parity(fx, "cat_dim1", 1);
    test_narrow_parity(fx, "narrow_dim0", 0, 1, 2);
    test_narrow_parity(fx, "narrow_dim1", 1, 1, 2);
    test_narrow_parity(fx, "narrow_dim2", 2, 2, 3);
    test_reduce_parity(fx, "sum", false);
    test_reduce_parity(fx, "mean", true);
    test_grad();
    test_sum_threads();
    test_large_rows();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
