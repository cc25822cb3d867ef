/*
 * resnet.c: ResNet-18/34/50/101 backbones (model.h): configuration checks,
 * building (names of UniMatch's / torchvision's state_dict), forward to the
 * four stage outputs c1..c4, and the parameter / multiply-add count.
 *
 * Reference: torchvision.models.resnet (BasicBlock, Bottleneck v1.5 with the
 * stride on the 3x3, _make_layer's replace_stride_with_dilation) and
 * LiheYoung/UniMatch model/backbone/resnet.py (deep stem 3->64->64->128,
 * multi_grid). Layout NCHW; all convs are bias-free and followed by BN.
 *
 * Covered by tests/test_model.c (PyTorch parity through DeepLabV3+ and
 * through the pretrained-loading check of the bare backbone).
 */
#include "semiseg/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Blocks per stage, torchvision's table. */
static void sg_resnet_layers_(int depth, int n[4])
{
    static const int table[4][5] = {
        {18, 2, 2, 2, 2}, {34, 3, 4, 6, 3}, {50, 3, 4, 6, 3}, {101, 3, 4, 23, 3}};
    for (int i = 0; i < 4; i++)
        if (table[i][0] == depth)
            for (int s = 0; s < 4; s++) n[s] = table[i][s + 1];
}

static bool sg_resnet_bottleneck_(int depth) { return depth >= 50; }

sg_resnet_config sg_resnet_config_default(int depth)
{
    sg_resnet_config c = {.depth = depth,
                          .widths = {64, 128, 256, 512},
                          .stem = SG_STEM_TORCHVISION,
                          .output_stride = 16,
                          .multi_grid = false};
    return c;
}

void sg_resnet_config_check(const sg_resnet_config *cfg)
{
    SG_CHECK(cfg->depth == 18 || cfg->depth == 34 || cfg->depth == 50 || cfg->depth == 101,
             "resnet: depth %d is not one of 18, 34, 50, 101", cfg->depth);
    for (int s = 0; s < 4; s++)
        SG_CHECK(cfg->widths[s] >= 1, "resnet: widths[%d] = %d must be >= 1", s, cfg->widths[s]);
    SG_CHECK(cfg->output_stride == 8 || cfg->output_stride == 16,
             "resnet: output stride %d is not 8 or 16", cfg->output_stride);
    SG_CHECK(cfg->stem == SG_STEM_TORCHVISION || cfg->stem == SG_STEM_DEEP,
             "resnet: unknown stem %d", (int)cfg->stem);
}

typedef struct {
    int stride, dilation;
} sg_block_geom_;

/* Stride and dilation of block `b` of stage `s`, following torchvision's
 * _make_layer: a dilated stage trades its stride 2 for dilation x2, and its
 * first block keeps the dilation of the previous stage. */
static sg_block_geom_ sg_resnet_geom_(const sg_resnet_config *cfg, int s, int b)
{
    int dilation = 1, prev = 1, stride = 1;
    for (int t = 0; t <= s; t++) {
        stride = t == 0 ? 1 : 2;
        bool dilate = t == 3 || (t == 2 && cfg->output_stride == 8);
        prev = dilation;
        if (dilate) {
            dilation *= stride;
            stride = 1;
        }
    }
    static const int grid[3] = {2, 2, 4};
    int g = (s == 3 && cfg->multi_grid) ? grid[b < 3 ? b : 2] : 1;
    sg_block_geom_ geom = {b == 0 ? stride : 1, (b == 0 ? prev : dilation) * g};
    return geom;
}

/* One conv of a block. */
typedef struct {
    int cin, cout, k, stride, dilation;
} sg_conv_spec_;

/* The convs of a block: BasicBlock 3x3 (stride) + 3x3, both dilated;
 * Bottleneck 1x1 + 3x3 (stride, dilation) + 1x1 (x4 channels). */
static void sg_block_specs_(bool bottle, int inplanes, int planes, sg_block_geom_ g,
                            sg_conv_spec_ spec[3])
{
    if (bottle) {
        spec[0] = (sg_conv_spec_){inplanes, planes, 1, 1, 1};
        spec[1] = (sg_conv_spec_){planes, planes, 3, g.stride, g.dilation};
        spec[2] = (sg_conv_spec_){planes, 4 * planes, 1, 1, 1};
    } else {
        spec[0] = (sg_conv_spec_){inplanes, planes, 3, g.stride, g.dilation};
        spec[1] = (sg_conv_spec_){planes, planes, 3, 1, g.dilation};
    }
}

