/*
 * semi.h: the reusable pieces of the semi-supervised methods, so that each
 * trainer (experiments/<method>/<method>.c) stays a hyper-parameter struct,
 * a step and a main:
 *   pseudo-labels   softmax confidence + argmax of detached logits
 *   mixing          CutMix pasting of images, logits and (pseudo-label,
 *                   confidence, ignore) maps inside 0/1 box masks; the batch
 *                   roll that makes "the next image of the batch" the partner
 *   losses          the masked unsupervised CE of FixMatch/UniMatch, Mean
 *                   Teacher's softmax-MSE consistency, CutMix-Seg's
 *                   confidence-weighted squared difference
 *   schedules       Mean Teacher's EMA decay and sigmoid ramp-up
 *   compositions    one call per method computing its forward passes and its
 *                   total loss from fixed batches, so the composition itself is
 *                   checked against PyTorch (the trainer adds backward, the
 *                   optimizer step and the teacher update)
 *
 * Shapes (loader.h): images (N, 3, S, S) float; labels, ignore maps and box
 * masks (N, S, S) int32 (ignore: 255 = crop padding, else 0; box: 1 inside).
 * Pseudo-labels: label (N, H, W) int32 in [0, K); conf (N, H, W) float.
 *
 * Reference: docs/methods/spec-a sections 1 (Mean Teacher), 2 (CutMix-Seg),
 * 3 (FixMatch), 4 (UniMatch): LiheYoung/UniMatch unimatch.py / fixmatch.py,
 * Britefury/cutmix-semisup-seg train_seg_semisup_mask_mt.py,
 * CuriousAI/mean-teacher pytorch/main.py. The per-function comments give the
 * equations; experiments/<method>/README.md gives the account.
 *
 * Covered by tests/test_semi.c: one iteration of each method on a fixed batch
 * (fixed boxes, dropout masks from Philox) against a PyTorch
 * re-implementation (tests/ref/gen_semi.py -> tests/data/semi.bin): every
 * loss term, the weights after the SGD step and the EMA teacher; plus the
 * primitives on hand-made inputs.
 */
#ifndef SEMISEG_SEMI_H
#define SEMISEG_SEMI_H

#include "semiseg/augment.h"
#include "semiseg/loader.h"
#include "semiseg/model.h"

/* ---- pseudo-labels ------------------------------------------------------------ */
typedef struct sg_pseudo {
    sg_tensor *label;         /* (N, H, W) int32: argmax over classes (first maximum) */
    sg_tensor *conf;          /* (N, H, W) float: max of the softmax */
    sg_tensor *ignore;        /* (N, H, W) int32: 255 = padding (borrowed, not copied) */
} sg_pseudo;

/* From logits (N, K, H, W), read without recording (UniMatch: pred.detach(),
 * softmax(dim=1).max(dim=1) and argmax(dim=1)). ignore is stored as given. */
void sg_semi_pseudo_label(sg_ctx *ctx, sg_tensor *logits, sg_tensor *ignore, sg_pseudo *out);

/* Fraction of non-padding pixels with conf >= tau (UniMatch's logged "mask
 * ratio"); 0 when every pixel is padding. */
double sg_semi_mask_ratio(const sg_pseudo *p, float tau);

/* ---- mixing (none of these is differentiable: inputs must not require a
 * gradient) --------------------------------------------------------------------- */
/* out = a where box == 0, b where box == 1. a, b: same dtype and shape
 * (N, H, W) or (N, C, H, W); box (N, H, W) int32, every channel follows it
 * (UniMatch: img[box.unsqueeze(1).expand(img.shape) == 1] = img_mix[...]). */
sg_tensor *sg_semi_paste(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, const sg_tensor *box);
/* The three maps of a pseudo-label pasted alike. */
void sg_semi_paste_pseudo(sg_ctx *ctx, const sg_pseudo *a, const sg_pseudo *b, const sg_tensor *box,
                          sg_pseudo *out);
/* out[i] = x[(i + shift) mod N] along dim 0, any dtype: shift 1 makes the next
 * image of the batch each image's partner (U2PL's (i + 1) mod B). */
sg_tensor *sg_semi_roll(sg_ctx *ctx, sg_tensor *x, int shift);
void sg_semi_roll_pseudo(sg_ctx *ctx, const sg_pseudo *p, int shift, sg_pseudo *out);
/* (N, H, W) float: 1 where ignore != 255, else 0. */
sg_tensor *sg_semi_valid(sg_ctx *ctx, const sg_tensor *ignore);
/* CutMix-Seg box masks (N, h, w) int32, one sg_cutmix_seg_box per sample
 * drawn in order from rng. */
sg_tensor *sg_semi_cutmix_seg_masks(sg_ctx *ctx, int n, int h, int w, const sg_cutmix_seg_config *cfg,
                                    sg_rng *rng);

