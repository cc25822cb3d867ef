/*
 * cutmixseg.c: CutMix-Seg (French et al., BMVC 2020;
 * Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py, mix
 * mode) on the shared DeepLabV3+ core: the student sees two
 * unlabeled images mixed by a box of area 1/2, the EMA teacher's
 * predictions of the two images are mixed by the same box, and
 *     L = L_x + cons_weight mean_px [ sum_c (p_s - p_t)^2 valid conf ],
 *     conf = fraction of pixels where the teacher is >= conf_thresh sure,
 * computed by cutmixseg_loss() (cutmixseg_loss.c, after
 * Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py). This
 * file is the configuration section, the run driver's callbacks, the box
 * masks and the EMA update; the teacher is evaluated. Everything else is
 * the run driver's (run.h).
 *
 * experiments/cutmixseg/README.md is the literate account, including the
 * deviations from the BMVC setting (SGD + poly and trained BN of the
 * shared core instead of Adam, constant lr and frozen BN). Covered by
 * tests/test_semi.c (one iteration and the EMA update against PyTorch) and
 * tests/trainers_semi.sh (a few iterations end to end).
 */
#include <stdlib.h>

#include "cutmixseg_loss.h"
#include "semiseg/run.h"
#include "semiseg/method.h"

/* Hyper-parameters, section [cutmixseg] (sources in the README). */
typedef struct {
    cutmixseg_params loss;      /* cons_weight, conf_thresh, conf_per_pixel, strong_colour */
    sg_cutmix_seg_config mask;  /* box area fraction range */
    float alpha;                /* EMA decay */
    bool ema_warmup;            /* decay min(1 - 1/(t+1), alpha) instead of alpha */
    bool ema_buffers;           /* EMA the BN statistics too (else copied) */
    sg_semi_mix_source mix;     /* second image: roll, batch or same */
} cm_hp_;

typedef struct {
    cm_hp_ hp;
    sg_deeplab teacher;
} cm_state_;

/* Not const: init sets unlabeled_loaders from cutmixseg.mix_source and
 * unlabeled_views from cutmixseg.strong_colour (the driver opens its loaders
 * after init). */
static sg_method method;

static int cm_init_(sg_run *run, void **state, sg_err *err)
{
    cm_hp_ h = {0}, *hp = &h;
    sg_config *c = run->cfg;
    sg_cutmix_seg_config_default(&hp->mask);
    float prop[2] = {(float)hp->mask.prop_min, (float)hp->mask.prop_max};
    if (sg_config_float(c, "cutmixseg.cons_weight", 1.0f, 0, 1e6f, &hp->loss.cons_weight, err) ||
        sg_config_float(c, "cutmixseg.conf_thresh", 0.97f, 0, 1, &hp->loss.conf_thresh, err) ||
        sg_config_bool(c, "cutmixseg.conf_per_pixel", false, &hp->loss.conf_per_pixel, err) ||
        sg_config_bool(c, "cutmixseg.strong_colour", false, &hp->loss.strong_colour, err) ||
        sg_config_floats(c, "cutmixseg.mask_prop", prop, 2, prop, err) ||
        sg_config_float(c, "cutmixseg.alpha", 0.99f, 0, 1, &hp->alpha, err) ||
        sg_config_bool(c, "cutmixseg.ema_warmup", false, &hp->ema_warmup, err) ||
        sg_config_bool(c, "cutmixseg.ema_buffers", true, &hp->ema_buffers, err) ||
        sg_semi_mix_source_read(c, "cutmixseg.mix_source", "batch", &hp->mix, &method, err))
        return -1;
    if (!(prop[0] > 0 && prop[0] <= prop[1] && prop[1] < 1))
        return sg_err_set(err, "cutmixseg.mask_prop = %g, %g: need 0 < min <= max < 1", (double)prop[0],
                          (double)prop[1]);
    hp->mask.prop_min = prop[0];
    hp->mask.prop_max = prop[1];
    /* the student's copies: the strong views s1 (of both images), else the weak views */
    method.unlabeled_views = hp->loss.strong_colour ? SG_VIEW_S1 : SG_VIEWS_WEAK;
    cm_state_ *s = sg_xcalloc(1, sizeof *s);
    *state = s;
    s->hp = h;
    sg_semi_teacher_init(&s->teacher, run);
    return 0;
}

/* One iteration; the box masks are draw 0 of the iteration's generator. */
static int cm_step_(sg_run *run, void *state, const sg_batch *lab, const sg_batch *unl, sg_losses *out,
                    sg_err *err)
{
    (void)err;
    cm_state_ *s = state;
    sg_semi_teacher_start(&s->teacher, run);
    sg_rng rng;
    sg_run_rng(run, 0, &rng);
    sg_tensor *masks = sg_semi_cutmix_seg_masks(&run->ctx, unl->n, unl->img->shape[2], unl->img->shape[3],
                                                &s->hp.mask, &rng);
    const sg_semi_sup sup = sg_semi_sup_of_run(run);
    sg_semi_terms terms;
    sg_tensor *loss = cutmixseg_loss(&run->ctx, &run->model, &s->teacher, lab, unl,
                                     sg_semi_mix_batch(run, s->hp.mix), masks, &s->hp.loss, &sup, &terms);
    sg_backward(&run->ctx, loss);
    sg_semi_report(&terms, out);
    out->images = lab->n + unl->n;      /* x and the mixed batch are back-propagated */
    return 0;
}

static void cm_after_step_(sg_run *run, void *state)
{
    cm_state_ *s = state;
    const float d = s->hp.ema_warmup ? sg_semi_ema_decay(run->iter, s->hp.alpha) : s->hp.alpha;
    sg_ema_update(&s->teacher.params, &run->model.params, d, s->hp.ema_buffers);
}

static sg_deeplab *cm_eval_model_(sg_run *run, void *state)
{
    (void)run;
    return &((cm_state_ *)state)->teacher;
}

static void cm_free_(void *state)
{
    cm_state_ *s = state;
    if (!s) return;
    if (s->teacher.params.n_params) sg_deeplab_free(&s->teacher);
    free(s);
}

static sg_method method = {
    .name = "cutmixseg",
    .unlabeled_loaders = 1,
    .unlabeled_views = SG_VIEWS_WEAK,   /* set by init */
    .init = cm_init_,
    .step = cm_step_,
    .after_step = cm_after_step_,
    .eval_model = cm_eval_model_,
    .free = cm_free_,
};

int main(int argc, char **argv)
{
    return sg_run_main(argc, argv, &method);
}
