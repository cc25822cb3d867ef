/*
 * test_ops_extra.c: sg_reshape, sg_permute, sg_index_select,
 * sg_normalize, sg_cosine_similarity and sg_standardize against PyTorch
 * fixtures (tests/ref/gen_ops_extra.py ->
 * tests/data/ops_extra.bin): outputs and input gradients; finite-difference
 * gradient checks; that reshape is a view and index_select copies its
 * indices; thread-count independence; misuse aborts.
 *
 * Sensitivity: index_select repeats row 3 three times and never reads row 2,
 * so a backward that overwrote instead of adding, or scattered to the wrong
 * row, is off by O(1). The normalize cases hold a zero row and a row of norm
 * 0.05 under eps = 0.5, whose outputs are x / eps and gradients dout / eps:
 * a missing clamp gives NaN or a 10x larger output, a gradient through the
 * clamp moves dx by O(1). The cosine case has zero rows and rows of norm
 * 0.05 under eps = 0.1 in either input: torch 1.13's gradient there (the
 * clamp not differentiated) differs from a differentiated clamp's by O(1),
 * and the pre-1.12 formula a.b / max(|a||b|, eps) changes the forward of
 * those rows by 2x or more. The standardisation has a position at +50 and
 * C = 6 or 7, where a biased std would be off by 8-9%.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "gradcheck.h"
#include "tap.h"

#define GEN "tests/ref/gen_ops_extra.py"

/* reshape, permute and index_select move values, and their backwards add
 * each gradient element into zeroed buffers in PyTorch's order (index_add_
 * adds the repeated rows in output-row order, as our kernels do): exact. */
#define COPY_ATOL 0.0
#define COPY_RTOL 0.0
/* normalize: ATen sums the squares in float, we in double, so the norms
 * differ by ATen's rounding, a few ulp for C <= 4 (2.4e-7 relative); the
 * output is one division further. Outputs are <= 1 in magnitude; observed
 * 1.2e-7 (one ulp of 0.8). 1e-6 absolute plus 1e-6 relative is 4x the bound, while a wrong
 * eps or norm moves the small rows by 10x and the others by O(1e-2). */
#define NORM_ATOL 1e-6
#define NORM_RTOL 1e-6
/* normalize's dx = (g - y sum g y) / n: a C-term dot product and a
 * cancellation of O(|g| / n) terms, each side rounding differently (ATen
 * goes through the div, clamp and norm backwards in float): a few ulp of
 * |g| / n ~ 1, observed 3.0e-7 (1.0e-6 relative). 1e-5 absolute plus 1e-5 relative;
 * the zero row's dout / 1e-12 (~1e12) is one division on both sides, exact. */
#define NORM_GRAD_ATOL 1e-5
#define NORM_GRAD_RTOL 1e-5

/* cosine: the norms as normalize's, then a C-term sum of products <= 1 in
 * magnitude, in double here and float in ATen: a few ulp of 1, observed
 * 1.2e-7; 1e-6 absolute. Its gradients (y_b - y_a cos) / c are O(|g| / c),
 * up to ~14 on the rows clamped at eps = 0.1: observed 1.9e-6 on 13.5
 * (1.4e-7 relative); 1e-5 absolute plus 1e-5 relative. */
#define COS_ATOL 1e-6
#define COS_RTOL 0.0
#define COS_GRAD_ATOL 1e-5
#define COS_GRAD_RTOL 1e-5
/* standardize: ATen's float mean and std against our double ones rounded
 * to float may differ by an ulp, which at the position near 50 is
 * ulp(50) = 3.8e-6 in x - mean, divided by a std of ~1; elsewhere a few ulp
 * of O(1): observed 1.5e-7 on outputs of O(1); 1e-5 absolute plus 1e-5
 * relative covers the +50 case. The gradient sums two C-term products of
 * O(1) / std: observed 2.3e-7; the same bounds. A biased std moves outputs
 * by 8%. */
#define STD_ATOL 1e-5
#define STD_RTOL 1e-5
#define STD_GRAD_ATOL 1e-5
#define STD_GRAD_RTOL 1e-5