/* Channels entering layer1: the stem's output. */
static int sg_resnet_stem_out_(const sg_resnet_config *cfg)
{
    return cfg->stem == SG_STEM_DEEP ? 2 * cfg->widths[0] : cfg->widths[0];
}

void sg_resnet_build(sg_resnet *net, const sg_resnet_config *cfg, sg_builder *b,
                     const char *prefix)
{
    sg_resnet_config_check(cfg);
    /* Leaves room for "layerS.B.downsample.1.running_mean" in every name. */
    SG_CHECK(strlen(prefix) < SG_PARAM_NAME_LEN / 2 - 12,
             "sg_resnet_build: prefix \"%s\" is too long", prefix);
    const sg_init_rule saved = b->conv_init;
    b->conv_init = SG_INIT_KAIMING_FAN_OUT;
    *net = (sg_resnet){.cfg = *cfg};
    const bool bottle = sg_resnet_bottleneck_(cfg->depth);
    const int expansion = bottle ? 4 : 1;
    net->n_conv = bottle ? 3 : 2;
    sg_resnet_layers_(cfg->depth, net->n_blocks);

    char cn[SG_PARAM_NAME_LEN], bn[SG_PARAM_NAME_LEN];
    const int w0 = cfg->widths[0];
    if (cfg->stem == SG_STEM_DEEP) {
        /* UniMatch's Sequential: indices 2 and 5 are ReLUs, bn1 follows conv1.6. */
        static const char *conv[3] = {"conv1.0", "conv1.3", "conv1.6"};
        static const char *norm[3] = {"conv1.1", "conv1.4", "bn1"};
        const int cin[3] = {3, w0, w0}, cout[3] = {w0, w0, 2 * w0};
        for (int i = 0; i < 3; i++) {
            snprintf(cn, sizeof cn, "%s%s", prefix, conv[i]);
            snprintf(bn, sizeof bn, "%s%s", prefix, norm[i]);
            net->stem[i] = sg_builder_convbn(b, cn, bn, cin[i], cout[i], 3, i == 0 ? 2 : 1, 1);
        }
        net->n_stem = 3;
    } else {
        snprintf(cn, sizeof cn, "%sconv1", prefix);
        snprintf(bn, sizeof bn, "%sbn1", prefix);
        net->stem[0] = sg_builder_convbn(b, cn, bn, 3, w0, 7, 2, 1);
        net->n_stem = 1;
    }

    int inplanes = sg_resnet_stem_out_(cfg);
    for (int s = 0; s < 4; s++) {
        const int planes = cfg->widths[s], out = planes * expansion;
        net->blocks[s] = sg_xcalloc((size_t)net->n_blocks[s], sizeof(sg_resnet_block));
        for (int i = 0; i < net->n_blocks[s]; i++) {
            sg_resnet_block *blk = &net->blocks[s][i];
            const sg_block_geom_ g = sg_resnet_geom_(cfg, s, i);
            char base[SG_PARAM_NAME_LEN / 2];
            snprintf(base, sizeof base, "%slayer%d.%d", prefix, s + 1, i);
            sg_conv_spec_ spec[3];
            sg_block_specs_(bottle, inplanes, planes, g, spec);
            /* torchvision's registration order: conv1, bn1, conv2, bn2[, conv3,
             * bn3], downsample. */
            for (int c = 0; c < net->n_conv; c++) {
                snprintf(cn, sizeof cn, "%s.conv%d", base, c + 1);
                snprintf(bn, sizeof bn, "%s.bn%d", base, c + 1);
                blk->conv[c] = sg_builder_convbn(b, cn, bn, spec[c].cin, spec[c].cout, spec[c].k,
                                                 spec[c].stride, spec[c].dilation);
            }
            if (i == 0 && (g.stride != 1 || inplanes != out)) {
                snprintf(cn, sizeof cn, "%s.downsample.0", base);
                snprintf(bn, sizeof bn, "%s.downsample.1", base);
                blk->down = sg_builder_convbn(b, cn, bn, inplanes, out, 1, g.stride, 1);
            }
            inplanes = out;
        }
        net->channels[s] = out;
    }
    b->conv_init = saved;
}

void sg_resnet_free(sg_resnet *net)
{
    for (int s = 0; s < 4; s++) free(net->blocks[s]);
    *net = (sg_resnet){0};
}

