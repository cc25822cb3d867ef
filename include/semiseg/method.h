/*
 * method.h: the method toolkit of the run layer: the pieces of a
 * semi-supervised method's step that take batches (loader.h) or the run
 * (run.h): CutMix-Seg box masks, the partner batch and its pseudo-labels,
 * the batch checks, the supervised criterion of the run, the report of the
 * loss terms, the EMA teacher registered with the run, and the choice of
 * the CutMix partner. The tensor-level primitives they build on are core
 * (semi.h). Implemented in src/run/method.c; covered by tests/test_semi.c
 * and tests/trainers_semi.sh.
 */
#ifndef SEMISEG_METHOD_H
#define SEMISEG_METHOD_H

#include "semiseg/augment.h"
#include "semiseg/loader.h"
#include "semiseg/semi.h"

/* CutMix-Seg box masks (N, h, w) int32, one sg_cutmix_seg_box per sample
 * drawn in order from rng. */
sg_tensor *sg_semi_cutmix_seg_masks(sg_ctx *ctx, int n, int h, int w, const sg_cutmix_seg_config *cfg,
                                    sg_rng *rng);

/* The partner pseudo-labels of a pasted view from a second batch: the
 * eval-mode prediction of mix->img (UniMatch's pred_u_w_mix, taken BEFORE
 * the train-mode forwards since it reads the running statistics those
 * forwards update), with mix->ignore. */
void sg_semi_mix_pseudo(sg_ctx *ctx, sg_deeplab *m, const sg_batch *mix, sg_pseudo *pm);
/* Aborts naming fn unless lab has img and mask, unl img, ignore and the
 * parts in `views` (SG_VIEW_* bits: those fn reads), and mix (may be NULL)
 * img, ignore and the strong views in `views`, with unl's batch size. A
 * missing part is named with its bit: the loader leaves out what the
 * method's unlabeled_views (run.h) does not ask for. */
void sg_semi_check_batches(const sg_batch *lab, const sg_batch *unl, const sg_batch *mix, unsigned views,
                           const char *fn);

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
     * same seed (experiments/unimatch/README.md "Quirk switches"). */
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

#endif
