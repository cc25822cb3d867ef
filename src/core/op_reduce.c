/*
 * op_reduce.c: autograd wrappers of the full reductions (ops.h): sg_sum and
 * sg_mean, float tensors of any shape -> shape [1], on the context's
 * backend (sum_forward / mean_forward of backend.h).
 * Matches torch.sum(x) / torch.mean(x). Covered by tests/test_ops_layout.c.
 */
#include "semiseg/ops.h"

typedef void (*sg_reduce_fwd_fn)(sg_arena *, float *, const float *, size_t);
typedef void (*sg_reduce_bwd_fn)(float *, const float *, size_t);

typedef struct {
    sg_node node;
    sg_tensor *x;
    sg_reduce_bwd_fn bwd;
} sg_reduce_node;

static void sg_reduce_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_reduce_node *n = (sg_reduce_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx) n->bwd(dx, node->out->grad, sg_numel(n->x));
}

static sg_tensor *sg_reduce_(sg_ctx *ctx, sg_tensor *x, const char *op, sg_reduce_fwd_fn fwd,
                             sg_reduce_bwd_fn bwd)
{
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32, "%s: expects a float tensor, got %s", op,
             sg_shape_str(x, s, sizeof s));
    const size_t n = sg_numel(x);
    SG_CHECK(n > 0, "%s: empty tensor %s", op, sg_shape_str(x, s, sizeof s));
    const int one = 1;
    sg_tensor *out = sg_tensor_new(ctx, SG_F32, 1, &one);
    sg_check_device(ctx, op, x);
    fwd(&ctx->arena, out->data, x->data, n);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_reduce_node *r = sg_tape_record(ctx, sizeof *r, op, sg_reduce_backward_, out);
        r->x = x;
        r->bwd = bwd;
    }
    return out;
}

sg_tensor *sg_sum(sg_ctx *ctx, sg_tensor *x)
{
    return sg_reduce_(ctx, x, "sg_sum", SG_BACKEND_NEED(ctx->be, sum_forward),
                      SG_BACKEND_NEED(ctx->be, sum_backward));
}

sg_tensor *sg_mean(sg_ctx *ctx, sg_tensor *x)
{
    return sg_reduce_(ctx, x, "sg_mean", SG_BACKEND_NEED(ctx->be, mean_forward),
                      SG_BACKEND_NEED(ctx->be, mean_backward));
}
