/*
 * ema.c: exponential moving average of a model's parameters (the mean
 * teacher of UniMatch / U2PL), optim.h:
 *   e = decay * e + (1 - decay) * p   for every parameter,
 * and for every buffer too when ema_buffers, else the buffer is copied (the
 * UniMatch/U2PL teachers take the student's BN statistics as they are).
 * Matches `ema.data = ema.data * decay + p.data * (1 - decay)` in float32
 * with (1 - decay) rounded once, as the reference training scripts do.
 * The two sets are built by the same code: entries pair up by position and
 * must agree in name and shape.
 *
 * Covered by tests/test_optim.c.
 */
#include "semiseg/optim.h"

#include <string.h>

static void sg_ema_check_pair_(const sg_param *e, const sg_param *m)
{
    char a[SG_SHAPE_STR_LEN], b[SG_SHAPE_STR_LEN];
    SG_CHECK(strcmp(e->name, m->name) == 0, "sg_ema_update: entry \"%s\" paired with \"%s\"", e->name,
             m->name);
    SG_CHECK(sg_same_shape(e->t, m->t), "sg_ema_update: \"%s\" has shape %s vs %s", e->name,
             sg_shape_str(e->t, a, sizeof a), sg_shape_str(m->t, b, sizeof b));
}

static void sg_ema_check_device_(const sg_param *e, const sg_param *m)
{
    char a[SG_DEVICE_STR_LEN], b[SG_DEVICE_STR_LEN];
    SG_CHECK(sg_device_equal(e->t->device, m->t->device),
             "sg_ema_update: \"%s\" is on %s in the teacher and on %s in the model", e->name,
             sg_device_str(e->t->device, a, sizeof a), sg_device_str(m->t->device, b, sizeof b));
}

void sg_ema_update(sg_param_set *ema, const sg_param_set *model, float decay, bool ema_buffers)
{
    SG_CHECK(decay >= 0.0f && decay <= 1.0f, "sg_ema_update: decay %g outside [0, 1]", (double)decay);
    SG_CHECK(ema->n_params == model->n_params && ema->n_buffers == model->n_buffers,
             "sg_ema_update: %d parameters and %d buffers vs %d and %d", ema->n_params, ema->n_buffers,
             model->n_params, model->n_buffers);
    float keep = (float)(1.0 - (double)decay);
    for (int i = 0; i < model->n_params; i++) {
        sg_ema_check_pair_(&ema->params[i], &model->params[i]);
        sg_ema_check_device_(&ema->params[i], &model->params[i]);
        SG_BACKEND_NEED(sg_backend_of_device(ema->params[i].t->device), ema_blend)(
            ema->params[i].t->data, model->params[i].t->data, sg_numel(model->params[i].t),
                      decay, keep);
    }
    for (int i = 0; i < model->n_buffers; i++) {
        sg_ema_check_pair_(&ema->buffers[i], &model->buffers[i]);
        sg_ema_check_device_(&ema->buffers[i], &model->buffers[i]);
        size_t n = sg_numel(model->buffers[i].t);
        const sg_backend *be = sg_backend_of_device(ema->buffers[i].t->device);
        if (ema_buffers)
            SG_BACKEND_NEED(be, ema_blend)(ema->buffers[i].t->data, model->buffers[i].t->data, n,
                                           decay, keep);
        else
            be->copy(ema->buffers[i].t->data, model->buffers[i].t->data, n * sizeof(float));
    }
}
