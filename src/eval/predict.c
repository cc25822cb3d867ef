/*
 * predict.c: running a model over one validation image in the three modes of
 * the reference code bases, and accumulating the confusion matrix
 * (metrics.h: sg_eval_image).
 *
 * Shapes: image (1, 3, H, W) float (normalised), logits (1, K, h, w) for each
 * (1, 3, h, w) input, label and prediction (H, W) uint8 class ids.
 * References:
 *   whole image   UniMatch supervised.py:evaluate, mode 'original':
 *                 model(img).argmax(dim=1).
 *   centre crop   U2PL train_semi.py:validate on the val transform's
 *                 Crop(crop_type='center'): u2pl/dataset/augmentation.py pads
 *                 (pad_w // 2 left, the rest right; the same for rows) with
 *                 image 0.0 and label 0 (Crop overrides ignore_label to 0),
 *                 then crops at ((H - crop) // 2, (W - crop) // 2); the
 *                 label is the crop's, so padding counts as background.
 *   sliding       UniMatch supervised.py:evaluate, mode 'sliding_window':
 *                 row, col = 0, stride, ... while < H (W); each window is
 *                 img[row:min(H, row+crop), col:min(W, col+crop)]; the
 *                 softmax of its logits is added into a float32 sum, then
 *                 argmax. stride = int(crop * 2 / 3).
 * Argmax takes the first maximum, as torch.argmax does, and a NaN counts as
 * the maximum, as in torch's max kernels, so a diverged model predicts the
 * class of its first NaN channel as PyTorch would.
 *
 * On a context of a device backend the model runs there: windows are cut on
 * the host and uploaded, the argmax runs on the device, and only the class
 * ids (or a sliding window's probabilities) come back.
 * Covered by tests/test_metrics.c (fake models whose logits are a known
 * function of the absolute pixel position and of the window).
 */
#include "semiseg/metrics.h"
#include "semiseg/ops.h"

#include <stdlib.h>
#include <string.h>

/* Class ids of the first maximum over the K channels of logits y (1, K, h, w),
 * on y's device (backend argmax_u8), into the host image ids (h, w). */
static void argmax_(sg_ctx *ctx, const sg_tensor *y, sg_image *ids)
{
    const int h = y->shape[2], w = y->shape[3];
    sg_image_alloc(ids, h, w, 1);
    if (y->device.type == SG_DEVICE_CPU) {
        SG_BACKEND_NEED(ctx->be, argmax_u8)(ids->data, y->data, 1, y->shape[1], (size_t)h * w);
        return;
    }
    uint8_t *dev = sg_arena_alloc(&ctx->arena, (size_t)h * w);
    SG_BACKEND_NEED(ctx->be, argmax_u8)(dev, y->data, 1, y->shape[1], (size_t)h * w);
    ctx->be->to_host(ids->data, dev, (size_t)h * w);
}

/* The model's logits for x (1, 3, h, w), their shape checked. */
static sg_tensor *run_model_(sg_ctx *ctx, sg_logits_fn fn, void *model, sg_tensor *x, int k_want)
{
    if (!sg_device_equal(x->device, ctx->be->device)) {
        /* A host image evaluated on a device: one upload per forward. */
        sg_tensor *d = sg_tensor_like(ctx, x);
        sg_tensor_write(d, x->data);
        x = d;
    }
    sg_tensor *y = fn(ctx, model, x);
    SG_CHECK(y != NULL && y->dtype == SG_F32 && y->ndim == 4 && y->shape[0] == 1 &&
                 y->shape[2] == x->shape[2] && y->shape[3] == x->shape[3],
             "sg_eval_image: the model must return (1, K, %d, %d) float logits for a "
             "(1, 3, %d, %d) input",
             x->shape[2], x->shape[3], x->shape[2], x->shape[3]);
    int k = y->shape[1];
    SG_CHECK(k >= 1 && k <= 255, "sg_eval_image: the model returned K = %d classes, need 1..255",
             k);
    SG_CHECK(k_want == 0 || k == k_want,
             "sg_eval_image: the model returned K = %d classes, the confusion matrix has %d", k,
             k_want);
    return y;
}

