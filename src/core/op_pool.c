/*
 * op_pool.c: autograd wrappers of sg_maxpool2d and sg_global_avgpool (ops.h).
 * Max pooling keeps what its backward needs when it records (the argmax of
 * every output, or a library's workspace: the backend's saved state), so
 * the backward scatters without re-scanning the windows; the node remembers
 * the backend that ran. Match torch.nn.functional.max_pool2d (floor mode)
 * and torch.nn.functional.adaptive_avg_pool2d(x, 1).
 * Covered by tests/test_ops_conv.c, tests/test_dnnl.c and
 * tests/test_backend_ops.c.
 */
#include "semiseg/ops.h"

/* ---- max pooling -------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    const sg_backend *be;   /* the forward's */
    void *saved;            /* be's record of the maxima */
    int kernel, stride, pad;
} sg_maxpool2d_node;

static void sg_maxpool2d_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_maxpool2d_node *n = (sg_maxpool2d_node *)node;
    const sg_tensor *o = node->out, *x = n->x;
    /* A gradient buffer made now: the kernel may write it directly. */
    bool dx_zero;
    float *dx = sg_grad_buffer_dx(ctx, n->be, n->x, &dx_zero);
    if (dx)
        SG_BACKEND_NEED(n->be, maxpool2d_backward)(dx, dx_zero, o->grad, n->saved, x->shape[0],
                                                   x->shape[1], x->shape[2], x->shape[3],
                                                   o->shape[2], o->shape[3], n->kernel,
                                                   n->stride, n->pad);
}

sg_tensor *sg_maxpool2d(sg_ctx *ctx, sg_tensor *x, int kernel, int stride, int pad)
{
    char sx[SG_SHAPE_STR_LEN];
    sg_shape_str(x, sx, sizeof sx);
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4, "sg_maxpool2d: expects a 4-D float tensor, got %s",
             sx);
    sg_check_device(ctx, "sg_maxpool2d", x);
    /* PyTorch's own limit: a window always holds at least one real element. */
    SG_CHECK(kernel >= 1 && stride >= 1 && pad >= 0 && pad <= kernel / 2,
             "sg_maxpool2d: bad kernel %d stride %d pad %d (need pad <= kernel/2) for x %s",
             kernel, stride, pad, sx);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int Ho = H + 2 * pad >= kernel ? (H + 2 * pad - kernel) / stride + 1 : 0;
    int Wo = W + 2 * pad >= kernel ? (W + 2 * pad - kernel) / stride + 1 : 0;
    SG_CHECK(Ho >= 1 && Wo >= 1,
             "sg_maxpool2d: output size %dx%d < 1 for x %s, kernel %d stride %d pad %d", Ho, Wo,
             sx, kernel, stride, pad);

    sg_tensor *out = sg_tensor_new4(ctx, N, C, Ho, Wo);
    bool record = sg_should_record(ctx, 1, (const sg_tensor *const[]){x});
    void *saved = SG_BACKEND_NEED(ctx->be, maxpool2d_forward)(
        &ctx->arena, out->data, x->data, record, N, C, H, W, Ho, Wo, kernel, stride, pad);
    if (record) {
        sg_maxpool2d_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_maxpool2d", sg_maxpool2d_backward_, out);
        n->x = x;
        n->be = ctx->be;
        n->saved = saved;
        n->kernel = kernel;
        n->stride = stride;
        n->pad = pad;
    }
    return out;
}

/* ---- global average pooling ---------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
} sg_global_avgpool_node;

static void sg_global_avgpool_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_global_avgpool_node *n = (sg_global_avgpool_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    const sg_tensor *x = n->x;
    if (dx)
        SG_BACKEND_NEED(ctx->be, global_avgpool_backward)(dx, node->out->grad,
                                                          x->shape[0] * x->shape[1],
                                                          x->shape[2] * x->shape[3]);
}

sg_tensor *sg_global_avgpool(sg_ctx *ctx, sg_tensor *x)
{
    char sx[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4,
             "sg_global_avgpool: expects a 4-D float tensor, got %s",
             sg_shape_str(x, sx, sizeof sx));
    int N = x->shape[0], C = x->shape[1];
    sg_tensor *out = sg_tensor_new4(ctx, N, C, 1, 1);
    sg_check_device(ctx, "sg_global_avgpool", x);
    SG_BACKEND_NEED(ctx->be, global_avgpool_forward)(out->data, x->data, N * C,
                                                     x->shape[2] * x->shape[3]);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_global_avgpool_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_global_avgpool", sg_global_avgpool_backward_, out);
        n->x = x;
    }
    return out;
}
