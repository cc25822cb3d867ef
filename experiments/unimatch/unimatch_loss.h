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

/* The two stages of unimatch_loss, for methods built on UniMatch's step
 * (UCCL runs its own forwards between them). Stage 1: the partner
 * pseudo-labels (the eval-mode, no-grad pass on mix; nothing with mix =
 * NULL, the roll) and the strong views pasted from the partner. */
typedef struct unimatch_mixed {
    sg_pseudo pm;             /* partner pseudo-labels (mix only; the roll's come in stage 2) */
    sg_tensor *s1, *s2;       /* img_s1 / img_s2 pasted inside box1 / box2 */
} unimatch_mixed;
void unimatch_mix(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl, const sg_batch *mix,
                  unimatch_mixed *out);
/* Stage 2: the two train-mode forwards and the loss, as unimatch_loss;
 * strong (may be NULL) receives the outputs of the cat(s1, s2) forward. */
sg_tensor *unimatch_train(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                          const sg_batch *mix, const unimatch_mixed *mx, const unimatch_params *hp,
                          const sg_deeplab_fp *fp, const sg_semi_sup *sup, sg_deeplab_out *strong,
                          sg_semi_terms *terms);

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