/* Linear ops (reshape, permute, index_select): the central difference is
 * exact up to the float rounding of the probed loss (~1e-7 relative of a sum
 * of O(100) terms, / 2 eps = 2e-2): 1e-4 absolute is a 20x margin; a
 * misplaced element is off by O(0.1-1). */
static const sg_gc_opts GC_LINEAR = {.eps = 1e-2, .atol = 1e-4, .rtol = 1e-3, .max_elems = 200};
/* normalize, cosine and standardize are smooth for norms well above eps
 * and stds well above 0 (inputs in [-2, 2], C >= 3):
 * truncation ~eps^2 |f'''| ~ 1e-4 / n^3 and the loss's rounding ~1e-5 are
 * far inside 1e-3 absolute plus 1e-2 relative (as tests/test_ops_norm.c). */
static const sg_gc_opts GC_SMOOTH = {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-2, .max_elems = 200};

static void key_(char *buf, size_t len, const char *c, const char *field)
{
    snprintf(buf, len, "%s.%s", c, field);
}

/* The fixture's int parameters `<c>.<field>` into v; returns their count. */
static int ints_(const sg_fixture *fx, const char *c, const char *field, int *v, int max)
{
    char k[96];
    key_(k, sizeof k, c, field);
    size_t n;
    const double *d = sg_fixture_doubles(fx, k, &n);
    SG_CHECK((int)n <= max, "%s: %zu values, room for %d", k, n, max);
    for (size_t i = 0; i < n; i++) v[i] = (int)d[i];
    return (int)n;
}

static double scalar_(const sg_fixture *fx, const char *c, const char *field)
{
    char k[96];
    key_(k, sizeof k, c, field);
    return sg_fixture_scalar(fx, k);
}

/* Forward and backward of a recorded single-input op against the fixture. */
static void check_case_(const sg_fixture *fx, const char *c, sg_ctx *ctx, sg_tensor *out,
                        sg_tensor *x, double atol, double rtol, double grad_atol,
                        double grad_rtol)
{
    char k[96];
    key_(k, sizeof k, c, "out");
    sg_tensor *want = sg_fixture_tensor(fx, k, false);
    tap_ok(sg_same_shape(out, want) &&
               sg_check_close(fx, k, out->data, sg_numel(out), atol, rtol),
           "%s forward matches PyTorch", c);
    key_(k, sizeof k, c, "dout");
    sg_tensor *dout = sg_fixture_tensor(fx, k, false);
    sg_backward_with(ctx, out, dout->data);
    key_(k, sizeof k, c, "dx");
    tap_ok(sg_check_close(fx, k, x->grad, sg_numel(x), grad_atol, grad_rtol),
           "%s backward matches PyTorch", c);
    sg_tensor_free(want);
    sg_tensor_free(dout);
}

