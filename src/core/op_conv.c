/*
 * op_conv.c: the autograd wrapper of sg_conv2d (ops.h) and its parameter
 * helper. Validates shapes, allocates the output and the im2col scratch in
 * the arena, runs src/cpu/conv2d.c and records a node holding x, w, b and the
 * dimensions. Matches torch.nn.functional.conv2d.
 * Covered by tests/test_ops_conv.c.
 */
#include "semiseg/ops.h"

#include "../cpu/conv2d.h"

sg_conv2d_params sg_conv2d_params_make(int stride, int pad, int dil, int groups)
{
    return (sg_conv2d_params){.stride_h = stride,
                              .stride_w = stride,
                              .pad_h = pad,
                              .pad_w = pad,
                              .dil_h = dil,
                              .dil_w = dil,
                              .groups = groups};
}

typedef struct {
    sg_node node;
    sg_tensor *x, *w, *b;
    sg_conv2d_dims d;
} sg_conv2d_node;

static float *scratch_(sg_ctx *ctx, const sg_conv2d_dims *d)
{
    size_t n = sg_conv2d_scratch_floats(d);
    return n ? sg_arena_alloc(&ctx->arena, n * sizeof(float)) : NULL;
}

static void sg_conv2d_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_conv2d_node *n = (sg_conv2d_node *)node;
    float *dx = sg_grad_buffer(ctx, n->x);
    float *dw = sg_grad_buffer(ctx, n->w);
    float *db = sg_grad_buffer(ctx, n->b);
    float *col = (dx || dw) ? scratch_(ctx, &n->d) : NULL;
    sg_conv2d_backward_cpu(dx, dw, db, col, node->out->grad, n->x->data, n->w->data, &n->d);
}

sg_tensor *sg_conv2d(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b, sg_conv2d_params p)
{
    char sx[SG_SHAPE_STR_LEN], sw[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    sg_shape_str(x, sx, sizeof sx);
    sg_shape_str(w, sw, sizeof sw);
    SG_CHECK(x->dtype == SG_F32 && w->dtype == SG_F32 && (!b || b->dtype == SG_F32),
             "sg_conv2d: expects float tensors");
    SG_CHECK(x->ndim == 4 && w->ndim == 4, "sg_conv2d: x %s and w %s must both be 4-D", sx, sw);
    SG_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dil_h >= 1 && p.dil_w >= 1 && p.pad_h >= 0 &&
                 p.pad_w >= 0 && p.groups >= 1,
             "sg_conv2d: bad parameters stride %dx%d pad %dx%d dilation %dx%d groups %d "
             "(x %s, w %s)",
             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups, sx, sw);
    sg_conv2d_dims d = {.N = x->shape[0], .Cin = x->shape[1], .H = x->shape[2], .W = x->shape[3],
                        .Cout = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
                        .stride_h = p.stride_h, .stride_w = p.stride_w,
                        .pad_h = p.pad_h, .pad_w = p.pad_w,
                        .dil_h = p.dil_h, .dil_w = p.dil_w, .groups = p.groups};
    SG_CHECK(d.Cin % d.groups == 0 && d.Cout % d.groups == 0 && w->shape[1] == d.Cin / d.groups,
             "sg_conv2d: x %s and w %s with groups %d: need w (Cout, Cin/groups, kh, kw) "
             "with Cin and Cout divisible by groups",
             sx, sw, d.groups);
    SG_CHECK(!b || (b->ndim == 1 && b->shape[0] == d.Cout),
             "sg_conv2d: bias %s does not match w %s (want [%d])",
             sg_shape_str(b, sb, sizeof sb), sw, d.Cout);
    int eh = p.dil_h * (d.kh - 1) + 1, ew = p.dil_w * (d.kw - 1) + 1;
    d.Ho = d.H + 2 * p.pad_h >= eh ? (d.H + 2 * p.pad_h - eh) / p.stride_h + 1 : 0;
    d.Wo = d.W + 2 * p.pad_w >= ew ? (d.W + 2 * p.pad_w - ew) / p.stride_w + 1 : 0;
    SG_CHECK(d.Ho >= 1 && d.Wo >= 1,
             "sg_conv2d: output size %dx%d < 1 for x %s, w %s, stride %dx%d pad %dx%d "
             "dilation %dx%d",
             d.Ho, d.Wo, sx, sw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w);

    sg_tensor *out = sg_tensor_new4(ctx, d.N, d.Cout, d.Ho, d.Wo);
    sg_conv2d_forward_cpu(out->data, scratch_(ctx, &d), x->data, w->data, b ? b->data : NULL, &d);
    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){x, w, b})) {
        sg_conv2d_node *n = sg_tape_record(ctx, sizeof *n, "sg_conv2d", sg_conv2d_backward_, out);
        n->x = x;
        n->w = w;
        n->b = b;
        n->d = d;
    }
    return out;
}