/* Copy rows [r0, r0+h) x columns [c0, c0+w) of image (1, 3, H, W) into a new
 * arena tensor (1, 3, h, w). */
static sg_tensor *window_(sg_ctx *ctx, const sg_tensor *image, int r0, int c0, int h, int w)
{
    const int H = image->shape[2], W = image->shape[3];
    sg_tensor *x = sg_tensor_new4(ctx, 1, 3, h, w);
    float *host = sg_ctx_stage(ctx, x);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            memcpy(host + ((size_t)c * h + y) * w,
                   image->data + ((size_t)c * H + r0 + y) * W + c0, (size_t)w * sizeof(float));
    sg_ctx_stage_done(ctx, x, host);
    return x;
}

/* U2PL's pad-then-centre-crop along one axis of length n: the crop's first
 * position maps to source index `src0` (negative inside the padding). */
static int center_src0_(int n, int crop)
{
    int pad = crop > n ? crop - n : 0;
    int before = pad / 2;
    int off = (n + pad - crop) / 2;
    return off - before;
}

static void predict_whole_(sg_ctx *ctx, sg_logits_fn fn, void *model, sg_tensor *image, int k_want,
                           sg_image *ids)
{
    sg_tensor *y = run_model_(ctx, fn, model, image, k_want);
    argmax_(ctx, y, ids);
    sg_ctx_reset(ctx);
}

/* Prediction and label of the crop x crop centre window. */
static void predict_center_(sg_ctx *ctx, const sg_eval_opts *o, sg_logits_fn fn, void *model,
                            sg_tensor *image, const sg_image *label, int k_want, sg_image *ids,
                            sg_image *crop_label)
{
    const int H = image->shape[2], W = image->shape[3], S = o->crop;
    const int r0 = center_src0_(H, S), c0 = center_src0_(W, S);
    sg_tensor *x = sg_tensor_new4(ctx, 1, 3, S, S);
    float *host = sg_ctx_stage(ctx, x);
    /* 0.0 is the mean colour once normalised, U2PL's image padding value. */
    memset(host, 0, sg_numel(x) * sizeof(float));
    if (label) {
        sg_image_alloc(crop_label, S, S, 1);
        memset(crop_label->data, o->center_pad_label, (size_t)S * S);
    }
    for (int y = 0; y < S; y++) {
        int sy = r0 + y;
        if (sy < 0 || sy >= H) continue;
        for (int xx = 0; xx < S; xx++) {
            int sx = c0 + xx;
            if (sx < 0 || sx >= W) continue;
            for (int c = 0; c < 3; c++)
                host[((size_t)c * S + y) * S + xx] = image->data[((size_t)c * H + sy) * W + sx];
            if (label) crop_label->data[(size_t)y * S + xx] = label->data[(size_t)sy * W + sx];
        }
    }
    sg_ctx_stage_done(ctx, x, host);
    sg_tensor *lg = run_model_(ctx, fn, model, x, k_want);
    argmax_(ctx, lg, ids);
    sg_ctx_reset(ctx);
}

int sg_eval_stride(const sg_eval_opts *opts)
{
    /* Python's int(grid * 2 / 3): truncation of an exact-enough quotient,
     * equal to integer division for positive sides. */
    return opts->stride > 0 ? opts->stride : opts->crop * 2 / 3;
}