/* op: 0 reshape, 1 permute, 2 index_select, 3 normalize, 4 standardize */
static void test_parity(const sg_fixture *fx, const char *c, int op)
{
    char k[96];
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    key_(k, sizeof k, c, "x");
    sg_tensor *x = sg_fixture_tensor(fx, k, true);
    int v[16];
    sg_tensor *out = NULL;
    double atol = COPY_ATOL, rtol = COPY_RTOL, gatol = COPY_ATOL, grtol = COPY_RTOL;
    if (op == 0) {
        int nd = ints_(fx, c, "shape", v, SG_MAX_DIMS);
        out = sg_reshape(&ctx, x, nd, v);
        tap_ok(out->data == x->data, "%s is a view of its input", c);
    } else if (op == 1) {
        ints_(fx, c, "perm", v, SG_MAX_DIMS);
        out = sg_permute(&ctx, x, v);
    } else if (op == 2) {
        int n = ints_(fx, c, "idx", v, 16);
        out = sg_index_select(&ctx, x, v, n);
    } else if (op == 3) {
        out = sg_normalize(&ctx, x, (float)scalar_(fx, c, "eps"));
        atol = NORM_ATOL, rtol = NORM_RTOL, gatol = NORM_GRAD_ATOL, grtol = NORM_GRAD_RTOL;
    } else {
        out = sg_standardize(&ctx, x);
        atol = STD_ATOL, rtol = STD_RTOL, gatol = STD_GRAD_ATOL, grtol = STD_GRAD_RTOL;
    }
    check_case_(fx, c, &ctx, out, x, atol, rtol, gatol, grtol);
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

/* cosine_similarity's two inputs and their gradients against the fixture. */
static void test_cosine_parity(const sg_fixture *fx, const char *c)
{
    char k[96];
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    key_(k, sizeof k, c, "a");
    sg_tensor *a = sg_fixture_tensor(fx, k, true);
    key_(k, sizeof k, c, "b");
    sg_tensor *b = sg_fixture_tensor(fx, k, true);
    sg_tensor *out = sg_cosine_similarity(&ctx, a, b, (float)scalar_(fx, c, "eps"));
    key_(k, sizeof k, c, "out");
    sg_tensor *want = sg_fixture_tensor(fx, k, false);
    tap_ok(sg_same_shape(out, want) &&
               sg_check_close(fx, k, out->data, sg_numel(out), COS_ATOL, COS_RTOL),
           "%s forward matches PyTorch", c);
    key_(k, sizeof k, c, "dout");
    sg_tensor *dout = sg_fixture_tensor(fx, k, false);
    sg_backward_with(&ctx, out, dout->data);
    key_(k, sizeof k, c, "da");
    int ok = sg_check_close(fx, k, a->grad, sg_numel(a), COS_GRAD_ATOL, COS_GRAD_RTOL);
    key_(k, sizeof k, c, "db");
    ok &= sg_check_close(fx, k, b->grad, sg_numel(b), COS_GRAD_ATOL, COS_GRAD_RTOL);
    tap_ok(ok, "%s backward matches PyTorch for both inputs", c);
    sg_tensor_free(want);
    sg_tensor_free(dout);
    sg_tensor_free(a);
    sg_tensor_free(b);
    sg_ctx_free(&ctx);
}

/* ---- gradient checks ---------------------------------------------------------- */
typedef struct {
    int ndim, v[8];
    float eps;
} op_arg;

static sg_tensor *reshape_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const op_arg *a = arg;
    /* Used twice, through the view and directly: the gradients add. */
    sg_tensor *r = sg_reshape(ctx, in[0], a->ndim, a->v);
    return sg_add(ctx, sg_scale(ctx, r, 2.0f), sg_reshape(ctx, in[0], a->ndim, a->v));
}

static sg_tensor *permute_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_permute(ctx, in[0], ((const op_arg *)arg)->v);
}

static sg_tensor *index_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    const op_arg *a = arg;
    return sg_index_select(ctx, in[0], a->v, a->ndim);
}

static sg_tensor *normalize_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_normalize(ctx, in[0], ((const op_arg *)arg)->eps);
}

static sg_tensor *cosine_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    return sg_cosine_similarity(ctx, in[0], in[1], ((const op_arg *)arg)->eps);
}

static sg_tensor *standardize_fn(sg_ctx *ctx, sg_tensor **in, void *arg)
{
    (void)arg;
    return sg_standardize(ctx, in[0]);
}

