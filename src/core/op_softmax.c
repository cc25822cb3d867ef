/*
 * op_softmax.c: autograd wrappers of sg_softmax and sg_log_softmax (ops.h).
 * The tensor is viewed as (outer, C, inner) around `dim`; both backwards need
 * only the saved output. Matches torch.softmax / torch.log_softmax.
 * Covered by tests/test_ops_loss.c.
 */
#include "semiseg/ops.h"

typedef struct {
    sg_node node;
    sg_tensor *x;
    int outer, C, inner;
    bool log;
} sg_softmax_node;

static void sg_softmax_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_softmax_node *n = (sg_softmax_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (!dx) return;
    if (n->log)
        SG_BACKEND_NEED(ctx->be, log_softmax_backward)(dx, node->out->grad, node->out->data,
                                                       n->outer, n->C, n->inner);
    else
        SG_BACKEND_NEED(ctx->be, softmax_backward)(dx, node->out->grad, node->out->data, n->outer,
                                                   n->C, n->inner);
}

static sg_tensor *sg_softmax_any_(sg_ctx *ctx, sg_tensor *x, int dim, bool log, const char *op)
{
    sg_check_device(ctx, "sg_softmax", x);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32, "%s: expects a float tensor", op);
    SG_CHECK(dim >= 0 && dim < x->ndim, "%s: dim %d out of range for shape %s", op, dim,
             sg_shape_str(x, s, sizeof s));
    int outer = 1, inner = 1;
    for (int i = 0; i < dim; i++) outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) inner *= x->shape[i];
    int C = x->shape[dim];
    sg_tensor *out = sg_tensor_like(ctx, x);
    if (log)
        SG_BACKEND_NEED(ctx->be, log_softmax_forward)(out->data, x->data, outer, C, inner);
    else
        SG_BACKEND_NEED(ctx->be, softmax_forward)(out->data, x->data, outer, C, inner);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_softmax_node *n = sg_tape_record(ctx, sizeof *n, op, sg_softmax_backward_, out);
        n->x = x;
        n->outer = outer;
        n->C = C;
        n->inner = inner;
        n->log = log;
    }
    return out;
}

sg_tensor *sg_softmax(sg_ctx *ctx, sg_tensor *x, int dim)
{
    return sg_softmax_any_(ctx, x, dim, false, "sg_softmax");
}

sg_tensor *sg_log_softmax(sg_ctx *ctx, sg_tensor *x, int dim)
{
    return sg_softmax_any_(ctx, x, dim, true, "sg_log_softmax");
}
