/*
 * run.h: the run driver, and the interface between it and a training method.
 *
 * A trainer is a method (a struct of callbacks) plus
 *     int main(int argc, char **argv) { return sg_run_main(argc, argv, &method); }
 * The driver (src/run/run.c; README.md "Layout") owns everything
 * that is not the method: configuration (config.h), split and seed,
 * datasets and loaders, the model built from [model], SGD with two groups
 * (backbone x1, head x train.lr_multi) and the poly schedule (UniMatch
 * unimatch.py / supervised.py),
 * evaluation, checkpoints and --resume, logs, the progress line, the NaN
 * guard, signals, result.json and the results.csv row (results.c).
 *
 * One iteration, as the driver runs it (after UniMatch's training loop):
 *     run->iter = it; run->lr = lr of `it`; run->model.training = true;
 *     zero the gradients of run->model;
 *     method->step(run, state, lab, unl, &losses, err)
 *         forward, losses, sg_backward (the method owns the backward);
 *     every loss term finite? else stop, naming the iteration and the terms;
 *     SGD step of run->model at run->lr;
 *     method->after_step(run, state) (e.g. the EMA teacher update);
 *     sg_ctx_reset(&run->ctx); log; eval / checkpoint when due.
 * The lr of step it (0-based) is base for it = 0 and poly(base, it - 1,
 * total, power) after: UniMatch sets the lr after each optimizer step from
 * the index of the step just finished, so steps 0 and 1 both run at base.
 * Logs and checkpoints count completed steps (iteration k = the k-th step).
 *
 * Epochs: a method with unlabeled_loaders = 0 (supervised) trains on passes
 * over the labeled list (UniMatch supervised.py); otherwise an epoch is one pass over
 * the unlabeled list and the labeled list is repeated to its length
 * (UniMatch dataset/semi.py). The schedule is train.iterations, or train.epochs x
 * iterations per epoch. Batches are keyed by (seed, loader id, epoch,
 * position): loader ids 0 labeled, 1 unlabeled, 2 the second unlabeled
 * stream (run->mix), so a resumed run sees the batches an uninterrupted one
 * would.
 *
 * Determinism: a method must take every random draw from sg_run_rng /
 * sg_run_stream (keyed by the run seed, the iteration and a call index) and
 * keep no state between steps other than run->ema and the sets it registers
 * with sg_run_add_state (both saved in checkpoints), so --resume continues
 * bitwise.
 *
 * Covered by tests/run_resume.sh, tests/run_nan.sh, tests/run_config_errors.sh
 * and tests/trainer_*.sh.
 */
#ifndef SEMISEG_RUN_H
#define SEMISEG_RUN_H

#include <stdio.h>
#include <time.h>

#include "semiseg.h"
#include "semiseg/checkpoint.h"
#include "semiseg/config.h"
#include "semiseg/mit.h"

/* ---- what a step reports ----------------------------------------------------- */
#define SG_LOSSES_MAX 16
#define SG_LOSS_NAME_LEN 32

typedef struct sg_losses {
    int n;
    char names[SG_LOSSES_MAX][SG_LOSS_NAME_LEN];
    double values[SG_LOSSES_MAX];
    /* Fraction of the (non-padding) unlabeled pixels whose pseudo-label
     * passed the confidence threshold; NAN (the driver's initial value) for
     * methods without pseudo-labels. */
    double mask_ratio;
    /* Images that went through the network with a backward pass this step,
     * for images/s; 0 (the initial value) = the labeled batch size. */
    int images;
} sg_losses;

/* Append a term. Convention: the first term is "loss", the total that was
 * back-propagated, then its parts (e.g. "loss_x", "loss_u"). Every step of
 * a run must report the same names in the same order (they are the columns
 * of log.tsv); a different list is a programmer error. */
void sg_losses_add(sg_losses *l, const char *name, double value);

/* ---- the network ---------------------------------------------------------------- */
/* What the driver needs of the trained network: the parameters and buffers
 * (SGD, checkpoints, the device), the mode flag it sets before each step
 * and clears for evaluation, the evaluation forward, the architecture line
 * that checkpoints carry (tools/sg-eval rebuilds the network from it) and
 * the loader of model.pretrained into the set. For a DeepLabV3+ method the
 * driver fills it from run->model. */