static void test_grad(void)
{
    sg_tensor *x4 = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, 4, 5}, true);
    sg_test_fill_uniform(x4, 40, -2.0f, 2.0f);
    op_arg r = {.ndim = 3, .v = {4, -1, 5}};
    sg_gradcheck("reshape [2,3,4,5] -> [4,-1,5], used twice", reshape_fn, &x4, 1, &r, GC_LINEAR);
    static const op_arg perms[] = {
        {4, {0, 2, 3, 1}, 0}, {4, {3, 1, 0, 2}, 0}, {4, {1, 0, 2, 3}, 0}};
    for (size_t i = 0; i < sizeof perms / sizeof *perms; i++) {
        char label[48];
        snprintf(label, sizeof label, "permute [2,3,4,5] (%d,%d,%d,%d)", perms[i].v[0],
                 perms[i].v[1], perms[i].v[2], perms[i].v[3]);
        op_arg a = perms[i];
        sg_gradcheck(label, permute_fn, &x4, 1, &a, GC_LINEAR);
    }
    op_arg n4 = {.eps = 1e-12f};
    sg_gradcheck("normalize [2,3,4,5]", normalize_fn, &x4, 1, &n4, GC_SMOOTH);

    sg_tensor *x3 = sg_tensor_alloc(SG_F32, 3, (const int[]){4, 5, 6}, true);
    sg_test_fill_uniform(x3, 41, -2.0f, 2.0f);
    op_arg p3 = {.ndim = 3, .v = {2, 0, 1}};
    sg_gradcheck("permute [4,5,6] (2,0,1)", permute_fn, &x3, 1, &p3, GC_LINEAR);
    op_arg idx = {.ndim = 7, .v = {2, 0, 2, 3, 2, 0, 1}};
    sg_gradcheck("index_select [4,5,6] rows (2,0,2,3,2,0,1)", index_fn, &x3, 1, &idx, GC_LINEAR);

    sg_tensor *x2 = sg_tensor_alloc(SG_F32, 2, (const int[]){7, 3}, true);
    sg_test_fill_uniform(x2, 42, -2.0f, 2.0f);
    op_arg p2 = {.ndim = 2, .v = {1, 0}};
    sg_gradcheck("permute [7,3] (1,0)", permute_fn, &x2, 1, &p2, GC_LINEAR);
    sg_gradcheck("normalize [7,3]", normalize_fn, &x2, 1, &n4, GC_SMOOTH);
    /* Every norm (<= 0.1 sqrt 3 + eps) below eps = 1: x / eps, linear. */
    sg_test_fill_uniform(x2, 43, -0.1f, 0.1f);
    op_arg big = {.eps = 1.0f};
    sg_gradcheck("normalize [7,3], every norm below eps", normalize_fn, &x2, 1, &big, GC_LINEAR);
    /* Six channels: with three, some positions of [-2, 2] inputs have a std
     * small enough that eps = 1e-2 is no longer a small step. */
    sg_tensor *s4 = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 6, 3, 4}, true);
    sg_test_fill_uniform(s4, 49, -2.0f, 2.0f);
    sg_gradcheck("standardize [2,6,3,4]", standardize_fn, &s4, 1, NULL, GC_SMOOTH);
    sg_tensor_free(s4);
    sg_tensor *b4 = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, 4, 5}, true);
    sg_test_fill_uniform(b4, 45, -2.0f, 2.0f);
    sg_tensor *ab[2] = {x4, b4};
    op_arg c8 = {.eps = 1e-8f};
    sg_gradcheck("cosine_similarity [2,3,4,5] both inputs", cosine_fn, ab, 2, &c8, GC_SMOOTH);
    /* Only b needs a gradient: the kernel gets da = NULL. */
    sg_tensor *a4 = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, 4, 5}, false);
    sg_test_fill_uniform(a4, 48, -2.0f, 2.0f);
    sg_tensor *cb[2] = {a4, b4};
    sg_gradcheck("cosine_similarity [2,3,4,5] constant a", cosine_fn, cb, 2, &c8, GC_SMOOTH);
    sg_tensor_free(a4);
    sg_tensor_free(b4);

    sg_tensor *y2 = sg_tensor_alloc(SG_F32, 2, (const int[]){7, 3}, true);
    sg_test_fill_uniform(y2, 46, -2.0f, 2.0f);
    sg_test_fill_uniform(x2, 47, -2.0f, 2.0f);
    sg_tensor *ab3[2] = {x2, y2};
    sg_gradcheck("cosine_similarity [7,3] both inputs", cosine_fn, ab3, 2, &c8, GC_SMOOTH);
    sg_gradcheck("standardize [7,3]", standardize_fn, &x2, 1, NULL, GC_SMOOTH);
    sg_tensor_free(y2);
    sg_tensor_free(x4);
    sg_tensor_free(x3);
    sg_tensor_free(x2);
}

/* index_select keeps its own copy of the indices: the caller may reuse its
 * array before the backward. */
