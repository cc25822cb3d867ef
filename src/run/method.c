/*
 * method.c: the method toolkit of the run layer (method.h): CutMix-Seg box
 * masks, the partner batch and its pseudo-labels, the batch checks, the run's
 * supervised criterion, the report of the terms, the EMA teacher registered
 * with the run and the choice of the CutMix partner. Moved out of the core
 * because they take batches (data layer) and the run.
 * Reference: LiheYoung/UniMatch@0324f3d:unimatch.py (loader_u_mix),
 * Britefury/cutmix-semisup-seg@c073d7b:mask_gen.py.
 * Covered by tests/test_semi.c and tests/trainers_semi.sh.
 */
#include "semiseg/method.h"

#include <string.h>

#include "semiseg/config.h"
#include "semiseg/run.h"

sg_tensor *sg_semi_cutmix_seg_masks(sg_ctx *ctx, int n, int h, int w,
                                    const sg_cutmix_seg_config *cfg, sg_rng *rng)
{
    const int shape[3] = {n, h, w};
    sg_tensor *m = sg_tensor_new(ctx, SG_I32, 3, shape);
    int32_t *host = sg_ctx_stage(ctx, m);
    for (int i = 0; i < n; i++) {
        sg_box box;
        sg_cutmix_seg_box(&box, h, w, cfg, rng);
        sg_box_mask(host + (size_t)i * h * w, h, w, &box);
    }
    sg_ctx_stage_done(ctx, m, host);
    return m;
}


void sg_semi_mix_pseudo(sg_ctx *ctx, sg_deeplab *m, const sg_batch *mix, sg_pseudo *pm)
{
    sg_semi_pseudo_label(ctx, sg_semi_predict(ctx, m, mix->img, false), mix->ignore, pm);
}

void sg_semi_check_batches(const sg_batch *lab, const sg_batch *unl, const sg_batch *mix, unsigned views,
                           const char *fn)
{
    SG_CHECK(lab && lab->img && lab->mask, "%s: the labeled batch needs img and mask", fn);
    SG_CHECK(unl && unl->img && unl->ignore, "%s: the unlabeled batch needs img and ignore", fn);
    SG_CHECK(!mix || (mix->img && mix->ignore && mix->img->shape[0] == unl->img->shape[0]),
             "%s: the mix batch needs img and ignore, with the unlabeled batch size", fn);
    /* in SG_VIEW_* order; the mix batch carries no boxes (run.h) */
    const struct {
        unsigned bit;
        const char *flag, *name;
        const void *unl, *mix;
    } parts[] = {
        {SG_VIEW_S1, "SG_VIEW_S1", "img_s1", unl->img_s1, mix ? mix->img_s1 : NULL},
        {SG_VIEW_BOX1, "SG_VIEW_BOX1", "box1", unl->box1, NULL},
        {SG_VIEW_S2, "SG_VIEW_S2", "img_s2", unl->img_s2, mix ? mix->img_s2 : NULL},
        {SG_VIEW_BOX2, "SG_VIEW_BOX2", "box2", unl->box2, NULL},
    };
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (!(views & parts[k].bit)) continue;
        SG_CHECK(parts[k].unl, "%s: the unlabeled batch has no %s: the method's unlabeled_views lacks %s", fn,
                 parts[k].name, parts[k].flag);
        SG_CHECK(!mix || (parts[k].bit & SG_VIEWS_STRONG) == 0 || parts[k].mix,
                 "%s: the mix batch has no %s: the method's unlabeled_views lacks %s", fn, parts[k].name,
                 parts[k].flag);
    }
}

/* ---- glue to the run driver ------------------------------------------------------- */
static sg_tensor *sg_semi_run_sup_(void *user, sg_ctx *ctx, sg_tensor *logits,
                                   const sg_tensor *labels)
{
    sg_run *run = user;
    SG_CHECK(ctx == &run->ctx, "sg_semi_sup_of_run: the loss must be recorded on run->ctx");
    return sg_run_sup_loss(run, logits, labels);
}

sg_semi_sup sg_semi_sup_of_run(sg_run *run)
{
    return (sg_semi_sup){.loss = sg_semi_run_sup_, .user = run};
}

void sg_semi_report(const sg_semi_terms *t, sg_losses *out)
{
    for (int i = 0; i < t->n; i++) sg_losses_add(out, t->name[i], t->value[i]);
    out->mask_ratio = t->mask_ratio;
}

void sg_semi_teacher_init(sg_deeplab *teacher, sg_run *run)
{
    sg_deeplab_init(teacher, &run->model_cfg, run->seed);
    run->ema = &teacher->params;
}

void sg_semi_teacher_start(sg_deeplab *teacher, sg_run *run)
{
    if (run->iter == 0) sg_param_set_copy(&teacher->params, &run->model.params);
}

int sg_semi_mix_source_read(struct sg_config *c, const char *key, const char *def,
                            sg_semi_mix_source *mix, struct sg_method *method, sg_err *err)
{
    static const char *const names[] = {"roll", "batch", "same", NULL};
    int v;
    if (sg_config_choice(c, key, def, names, &v, err)) return -1;
    *mix = (sg_semi_mix_source)v;
    method->unlabeled_loaders = *mix == SG_SEMI_MIX_ROLL ? 1 : 2;
    method->mix_same_images = *mix == SG_SEMI_MIX_SAME;
    return 0;
}

const sg_batch *sg_semi_mix_batch(const struct sg_run *run, sg_semi_mix_source mix)
{
    return mix == SG_SEMI_MIX_ROLL ? NULL : run->mix;
}