typedef struct sg_run_net {
    sg_param_set *params;
    bool *training;
    void *self;
    sg_tensor *(*logits)(sg_ctx *ctx, void *self, sg_tensor *image);  /* (1, K, H, W), eval mode */
    char line[512];
    int (*load_pretrained)(sg_param_set *set, const char *prefix, const char *path, sg_err *err);
} sg_run_net;

/* ---- the run ------------------------------------------------------------------- */
typedef struct sg_run_priv_ sg_run_priv_;

typedef struct sg_run {
    sg_config *cfg;            /* methods read their section in init */
    const char *method;        /* method->name: its config section, the checkpoints' "method" */
    char name[64];             /* run.name (default method->name): the method's name in the run
                                  directory and the results row, e.g. "supervised-scratch" for
                                  a variant of the same trainer */
    char dataset[64];          /* run.dataset: "demo", "voc", "cityscapes" */
    char protocol[64];         /* run.protocol, e.g. "24", "92", "1_16" */
    uint64_t seed;             /* model init, data order, augmentation, dropout */
    char dir[4096];            /* the run directory */

    int n_classes;
    int ignore_index;          /* 255 */
    int crop;                  /* training crop side */
    int n_labeled, n_unlabeled;
    int batch_size;            /* labeled images per step */
    int batch_size_u;          /* unlabeled images per step (semi methods) */

    sg_deeplab_config model_cfg;
    sg_deeplab model;          /* the trained network, built from [model]; unused (zero)
                                  for a method with its own net_build */
    sg_run_net net;            /* the trained network as the driver sees it */
    sg_sgd opt;                /* groups: 0 backbone (x1), 1 head (x lr_multi), over net.params */
    /* A method with a second network (a teacher) points this at its
     * parameter set in init: it is then saved in and restored from
     * checkpoints (as "ema/"), evaluated when eval_model returns it, etc. */
    sg_param_set *ema;
    sg_ctx ctx;                /* the step's arena and tape; reset after every step */

    long iter;                 /* the iteration being run, 0-based */
    long total_iters;
    long iters_per_epoch;
    int epoch;                 /* epoch of the current batches */
    float lr;                  /* base lr of this step (group 0; group 1 is x lr_multi) */
    const sg_batch *mix;       /* unlabeled_loaders = 2: a second unlabeled batch, else NULL */

    sg_run_priv_ *priv;        /* the driver's own state */
} sg_run;

/* ---- a method -------------------------------------------------------------------- */
typedef struct sg_method {
    const char *name;          /* directory and report name: "supervised", "unimatch" */
    /* 0: labeled batches only; 1: plus an unlabeled batch (`unl`); 2: plus a
     * second, independently augmented unlabeled batch (run->mix), shuffled on
     * its own unless mix_same_images. */
    int unlabeled_loaders;
    /* unlabeled_loaders = 2: the second loader draws the first one's images
     * in its order (augmented independently; sg_semi SG_SEMI_MIX_SAME). */
    bool mix_same_images;
    /* unlabeled_loaders > 0: the parts of `unl` the step reads besides img
     * and ignore, as SG_VIEW_* bits (loader.h; SG_VIEWS_WEAK: none). The
     * loader builds only these; the others are NULL. run->mix gets the strong
     * views among them and no boxes: a method pastes from it inside `unl`'s
     * boxes or its own. Leaving out a part changes no byte of the others
     * (loader.h, "Determinism"). */
    unsigned unlabeled_views;
    /* The labeled batches carry img_s1, a strong view of each labeled crop
     * (sg_loader_config.labeled_strong; AllSpark trains on it). */
    bool labeled_strong_view;
    /* Reads the method's config section, builds what it needs (a teacher:
     * point run->ema at it). run->model is built and initialised already
     * (and, on --resume, is overwritten after init by the checkpoint, as is
     * run->ema), and run->opt is built for it: trainable parameters of the
     * method's own (a projection head, a second network) go in a set of
     * their own with an SGD from sg_run_sgd_init, registered with
     * sg_run_add_state. Returns 0, or -1 with err set. */
    int (*init)(sg_run *run, void **state, sg_err *err);
    /* One iteration's forward passes, losses and sg_backward on run->ctx;
     * report the terms in `out`. lab: the labeled batch (img, mask); unl:
     * the unlabeled batch or NULL. Returns 0, or -1 with err set. */
    int (*step)(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                sg_err *err);
    /* After the optimizer step (e.g. sg_ema_update); may be NULL. */
    void (*after_step)(sg_run *run, void *state);
    /* The network evaluated (BN running statistics, no dropout); NULL
     * callback: run->net. */
    sg_deeplab *(*eval_model)(sg_run *run, void *state);
    void (*free)(void *state);
    /* NULL: the driver builds run->model, the DeepLabV3+ of [model]. A
     * method with another network (AllSpark's SegFormer) builds it here from
     * its config (the [model] keys are then the method's to read),
     * initialised from run->seed, and fills *net; run->model stays unused
     * and eval_model must be NULL. Called before init, and once more at the
     * end of a run with a test set, for the best-on-val weights. Returns 0,
     * or -1 with err set. net_free releases what net_build made. */
    int (*net_build)(sg_run *run, sg_run_net *net, sg_err *err);
    void (*net_free)(sg_run_net *net);
} sg_method;

