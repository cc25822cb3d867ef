/*
 * dssn.c: DSSN, the Dual-level Siamese Structure Network (Tian, Zhang,
 * Zhang, Zhan, ACM MM 2023; kunzhan/DSSN@efaee86:voc/DSSN.py and
 * city/DSSN.py): UniMatch with an EMA teacher that pseudo-labels the two
 * CutMix-pasted strong views, a second feature-perturbed copy, class-aware
 * relative pseudo-label selection and two Siamese terms (MSE between
 * class-standardised logits of the two strong views and of the two
 * perturbed copies):
 *     L = (L_x + w_s (L_s1 + L_s2) + w_fp (L_fp + L_Fp) + w_si (L_img + L_feat)) / 2
 * (Cityscapes: w_si (.) outside the 1/2), computed by dssn_loss()
 * (dssn_loss.c). This file is the configuration section, the run driver's
 * callbacks and the teacher's EMA update over the whole state (parameters
 * and BN statistics) with keep 0 during the warm-up, then ema_keep.
 *
 * experiments/dssn/README.md is the literate account. Covered by
 * tests/test_dssn.c (one iteration and the EMA update against PyTorch) and
 * tests/trainer_dssn.sh (a few iterations end to end, kill and resume).
 */
#include <stdlib.h>

#include "dssn_loss.h"
#include "semiseg/run.h"
#include "semiseg/method.h"

/* Hyper-parameters, section [dssn] (defaults: DSSN's released VOC code,
 * except conf_thresh, which the VOC code does not read: its default 0 is
 * the Cityscapes code's; the sources are in the README). */
typedef struct {
    dssn_params loss;           /* select, gate, factor, conf_thresh, weights, siamese_inside */
    float fp_dropout;           /* Dropout2d p of both perturbed copies */
    float ema_keep;             /* teacher keep rate after the warm-up */
    long warmup_iters;          /* iterations with keep 0 and without L_s1, L_s2 ... */
    long warmup_epochs;         /* ... or epochs (whichever is longer) */
    long teacher_train_bn_epochs; /* epochs whose teacher passes use batch statistics */
    bool eval_teacher;          /* evaluate the teacher instead of the student */
    sg_semi_mix_source mix;     /* CutMix partner: roll, batch or same */
} dssn_hp_;

typedef struct {
    dssn_hp_ hp;
    sg_deeplab teacher;
} dssn_state_;

/* Not const: init sets unlabeled_loaders from dssn.mix_source. */
static sg_method method;

static int dssn_init_(sg_run *run, void **state, sg_err *err)
{
    static const char *const selects[] = {"class_relative", "fixed", NULL};
    static const char *const evals[] = {"student", "teacher", NULL};
    dssn_hp_ hp = {0};
    sg_config *c = run->cfg;
    int sel, ev;
    if (sg_config_choice(c, "dssn.select", "class_relative", selects, &sel, err) ||
        sg_config_float(c, "dssn.gate", 0.92f, 0.5f, 1, &hp.loss.gate, err) ||
        sg_config_float(c, "dssn.factor", 0.96f, 0.5f, 1, &hp.loss.factor, err) ||
        sg_config_float(c, "dssn.conf_thresh", 0, 0, 1, &hp.loss.conf_thresh, err) ||
        sg_config_float(c, "dssn.weight_s", 0.25f, 0, 100, &hp.loss.weight_s, err) ||
        sg_config_float(c, "dssn.weight_fp", 0.25f, 0, 100, &hp.loss.weight_fp, err) ||
        sg_config_float(c, "dssn.weight_siamese", 0.01f, 0, 100, &hp.loss.weight_siamese, err) ||
        sg_config_bool(c, "dssn.siamese_inside", true, &hp.loss.siamese_inside, err) ||
        sg_config_float(c, "dssn.fp_dropout", 0.5f, 0, 0.99f, &hp.fp_dropout, err) ||
        sg_config_float(c, "dssn.ema_keep", 0.996f, 0, 1, &hp.ema_keep, err) ||
        sg_config_int(c, "dssn.warmup_iters", 1, 0, 1000000000, &hp.warmup_iters, err) ||
        sg_config_int(c, "dssn.warmup_epochs", 0, 0, 100000, &hp.warmup_epochs, err) ||
        sg_config_int(c, "dssn.teacher_train_bn_epochs", 1, 0, 100000, &hp.teacher_train_bn_epochs, err) ||
        sg_config_choice(c, "dssn.eval_model", "student", evals, &ev, err) ||
        sg_semi_mix_source_read(c, "dssn.mix_source", "same", &hp.mix, &method, err))
        return -1;
    if (hp.loss.gate * hp.loss.factor < 0.5f)
        return sg_err_set(err, "dssn.gate * dssn.factor = %g must be >= 0.5 (at most one class per pixel)",
                          (double)(hp.loss.gate * hp.loss.factor));
    hp.loss.select = (dssn_select)sel;
    hp.eval_teacher = ev == 1;
    dssn_state_ *s = sg_xcalloc(1, sizeof *s);
    s->hp = hp;
    *state = s;
    sg_semi_teacher_init(&s->teacher, run);
    return 0;
}

/* voc/DSSN.py: `if epoch < 1 and i < 1` (keep_rate 0, strong terms out);
 * city/DSSN.py: `if epoch < 5`. */
static bool dssn_warmup_(const sg_run *run, const dssn_hp_ *hp)
{
    return run->iter < hp->warmup_iters || run->epoch < hp->warmup_epochs;
}

/* One iteration: the dropout masks of both perturbed copies are keyed by
 * (run seed, iteration, 0..3), so --resume repeats them. */
static int dssn_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                      sg_err *err)
{
    (void)err;
    dssn_state_ *s = state;
    sg_semi_teacher_start(&s->teacher, run);
    dssn_params p = s->hp.loss;
    p.drop_strong = dssn_warmup_(run, &s->hp);
    /* evaluate() leaves model_tea in eval mode and nothing sets it back. */
    p.teacher_train_bn = run->epoch < s->hp.teacher_train_bn_epochs;
    const sg_deeplab_fp fp = sg_semi_fp2(s->hp.fp_dropout, run->seed, run->iter);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = dssn_loss(&run->ctx, &run->model, &s->teacher, lab, unl, sg_semi_mix_batch(run, s->hp.mix),
                                &p, &fp, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + 3 * unl->n;   /* x, u_w, s1, s2 are back-propagated */
    return 0;
}

/* update_teacher(model, model_tea, keep_rate) (voc/util/utils.py): every
 * state_dict entry, parameters and BN running statistics,
 * teacher = keep * teacher + (1 - keep) * student, after the optimizer
 * step; keep 0 during the warm-up (the teacher becomes the student). */
static void dssn_after_step_(sg_run *run, void *state)
{
    dssn_state_ *s = state;
    const float keep = dssn_warmup_(run, &s->hp) ? 0.0f : s->hp.ema_keep;
    sg_ema_update(&s->teacher.params, &run->model.params, keep, true);
}

static sg_deeplab *dssn_eval_model_(sg_run *run, void *state)
{
    dssn_state_ *s = state;
    return s->hp.eval_teacher ? &s->teacher : &run->model;
}

static void dssn_free_(void *state)
{
    dssn_state_ *s = state;
    if (!s) return;
    if (s->teacher.params.n_params) sg_deeplab_free(&s->teacher);
    free(s);
}

static sg_method method = {
    .name = "dssn",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_ALL,    /* two strong views, each with its box */
    .init = dssn_init_,
    .step = dssn_step_,
    .after_step = dssn_after_step_,
    .eval_model = dssn_eval_model_,
    .free = dssn_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
