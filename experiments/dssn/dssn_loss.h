/*
 * dssn_loss.h: DSSN's training step (experiments/dssn/dssn_loss.c), for the
 * trainer dssn.c and tests/test_dssn.c. Built into
 * experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_DSSN_LOSS_H
#define SEMISEG_EXPERIMENTS_DSSN_LOSS_H

#include "semiseg/method.h"

/* How the pseudo-labelled pixels are chosen. */
typedef enum dssn_select {
    /* get_adaptive_binary_mask (voc/util/utils.py): per image and class,
     * within (1 - factor) of the class's best pixel, for classes whose best
     * pixel passes gate (sg_class_relative_mask). */
    DSSN_SELECT_CLASS_RELATIVE = 0,
    /* conf >= conf_thresh (city/DSSN.py; its conf_thresh 0 keeps every pixel). */
    DSSN_SELECT_FIXED = 1
} dssn_select;

typedef struct dssn_params {
    dssn_select select;
    float gate, factor;         /* class-relative: 0.92, 0.96 */
    float conf_thresh;          /* fixed: cfg['conf_thresh'] */
    float weight_s;             /* each strong view: loss_u_s1 * 0.25 */
    float weight_fp;            /* each perturbed copy: loss_u_w_fp * 0.25 */
    float weight_siamese;       /* (loss_u_s_mse + loss_u_fp_mse) * 0.01 (VOC), 0.005 (Cityscapes) */
    bool siamese_inside;        /* the Siamese terms inside the 1/2 (VOC) or after it (Cityscapes) */
    bool drop_strong;           /* this step leaves L_s1, L_s2 out of the total (warm-up) */
    bool teacher_train_bn;      /* this step's teacher passes use batch statistics */
} dssn_params;

/* One DSSN step (voc/DSSN.py, city/DSSN.py): the teacher's logits on the
 * partner's and the batch's weak views (no gradient, BN mode
 * teacher_train_bn), strong views pasted with the partner's, one
 * train-mode student pass of cat(x, u_w) with both feature perturbations
 * (fp: sg_semi_fp2) and one of cat(s1, s2);
 *   L_s_k = CE(z_sk, teacher labels pasted with box k), selected by the
 *           teacher's pasted logits; L_fp, L_Fp = CE(perturbed, student's
 *           weak labels), selected by the student's weak logits; all over
 *           the non-padding count;
 *   L_img = MSE(std(z_s1), std(z_s2)), L_feat = MSE(std(z_fp), std(z_Fp)),
 *           std = standardised over the classes (sg_standardize);
 *   inside:  L = (L_x + w_s (L_s1 + L_s2) + w_fp (L_fp + L_Fp) + w_si (L_img + L_feat)) / 2
 *   outside: L = (L_x + w_s (L_s1 + L_s2) + w_fp (L_fp + L_Fp)) / 2 + w_si (L_img + L_feat)
 *   with w_s L_s1, w_s L_s2 left out when drop_strong.
 * mix: the second unlabeled batch, or NULL for the roll (sg_semi_roll by
 * 1: the partner's teacher logits are the roll of the batch's); sup: the
 * supervised criterion (NULL: CE). Terms: loss, loss_x, loss_s1, loss_s2,
 * loss_fp, loss_Fp, loss_img, loss_feat; mask_ratio of the student's weak
 * selection over the non-padding pixels. Returns the recorded total loss
 * (call sg_backward on it; the teacher's EMA update is the trainer's). */
sg_tensor *dssn_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher, const sg_batch *lab,
                     const sg_batch *unl, const sg_batch *mix, const dssn_params *hp, const sg_deeplab_fp *fp,
                     const sg_semi_sup *sup, sg_semi_terms *terms);

#endif
