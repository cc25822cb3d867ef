/*
 * init.c: parameter initialisers and the builder that registers named,
 * initialised parameters (model.h), plus the conv+BN unit's forward.
 *
 * Distributions are PyTorch's (torch.nn.init.kaiming_normal_ with
 * mode='fan_out', nonlinearity='relu' as torchvision's ResNet uses;
 * nn.Conv2d.reset_parameters = kaiming_uniform_(a=sqrt(5)) and a bias
 * bound 1/sqrt(fan_in)); the draws come from sg_rng, so values differ from
 * torch's generator. Each value is computed in double from one float draw
 * and rounded once, which tests/ref/philox.py reproduces bit for bit.
 *
 * Covered by tests/test_model.c (parity with PyTorch on identical weights,
 * and the moments of each initialiser).
 */
#include "semiseg/model.h"

#include <math.h>
#include <stdio.h>

void sg_init_kaiming_normal_fan_out(sg_tensor *w, uint64_t seed, uint64_t stream)
{
    SG_CHECK(w->dtype == SG_F32 && w->ndim >= 2,
             "sg_init_kaiming_normal_fan_out: expects a float weight of >= 2 dims");
    size_t fan_out = (size_t)w->shape[0];
    for (int d = 2; d < w->ndim; d++) fan_out *= (size_t)w->shape[d];
    /* gain sqrt(2) for ReLU over sqrt(fan_out). */
    const double std = sqrt(2.0 / (double)fan_out);
    sg_rng r;
    sg_rng_init(&r, seed, stream);
    const size_t n = sg_numel(w);
    for (size_t i = 0; i < n; i++) w->data[i] = (float)(std * (double)sg_rng_normal(&r));
}

void sg_init_uniform(sg_tensor *t, float bound, uint64_t seed, uint64_t stream)
{
    SG_CHECK(t->dtype == SG_F32, "sg_init_uniform: expects a float tensor");
    sg_rng r;
    sg_rng_init(&r, seed, stream);
    const size_t n = sg_numel(t);
    for (size_t i = 0; i < n; i++)
        t->data[i] = (float)((double)bound * (2.0 * (double)sg_rng_uniform(&r) - 1.0));
}

void sg_init_constant(sg_tensor *t, float value)
{
    SG_CHECK(t->dtype == SG_F32, "sg_init_constant: expects a float tensor");
    const size_t n = sg_numel(t);
    for (size_t i = 0; i < n; i++) t->data[i] = value;
}

/* The init stream of the parameter about to be added: its index in the set. */
static uint64_t sg_next_stream_(const sg_builder *b)
{
    return sg_rng_stream(SG_RNG_INIT, 0, (uint64_t)b->set->n_params);
}

sg_tensor *sg_builder_conv(sg_builder *b, const char *name, int cout, int cin, int k)
{
    SG_CHECK(cout >= 1 && cin >= 1 && k >= 1, "sg_builder_conv: %s has shape (%d, %d, %d, %d)",
             name, cout, cin, k, k);
    const uint64_t stream = sg_next_stream_(b);
    sg_tensor *w = sg_param_add(b->set, name, b->group, 4, (const int[]){cout, cin, k, k});
    if (b->conv_init == SG_INIT_KAIMING_FAN_OUT)
        sg_init_kaiming_normal_fan_out(w, b->seed, stream);
    else
        sg_init_uniform(w, (float)(1.0 / sqrt((double)cin * k * k)), b->seed, stream);
    return w;
}

sg_tensor *sg_builder_bias(sg_builder *b, const char *name, int n, int fan_in)
{
    SG_CHECK(n >= 1 && fan_in >= 1, "sg_builder_bias: %s has %d elements, fan_in %d", name, n,
             fan_in);
    const uint64_t stream = sg_next_stream_(b);
    sg_tensor *t = sg_param_add(b->set, name, b->group, 1, (const int[]){n});
    sg_init_uniform(t, (float)(1.0 / sqrt((double)fan_in)), b->seed, stream);
    return t;
}

sg_convbn sg_builder_convbn(sg_builder *b, const char *conv_name, const char *bn_name, int cin,
                            int cout, int k, int stride, int dilation)
{
    char name[SG_PARAM_NAME_LEN];
    sg_convbn cb;
    snprintf(name, sizeof name, "%s.weight", conv_name);
    cb.w = sg_builder_conv(b, name, cout, cin, k);
    cb.p = sg_conv2d_params_make(stride, dilation * (k - 1) / 2, dilation, 1);
    /* BN parameters draw nothing, but still occupy an index in the set, so
     * the stream of every parameter is simply its index. */
    snprintf(name, sizeof name, "%s.weight", bn_name);
    cb.gamma = sg_param_add(b->set, name, b->group, 1, (const int[]){cout});
    sg_init_constant(cb.gamma, 1.0f);
    snprintf(name, sizeof name, "%s.bias", bn_name);
    cb.beta = sg_param_add(b->set, name, b->group, 1, (const int[]){cout});
    snprintf(name, sizeof name, "%s.running_mean", bn_name);
    cb.mean = sg_buffer_add(b->set, name, 1, (const int[]){cout});
    snprintf(name, sizeof name, "%s.running_var", bn_name);
    cb.var = sg_buffer_add(b->set, name, 1, (const int[]){cout});
    sg_init_constant(cb.var, 1.0f);
    return cb;
}

sg_tensor *sg_convbn_forward(sg_ctx *ctx, const sg_convbn *cb, sg_tensor *x, bool training,
                             bool relu)
{
    sg_tensor *h = sg_conv2d(ctx, x, cb->w, NULL, cb->p);
    if (relu)
        return sg_batchnorm2d_relu(ctx, h, cb->gamma, cb->beta, cb->mean, cb->var, training,
                                   SG_BN_MOMENTUM, SG_BN_EPS);
    return sg_batchnorm2d(ctx, h, cb->gamma, cb->beta, cb->mean, cb->var, training,
                          SG_BN_MOMENTUM, SG_BN_EPS);
}
