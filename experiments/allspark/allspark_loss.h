/*
 * allspark_loss.h: one AllSpark training step (Wang et al., CVPR 2024), the
 * body of the loop in xmed-lab/AllSpark@9da63e2:train_allspark.py.
 * Implemented in allspark_loss.c; covered by tests/test_allspark.c (one
 * iteration against tests/ref/gen_allspark.py) and tests/trainer_allspark.sh.
 */
#ifndef EXPERIMENTS_ALLSPARK_LOSS_H
#define EXPERIMENTS_ALLSPARK_LOSS_H

#include "semiseg/allspark.h"
#include "semiseg/loader.h"
#include "semiseg/semi.h"

typedef struct allspark_params {
    /* Keys and values of the labeled branch from the Semantic Memory
     * (after the warm-up epochs) instead of the unlabeled batch. */
    bool use_memory;
    /* Quirk switch: the released unlabeled loader returns no padding mask,
     * so the unlabeled loss covers the crop's padding too (false, the
     * released code); true leaves padded pixels out of loss_u. */
    bool ignore_padding;
} allspark_params;

/* lab: img_s1 (the strong view the released code trains on) and mask;
 * unl: img (the unlabeled crop; AllSpark's img_u_s is a weak view) and
 * ignore. net: either kind of sg_allspark_net. noise keys the train-mode
 * pass's dropouts (sg_allspark_net_forward).
 * Returns L = (L_x + L_u) / 2, recorded on ctx, with net in training mode;
 * terms: loss, loss_x, loss_u; mask_ratio = NAN (no threshold). */
sg_tensor *allspark_loss(sg_ctx *ctx, sg_allspark_net *net, const sg_batch *lab, const sg_batch *unl,
                         const allspark_params *hp, const sg_mit_noise *noise, const sg_semi_sup *sup,
                         sg_semi_terms *terms);

#endif
