/*
 * meanteacher_loss.h: Mean Teacher's training step for segmentation
 * (experiments/meanteacher/meanteacher_loss.c), for the trainer
 * meanteacher.c and tests/test_semi.c. Built into
 * experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_MEANTEACHER_LOSS_H
#define SEMISEG_EXPERIMENTS_MEANTEACHER_LOSS_H

#include "semiseg/method.h"

typedef struct meanteacher_params {
    float cons_weight;        /* w_max of the ramp */
    long rampup_iters;        /* sigmoid ramp length in iterations (0: none) */
    bool teacher_train_bn;    /* teacher forward with batch statistics (MT original) */
} meanteacher_params;

/* p_t = softmax(teacher(u_w)) without gradient; pred_x, pred_s =
 * student(cat(x, u_s1)) in train mode;
 * L = L_x + cons_weight * rampup(it) * softmax_mse(pred_s, p_t).
 * it: the iteration (0-based) of the ramp; sup: the supervised criterion
 * (NULL: CE). Terms: loss, loss_x, loss_cons, cons_weight; mask_ratio NAN.
 * Returns the recorded total loss (call sg_backward on it; the EMA update
 * of the teacher is the trainer's). */
sg_tensor *meanteacher_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                            const sg_batch *unl, const meanteacher_params *hp, long it,
                            const sg_semi_sup *sup, sg_semi_terms *terms);

#endif