static void test_index_copied(void)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_tensor_alloc(SG_F32, 2, (const int[]){3, 2}, true);
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    memcpy(x->data, xv, sizeof xv);
    int idx[3] = {2, 0, 2};
    sg_tensor *out = sg_index_select(&ctx, x, idx, 3);
    idx[0] = idx[1] = idx[2] = 1;
    const float dout[6] = {1, 10, 100, 1000, 10000, 100000};
    sg_backward_with(&ctx, out, dout);
    const float want_out[6] = {5, 6, 1, 2, 5, 6};
    const float want_dx[6] = {100, 1000, 0, 0, 10001, 100010};
    tap_ok(!memcmp(out->data, want_out, sizeof want_out) &&
               !memcmp(x->grad, want_dx, sizeof want_dx),
           "index_select copies its indices: the caller's array changed before the backward");
    sg_tensor_free(x);
    sg_ctx_free(&ctx);
}

/* Each position (index_select: each source row) is summed by one thread in
 * a fixed order, so 1 and 4 threads give the same bits. */
static void test_threads(void)
{
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){3, 16, 20, 20}, true);
    sg_test_fill_uniform(x, 44, -2.0f, 2.0f);
    int idx[64];
    for (int j = 0; j < 64; j++) idx[j] = (j * 7) % 3;
    const int threads[2] = {1, 4}, saved = sg_get_num_threads();
    float *got[2][2];
    const size_t n = sg_numel(x);
    for (int t = 0; t < 2; t++) {
        sg_set_num_threads(threads[t]);
        for (int op = 0; op < 2; op++) {
            sg_ctx ctx;
            sg_ctx_init(&ctx);
            sg_tensor_zero_grad(x);
            sg_tensor *out = op ? sg_index_select(&ctx, x, idx, 64) : sg_normalize(&ctx, x, 1e-12f);
            float *dout = sg_xmalloc(sg_numel(out) * sizeof(float));
            for (size_t i = 0; i < sg_numel(out); i++) dout[i] = (float)(i % 13) - 6.0f;
            sg_backward_with(&ctx, out, dout);
            free(dout);
            got[t][op] = sg_xmalloc(n * sizeof(float));
            memcpy(got[t][op], x->grad, n * sizeof(float));
            sg_ctx_free(&ctx);
        }
    }
    sg_set_num_threads(saved);
    tap_ok(!memcmp(got[0][0], got[1][0], n * sizeof(float)),
           "normalize backward is bitwise identical with 1 and 4 threads");
    tap_ok(!memcmp(got[0][1], got[1][1], n * sizeof(float)),
           "index_select backward (64 rows onto 3) is bitwise identical with 1 and 4 threads");
    for (int t = 0; t < 2; t++) free(got[t][0]), free(got[t][1]);
    sg_tensor_free(x);
}

/* ---- misuse ------------------------------------------------------------------- */
static sg_tensor *f4_(sg_ctx *ctx) { return sg_tensor_new4(ctx, 2, 3, 4, 5); }

static void misuse_(void *arg)
{
    const int which = *(const int *)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *labels = sg_tensor_new(&ctx, SG_I32, 3, (const int[]){2, 4, 5});
    switch (which) {
    case 0: sg_reshape(&ctx, f4_(&ctx), 2, (const int[]){7, 8}); break;
    case 1: sg_reshape(&ctx, f4_(&ctx), 2, (const int[]){-1, 7}); break;
    case 2: sg_reshape(&ctx, labels, 1, (const int[]){40}); break;
    case 3: sg_permute(&ctx, f4_(&ctx), (const int[]){0, 2, 2, 1}); break;
    case 4: sg_permute(&ctx, f4_(&ctx), (const int[]){0, 1, 4, 2}); break;
    case 5: sg_permute(&ctx, sg_tensor_new(&ctx, SG_F32, 1, (const int[]){5}), (const int[]){0});
        break;
    case 6: sg_index_select(&ctx, f4_(&ctx), (const int[]){1, 2, 0}, 3); break;
    case 7: sg_index_select(&ctx, f4_(&ctx), (const int[]){0, -1}, 2); break;
    case 8: sg_index_select(&ctx, labels, (const int[]){0}, 1); break;
    case 9: sg_normalize(&ctx, sg_tensor_new(&ctx, SG_F32, 3, (const int[]){2, 3, 4}), 1e-12f);
        break;
    case 10: sg_normalize(&ctx, labels, 1e-12f); break;
    case 11: sg_cosine_similarity(&ctx, f4_(&ctx), sg_tensor_new4(&ctx, 2, 3, 4, 6), 1e-8f); break;
    case 12: sg_cosine_similarity(&ctx, f4_(&ctx), labels, 1e-8f); break;
    case 13: sg_standardize(&ctx, sg_tensor_new(&ctx, SG_F32, 2, (const int[]){4, 1})); break;
    default: sg_standardize(&ctx, sg_tensor_new(&ctx, SG_F32, 3, (const int[]){2, 3, 4})); break;
    }
}

