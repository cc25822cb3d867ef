/*
 * op_pool.c: autograd wrappers of sg_maxpool2d and sg_global_avgpool (ops.h).
 * Max pooling saves the argmax of every output (int32, arena) when it
 * records, so its backward scatters without re-scanning the windows.
 * Match torch.nn.functional.max_pool2d (floor mode) and
 * torch.nn.functional.adaptive_avg_pool2d(x, 1). On the fast CPU path
 * (oneDNN builds only) max pooling runs src/cpu/dnnl_pool.c, whose workspace
 * takes the place of the argmax; the node remembers which path ran.
 * Covered by tests/test_ops_conv.c and tests/test_dnnl.c.
 */
#include "config.h"
#include "semiseg/ops.h"

#include "../cpu/pool.h"
#ifdef SG_HAVE_DNNL
#include "../cpu/dnnl_ops.h"
#endif

/* ---- max pooling -------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    int32_t *argmax;
    void *workspace;   /* fast path: oneDNN's record of the maxima, instead of argmax */
    int kernel, stride, pad;
} sg_maxpool2d_node;

static void sg_maxpool2d_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_maxpool2d_node *n = (sg_maxpool2d_node *)node;
    const sg_tensor *o = node->out;
#ifdef SG_HAVE_DNNL
    if (n->workspace) {
        /* A gradient buffer made now is all zeros: oneDNN may write it directly. */
        bool dx_zero = n->x->grad == NULL;
        const sg_tensor *x = n->x;
        sg_dnnl_maxpool2d_backward(sg_grad_buffer(ctx, n->x), dx_zero, o->grad,
                                   n->workspace, x->shape[0], x->shape[1], x->shape[2],
                                   x->shape[3], o->shape[2], o->shape[3], n->kernel, n->stride,
                                   n->pad);
        return;
    }
#endif
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        sg_maxpool2d_backward_cpu(dx, o->grad, n->argmax, o->shape[0] * o->shape[1],
                                  n->x->shape[2], n->x->shape[3], o->shape[2], o->shape[3]);
}

sg_tensor *sg_maxpool2d(sg_ctx *ctx, sg_tensor *x, int kernel, int stride, int pad)
{
    char sx[SG_SHAPE_STR_LEN];
    sg_shape_str(x, sx, sizeof sx);
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4, "sg_maxpool2d: expects a 4-D float tensor, got %s",
             sx);
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
    int32_t *argmax = NULL;
    void *workspace = NULL;
#ifdef SG_HAVE_DNNL
    if (sg_get_cpu_path() == SG_CPU_FAST)
        workspace = sg_dnnl_maxpool2d_forward(&ctx->arena, out->data, x->data, record, N, C, H, W,
                                              Ho, Wo, kernel, stride, pad);
    else
#endif
    {
        argmax = record ? sg_arena_alloc(&ctx->arena, sg_numel(out) * sizeof(int32_t)) : NULL;
        sg_maxpool2d_forward_cpu(out->data, argmax, x->data, N * C, H, W, Ho, Wo, kernel, stride,
                                 pad);
    }
    if (record) {
        sg_maxpool2d_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_maxpool2d", sg_maxpool2d_backward_, out);
        n->x = x;
        n->argmax = argmax;
        n->workspace = workspace;
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
        sg_global_avgpool_backward_cpu(dx, node->out->grad, x->shape[0] * x->shape[1],
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
    sg_global_avgpool_forward_cpu(out->data, x->data, N * C, x->shape[2] * x->shape[3]);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_global_avgpool_node *n =
            sg_tape_record(ctx, sizeof *n, "sg_global_avgpool", sg_global_avgpool_backward_, out);
        n->x = x;
    }
    return out;
}
