/*
 * ctt_contrast.h: the two contrastive modules of cross teacher training
 * (experiments/ctt/ctt_contrast.c), called by ctt_loss() once both memory
 * banks are full. Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_CTT_CONTRAST_H
#define SEMISEG_EXPERIMENTS_CTT_CONTRAST_H

#include "ctt_loss.h"

/* What the modules read of the step (index s = student L, R). */
typedef struct ctt_contrast_in {
    const sg_batch *lab;       /* labels (N_l, S, S) int32, 255 = ignore */
    int ignore_index;
    sg_tensor *feat_x[2];      /* (N_l, D, h, w) decoder feature of student s on the labeled batch */
    sg_tensor *feat_u[2];      /* (N_u, D, h, w) ... on its own mix */
    sg_deeplab *student[2];    /* the classifiers, for each student's coarse prediction of its mix */
    sg_pseudo mix[2];          /* (N_u, S, S) the peer teacher's mixed pseudo-label / confidence for s */
    sg_class_queue *bank[2];   /* full banks of teacher L, R */
    sg_ctx *scratch;           /* the chunks' context, reset after use (ctt_nets.scratch); NULL: a local one */
} ctt_contrast_in;

typedef struct ctt_contrast_out {
    sg_tensor *high[2];        /* scalar L_high(s), or NULL when contr_high is off */
    sg_tensor *low[2];         /* scalar L_low(s), or NULL when contr_low is off */
} ctt_contrast_out;

/* L_high(s) (contr_self_loss, tau_high): anchors = student s's normalised
 * features at valid labeled pixels (class = the downsampled label) and at mixed
 * pixels whose peer-teacher confidence is >= gamma (class = the downsampled
 * pseudo-label); for class k, positives = the CAP entries of class k of bank s,
 * negatives = every entry of the other classes:
 *   L_k = sum_{a, p} -log(e^{a.p/tau} / (e^{a.p/tau} + sum_n e^{a.n/tau})) / (CAP |A_k|),
 *   L_high = mean of L_k over the classes with anchors.
 * L_low(s) (contr_net_loss, tau_low): anchors = student s's features at mixed
 * pixels with peer-teacher confidence < gamma, class = the peer student's argmax
 * on its own mix; positive = the peer's (detached) feature at the same pixel,
 * negatives = the other classes' entries of BOTH banks;
 *   L_k = mean_a -log(e^{a.p_a/tau} / (e^{a.p_a/tau} + sum_n e^{a.n/tau})),
 *   L_low = mean over the classes with anchors.
 * A term with no anchor at all is 0 (the released division gives NaN).
 * The anchors of a class go through in chunks of at most hp->contr_chunk,
 * each differentiated at once on a scratch context: the caller's tape keeps
 * (anchors x D) matrices, not (anchors x bank entries) similarities; the
 * chunk size moves the terms by float32 rounding only. */
void ctt_contrast(sg_ctx *ctx, const ctt_contrast_in *in, const ctt_params *hp, ctt_contrast_out *out);

#endif
