/*
 * op_conv.c: the autograd wrapper of sg_conv2d (ops.h) and its parameter
 * helper. Validates shapes, allocates the output in the arena, runs the
 * context's backend (conv2d_forward / conv2d_backward of backend.h: im2col +
 * GEMM, oneDNN or cuDNN) and records a node holding x, w, b and the
 * dimensions. Matches torch.nn.functional.conv2d. The node remembers the
 * backend its forward ran on so the backward stays on it.
 *
 * Dead taps: a kernel row or column that reads only padding for every
 * output (a dilated 3x3 whose dilation reaches past a small map, like the
 * rate-12/18 ASPP branches on an 8x8 map, which reduce to their centre tap)
 * contributes exact zeros. Both paths then run the convolution with the
 * kernel cropped to its live taps (padding reduced to match) and scatter the
 * weight gradient back; the dead taps' gradient stays 0, as in PyTorch.
 * Only the summation order of the live terms can differ from the uncropped
 * kernel. The FLOPs added to sg_ctx.flops are those of the full kernel.
 * Covered by tests/test_ops_conv.c and tests/test_dnnl.c.
 */
#include "semiseg/ops.h"

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
    sg_conv2d_dims d;       /* of the convolution that ran (cropped when wc) */
    const sg_backend *be;   /* the forward's */
    float *wc;              /* the live taps of w, or NULL when none are dead */
    int kh0, kw0;           /* the first live tap of each axis */
    double flops;           /* of the forward, uncropped (sg_ctx.flops) */
} sg_conv2d_node;

/* The live taps [*k0, *k1] of one axis: those that read inside [0, in) for
 * some output position. */
static void sg_live_taps_(int in, int out, int k, int stride, int pad, int dil, int *k0, int *k1)
{
    *k0 = k;
    *k1 = -1;
    for (int t = 0; t < k; t++)
        for (int o = 0; o < out; o++) {
            int i = o * stride - pad + t * dil;
            if (i >= 0 && i < in) {
                if (t < *k0) *k0 = t;
                *k1 = t;
                break;
            }
        }
}

/* Crops d to its live taps when some are dead and the cropped convolution
 * (symmetric padding reduced by k0 * dil) has the same output size; returns
 * false and leaves d alone otherwise. */
static bool sg_conv_crop_(sg_conv2d_dims *d, int *kh0, int *kw0)
{
    int h0, h1, w0, w1;
    sg_live_taps_(d->H, d->Ho, d->kh, d->stride_h, d->pad_h, d->dil_h, &h0, &h1);
    sg_live_taps_(d->W, d->Wo, d->kw, d->stride_w, d->pad_w, d->dil_w, &w0, &w1);
    if (h1 < h0 || w1 < w0) return false;   /* all padding: left to the kernels */
    if (h0 == 0 && h1 == d->kh - 1 && w0 == 0 && w1 == d->kw - 1) return false;
    sg_conv2d_dims c = *d;
    c.kh = h1 - h0 + 1;
    c.kw = w1 - w0 + 1;
    c.pad_h = d->pad_h - h0 * d->dil_h;
    c.pad_w = d->pad_w - w0 * d->dil_w;
    if (c.pad_h < 0 || c.pad_w < 0) return false;
    if ((d->H + 2 * c.pad_h - c.dil_h * (c.kh - 1) - 1) / c.stride_h + 1 != d->Ho ||
        (d->W + 2 * c.pad_w - c.dil_w * (c.kw - 1) - 1) / c.stride_w + 1 != d->Wo)
        return false;
    *d = c;
    *kh0 = h0;
    *kw0 = w0;
    return true;
}

/* Between w (Cout, Cg, kh, kw) and its crop wc (Cout, Cg, c->kh, c->kw) at
 * (kh0, kw0): wc = crop(w), or w += wc when `add`. */
static void sg_conv_crop_copy_(const sg_backend *be, float *w, float *wc, const sg_tensor *full,
                               const sg_conv2d_dims *c, int kh0, int kw0, bool add)
{
    SG_BACKEND_NEED(be, conv2d_crop_weight)(w, wc, full->shape[0] * full->shape[1],
                                            full->shape[2], full->shape[3], c->kh, c->kw, kh0,
                                            kw0, add);
}

static void sg_conv2d_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_conv2d_node *n = (sg_conv2d_node *)node;
    /* A gradient buffer made now: the kernel may write it directly. */
    bool dx_zero;
    float *dx = sg_grad_buffer_dx(ctx, n->be, n->x, &dx_zero);
    float *dw = sg_grad_buffer(ctx, n->w);
    float *db = sg_grad_buffer(ctx, n->b);
    const float *w = n->w->data;
    float *dwc = dw;
    if (n->wc) {
        w = n->wc;
        dwc = dw ? sg_arena_calloc(&ctx->arena, (size_t)n->d.Cout * (n->d.Cin / n->d.groups) *
                                                    n->d.kh * n->d.kw * sizeof(float))
                 : NULL;
    }
    SG_BACKEND_NEED(n->be, conv2d_backward)(&ctx->arena, dx, dwc, db, dx_zero, node->out->grad,
                                            n->x->data, w, &n->d);
    if (n->wc && dw) sg_conv_crop_copy_(n->be, dw, dwc, n->w, &n->d, n->kh0, n->kw0, true);
    ctx->flops += (dx ? n->flops : 0) + (dw ? n->flops : 0);
}

sg_tensor *sg_conv2d(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b, sg_conv2d_params p)
{
    char sx[SG_SHAPE_STR_LEN], sw[SG_SHAPE_STR_LEN], sb[SG_SHAPE_STR_LEN];
    sg_shape_str(x, sx, sizeof sx);
    sg_shape_str(w, sw, sizeof sw);
    SG_CHECK(x->dtype == SG_F32 && w->dtype == SG_F32 && (!b || b->dtype == SG_F32),
             "sg_conv2d: expects float tensors");
    sg_check_device(ctx, "sg_conv2d", x);
    sg_check_device(ctx, "sg_conv2d", w);
    sg_check_device(ctx, "sg_conv2d", b);
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
    const double flops = 2.0 * d.N * d.Cout * d.Ho * d.Wo * (d.Cin / d.groups) * d.kh * d.kw;
    ctx->flops += flops;
    const sg_backend *be = ctx->be;
    const float *wd = w->data;
    float *wc = NULL;
    int kh0 = 0, kw0 = 0;
    if (sg_conv_crop_(&d, &kh0, &kw0)) {
        wc = sg_arena_alloc(&ctx->arena,
                            (size_t)d.Cout * (d.Cin / d.groups) * d.kh * d.kw * sizeof(float));
        sg_conv_crop_copy_(be, w->data, wc, w, &d, kh0, kw0, false);
        wd = wc;
    }
    SG_BACKEND_NEED(be, conv2d_forward)(&ctx->arena, out->data, x->data, wd, b ? b->data : NULL,
                                        &d);
    if (sg_should_record(ctx, 3, (const sg_tensor *const[]){x, w, b})) {
        sg_conv2d_node *n = sg_tape_record(ctx, sizeof *n, "sg_conv2d", sg_conv2d_backward_, out);
        n->x = x;
        n->w = w;
        n->b = b;
        n->d = d;
        n->be = be;
        n->wc = wc;
        n->kh0 = kh0;
        n->kw0 = kw0;
        n->flops = flops;
    }
    return out;
}
