/*
 * semi_check.c: the helpers the semi-supervised methods' parity tests share
 * (see semi_check.h for what and who).
 */
#include "semi_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

void semi_check_deeplab_config(sg_deeplab_config *cfg, const double *c)
{
    cfg->backbone.depth = (int)c[0];
    for (int i = 0; i < 4; i++) cfg->backbone.widths[i] = (int)c[1 + i];
    cfg->backbone.stem = c[5] != 0 ? SG_STEM_DEEP : SG_STEM_TORCHVISION;
    cfg->backbone.output_stride = (int)c[6];
    cfg->backbone.multi_grid = c[7] != 0;
    cfg->aspp_channels = (int)c[8];
    for (int i = 0; i < 3; i++) cfg->aspp_rates[i] = (int)c[9 + i];
    cfg->reduce_channels = (int)c[12];
    cfg->decoder_channels = (int)c[13];
    cfg->num_classes = (int)c[14];
}

void semi_check_inputs_load(semi_check_inputs *in, const sg_fixture *fx)
{
    static const char *names[SEMI_CHECK_N_INPUTS] = {"x",    "y",    "uw", "us1", "us2", "ign",
                                                     "box1", "box2", "mw", "ms1", "ms2", "mign"};
    for (int i = 0; i < SEMI_CHECK_N_INPUTS; i++) in->all[i] = sg_fixture_tensor(fx, names[i], false);
    sg_tensor **t = in->all;
    in->lab = (sg_batch){.n = t[0]->shape[0], .img = t[0], .mask = t[1]};
    in->unl = (sg_batch){.n = t[2]->shape[0], .img = t[2], .img_s1 = t[3], .img_s2 = t[4],
                         .ignore = t[5], .box1 = t[6], .box2 = t[7]};
    in->mix = (sg_batch){.n = t[8]->shape[0], .img = t[8], .img_s1 = t[9], .img_s2 = t[10],
                         .ignore = t[11]};
}

void semi_check_inputs_free(semi_check_inputs *in)
{
    for (int i = 0; i < SEMI_CHECK_N_INPUTS; i++) sg_tensor_free(in->all[i]);
}

void semi_check_warm(sg_ctx *ctx, sg_deeplab *m, int warm, sg_tensor *x, sg_tensor *uw)
{
    bool was = sg_ctx_set_grad(ctx, false);
    for (int i = 0; i < warm; i++) {
        sg_deeplab_out o;
        sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){x, uw}, 2, 0), NULL, &o);
        sg_ctx_reset(ctx);
    }
    sg_ctx_set_grad(ctx, was);
}

float **semi_check_snapshot(const sg_param_set *ps)
{
    float **v = sg_xmalloc((size_t)ps->n_params * sizeof *v);
    for (int i = 0; i < ps->n_params; i++) {
        size_t n = sg_numel(ps->params[i].t);
        v[i] = sg_xmalloc(n * sizeof(float));
        memcpy(v[i], ps->params[i].t->data, n * sizeof(float));
    }
    return v;
}

void semi_check_snapshot_free(float **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

int semi_check_close_delta(const sg_fixture *fx, const char *key, const float *got, const float *before,
                           size_t n, double tol)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    if (m != n) return tap_ok(0, "%s: %zu elements, fixture has %zu", key, n, m);
    double scale = 0.0;
    for (size_t i = 0; i < m; i++) scale = fmax(scale, fabs(ref[i] - (before ? before[i] : 0.0)));
    return sg_check_close(fx, key, got, n, tol * scale, VALUE_RTOL);
}

void semi_check_set(const sg_fixture *fx, const char *prefix, bool teacher, const sg_param_set *ps,
                    float **before, double f, const char *what)
{
    int bad = 0;
    char key[256];
    for (int i = 0; i < ps->n_params; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", prefix, teacher ? "teacher" : "param", ps->params[i].name);
        bad += !semi_check_close_delta(fx, key, ps->params[i].t->data, before[i], sg_numel(ps->params[i].t),
                                       STEP_TOL * f);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", prefix, teacher ? "teacher" : "buf", ps->buffers[i].name);
        bad += !semi_check_close_delta(fx, key, ps->buffers[i].t->data, NULL, sg_numel(ps->buffers[i].t),
                                       BUF_TOL * f);
    }
    tap_ok(bad == 0, "%s: %d parameters and %d buffers match (%d off)", what, ps->n_params, ps->n_buffers, bad);
}

int semi_check_term(const char *who, const char *name, double got, double ref)
{
    if (!(fabs(got - ref) > TERM_TOL * fmax(1.0, fabs(ref)))) return 1;
    tap_diag("%s %s = %.9g, PyTorch %.9g", who, name, got, ref);
    return 0;
}

void semi_check_sgd_step(sg_param_set *ps, float lr, float head_mult, float wd)
{
    sg_sgd opt;
    sg_sgd_init(&opt, ps, 2, 0.9f, wd);
    opt.groups[1].lr_mult = head_mult;
    sg_sgd_step(&opt, ps, lr);
    sg_sgd_free(&opt);
}
