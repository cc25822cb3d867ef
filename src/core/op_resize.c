/*
 * op_resize.c: autograd wrappers of the resizing ops (ops.h): bilinear and
 * nearest resizing of (N, C, H, W) float images, and nearest resizing of
 * SG_I32 (N, H, W) label maps, on the context's backend (backend.h).
 * Matches torch.nn.functional.interpolate(size=(oh, ow), mode='bilinear' |
 * 'nearest'). Covered by tests/test_ops_resize.c.
 */
#include "semiseg/ops.h"

static void sg_check_image_(const char *op, const sg_tensor *x, int oh, int ow)
{
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4, "%s: expects a float (N, C, H, W) tensor, got %s",
             op, sg_shape_str(x, s, sizeof s));
    SG_CHECK(oh > 0 && ow > 0, "%s: output size %dx%d must be positive (input %s)", op, oh, ow,
             sg_shape_str(x, s, sizeof s));
}

/* ---- bilinear ------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
    bool align_corners;
} sg_resize_bilinear_node;

static void sg_resize_bilinear_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_resize_bilinear_node *n = (sg_resize_bilinear_node *)node;
    const sg_tensor *x = n->x, *out = node->out;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx) {
        SG_BACKEND_NEED(ctx->be, resize_bilinear_backward)(&ctx->arena, dx, out->grad,
                                                           x->shape[0] * x->shape[1], x->shape[2],
                                                           x->shape[3], out->shape[2],
                                                           out->shape[3], n->align_corners);
    }
}

sg_tensor *sg_resize_bilinear(sg_ctx *ctx, sg_tensor *x, int oh, int ow, bool align_corners)
{
    sg_check_device(ctx, "sg_resize_bilinear", x);
    sg_check_image_("sg_resize_bilinear", x, oh, ow);
    sg_tensor *out = sg_tensor_new4(ctx, x->shape[0], x->shape[1], oh, ow);
    SG_BACKEND_NEED(ctx->be, resize_bilinear_forward)(&ctx->arena, out->data, x->data,
                                                      x->shape[0] * x->shape[1], x->shape[2],
                                                      x->shape[3], oh, ow, align_corners);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_resize_bilinear_node *n = sg_tape_record(ctx, sizeof *n, "sg_resize_bilinear",
                                                    sg_resize_bilinear_backward_, out);
        n->x = x;
        n->align_corners = align_corners;
    }
    return out;
}

/* ---- nearest -------------------------------------------------------------------- */
typedef struct {
    sg_node node;
    sg_tensor *x;
} sg_resize_nearest_node;

static void sg_resize_nearest_backward_(sg_ctx *ctx, sg_node *node)
{
    sg_resize_nearest_node *n = (sg_resize_nearest_node *)node;
    const sg_tensor *x = n->x, *out = node->out;
    float *dx = sg_grad_buffer(ctx, n->x);
    if (dx)
        SG_BACKEND_NEED(ctx->be, resize_nearest_backward)(dx, out->grad, x->shape[0] * x->shape[1],
                                                          x->shape[2], x->shape[3], out->shape[2],
                                                          out->shape[3]);
}

sg_tensor *sg_resize_nearest(sg_ctx *ctx, sg_tensor *x, int oh, int ow)
{
    sg_check_device(ctx, "sg_resize_nearest", x);
    sg_check_image_("sg_resize_nearest", x, oh, ow);
    sg_tensor *out = sg_tensor_new4(ctx, x->shape[0], x->shape[1], oh, ow);
    SG_BACKEND_NEED(ctx->be, resize_nearest_forward)(out->data, x->data, x->shape[0] * x->shape[1],
                                                     x->shape[2], x->shape[3], oh, ow);
    if (sg_should_record(ctx, 1, (const sg_tensor *const[]){x})) {
        sg_resize_nearest_node *n = sg_tape_record(ctx, sizeof *n, "sg_resize_nearest",
                                                   sg_resize_nearest_backward_, out);
        n->x = x;
    }
    return out;
}

sg_tensor *sg_resize_nearest_labels(sg_ctx *ctx, const sg_tensor *labels, int oh, int ow)
{
    sg_check_device(ctx, "sg_resize_nearest_labels", labels);
    char s[SG_SHAPE_STR_LEN];
    SG_CHECK(labels->dtype == SG_I32 && labels->ndim == 3,
             "sg_resize_nearest_labels: expects an SG_I32 (N, H, W) label map, got %s",
             sg_shape_str(labels, s, sizeof s));
    SG_CHECK(oh > 0 && ow > 0,
             "sg_resize_nearest_labels: output size %dx%d must be positive (input %s)", oh, ow,
             sg_shape_str(labels, s, sizeof s));
    const int shape[3] = {labels->shape[0], oh, ow};
    sg_tensor *out = sg_tensor_new(ctx, SG_I32, 3, shape);
    SG_BACKEND_NEED(ctx->be, resize_nearest_labels)(out->i32, labels->i32, labels->shape[0],
                                                    labels->shape[1], labels->shape[2], oh, ow);
    return out;
}
