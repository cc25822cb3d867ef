/*
 * op_normalize.c: autograd wrappers of the per-position normalisations over
 * dim 1 (ops.h): sg_normalize (torch.nn.functional.normalize, p = 2).
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
