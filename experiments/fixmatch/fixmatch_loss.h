/*
 * fixmatch_loss.h: FixMatch's training step (experiments/fixmatch/
 * fixmatch_loss.c), for the trainer fixmatch.c and tests/test_semi.c.
 * Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_FIXMATCH_LOSS_H
#define SEMISEG_EXPERIMENTS_FIXMATCH_LOSS_H

#include "semiseg/method.h"

typedef struct fixmatch_params {
    float conf_thresh;        /* tau: VOC 0.95, Cityscapes 0 */
} fixmatch_params;

/* pred_x, pred_w = f(cat(x, u_w)) in train mode; pred_s = f(paste(u_s1,
 * partner s1, box1)); target = the pasted pseudo-label; L = (L_x + L_s) / 2.
 * mix: the second unlabeled batch, or NULL for the roll (sg_semi_roll by 1);
 * sup: the supervised criterion (NULL: CE). Terms: loss, loss_x, loss_s;
 * mask_ratio of the weak pseudo-labels. Returns the recorded total loss
 * (call sg_backward on it). */
sg_tensor *fixmatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                         const sg_batch *mix, const fixmatch_params *hp, const sg_semi_sup *sup,
                         sg_semi_terms *terms);

#endif
