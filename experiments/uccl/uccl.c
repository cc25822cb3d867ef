/*
 * uccl.c: UCCL (Yin, Chen, Zheng, Zhou, Gu, ICASSP 2025, arXiv 2412.17331;
 * YUKEKEJAN/UCCL@804ce93:UCCL.py): UniMatch plus two terms on the
 * stride-4 decoder outputs of the weak views pasted like the strong ones,
 *     L = L_unimatch + alpha (L_SBU,1 + L_SBU,2) / 2 + beta (L_CKR,1 + L_CKR,2) / 2
 * computed by uccl_loss() (uccl_loss.c). This file is the configuration
 * section and the run driver's callbacks; everything else (data, strong
 * augmentation and boxes, model, SGD + poly, evaluation, checkpoints) is
 * the run driver's (run.h).
 *
 * experiments/uccl/README.md is the literate account. Covered by
 * tests/test_uccl.c (one iteration against PyTorch) and
 * tests/trainer_uccl.sh (a few iterations end to end, kill + resume).
 */
#include <stdlib.h>

#include "semiseg/method.h"
#include "semiseg/run.h"
#include "uccl_loss.h"

/* Hyper-parameters, section [uccl] (defaults: UCCL's released code; the
 * sources are in the README). */
typedef struct {
    uccl_params loss;
    float fp_dropout;           /* Dropout2d p of the feature perturbation */
    sg_semi_mix_source mix;     /* CutMix partner: roll, batch or same */
} uccl_hp_;

/* Not const: init sets unlabeled_loaders from uccl.mix_source. */
static sg_method method;

static int uccl_init_(sg_run *run, void **state, sg_err *err)
{
    static const char *const resize[] = {"bilinear", "nearest", NULL};
    static const char *const softmax[] = {"all", "uncertain", NULL};
    static const char *const fill[] = {"reshaped", "pixel", NULL};
    uccl_hp_ hp;
    sg_config *c = run->cfg;
    int rs = 0, sm = 0, fl = 0;
    if (sg_config_float(c, "uccl.conf_thresh", 0.95f, 0, 1, &hp.loss.um.conf_thresh, err) ||
        sg_config_float(c, "uccl.weight_s", 0.25f, 0, 100, &hp.loss.um.weight_s, err) ||
        sg_config_float(c, "uccl.weight_fp", 0.5f, 0, 100, &hp.loss.um.weight_fp, err) ||
        sg_config_float(c, "uccl.weight_sbu", 0.015f, 0, 100, &hp.loss.weight_sbu, err) ||
        sg_config_float(c, "uccl.weight_ckr", 0.02f, 0, 100, &hp.loss.weight_ckr, err) ||
        sg_config_float(c, "uccl.fp_dropout", 0.5f, 0, 0.99f, &hp.fp_dropout, err) ||
        sg_config_bool(c, "uccl.bn_passes", true, &hp.loss.bn_passes, err) ||
        sg_config_choice(c, "uccl.ignore_resize", "bilinear", resize, &rs, err) ||
        sg_config_choice(c, "uccl.sbu_softmax", "all", softmax, &sm, err) ||
        sg_config_bool(c, "uccl.ckr_weight_grad", true, &hp.loss.ckr_weight_grad, err) ||
        sg_config_choice(c, "uccl.ckr_ignored_feature", "reshaped", fill, &fl, err) ||
        sg_semi_mix_source_read(c, "uccl.mix_source", "same", &hp.mix, &method, err))
        return -1;
    hp.loss.ignore_bilinear = rs == 0;
    hp.loss.sbu_softmax_all = sm == 0;
    hp.loss.ckr_fill_reshaped = fl == 0;
    uccl_hp_ *st = sg_xmalloc(sizeof *st);
    *st = hp;
    *state = st;
    return 0;
}

/* One iteration: the dropout masks of the feature perturbation are keyed
 * by (run seed, iteration), so --resume repeats them. */
static int uccl_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                      sg_err *err)
{
    (void)err;
    const uccl_hp_ *hp = state;
    const sg_deeplab_fp fp = sg_semi_fp(hp->fp_dropout, run->seed, run->iter);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = uccl_loss(&run->ctx, &run->model, lab, unl, sg_semi_mix_batch(run, hp->mix), &hp->loss,
                                &fp, &sup, &terms, NULL);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    /* x, u_w, s1, s2 are back-propagated, and w1, w2 through the CKR weights */
    out->images = lab->n + (hp->loss.ckr_weight_grad ? 5 : 3) * unl->n;
    return 0;
}

static void uccl_free_(void *state)
{
    free(state);
}

static sg_method method = {
    .name = "uccl",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_ALL,    /* UniMatch's two strong views and boxes */
    .init = uccl_init_,
    .step = uccl_step_,
    .after_step = NULL,
    .eval_model = NULL,
    .free = uccl_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
