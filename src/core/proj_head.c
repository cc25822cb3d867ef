/*
 * proj_head.c: U2PL's representation head (proj_head.h;
 * Haochen-Wang409/U2PL@ab3d2be:u2pl/models/decoder.py). Covered by
 * tests/test_u2pl.c against tests/ref/gen_u2pl.py.
 */
#include "semiseg/proj_head.h"

#include <stdio.h>

/* nn.Conv2d(cin, cout, 3, padding=1, bias=True) at index `conv`, then
 * nn.BatchNorm2d(cout) at index conv + 1, in named_parameters() order:
 * conv weight, conv bias, BN weight, BN bias. */
static sg_convbn sg_proj_conv_bn_(sg_builder *b, const char *prefix, int conv, int cin, int cout,
                                  sg_tensor **bias)
{
    char name[SG_PARAM_NAME_LEN];
    sg_convbn cb;
    snprintf(name, sizeof name, "%s%d.weight", prefix, conv);
    cb.w = sg_builder_conv(b, name, cout, cin, 3);
    cb.p = sg_conv2d_params_make(1, 1, 1, 1);
    snprintf(name, sizeof name, "%s%d.bias", prefix, conv);
    *bias = sg_builder_bias(b, name, cout, cin * 9);
    snprintf(name, sizeof name, "%s%d.weight", prefix, conv + 1);
    cb.gamma = sg_param_add(b->set, name, b->group, 1, (const int[]){cout});
    sg_init_constant(cb.gamma, 1.0f);
    snprintf(name, sizeof name, "%s%d.bias", prefix, conv + 1);
    cb.beta = sg_param_add(b->set, name, b->group, 1, (const int[]){cout});
    snprintf(name, sizeof name, "%s%d.running_mean", prefix, conv + 1);
    cb.mean = sg_buffer_add(b->set, name, 1, (const int[]){cout});
    snprintf(name, sizeof name, "%s%d.running_var", prefix, conv + 1);
    cb.var = sg_buffer_add(b->set, name, 1, (const int[]){cout});
    sg_init_constant(cb.var, 1.0f);
    return cb;
}

void sg_proj_head_build(sg_proj_head *h, sg_builder *b, const char *prefix, int cin, int mid, int out)
{
    SG_CHECK(cin >= 1 && mid >= 1 && out >= 1, "sg_proj_head_build: channels %d -> %d -> %d", cin, mid,
             out);
    *h = (sg_proj_head){.cin = cin, .mid = mid, .out = out};
    h->cb[0] = sg_proj_conv_bn_(b, prefix, 0, cin, mid, &h->bias[0]);
    h->cb[1] = sg_proj_conv_bn_(b, prefix, 4, mid, mid, &h->bias[1]);
    char name[SG_PARAM_NAME_LEN];
    snprintf(name, sizeof name, "%s8.weight", prefix);
    h->w_out = sg_builder_conv(b, name, out, mid, 1);
    snprintf(name, sizeof name, "%s8.bias", prefix);
    h->b_out = sg_builder_bias(b, name, out, mid);
}

sg_tensor *sg_proj_head_forward(sg_ctx *ctx, const sg_proj_head *h, sg_tensor *x, bool training, float p,
                                uint64_t seed, const uint64_t stream[2])
{
    SG_CHECK(x->ndim == 4 && x->shape[1] == h->cin, "sg_proj_head_forward: input has %d channels, head %d",
             x->ndim == 4 ? x->shape[1] : -1, h->cin);
    for (int i = 0; i < 2; i++) {
        const sg_convbn *cb = &h->cb[i];
        x = sg_conv2d(ctx, x, cb->w, h->bias[i], cb->p);
        x = sg_batchnorm2d_relu(ctx, x, cb->gamma, cb->beta, cb->mean, cb->var, training, SG_BN_MOMENTUM,
                                SG_BN_EPS);
        if (training && p > 0.0f) x = sg_dropout2d(ctx, x, p, seed, stream[i]);
    }
    return sg_conv2d(ctx, x, h->w_out, h->b_out, sg_conv2d_params_make(1, 0, 1, 1));
}
