/*
 * unimatch_loss.h: UniMatch's training step (experiments/unimatch/
 * unimatch_loss.c), for the trainer unimatch.c, tests/test_semi.c and
 * bench/bench_train.c. Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_UNIMATCH_LOSS_H
#define SEMISEG_EXPERIMENTS_UNIMATCH_LOSS_H

#include "semiseg/method.h"

typedef struct unimatch_params {
    float conf_thresh;        /* tau: cfg['conf_thresh'] */
    float weight_s;           /* each strong view: 0.25 */
    float weight_fp;          /* feature perturbation: 0.5 */
} unimatch_params;

/* One train-mode forward of cat(x, u_w) with the feature perturbation fp,
 * one of cat(s1, s2) (each pasted with its own box);
 * L = (L_x + w_s L_s1 + w_s L_s2 + w_fp L_fp) / 2, the paper's
 * (L_sup + L_unsup) / 2; L_fp uses the un-pasted weak pseudo-labels.
 * mix: the second unlabeled batch, or NULL for the roll (sg_semi_roll by 1);
 * fp: the dropout masks (sg_semi_fp); sup: the supervised criterion (NULL:
 * CE). Terms: loss, loss_x, loss_s1, loss_s2, loss_fp; mask_ratio of the
 * weak pseudo-labels. Returns the recorded total loss (call sg_backward on
 * it). */
sg_tensor *unimatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                         const sg_batch *mix, const unimatch_params *hp, const sg_deeplab_fp *fp,
                         const sg_semi_sup *sup, sg_semi_terms *terms);

#endif