/* Parses the command line, runs (or resumes) the training and returns the
 * process exit status: 0 finished, 1 runtime error (config, data, NaN loss),
 * 2 usage error, 128 + signal when interrupted by SIGINT/SIGTERM (after
 * writing a checkpoint). `trainer --help` lists the options. */
int sg_run_main(int argc, char **argv, const sg_method *method);

/* ---- what a step may call ----------------------------------------------------------- */
/* The supervised loss configured by train.loss: "ce" = cross-entropy with
 * ignore_index, mean over the non-ignored pixels (UniMatch's CE), or "ohem" =
 * online hard example mining (thresh train.ohem_thresh, min_kept
 * train.ohem_min_kept; UniMatch util/ohem.py). logits (N, K, H, W), mask
 * (N, H, W) int32. Recorded on run->ctx. */
sg_tensor *sg_run_sup_loss(sg_run *run, sg_tensor *logits, const sg_tensor *mask);

/* Extra state a method keeps between steps (queues, memory banks, a second
 * network and its optimizer): the set is saved in checkpoints under prefix
 * ("queue/", "student_r/": one slash, at the end; not model/, ema/, optim/
 * or rng/), restored on --resume, and moved to the run's device with the
 * model; opt (may be NULL) is an SGD built for that set (sg_run_sgd_init),
 * saved with its momentum and step count. The method owns set and opt and
 * steps opt itself (e.g. in after_step). Call from init; at most
 * SG_CKPT_MAX_EXTRA sets; prefix must be a string that outlives the run. */
void sg_run_add_state(sg_run *run, const char *prefix, sg_param_set *set, sg_sgd *opt);
/* A key of the method's section that names a weights file (CTT's
 * ctt.pretrained_r): the experiment's identity (config_hash) counts the
 * file's bytes instead of its path, as it does for model.pretrained, so a
 * moved file is the same run and other weights at the same path are not.
 * Call from init; at most SG_RUN_MAX_FILE_KEYS; key must outlive the run. */
#define SG_RUN_MAX_FILE_KEYS 4
void sg_run_hash_file_key(sg_run *run, const char *key);
/* An SGD for a second network's set built like the driver's (the run's
 * momentum, weight decay and the two groups with train.lr_multi): step it
 * with sg_sgd_step(opt, set, run->lr) to follow the run's poly schedule. */
void sg_run_sgd_init(const sg_run *run, const sg_param_set *set, sg_sgd *opt);
/* A generator for this iteration's draw number `call` (0, 1, ...): key the
 * run seed, stream sg_rng_stream(SG_RNG_DROPOUT, iter, call). */
void sg_run_rng(const sg_run *run, unsigned call, sg_rng *rng);
/* The stream id of that generator, for ops that take (seed, stream), e.g.
 * sg_dropout2d(ctx, x, p, run->seed, sg_run_stream(run, call)). */
uint64_t sg_run_stream(const sg_run *run, unsigned call);

/* For a method's net_build: the SegFormer of [model] (MiT-B<model.mit>,
 * default 5; the head width model.embed_dim, default the released one for
 * that variant; model.drop_path_rate and model.head_dropout, default 0.1
 * as released) for run->n_classes. Returns 0, or -1 with err set. */
int sg_run_read_segformer(const sg_run *run, int *variant, sg_segformer_config *cfg, sg_err *err);
/* For a method's net_build: the DeepLabV3+ of [model] as the driver reads
 * it for every DeepLabV3+ method (model.depth, widths, stem, output_stride,
 * multi_grid, aspp_channels, aspp_rates, reduce_channels,
 * decoder_channels; defaults the paper model's) for run->n_classes.
 * Returns 0, or -1 with err set. */
int sg_run_read_deeplab(const sg_run *run, sg_deeplab_config *cfg, sg_err *err);

#endif
