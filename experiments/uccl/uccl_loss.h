/*
 * uccl_loss.h: UCCL's training step (experiments/uccl/uccl_loss.c), for
 * the trainer uccl.c and tests/test_uccl.c. Built into
 * experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_UCCL_LOSS_H
#define SEMISEG_EXPERIMENTS_UCCL_LOSS_H

#include "../unimatch/unimatch_loss.h"

typedef struct uccl_params {
    unimatch_params um;       /* conf_thresh (also SBU's uncertainty bound), weight_s, weight_fp */
    float weight_sbu;         /* alpha: UCCL.py loss_similarity_v * 0.015 */
    float weight_ckr;         /* beta: UCCL.py loss_region_v * 0.02 */
    bool bn_passes;           /* the unused train-mode forwards of u_w and s1 (BN statistics only) */
    bool ignore_bilinear;     /* ignore map to stride 4 bilinearly (only exact 255 stays), else nearest */
    bool sbu_softmax_all;     /* SBU weights: softmax over all pixels, else over the uncertain set only */
    bool ckr_weight_grad;     /* CKR: the strong prototypes' weights keep the weak logits' gradient */
    bool ckr_fill_reshaped;   /* CKR: ignored pixels take rows of feature.reshape(B, h w, C), else their own */
} uccl_params;

/* The per-view values of the two UCCL terms (unweighted), for the tests. */
typedef struct uccl_detail {
    double sbu[2];            /* cal_loss_divergence of views 1 and 2 */
    double ckr[2];            /* 1 - mean cosine of the prototype maps, views 1 and 2 */
} uccl_detail;

/* One UCCL iteration: UniMatch's (unimatch_mix, then unimatch_train), with
 * the train-mode forwards of the weak views pasted like the strong ones
 * (w1, w2) and the BN-only forwards in between, then
 *   L = L_unimatch + alpha (L_SBU,1 + L_SBU,2) / 2 + beta (L_CKR,1 + L_CKR,2) / 2.
 * mix, fp, sup as unimatch_loss. Terms: loss, loss_x, loss_s1, loss_s2,
 * loss_fp, loss_sbu, loss_ckr (the last two weighted, as UCCL.py logs
 * them); mask_ratio of the weak pseudo-labels. detail may be NULL.
 * Returns the recorded total loss (call sg_backward on it). */
sg_tensor *uccl_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl, const sg_batch *mix,
                     const uccl_params *hp, const sg_deeplab_fp *fp, const sg_semi_sup *sup, sg_semi_terms *terms,
                     uccl_detail *detail);

#endif
