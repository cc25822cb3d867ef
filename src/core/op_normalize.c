/*
 * op_normalize.c: autograd wrappers of the per-position operations over
 * dim 1 (ops.h): sg_normalize (torch.nn.functional.normalize, p = 2),
 * sg_cosine_similarity (torch.nn.functional.cosine_similarity, as torch
 * 1.13) and sg_standardize ((x - x.mean(1)) / x.std(1), unbiased).
 * A tensor (N, C) or (N, C, H, W) is viewed as (outer N, C, inner 1 or H W);
 * the kernels are the context's backend's (backend.h), whose backward
 * recomputes the per-position statistics from the saved input instead of
 * keeping them. Covered by tests/test_ops_extra.c.
 */
#include "semiseg/ops.h"

/* The (outer, C, inner) view of a float (N, C) or (N, C, H, W) tensor. */
static void sg_channel_view_(sg_ctx *ctx, const char *op, const sg_tensor *x, int *outer, int *C,
                             int *inner)
{
    sg_check_device(ctx, op, x);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && (x->ndim == 2 || x->ndim == 4),
             "%s: expects a float (N, C) or (N, C, H, W) tensor, got a%s tensor %s", op,
             x->dtype == SG_F32 ? " float" : x->dtype == SG_I32 ? "n int32" : " uint8",
             sg_shape_str(x, s, sizeof s));
    *outer = x->shape[0];
    *C = x->shape[1];
    *inner = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
}

/* ---- normalize ------------------------------------------------------------------ */
typedef struct {
    sg_node node;
    sg_tensor *x;
    int outer, C, inner;
    float eps;
} sg_normalize_node;

static void sg_normalize_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_normalize_node *n = (sg_normalize_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, normalize_backward)(dx, node->out->grad, n->x->data, n->eps,
                                                     n->outer, n->C, n->inner);
}

sg_tensor *sg_normalize(sg_ctx *ctx, sg_tensor *x, float eps)
{
    int outer, C, inner;
    sg_channel_view_(ctx, "sg_normalize", x, &outer, &C, &inner);
    SG_CHECK(eps >= 0.0f, "sg_normalize: eps %g is negative", (double)eps);
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, normalize_forward)(out->data, x->data, eps, outer, C, inner);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_normalize_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_normalize", sg_normalize_backward_, out);
        n->x = x;
        n->outer = outer;
        n->C = C;
        n->inner = inner;
        n->eps = eps;
    }
    return out;
}

/* ---- cosine similarity ---------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *a, *b;
    int outer, C, inner;
    float eps;
} sg_cosine_node;

static void sg_cosine_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_cosine_node *n = (sg_cosine_node *)node;
    float *da = sg_grad_buffer(ctx, n->a), *db = sg_grad_buffer(ctx, n->b);
    if (da || db)
        SG_BACKEND_NEED(ctx->be, cosine_similarity_backward)(da, db, node->out->grad, n->a->data,
                                                             n->b->data, n->eps, n->outer, n->C,
                                                             n->inner);
}

sg_tensor *sg_cosine_similarity(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, float eps)
{
    int outer, C, inner;
    sg_channel_view_(ctx, "sg_cosine_similarity", a, &outer, &C, &inner);
    sg_channel_view_(ctx, "sg_cosine_similarity", b, &outer, &C, &inner);
    char s[SG_SHAPE_STR_LEN], t[SG_SHAPE_STR_LEN];
    SG_CHECK(sg_same_shape(a, b), "sg_cosine_similarity: shapes differ: %s and %s",
             sg_shape_str(a, s, sizeof s), sg_shape_str(b, t, sizeof t));
    SG_CHECK(eps >= 0.0f, "sg_cosine_similarity: eps %g is negative", (double)eps);
    /* dim 1 reduced away: (N) or (N, H, W). */
    int shape[3] = {a->shape[0], a->ndim == 4 ? a->shape[2] : 0, a->ndim == 4 ? a->shape[3] : 0};
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, a->ndim == 4 ? 3 : 1, shape);
    SG_BACKEND_NEED(ctx->be, cosine_similarity_forward)(out->data, a->data, b->data, eps, outer, C,
                                                        inner);
    if (sg_should_record(ctx, 2, (const sg_tensor *const[]){a, b})) {
        sg_cosine_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_cosine_similarity", sg_cosine_backward_, out);
        n->a = a;
        n->b = b;
        n->outer = outer;
        n->C = C;
        n->inner = inner;
        n->eps = eps;
    }
    return out;
}

/* ---- standardize ---------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    int outer, C, inner;
} sg_standardize_node;

static void sg_standardize_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_standardize_node *n = (sg_standardize_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, standardize_backward)(dx, node->out->grad, n->x->data, n->outer,
                                                       n->C, n->inner);
}

sg_tensor *sg_standardize(sg_ctx *ctx, sg_tensor *x)
{
    int outer, C, inner;
    sg_channel_view_(ctx, "sg_standardize", x, &outer, &C, &inner);
    char s[SG_SHAPE_STR_LEN];
    /* The unbiased std divides by C - 1 (PyTorch gives NaN for C = 1). */
    SG_CHECK(C >= 2, "sg_standardize: needs at least 2 channels for the unbiased std, got %s",
             sg_shape_str(x, s, sizeof s));
    sg_tensor *out = sg_tensor_like(ctx, x);
    SG_BACKEND_NEED(ctx->be, standardize_forward)(out->data, x->data, outer, C, inner);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_standardize_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_standardize", sg_standardize_backward_, out);
        n->x = x;
        n->outer = outer;
        n->C = C;
        n->inner = inner;
    }
    return out;
}