static sg_tensor *sg_block_forward_(sg_ctx *ctx, const sg_resnet *net, const sg_resnet_block *blk,
                                    sg_tensor *x, bool training)
{
    sg_tensor *h = x;
    for (int c = 0; c < net->n_conv; c++)
        h = sg_convbn_forward(ctx, &blk->conv[c], h, training, c + 1 < net->n_conv);
    sg_tensor *identity = blk->down.w ? sg_convbn_forward(ctx, &blk->down, x, training, false) : x;
    return sg_relu(ctx, sg_add(ctx, h, identity));
}

void sg_resnet_forward(sg_ctx *ctx, const sg_resnet *net, sg_tensor *x, bool training,
                       sg_tensor *feats[4])
{
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->dtype == SG_F32 && x->ndim == 4 && x->shape[1] == 3,
             "sg_resnet_forward: expects a float (N, 3, H, W) image batch, got %s",
             sg_shape_str(x, a, sizeof a));
    sg_tensor *h = x;
    for (int i = 0; i < net->n_stem; i++)
        h = sg_convbn_forward(ctx, &net->stem[i], h, training, true);
    h = sg_maxpool2d(ctx, h, 3, 2, 1);
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < net->n_blocks[s]; i++)
            h = sg_block_forward_(ctx, net, &net->blocks[s][i], h, training);
        feats[s] = h;
    }
}

/* ---- counting ------------------------------------------------------------------ */
/* One bias-free conv + BN on an (h, w) map: parameters, buffers, MACs, and
 * the output size with padding dilation * (k - 1) / 2. */
static void sg_count_convbn_(sg_model_cost *c, double *macs, int cin, int cout, int k, int stride,
                             int *h, int *w)
{
    *h = (*h - 1) / stride + 1;
    *w = (*w - 1) / stride + 1;
    c->params += (size_t)cout * cin * k * k + 2 * (size_t)cout;
    c->buffers += 2 * (size_t)cout;
    *macs += (double)cout * cin * k * k * (double)*h * (double)*w;
}

sg_model_cost sg_resnet_cost(const sg_resnet_config *cfg, int h, int w, int feat_hw[4][2])
{
    sg_resnet_config_check(cfg);
    SG_CHECK(h >= 1 && w >= 1, "sg_resnet_cost: image size %dx%d", h, w);
    sg_model_cost c = {0};
    double *m = &c.macs_backbone;
    const int w0 = cfg->widths[0];
    if (cfg->stem == SG_STEM_DEEP) {
        sg_count_convbn_(&c, m, 3, w0, 3, 2, &h, &w);
        sg_count_convbn_(&c, m, w0, w0, 3, 1, &h, &w);
        sg_count_convbn_(&c, m, w0, 2 * w0, 3, 1, &h, &w);
    } else {
        sg_count_convbn_(&c, m, 3, w0, 7, 2, &h, &w);
    }
    /* max-pool 3x3 s2 p1: the same size rule as a strided 3x3 conv */
    h = (h - 1) / 2 + 1;
    w = (w - 1) / 2 + 1;
    const bool bottle = sg_resnet_bottleneck_(cfg->depth);
    int n[4];
    sg_resnet_layers_(cfg->depth, n);
    int inplanes = sg_resnet_stem_out_(cfg);
    for (int s = 0; s < 4; s++) {
        const int planes = cfg->widths[s], out = bottle ? 4 * planes : planes;
        for (int i = 0; i < n[s]; i++) {
            const sg_block_geom_ g = sg_resnet_geom_(cfg, s, i);
            int bh = h, bw = w;
            if (i == 0 && (g.stride != 1 || inplanes != out)) {
                int dh = h, dw = w;
                sg_count_convbn_(&c, m, inplanes, out, 1, g.stride, &dh, &dw);
            }
            sg_conv_spec_ spec[3];
            sg_block_specs_(bottle, inplanes, planes, g, spec);
            for (int k = 0; k < (bottle ? 3 : 2); k++)
                sg_count_convbn_(&c, m, spec[k].cin, spec[k].cout, spec[k].k, spec[k].stride, &bh,
                                 &bw);
            h = bh;
            w = bw;
            inplanes = out;
        }
        if (feat_hw) {
            feat_hw[s][0] = h;
            feat_hw[s][1] = w;
        }
    }
    return c;
}