/* ---- losses ------------------------------------------------------------------- */
/* FixMatch/UniMatch unsupervised loss, a scalar:
 *   sum_px CE(logits, label) [conf >= tau] [ignore != 255] / #[ignore != 255]
 * over the whole batch (the denominator counts every non-padding pixel, not
 * only the confident ones). NaN when every pixel is padding, as in PyTorch. */
sg_tensor *sg_semi_masked_ce(sg_ctx *ctx, sg_tensor *logits, const sg_pseudo *target, float tau);
/* Mean Teacher consistency: mean over (n, c, h, w) of (softmax(logits) - probs)^2,
 * i.e. mean_px sum_c (.)^2 / C (torch mse_loss on the softmaxes); probs is the
 * teacher's, constant. */
sg_tensor *sg_semi_softmax_mse(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs);
/* CutMix-Seg consistency (spec-a 2.3 steps 6-7):
 *   conf_c = mean over all pixels of [max_c probs >= thresh]   (one scalar), or
 *            the per-pixel indicator itself when per_pixel;
 *   L = mean_(n,h,w) [ sum_c (softmax(logits) - probs)^2 * valid * conf_c ].
 * valid (N, H, W) float; *conf_out (may be NULL) receives the scalar mean. */
sg_tensor *sg_semi_cutmixseg_cons(sg_ctx *ctx, sg_tensor *logits, sg_tensor *probs, sg_tensor *valid,
                                  float thresh, bool per_pixel, double *conf_out);

/* ---- schedules ---------------------------------------------------------------- */
/* Mean Teacher: min(1 - 1/(it + 1), alpha): 0 at it = 0 (the teacher becomes
 * the student), then rising to alpha. */
float sg_semi_ema_decay(long it, float alpha);
/* Sigmoid ramp-up exp(-5 (1 - clip(it, 0, len)/len)^2); 1 when len <= 0. */
double sg_semi_rampup(long it, long len);

/* ---- method compositions -------------------------------------------------------- */
/* The supervised criterion on the labeled logits (the run's CE or OHEM);
 * loss == NULL means CE with ignore index 255, mean over non-ignored pixels. */
typedef struct sg_semi_sup {
    sg_tensor *(*loss)(void *user, sg_ctx *ctx, sg_tensor *logits, const sg_tensor *labels);
    void *user;
} sg_semi_sup;

#define SG_SEMI_MAX_TERMS 6
/* The loss terms of one step, for the log: names are static strings. */
typedef struct sg_semi_terms {
    int n;
    const char *name[SG_SEMI_MAX_TERMS];
    double value[SG_SEMI_MAX_TERMS];
    double mask_ratio;        /* see each composition; NAN without pseudo-labels */
} sg_semi_terms;

/* ---- glue to the run driver (run.h) -------------------------------------------- */
struct sg_run;
struct sg_losses;
/* The run's supervised criterion (sg_run_sup_loss: train.loss = ce | ohem). */
sg_semi_sup sg_semi_sup_of_run(struct sg_run *run);
/* Copies the terms and the mask ratio into the driver's report. */
void sg_semi_report(const sg_semi_terms *t, struct sg_losses *out);
/* A teacher built like run->model and registered as run->ema, so that
 * checkpoints save and --resume restores it. */
void sg_semi_teacher_init(sg_deeplab *teacher, struct sg_run *run);
/* At iteration 0 the teacher becomes a copy of the student (parameters and
 * BN statistics): the driver loads pretrained weights after the method's
 * init, so the copy cannot be made there. Later iterations: no-op (a
 * resumed run restores the teacher from its checkpoint). */
void sg_semi_teacher_start(sg_deeplab *teacher, struct sg_run *run);

/* The feature-perturbation masks of iteration `it`: Dropout2d(p) with
 * streams sg_rng_stream(SG_RNG_DROPOUT, it, 0) (c1) and (.., it, 1) (c4). */
sg_deeplab_fp sg_semi_fp(float p, uint64_t seed, long it);

/* Where the CutMix partner of an unlabeled image comes from. */
typedef enum sg_semi_mix_source {
    /* The next image of the same batch (sg_semi_roll by 1): its strong views
     * and its pseudo-label from the same train-mode forward. */
    SG_SEMI_MIX_ROLL = 0,
    /* A second unlabeled batch (UniMatch's loader_u_mix): its strong views,
     * and pseudo-labels from an extra eval-mode, no-grad forward of its weak
     * view taken before the train-mode forwards. */
    SG_SEMI_MIX_BATCH = 1,
    /* As BATCH, but the second batch holds the same images as the unlabeled
     * batch, in the same order, augmented independently: UniMatch's released
     * loader_u_mix, a second DataLoader over a DistributedSampler with the
     * same seed (spec-a 4.3 QUIRK). */
    SG_SEMI_MIX_SAME = 2
} sg_semi_mix_source;

