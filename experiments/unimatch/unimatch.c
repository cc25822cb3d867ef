/*
 * unimatch.c: UniMatch (Yang et al., CVPR 2023;
 * LiheYoung/UniMatch@0324f3d:unimatch.py): FixMatch with two strong views, each
 * CutMix-pasted with its own box, plus a feature-perturbation branch
 * (Dropout2d on the encoder features c1 and c4, decoded in the same pass):
 *     L = (L_x + w_s L_s1 + w_s L_s2 + w_fp L_fp) / 2
 * computed by unimatch_loss() (unimatch_loss.c, the training step of
 * LiheYoung/UniMatch@0324f3d:unimatch.py). This file is the configuration
 * section and the run driver's callbacks. Everything else
 * (data, strong augmentation and boxes, model, SGD + poly, evaluation,
 * checkpoints) is the run driver's (run.h).
 *
 * experiments/unimatch/README.md is the literate account. Covered by
 * tests/test_semi.c (one iteration against PyTorch) and
 * tests/trainers_semi.sh (a few iterations end to end).
 */
#include <stdlib.h>

#include "semiseg/run.h"
#include "semiseg/method.h"
#include "unimatch_loss.h"

/* Hyper-parameters, section [unimatch] (defaults: UniMatch's released
 * code; the sources are in the README). */
typedef struct {
    unimatch_params loss;       /* conf_thresh, weight_s, weight_fp */
    float fp_dropout;           /* Dropout2d p of the feature perturbation */
    sg_semi_mix_source mix;     /* CutMix partner: roll, batch or same */
} um_hp_;

/* Not const: init sets unlabeled_loaders from unimatch.mix_source (the
 * driver opens its loaders after init). */
static sg_method method;

static int um_init_(sg_run *run, void **state, sg_err *err)
{
    um_hp_ hp;
    sg_config *c = run->cfg;
    if (sg_config_float(c, "unimatch.conf_thresh", 0.95f, 0, 1, &hp.loss.conf_thresh, err) ||
        sg_config_float(c, "unimatch.weight_s", 0.25f, 0, 100, &hp.loss.weight_s, err) ||
        sg_config_float(c, "unimatch.weight_fp", 0.5f, 0, 100, &hp.loss.weight_fp, err) ||
        sg_config_float(c, "unimatch.fp_dropout", 0.5f, 0, 0.99f, &hp.fp_dropout, err) ||
        sg_semi_mix_source_read(c, "unimatch.mix_source", "same", &hp.mix, &method, err))
        return -1;
    um_hp_ *st = sg_xmalloc(sizeof *st);
    *st = hp;
    *state = st;
    return 0;
}

/* One iteration: the dropout masks of the feature perturbation are keyed
 * by (run seed, iteration), so --resume repeats them. */
static int um_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                    sg_err *err)
{
    (void)err;
    const um_hp_ *hp = state;
    const sg_deeplab_fp fp = sg_semi_fp(hp->fp_dropout, run->seed, run->iter);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = unimatch_loss(&run->ctx, &run->model, lab, unl, sg_semi_mix_batch(run, hp->mix),
                                    &hp->loss, &fp, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + 3 * unl->n;   /* x, u_w, s1, s2 are back-propagated */
    return 0;
}

static void um_free_(void *state)
{
    free(state);
}

static sg_method method = {
    .name = "unimatch",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_ALL,    /* two strong views, each with its box */
    .init = um_init_,
    .step = um_step_,
    .after_step = NULL,
    .eval_model = NULL,
    .free = um_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
