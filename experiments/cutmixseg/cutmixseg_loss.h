/*
 * cutmixseg_loss.h: CutMix-Seg's training step, mix mode
 * (experiments/cutmixseg/cutmixseg_loss.c), for the trainer cutmixseg.c and
 * tests/test_semi.c. Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_CUTMIXSEG_LOSS_H
#define SEMISEG_EXPERIMENTS_CUTMIXSEG_LOSS_H

#include "semiseg/method.h"

typedef struct cutmixseg_params {
    float cons_weight;        /* 1.0 (current script), 0.003 (BMVC era) */
    float conf_thresh;        /* 0.97 */
    bool conf_per_pixel;      /* false: one scalar confidence factor per batch */
    bool strong_colour;       /* student copy = the strong view s1 (2021 scripts) */
} cutmixseg_params;

/* u0 = the batch, u1 = mix's weak view or the roll (mix NULL: sg_semi_roll
 * by 1); masks (N, S, S) int32 (1: take u1, sg_semi_cutmix_seg_masks); the
 * teacher (eval-mode BN, no gradient) predicts u0 and u1, its logits are
 * pasted and softmaxed; the student sees paste(u0, u1) (its copy
 * strong-coloured when strong_colour) and, separately, x; valid = paste of
 * the non-padding maps; L = L_x + cons_weight * sg_semi_cutmixseg_cons(...).
 * sup: the supervised criterion (NULL: CE). Terms: loss, loss_x, loss_cons;
 * mask_ratio = the confidence factor. Returns the recorded total loss (call
 * sg_backward on it; the EMA update of the teacher is the trainer's). */
sg_tensor *cutmixseg_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                          const sg_batch *unl, const sg_batch *mix, const sg_tensor *masks,
                          const cutmixseg_params *hp, const sg_semi_sup *sup, sg_semi_terms *terms);

#endif
