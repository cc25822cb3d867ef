/*
 * sgd.c: stochastic gradient descent with momentum and weight decay over
 * parameter groups, and the poly learning-rate schedule (optim.h).
 *
 * Matches torch.optim.SGD (dampening 0, nesterov False, maximize False), the
 * single-tensor path PyTorch takes for CPU tensors:
 *   d = g + wd * p;  buf = d on the first step, else buf = momentum * buf + d;
 *   p -= lr * lr_mult * buf.
 * With momentum 0 torch keeps no buffer and steps along d. The update runs
 * on the backend of each parameter's device (sgd_update of backend.h), and
 * the momentum buffers live there too.
 *
 * Covered by tests/test_optim.c (5 steps against torch.optim.SGD) and
 * tests/test_train_tiny.c (a 20-step training curve).
 */
#include "semiseg/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sg_sgd_init(sg_sgd *opt, const sg_param_set *s, int n_groups, float momentum, float weight_decay)
{
    SG_CHECK(n_groups >= 1 && n_groups <= SG_MAX_PARAM_GROUPS, "sg_sgd_init: %d groups, expected 1..%d",
             n_groups, SG_MAX_PARAM_GROUPS);
    SG_CHECK(momentum >= 0.0f, "sg_sgd_init: negative momentum %g", (double)momentum);
    memset(opt, 0, sizeof *opt);
    opt->momentum = momentum;
    opt->n_groups = n_groups;
    for (int g = 0; g < n_groups; g++) opt->groups[g] = (sg_param_group){1.0f, weight_decay};
    for (int i = 0; i < s->n_params; i++)
        SG_CHECK(s->params[i].group < n_groups, "sg_sgd_init: \"%s\" is in group %d of %d",
                 s->params[i].name, s->params[i].group, n_groups);
    opt->n_bufs = s->n_params;
    opt->bufs = sg_xcalloc((size_t)(s->n_params ? s->n_params : 1), sizeof *opt->bufs);
    opt->buf_device = sg_xcalloc((size_t)(s->n_params ? s->n_params : 1), sizeof *opt->buf_device);
}

void sg_sgd_free(sg_sgd *opt)
{
    for (int i = 0; i < opt->n_bufs; i++)
        if (opt->bufs[i]) sg_backend_of_device(opt->buf_device[i])->free(opt->bufs[i]);
    free(opt->buf_device);
    free(opt->bufs);
    memset(opt, 0, sizeof *opt);
}

void sg_sgd_step(sg_sgd *opt, sg_param_set *s, float lr)
{
    SG_CHECK(s->n_params == opt->n_bufs, "sg_sgd_step: set has %d parameters, optimizer was made for %d",
             s->n_params, opt->n_bufs);
    for (int i = 0; i < s->n_params; i++) {
        sg_param *prm = &s->params[i];
        SG_CHECK(prm->group >= 0 && prm->group < opt->n_groups, "sg_sgd_step: \"%s\" is in group %d of %d",
                 prm->name, prm->group, opt->n_groups);
        SG_CHECK(prm->t->grad != NULL, "sg_sgd_step: \"%s\" has no gradient buffer", prm->name);
        const sg_param_group *grp = &opt->groups[prm->group];
        size_t n = sg_numel(prm->t);
        const sg_backend *be = sg_backend_of_device(prm->t->device);
        bool first = false;
        if (opt->momentum != 0.0f && !opt->bufs[i]) {
            /* On the parameter's device, as torch keeps momentum_buffer. */
            opt->bufs[i] = be->alloc(n * sizeof(float));
            opt->buf_device[i] = prm->t->device;
            first = true;
        }
        SG_CHECK(!opt->bufs[i] || sg_device_equal(opt->buf_device[i], prm->t->device),
                 "sg_sgd_step: \"%s\" moved to another device after the first step", prm->name);
        /* torch keeps the group lr as a double and rounds lr * mult once. */
        float lr_g = (float)((double)lr * (double)grp->lr_mult);
        SG_BACKEND_NEED(be, sgd_update)(prm->t->data, opt->momentum != 0.0f ? opt->bufs[i] : NULL,
                                        prm->t->grad, n, lr_g, grp->weight_decay, opt->momentum,
                                        first);
    }
    opt->steps++;
}

float sg_poly_lr(float base, long iter, long total, float power)
{
    SG_CHECK(total > 0 && iter >= 0 && iter < total, "sg_poly_lr: iter %ld outside [0, %ld)", iter, total);
    /* In double like the Python reference implementations; rounded once. */
    return (float)((double)base * pow(1.0 - (double)iter / (double)total, (double)power));
}
