/*
 * fixmatch.c: FixMatch for segmentation as UniMatch's code base runs it
 * (LiheYoung/UniMatch@0324f3d:fixmatch.py): pseudo-labels from the
 * weak view in the same train-mode forward as the labeled batch, one strong
 * view CutMix-pasted with a partner image, and
 *     L = (L_x + L_s) / 2,
 *     L_s = sum CE(f(s1), y^) [conf >= tau] [ign != 255] / #[ign != 255]
 * computed by fixmatch_loss() (fixmatch_loss.c, the training step of
 * LiheYoung/UniMatch@0324f3d:fixmatch.py). This file is the configuration
 * section and the run driver's callbacks; everything else is the run
 * driver's (run.h).
 *
 * experiments/fixmatch/README.md is the literate account. Covered by
 * tests/test_semi.c (one iteration against PyTorch) and
 * tests/trainers_semi.sh (a few iterations end to end).
 */
#include <stdlib.h>

#include "fixmatch_loss.h"
#include "semiseg/run.h"
#include "semiseg/method.h"

/* Hyper-parameters, section [fixmatch] (defaults: UniMatch's released code). */
typedef struct {
    fixmatch_params loss;       /* conf_thresh */
    sg_semi_mix_source mix;     /* CutMix partner: roll, batch or same */
} fm_hp_;

/* Not const: init sets unlabeled_loaders from fixmatch.mix_source (the
 * driver opens its loaders after init). */
static sg_method method;

static int fm_init_(sg_run *run, void **state, sg_err *err)
{
    fm_hp_ hp;
    sg_config *c = run->cfg;
    if (sg_config_float(c, "fixmatch.conf_thresh", 0.95f, 0, 1, &hp.loss.conf_thresh, err) ||
        sg_semi_mix_source_read(c, "fixmatch.mix_source", "same", &hp.mix, &method, err))
        return -1;
    fm_hp_ *st = sg_xmalloc(sizeof *st);
    *st = hp;
    *state = st;
    return 0;
}

static int fm_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                    sg_err *err)
{
    (void)err;
    const fm_hp_ *hp = state;
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = fixmatch_loss(&run->ctx, &run->model, lab, unl, sg_semi_mix_batch(run, hp->mix),
                                    &hp->loss, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + 2 * unl->n;   /* x, u_w and s1 are back-propagated */
    return 0;
}

static void fm_free_(void *state)
{
    free(state);
}

static sg_method method = {
    .name = "fixmatch",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEW_S1 | SG_VIEW_BOX1,   /* one strong view and its box */
    .init = fm_init_,
    .step = fm_step_,
    .after_step = NULL,
    .eval_model = NULL,
    .free = fm_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