struct sg_config;
struct sg_method;
/* Reads the choice `key` (roll | batch | same, default def) into *mix and
 * sets the method's loaders to match: roll needs one unlabeled loader, batch
 * and same a second one, which same keys to the first one's order. Call from
 * the method's init (the driver opens the loaders after it). */
int sg_semi_mix_source_read(struct sg_config *c, const char *key, const char *def, sg_semi_mix_source *mix,
                            struct sg_method *method, sg_err *err);
/* The partner batch the losses take: run->mix for batch and same, NULL for
 * roll. */
const sg_batch *sg_semi_mix_batch(const struct sg_run *run, sg_semi_mix_source mix);

typedef struct sg_fixmatch_params {
    float conf_thresh;        /* tau: VOC 0.95, Cityscapes 0 */
} sg_fixmatch_params;

/* FixMatch (spec-a 3): pred_x, pred_w = f(cat(x, u_w)) in train mode;
 * pred_s = f(paste(u_s1, partner s1, box1)); target = the pasted pseudo-label;
 * L = (L_x + L_s) / 2. mix: the second batch, or NULL for the roll.
 * Terms: loss, loss_x, loss_s; mask_ratio of the weak pseudo-labels.
 * Returns the recorded total loss (call sg_backward on it). */
sg_tensor *sg_semi_fixmatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                                 const sg_batch *mix, const sg_fixmatch_params *hp,
                                 const sg_semi_sup *sup, sg_semi_terms *terms);

typedef struct sg_unimatch_params {
    float conf_thresh;        /* tau */
    float weight_s;           /* each strong view: 0.25 */
    float weight_fp;          /* feature perturbation: 0.5 */
} sg_unimatch_params;

/* UniMatch (spec-a 4.3): one train-mode forward of cat(x, u_w) with the
 * feature perturbation fp, one of cat(s1, s2) (each pasted with its own box);
 * L = (L_x + w_s L_s1 + w_s L_s2 + w_fp L_fp) / 2, the paper's
 * (L_sup + L_unsup) / 2; L_fp uses the un-pasted weak pseudo-labels.
 * Terms: loss, loss_x, loss_s1, loss_s2, loss_fp; mask_ratio as FixMatch. */
sg_tensor *sg_semi_unimatch_loss(sg_ctx *ctx, sg_deeplab *m, const sg_batch *lab, const sg_batch *unl,
                                 const sg_batch *mix, const sg_unimatch_params *hp,
                                 const sg_deeplab_fp *fp, const sg_semi_sup *sup,
                                 sg_semi_terms *terms);

typedef struct sg_meanteacher_params {
    float cons_weight;        /* w_max of the ramp */
    long rampup_iters;        /* sigmoid ramp length in iterations (0: none) */
    bool teacher_train_bn;    /* teacher forward with batch statistics (MT original) */
} sg_meanteacher_params;

/* Mean Teacher for segmentation (spec-a 1.2, the benchmark's MT-Seg):
 * p_t = softmax(teacher(u_w)) without gradient; pred_x, pred_s =
 * student(cat(x, u_s1)) in train mode;
 * L = L_x + cons_weight * rampup(it) * softmax_mse(pred_s, p_t).
 * Terms: loss, loss_x, loss_cons, cons_weight; mask_ratio NAN. */
sg_tensor *sg_semi_meanteacher_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher,
                                    const sg_batch *lab, const sg_batch *unl,
                                    const sg_meanteacher_params *hp, long it,
                                    const sg_semi_sup *sup, sg_semi_terms *terms);

typedef struct sg_cutmixseg_params {
    float cons_weight;        /* 1.0 (current script), 0.003 (BMVC era) */
    float conf_thresh;        /* 0.97 */
    bool conf_per_pixel;      /* false: one scalar confidence factor per batch */
    bool strong_colour;       /* student copy = the strong view s1 (2021 scripts) */
} sg_cutmixseg_params;

/* CutMix-Seg (spec-a 2.3, mix mode): u0 = the batch, u1 = mix's weak view or
 * the roll; masks (N, S, S) int32 (1: take u1); the teacher (eval-mode BN,
 * no gradient) predicts u0 and u1, its logits are pasted and softmaxed;
 * the student sees paste(u0, u1) (its copy strong-coloured when
 * strong_colour) and, separately, x; valid = paste of the non-padding maps;
 * L = L_x + cons_weight * sg_semi_cutmixseg_cons(...).
 * Terms: loss, loss_x, loss_cons; mask_ratio = the confidence factor. */
sg_tensor *sg_semi_cutmixseg_loss(sg_ctx *ctx, sg_deeplab *student, sg_deeplab *teacher,
                                  const sg_batch *lab, const sg_batch *unl, const sg_batch *mix,
                                  const sg_tensor *masks, const sg_cutmixseg_params *hp,
                                  const sg_semi_sup *sup, sg_semi_terms *terms);

#endif
