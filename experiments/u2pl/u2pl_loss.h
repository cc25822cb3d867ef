/*
 * u2pl_loss.h: U2PL's training step (experiments/u2pl/u2pl_loss.c, with the
 * contrastive term in u2pl_contra.c), for the trainer u2pl.c and
 * tests/test_u2pl.c. Built into experiments/libsgmethods.a.
 */
#ifndef SEMISEG_EXPERIMENTS_U2PL_LOSS_H
#define SEMISEG_EXPERIMENTS_U2PL_LOSS_H

#include "semiseg/class_queue.h"
#include "semiseg/method.h"
#include "semiseg/proj_head.h"

/* How L_u is normalised (README "Quirk switches"). */
typedef enum u2pl_unsup_norm {
    U2PL_NORM_CODE = 0,   /* released code: (B H W / N_kept) * mean_kept CE */
    U2PL_NORM_MEAN = 1,   /* mean_kept CE */
    U2PL_NORM_PAPER = 2   /* the paper's sum_kept CE / (B H W) */
} u2pl_unsup_norm;

typedef struct u2pl_params {
    float drop_percent;         /* unsupervised.drop_percent: 80 (alpha_0 = 100 - 80 %) */
    float weight_u;             /* unsupervised.loss_weight: 1 */
    bool cutmix;                /* unsupervised.apply_aug = cutmix (p = 0.5 per batch) */
    bool contrastive;           /* trainer.contrastive present */
    float weight_c;             /* contrastive.loss_weight: 1 */
    int contra_world_size;      /* W: L_c's gradient / W, as dist.all_reduce then / world_size (code: 4) */
    bool negative_high_entropy; /* True */
    int low_rank, high_rank;    /* 3, 20 */
    float delta_p;              /* current_class_threshold: 0.3 */
    float delta_n;              /* current_class_negative_threshold: 1 */
    float low_entropy_threshold;/* alpha_0 in percent: 20 */
    int num_queries;            /* 256 */
    int num_negatives;          /* 50 */
    float temperature;          /* 0.5 */
    float rep_dropout;          /* Dropout2d of the representation head: 0.1 */
    u2pl_unsup_norm unsup_norm; /* code */
    bool quirk_onehot;          /* label_onehot fills batch slot 0 only (code) */
    bool quirk_negative_mask;   /* negatives also need "label == c" (code) */
    bool quirk_class_index;     /* loss loop indexes anchors/prototypes by i (code) */
} u2pl_params;

/* The two networks: student (trained) and teacher (EMA), each a DeepLabV3+
 * and its representation head reading sg_deeplab_out.decoder_in. */
typedef struct u2pl_nets {
    sg_deeplab *student, *teacher;
    sg_proj_head *rep_s, *rep_t;
} u2pl_nets;

/* Where the step's random draws come from: the CutMix decision and boxes,
 * the anchor / negative indices (sg_rng_below), and the representation
 * heads' dropout masks (seed, streams). */
typedef struct u2pl_draws {
    sg_rng *mix, *sample;
    uint64_t seed;
    uint64_t drop_s[2], drop_t[2];
} u2pl_draws;

/* The teacher's schedule (train_semi.py), for one teacher / student pair of
 * parameter sets (the network, then the representation head), on the
 * parameters only (model_teacher.parameters()): the teacher's BN statistics
 * stay its own.
 * u2pl_teacher_start, before the step: in epoch sup_only_epoch the
 *   teacher's parameters := the student's (t_params.data = s_params.data:
 *   the two share their tensors during that epoch).
 * u2pl_teacher_update, after the optimizer step, from epoch sup_only_epoch
 *   on: in epoch sup_only_epoch the teacher's parameters := the student's
 *   updated ones (the shared tensors moved with the step); then
 *     d = min(1 - 1/(k + 1), ema_decay),  k = iter - iters_per_epoch * sup_only_epoch,
 *     t = d t + (1 - d) s.
 * Before epoch sup_only_epoch both leave the teacher alone. */
void u2pl_teacher_start(sg_param_set *teacher, const sg_param_set *student, long epoch, long sup_only_epoch);
void u2pl_teacher_update(sg_param_set *teacher, const sg_param_set *student, long iter, long iters_per_epoch,
                         long epoch, long sup_only_epoch, float ema_decay);

/* One iteration of train_semi.py's loop body.
 * sup_only (epoch < sup_only_epoch): student on x alone, L = L_sup; the
 *   teacher runs a train-mode pass on x (its BN statistics); u is unused.
 * Otherwise: eval-mode teacher pseudo-labels on u, CutMix (p = 0.5), one
 *   student pass on cat(x, u_aug), one train-mode teacher pass on it,
 *   L = L_sup + w_u L_u + w_c L_c, whose last term has the value w_c L_c
 *   and the gradient of (w_c / W) L_c, W = hp->contra_world_size (the
 *   released all-reduce); the contrastive term pushes this batch's
 *   negative keys into q (capacity per class) before sampling from it.
 * progress = epoch / epochs (U2PL's schedules of alpha_t and drop_percent).
 * Terms (values): loss, loss_x, loss_u, loss_c = L_c; mask_ratio = the fraction of
 * unlabeled pixels kept by the entropy filter (NaN when sup_only).
 * Returns the recorded total loss. */
sg_tensor *u2pl_loss(sg_ctx *ctx, const u2pl_nets *nets, sg_class_queue *q, const sg_batch *lab,
                     const sg_batch *unl, const u2pl_params *hp, double progress, bool sup_only,
                     const u2pl_draws *d, const sg_semi_sup *sup, sg_semi_terms *terms);

/* The contrastive term (u2pl_contra.c), compute_contra_memobank_loss with
 * its inputs: rep (N, D, h, w) student features (recorded), rep_t and prob_t
 * (N, D|K, h, w) the train-mode teacher's features and softmax at the same
 * resolution, labels_l (nl, H, W) ground truth (255 ignored), labels_u
 * (nu, H, W) pseudo-labels, entropy_u (nu, H, W) teacher entropy (host) and
 * the same values sorted ascending, alpha_t in percent. Returns the recorded loss (a constant 0 when at most
 * one class is present). */
sg_tensor *u2pl_contra_loss(sg_ctx *ctx, sg_tensor *rep, sg_tensor *rep_t, sg_tensor *prob_t,
                            const sg_tensor *labels_l, const sg_tensor *labels_u, const float *entropy_u,
                            const float *entropy_sorted, double alpha_t, const u2pl_params *hp,
                            sg_class_queue *q, sg_rng *rng);

#endif