static void predict_sliding_(sg_ctx *ctx, const sg_eval_opts *o, sg_logits_fn fn, void *model,
                             sg_tensor *image, int k_want, sg_image *ids)
{
    const int H = image->shape[2], W = image->shape[3], S = o->crop;
    const int stride = sg_eval_stride(o);
    SG_CHECK(stride >= 1, "sg_eval_image: sliding stride %d (crop %d) must be >= 1", stride, S);
    const size_t hw = (size_t)H * W;
    float *sum = NULL;   /* (K, H, W), allocated once K is known */
    int k = 0;
    for (int r0 = 0; r0 < H; r0 += stride) {
        for (int c0 = 0; c0 < W; c0 += stride) {
            const int h = r0 + S < H ? S : H - r0, w = c0 + S < W ? S : W - c0;
            sg_tensor *x = window_(ctx, image, r0, c0, h, w);
            sg_tensor *p = sg_softmax(ctx, run_model_(ctx, fn, model, x, k_want), 1);
            if (!sum) {
                k = p->shape[1];
                sum = sg_xcalloc((size_t)k * hw, sizeof *sum);
            }
            SG_CHECK(p->shape[1] == k, "sg_eval_image: K changed from %d to %d between windows", k,
                     p->shape[1]);
            /* The window's probabilities, read where they are. */
            const float *pw = p->data;
            if (p->device.type != SG_DEVICE_CPU) {
                float *h_p = sg_arena_alloc(sg_ctx_host_arena(ctx), sg_numel(p) * sizeof(float));
                sg_tensor_read(p, h_p);
                pw = h_p;
            }
            for (int c = 0; c < k; c++)
                for (int y = 0; y < h; y++) {
                    float *dst = sum + (size_t)c * hw + (size_t)(r0 + y) * W + c0;
                    const float *src = pw + ((size_t)c * h + y) * w;
                    for (int xx = 0; xx < w; xx++) dst[xx] += src[xx];
                }
            sg_ctx_reset(ctx);
        }
    }
    sg_image_alloc(ids, H, W, 1);
    /* The summed probabilities are on the host: the host's argmax. */
    SG_BACKEND_NEED(sg_backend_cpu_reference(), argmax_u8)(ids->data, sum, 1, k, hw);
    free(sum);
}

int sg_eval_image(sg_ctx *ctx, const sg_eval_opts *opts, sg_logits_fn logits, void *model,
                  sg_tensor *image, const sg_image *label, sg_confusion *cm, sg_image *pred,
                  sg_err *err)
{
    char buf[SG_SHAPE_STR_LEN];
    SG_CHECK(image->dtype == SG_F32 && image->ndim == 4 && image->shape[0] == 1 &&
                 image->shape[1] == 3,
             "sg_eval_image: image must be float (1, 3, H, W), got %s",
             sg_shape_str(image, buf, sizeof buf));
    SG_CHECK(opts->mode == SG_EVAL_WHOLE || opts->mode == SG_EVAL_CENTER_CROP ||
                 opts->mode == SG_EVAL_SLIDING,
             "sg_eval_image: unknown mode %d", (int)opts->mode);
    SG_CHECK(opts->mode == SG_EVAL_WHOLE || opts->crop >= 1,
             "sg_eval_image: crop %d must be >= 1 for centre-crop and sliding modes", opts->crop);
    SG_CHECK(opts->stride >= 0, "sg_eval_image: stride %d", opts->stride);
    SG_CHECK(opts->center_pad_label >= 0 && opts->center_pad_label <= 255,
             "sg_eval_image: centre-crop label padding %d is not a uint8 value",
             opts->center_pad_label);
    const int H = image->shape[2], W = image->shape[3];
    if (label && (label->h != H || label->w != W || label->c != 1))
        return sg_err_set(err, "label is %dx%d with %d channel(s), the image is %dx%d",
                          label->h, label->w, label->c, H, W);

    const int k_want = cm ? cm->k : 0;
    sg_image ids = {0}, crop_label = {0};
    const sg_image *region_label = label;
    bool grad = sg_ctx_set_grad(ctx, false);
    sg_ctx_reset(ctx);
    switch (opts->mode) {
    case SG_EVAL_WHOLE: predict_whole_(ctx, logits, model, image, k_want, &ids); break;
    case SG_EVAL_CENTER_CROP:
        predict_center_(ctx, opts, logits, model, image, label, k_want, &ids, &crop_label);
        region_label = label ? &crop_label : NULL;
        break;
    case SG_EVAL_SLIDING: predict_sliding_(ctx, opts, logits, model, image, k_want, &ids); break;
    }
    sg_ctx_set_grad(ctx, grad);

    int rc = 0;
    if (cm && region_label)
        rc = sg_confusion_add(cm, ids.data, region_label->data, (size_t)ids.h * ids.w, err);
    sg_image_free(&crop_label);
    if (pred && rc == 0)
        *pred = ids;
    else
        sg_image_free(&ids);
    return rc;
}
