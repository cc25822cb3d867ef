/*
 * meanteacher.c: Mean Teacher for segmentation (Tarvainen & Valpola,
 * NeurIPS 2017; the benchmark's "MT-Seg", experiments/meanteacher/README.md): the teacher
 * is an EMA of the student, decay min(1 - 1/(t+1), alpha), and predicts
 * the weak view without gradient; the student sees the strong view s1 and
 *     L = L_x + w(t) mean_px sum_c (p_s - p_t)^2 / C,
 *     w(t) = cons_weight exp(-5 (1 - t/T)^2) over the first T iterations,
 * computed by meanteacher_loss() (meanteacher_loss.c, after
 * CuriousAI/mean-teacher@546348f:pytorch/main.py). This file is the
 * configuration section, the run driver's callbacks and the EMA update;
 * the teacher is evaluated. Everything else is the run driver's (run.h).
 *
 * experiments/meanteacher/README.md is the literate account. Covered by
 * tests/test_semi.c (one iteration and the EMA update against PyTorch) and
 * tests/trainers_semi.sh (a few iterations end to end).
 */
#include <stdlib.h>

#include "meanteacher_loss.h"
#include "semiseg/run.h"
#include "semiseg/method.h"

/* Hyper-parameters, section [meanteacher] (sources in the README). */
typedef struct {
    float cons_weight;          /* w_max */
    float rampup;               /* ramp length as a fraction of the run's iterations */
    float alpha;                /* EMA decay cap */
    bool ema_buffers;           /* EMA the BN statistics too (else copied: see README) */
    bool teacher_train_bn;      /* teacher forward with batch statistics */
} mt_hp_;

typedef struct {
    mt_hp_ hp;
    meanteacher_params loss;
    sg_deeplab teacher;
} mt_state_;

static int mt_init_(sg_run *run, void **state, sg_err *err)
{
    mt_hp_ hp;
    sg_config *c = run->cfg;
    if (sg_config_float(c, "meanteacher.cons_weight", 30, 0, 1e6f, &hp.cons_weight, err) ||
        sg_config_float(c, "meanteacher.rampup", 0.1f, 0, 1, &hp.rampup, err) ||
        sg_config_float(c, "meanteacher.alpha", 0.99f, 0, 1, &hp.alpha, err) ||
        sg_config_bool(c, "meanteacher.ema_buffers", true, &hp.ema_buffers, err) ||
        sg_config_bool(c, "meanteacher.teacher_train_bn", false, &hp.teacher_train_bn, err))
        return -1;
    mt_state_ *s = sg_xcalloc(1, sizeof *s);
    *state = s;
    s->hp = hp;
    s->loss = (meanteacher_params){
        .cons_weight = hp.cons_weight,
        .rampup_iters = (long)((double)hp.rampup * (double)run->total_iters),
        .teacher_train_bn = hp.teacher_train_bn,
    };
    sg_semi_teacher_init(&s->teacher, run);
    return 0;
}

static int mt_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                    sg_err *err)
{
    (void)err;
    mt_state_ *s = state;
    sg_semi_teacher_start(&s->teacher, run);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = meanteacher_loss(&run->ctx, &run->model, &s->teacher, lab, unl, &s->loss, run->iter,
                                       &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + unl->n;      /* x and s1 are back-propagated */
    return 0;
}

/* theta' = d theta' + (1 - d) theta, d = min(1 - 1/(t+1), alpha), after
 * the optimizer step t (CuriousAI/mean-teacher@546348f:pytorch/main.py
 * update_ema_variables). */
static void mt_after_step_(sg_run *run, void *state)
{
    mt_state_ *s = state;
    sg_ema_update(&s->teacher.params, &run->model.params, sg_semi_ema_decay(run->iter, s->hp.alpha),
                  s->hp.ema_buffers);
}

static sg_deeplab *mt_eval_model_(sg_run *run, void *state)
{
    (void)run;
    return &((mt_state_ *)state)->teacher;
}

static void mt_free_(void *state)
{
    mt_state_ *s = state;
    if (!s) return;
    if (s->teacher.params.n_params) sg_deeplab_free(&s->teacher);
    free(s);
}

static const sg_method method = {
    .name = "meanteacher",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEW_S1,      /* the student's strong view; no box */
    .init = mt_init_,
    .step = mt_step_,
    .after_step = mt_after_step_,
    .eval_model = mt_eval_model_,
    .free = mt_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
