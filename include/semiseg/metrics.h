/*
 * metrics.h: evaluation of a segmentation model. A confusion matrix
 * accumulated over a whole validation set, the metrics derived from it
 * (per-class IoU, mIoU, pixel accuracy), the three ways the reference code
 * bases run a model over a validation image (whole image, centre crop,
 * sliding window), and colourised prediction PNGs.
 *
 * mIoU is computed as UniMatch's supervised.py:evaluate does it: per class,
 * IoU_k = sum I_k / (sum U_k + 1e-10) with I and U summed over the whole set
 * (not averaged per image), pixels labelled with the ignore index left out,
 * and the mean taken over all K classes, so a class absent from both the
 * predictions and the labels counts as 0. U2PL's validate() computes the same.
 * SG_MIOU_PRESENT is the other common convention (mmsegmentation's nanmean):
 * the mean over the classes whose union is non-zero.
 *
 * Metrics are fractions in [0, 1]; reports multiply by 100.
 *
 * Covered by tests/test_metrics.c (metrics from the hand-computed cases in
 * tests/data/metrics/, the three modes on a fake model, colourised PNGs).
 */
#ifndef SEMISEG_METRICS_H
#define SEMISEG_METRICS_H

#include "semiseg/image.h"
#include "semiseg/tensor.h"

/* ---- confusion matrix --------------------------------------------------------- */
typedef struct sg_confusion {
    int k;               /* number of classes K, 1..255 */
    int ignore_index;    /* label value left out (255) */
    uint64_t *counts;    /* (K, K): counts[label * K + pred], malloc'd */
} sg_confusion;

/* A zeroed K x K matrix. */
void sg_confusion_init(sg_confusion *cm, int k, int ignore_index);
void sg_confusion_free(sg_confusion *cm);
void sg_confusion_reset(sg_confusion *cm);
/* Accumulate n pixels: pred (n) class ids in [0, K), label (n) class ids or
 * ignore_index. A label outside both is a data error (-1, err names the
 * value and the pixel; cm is left unchanged); a prediction >= K is a
 * programmer error (abort). */
int sg_confusion_add(sg_confusion *cm, const uint8_t *pred, const uint8_t *label, size_t n,
                     sg_err *err);
/* dst += src (e.g. the matrices of several workers or ranks); same K. */
void sg_confusion_merge(sg_confusion *dst, const sg_confusion *src);

/* Per class k: intersection = counts[k][k]; union = row sum + column sum -
 * intersection (pixels labelled k or predicted k, ignored pixels excluded). */
uint64_t sg_confusion_intersection(const sg_confusion *cm, int k);
uint64_t sg_confusion_union(const sg_confusion *cm, int k);
/* I_k / (U_k + 1e-10), as UniMatch: an absent class (U_k = 0) gives 0. */
double sg_confusion_iou(const sg_confusion *cm, int k);

typedef enum sg_miou_mode {
    SG_MIOU_ALL = 0,     /* mean over all K classes (UniMatch, U2PL): the benchmark's number */
    SG_MIOU_PRESENT = 1  /* mean over classes with U_k > 0 (mmsegmentation); 0 when none */
} sg_miou_mode;
double sg_confusion_miou(const sg_confusion *cm, sg_miou_mode mode);
/* Correct pixels / counted pixels (ignored pixels excluded); 0 when none. */
double sg_confusion_accuracy(const sg_confusion *cm);

/* ---- running a model over a validation image ------------------------------------ */
/* The model as a callback: image (1, 3, h, w) normalised float -> logits
 * (1, K, h, w) at the input's resolution, allocated in ctx's arena. */
typedef sg_tensor *(*sg_logits_fn)(sg_ctx *ctx, void *model, sg_tensor *image);

typedef enum sg_eval_mode {
    /* The whole image, batch 1, single scale, no flip; argmax of the logits.
     * UniMatch "original" (VOC, COCO). */
    SG_EVAL_WHOLE = 0,
    /* U2PL's in-training validation: a crop x crop window at the centre.
     * A side shorter than crop is first padded, floor(pad/2) before and the
     * rest after, with image value 0 (the mean colour after normalisation)
     * and label center_pad_label (U2PL forces 0 = background, so padding
     * counts as background, U2PL#143); offsets are (H - crop) / 2 rounded
     * down. The prediction and the label are those of the crop. */
    SG_EVAL_CENTER_CROP = 1,
    /* UniMatch "sliding_window" (Cityscapes): windows of side crop starting
     * at rows and columns 0, stride, 2 stride, ... < H (W), row by row; the
     * last ones are clipped at the border (smaller windows, not shifted
     * back). Softmax probabilities are summed, then argmax. */
    SG_EVAL_SLIDING = 2
} sg_eval_mode;

typedef struct sg_eval_opts {
    sg_eval_mode mode;
    int crop;               /* window / crop side (CENTER_CROP, SLIDING) */
    int stride;             /* SLIDING; 0 = int(crop * 2 / 3) as UniMatch */
    int center_pad_label;   /* CENTER_CROP label padding: 0 as U2PL */
} sg_eval_opts;

/* The step of the sliding windows: opts->stride, or int(crop * 2 / 3) when
 * it is 0 (UniMatch). Callers check it lies in 1..crop before evaluating. */
int sg_eval_stride(const sg_eval_opts *opts);

/* Run the model on one image and accumulate the result.
 * image (1, 3, H, W) float, NOT in ctx's arena: ctx is reset after every
 * window and before returning, with recording off, so memory does not grow
 * with the number of windows or images; ctx must hold nothing the caller
 * still needs. label (H, W, c = 1) class ids, or NULL; cm (K classes) or
 * NULL; pred, when not NULL, receives the prediction of the evaluated region
 * as class ids (H x W, or crop x crop for CENTER_CROP; c = 1, malloc'd, the
 * caller frees it with sg_image_free). Returns 0, or -1 with err set when
 * the label's size differs from the image's or holds a value that is neither
 * a class nor the ignore index. The model's logits must be (1, K, h, w) for
 * a (1, 3, h, w) input with K = cm->k when cm is given, K <= 255 (abort
 * otherwise). */
int sg_eval_image(sg_ctx *ctx, const sg_eval_opts *opts, sg_logits_fn logits, void *model,
                  sg_tensor *image, const sg_image *label, sg_confusion *cm, sg_image *pred,
                  sg_err *err);

/* ---- colourised predictions ------------------------------------------------------- */
/* Class ids (c = 1) -> RGB (c = 3) through palette (256 x RGB); rgb is
 * allocated here. */
void sg_colorize(const sg_image *ids, const uint8_t *palette, sg_image *rgb);
/* Class ids (c = 1) -> a palette PNG (as VOC's SegmentationClass), which
 * viewers show in colour and sg_mask_read reads back as the ids. Atomic. */
int sg_colorize_write(const char *path, const sg_image *ids, const uint8_t *palette,
                      sg_err *err);

#endif