static void test_misuse(void)
{
    static const struct {
        const char *what, *expect[4];
    } cases[] = {
        {"reshape to another element count", {"sg_reshape", "[2, 3, 4, 5]", "[7, 8]", "120"}},
        {"reshape whose -1 cannot be inferred", {"sg_reshape", "[2, 3, 4, 5]", "[-1, 7]"}},
        {"reshape of an int tensor", {"sg_reshape", "int32", "[2, 4, 5]"}},
        {"permute with a repeated dim", {"sg_permute", "[0, 2, 2, 1]", "not a permutation",
                                         "[2, 3, 4, 5]"}},
        {"permute with a dim out of range", {"sg_permute", "[0, 1, 4, 2]", "[2, 3, 4, 5]"}},
        {"permute of a 1-D tensor", {"sg_permute", "2- to 4-D", "[5]"}},
        {"index_select past the end", {"sg_index_select", "index 2 (idx[1])", "[2, 3, 4, 5]"}},
        {"index_select of a negative index", {"sg_index_select", "index -1 (idx[1])"}},
        {"index_select of an int tensor", {"sg_index_select", "int32", "[2, 4, 5]"}},
        {"normalize of a 3-D tensor", {"sg_normalize", "(N, C)", "[2, 3, 4]"}},
        {"normalize of an int tensor", {"sg_normalize", "int32", "[2, 4, 5]"}},
        {"cosine_similarity of different shapes",
         {"sg_cosine_similarity", "[2, 3, 4, 5]", "[2, 3, 4, 6]"}},
        {"cosine_similarity with an int tensor", {"sg_cosine_similarity", "int32", "[2, 4, 5]"}},
        {"standardize of one channel", {"sg_standardize", "2 channels", "[4, 1]"}},
        {"standardize of a 3-D tensor", {"sg_standardize", "(N, C)", "[2, 3, 4]"}},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof *cases); i++) {
        int n = 0;
        while (n < 4 && cases[i].expect[n]) n++;
        tap_ok(sg_expect_abort(misuse_, &i, cases[i].expect, n),
               "%s aborts naming the op and the shapes", cases[i].what);
    }
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("ops_extra.bin", GEN);
    test_parity(fx, "reshape_a", 0);
    test_parity(fx, "reshape_b", 0);
    test_parity(fx, "permute_2d", 1);
    test_parity(fx, "permute_3d", 1);
    test_parity(fx, "permute_nhwc", 1);
    test_parity(fx, "permute_4d", 1);
    test_parity(fx, "index_3d", 2);
    test_parity(fx, "index_2d", 2);
    test_parity(fx, "index_1d", 2);
    test_parity(fx, "normalize_2d", 3);
    test_parity(fx, "normalize_4d", 3);
    test_cosine_parity(fx, "cosine_2d");
    test_cosine_parity(fx, "cosine_4d");
    test_parity(fx, "standardize_2d", 4);
    test_parity(fx, "standardize_4d", 4);
    test_grad();
    test_index_copied();
    test_threads();
    test_misuse();
    sg_fixture_close(fx);
    return tap_done();
}
