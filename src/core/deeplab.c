/*
 * deeplab.c: DeepLabV3+ on a ResNet backbone, as UniMatch builds it
 * (model.h; LiheYoung/UniMatch@0324f3d:model/semseg/deeplabv3plus.py, with
 * its need_fp feature-perturbation pass as unimatch.py uses it).
 *
 *   c4 (N, C4, h4, w4) -> ASPP: b0 1x1, b1..b3 3x3 at the three rates, b4
 *       global average -> 1x1 -> BN -> ReLU -> bilinear back to (h4, w4);
 *       each conv branch conv+BN+ReLU; concat (5A) -> project 1x1 -> BN -> ReLU
 *       -> bilinear (align_corners=True) to c1's size (h1, w1)
 *   c1 (N, C1, h1, w1) -> reduce 1x1 -> BN -> ReLU (R channels)
 *   concat [reduce, aspp] -> fuse: 3x3 -> BN -> ReLU -> 3x3 -> BN -> ReLU (D)
 *   -> classifier 1x1 with bias (K) -> bilinear (align_corners=True) to (H, W).
 * No dropout in the head. The feature-perturbation branch (UniMatch
 * need_fp) decodes cat(c, Dropout2d(c)) along the batch for c1 and c4 and
 * splits the upsampled logits in two halves; DSSN's (kunzhan/DSSN@efaee86:
 * voc/model/semseg/deeplabv3plus2fp.py) decodes cat(c, Dropout2d(c),
 * Dropout2d(c)) with independent masks and splits in three.
 *
 * sg_deeplab_decode is the head alone (everything after the encoder), which
 * sg_deeplab_forward and AllSpark's DeepLabV3+ (allspark_deeplab.c, the
 * module between c4 and the ASPP) share.
 *
 * Covered by tests/test_model.c (logits, loss and every gradient against
 * tests/ref/gen_model.py; parameter and multiply-add counts),
 * tests/test_dssn.c (the two perturbed copies, inside DSSN's step) and
 * tests/test_allspark.c (the head on the module's c4).
 */
#include "semiseg/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sg_deeplab_config sg_deeplab_config_default(int depth, int num_classes)
{
    sg_deeplab_config c = {.backbone = sg_resnet_config_default(depth),
                           .aspp_rates = {6, 12, 18},
                           .reduce_channels = 48,
                           .decoder_channels = 256,
                           .num_classes = num_classes};
    c.backbone.stem = SG_STEM_DEEP;
    /* UniMatch: ASPP width = high-level channels / 8 (2048 / 8 = 256). */
    c.aspp_channels = c.backbone.widths[3] * (depth >= 50 ? 4 : 1) / 8;
    return c;
}

static void sg_deeplab_config_check_(const sg_deeplab_config *cfg)
{
    sg_resnet_config_check(&cfg->backbone);
    SG_CHECK(cfg->aspp_channels >= 1 && cfg->reduce_channels >= 1 && cfg->decoder_channels >= 1,
             "deeplab: aspp/reduce/decoder channels %d/%d/%d must be >= 1", cfg->aspp_channels,
             cfg->reduce_channels, cfg->decoder_channels);
    for (int i = 0; i < 3; i++)
        SG_CHECK(cfg->aspp_rates[i] >= 1, "deeplab: aspp_rates[%d] = %d must be >= 1", i,
                 cfg->aspp_rates[i]);
    SG_CHECK(cfg->num_classes >= 1, "deeplab: num_classes = %d must be >= 1", cfg->num_classes);
}

void sg_deeplab_init(sg_deeplab *m, const sg_deeplab_config *cfg, uint64_t seed)
{
    sg_deeplab_config_check_(cfg);
    *m = (sg_deeplab){.cfg = *cfg, .training = true};
    sg_param_set_init(&m->params);
    sg_builder b = {.set = &m->params, .seed = seed, .group = 0,
                    .conv_init = SG_INIT_KAIMING_FAN_OUT};
    sg_resnet_build(&m->backbone, &cfg->backbone, &b, "backbone.");

    /* The head keeps PyTorch's default init (UniMatch does not re-init it)
     * and forms the lr_multi group. */
    b.group = 1;
    b.conv_init = SG_INIT_TORCH_DEFAULT;
    const int c1 = m->backbone.channels[0], c4 = m->backbone.channels[3];
    const int A = cfg->aspp_channels, R = cfg->reduce_channels, D = cfg->decoder_channels;
    char cn[SG_PARAM_NAME_LEN], bn[SG_PARAM_NAME_LEN];
    for (int i = 0; i < 4; i++) {
        snprintf(cn, sizeof cn, "head.b%d.0", i);
        snprintf(bn, sizeof bn, "head.b%d.1", i);
        const int rate = i == 0 ? 1 : cfg->aspp_rates[i - 1];
        m->aspp[i] = sg_builder_convbn(&b, cn, bn, c4, A, i == 0 ? 1 : 3, 1, rate);
    }
    m->pool = sg_builder_convbn(&b, "head.b4.gap.1", "head.b4.gap.2", c4, A, 1, 1, 1);
    m->project = sg_builder_convbn(&b, "head.project.0", "head.project.1", 5 * A, A, 1, 1, 1);
    m->reduce = sg_builder_convbn(&b, "reduce.0", "reduce.1", c1, R, 1, 1, 1);
    m->fuse[0] = sg_builder_convbn(&b, "fuse.0", "fuse.1", R + A, D, 3, 1, 1);
    m->fuse[1] = sg_builder_convbn(&b, "fuse.3", "fuse.4", D, D, 3, 1, 1);
    m->cls_w = sg_builder_conv(&b, "classifier.weight", cfg->num_classes, D, 1);
    m->cls_b = sg_builder_bias(&b, "classifier.bias", cfg->num_classes, D);
}

void sg_deeplab_free(sg_deeplab *m)
{
    sg_resnet_free(&m->backbone);
    sg_param_set_free(&m->params);
}

/* ASPP + low-level fusion: c1, c4 -> the decoder feature (N, D, h1, w1);
 * *cat receives the fuse convs' input, cat(reduce(c1), aspp) (N, R + A, h1, w1). */
static sg_tensor *sg_decode_(sg_ctx *ctx, const sg_deeplab *m, sg_tensor *c1, sg_tensor *c4,
                             sg_tensor **cat)
{
    const bool tr = m->training;
    sg_tensor *branch[5];
    for (int i = 0; i < 4; i++) branch[i] = sg_convbn_forward(ctx, &m->aspp[i], c4, tr, true);
    sg_tensor *g = sg_convbn_forward(ctx, &m->pool, sg_global_avgpool(ctx, c4), tr, true);
    branch[4] = sg_resize_bilinear(ctx, g, c4->shape[2], c4->shape[3], true);
    sg_tensor *y = sg_convbn_forward(ctx, &m->project, sg_concat(ctx, branch, 5, 1), tr, true);
    y = sg_resize_bilinear(ctx, y, c1->shape[2], c1->shape[3], true);
    sg_tensor *low = sg_convbn_forward(ctx, &m->reduce, c1, tr, true);
    sg_tensor *f = sg_concat(ctx, (sg_tensor *const[]){low, y}, 2, 1);
    *cat = f;
    f = sg_convbn_forward(ctx, &m->fuse[0], f, tr, true);
    return sg_convbn_forward(ctx, &m->fuse[1], f, tr, true);
}

sg_tensor *sg_deeplab_decode(sg_ctx *ctx, const sg_deeplab *m, sg_tensor *c1, sg_tensor *c4, int out_h,
                             int out_w, sg_deeplab_out *parts)
{
    sg_tensor *cat;
    sg_tensor *feature = sg_decode_(ctx, m, c1, c4, &cat);
    sg_tensor *lo = sg_conv2d(ctx, feature, m->cls_w, m->cls_b, sg_conv2d_params_make(1, 0, 1, 1));
    sg_tensor *logits = sg_resize_bilinear(ctx, lo, out_h, out_w, true);
    if (parts)
        *parts = (sg_deeplab_out){.logits = logits, .feature = feature, .decoder_in = cat, .logits_lo = lo};
    return logits;
}

void sg_deeplab_forward(sg_ctx *ctx, sg_deeplab *m, sg_tensor *x, const sg_deeplab_fp *fp,
                        sg_deeplab_out *out)
{
    *out = (sg_deeplab_out){0};
    sg_resnet_forward(ctx, &m->backbone, x, m->training, out->feats);
    sg_tensor *c1 = out->feats[0], *c4 = out->feats[3];
    if (fp) {
        sg_tensor *d1 = sg_dropout2d(ctx, c1, fp->p, fp->seed, fp->stream_c1);
        sg_tensor *d4 = sg_dropout2d(ctx, c4, fp->p, fp->seed, fp->stream_c4);
        if (fp->second) {
            sg_tensor *e1 = sg_dropout2d(ctx, c1, fp->p, fp->seed, fp->stream2_c1);
            sg_tensor *e4 = sg_dropout2d(ctx, c4, fp->p, fp->seed, fp->stream2_c4);
            c1 = sg_concat(ctx, (sg_tensor *const[]){c1, d1, e1}, 3, 0);
            c4 = sg_concat(ctx, (sg_tensor *const[]){c4, d4, e4}, 3, 0);
        } else {
            c1 = sg_concat(ctx, (sg_tensor *const[]){c1, d1}, 2, 0);
            c4 = sg_concat(ctx, (sg_tensor *const[]){c4, d4}, 2, 0);
        }
    }
    sg_deeplab_out d;
    sg_deeplab_decode(ctx, m, c1, c4, x->shape[2], x->shape[3], &d);
    if (fp) {
        const int n = x->shape[0];
        out->logits = sg_narrow(ctx, d.logits, 0, 0, n);
        out->logits_fp = sg_narrow(ctx, d.logits, 0, n, n);
        if (fp->second) out->logits_fp2 = sg_narrow(ctx, d.logits, 0, 2 * n, n);
        out->feature = sg_narrow(ctx, d.feature, 0, 0, n);
        out->logits_lo = sg_narrow(ctx, d.logits_lo, 0, 0, n);
        out->decoder_in = sg_narrow(ctx, d.decoder_in, 0, 0, n);
    } else {
        out->logits = d.logits;
        out->feature = d.feature;
        out->logits_lo = d.logits_lo;
        out->decoder_in = d.decoder_in;
    }
}

/* Adds one conv (+BN unless `bias`, which means a conv with bias and no BN)
 * of cin -> cout, kernel k, on an (h, w) output map. */
static void sg_count_head_(sg_model_cost *c, int cin, int cout, int k, int h, int w, bool bias)
{
    c->params += (size_t)cout * cin * k * k + (bias ? 1 : 2) * (size_t)cout;
    if (!bias) c->buffers += 2 * (size_t)cout;
    c->macs_head += (double)cout * cin * k * k * (double)h * (double)w;
}

sg_model_cost sg_deeplab_cost(const sg_deeplab_config *cfg, int h, int w)
{
    sg_deeplab_config_check_(cfg);
    int hw[4][2];
    sg_model_cost c = sg_resnet_cost(&cfg->backbone, h, w, hw);
    const int mult = cfg->backbone.depth >= 50 ? 4 : 1;
    const int c1 = cfg->backbone.widths[0] * mult, c4 = cfg->backbone.widths[3] * mult;
    const int A = cfg->aspp_channels, R = cfg->reduce_channels, D = cfg->decoder_channels;
    const int h1 = hw[0][0], w1 = hw[0][1], h4 = hw[3][0], w4 = hw[3][1];
    sg_count_head_(&c, c4, A, 1, h4, w4, false);
    for (int i = 0; i < 3; i++) sg_count_head_(&c, c4, A, 3, h4, w4, false);
    sg_count_head_(&c, c4, A, 1, 1, 1, false);
    sg_count_head_(&c, 5 * A, A, 1, h4, w4, false);
    sg_count_head_(&c, c1, R, 1, h1, w1, false);
    sg_count_head_(&c, R + A, D, 3, h1, w1, false);
    sg_count_head_(&c, D, D, 3, h1, w1, false);
    sg_count_head_(&c, D, cfg->num_classes, 1, h1, w1, true);
    return c;
}

/* ---- configuration as text (checkpoint metadata) ------------------------------ */

sg_tensor *sg_deeplab_logits(sg_ctx *ctx, void *model, sg_tensor *image)
{
    sg_deeplab_out out;
    sg_deeplab_forward(ctx, model, image, NULL, &out);
    return out.logits;
}

void sg_deeplab_config_format(const sg_deeplab_config *cfg, char *buf, size_t len)
{
    const sg_resnet_config *b = &cfg->backbone;
    snprintf(buf, len,
             "depth=%d widths=%d,%d,%d,%d stem=%s os=%d multi_grid=%d aspp=%d rates=%d,%d,%d "
             "reduce=%d decoder=%d classes=%d",
             b->depth, b->widths[0], b->widths[1], b->widths[2], b->widths[3],
             b->stem == SG_STEM_DEEP ? "deep" : "torchvision", b->output_stride, b->multi_grid ? 1 : 0,
             cfg->aspp_channels, cfg->aspp_rates[0], cfg->aspp_rates[1], cfg->aspp_rates[2],
             cfg->reduce_channels, cfg->decoder_channels, cfg->num_classes);
}

/* "a,b,c" of exactly n positive ints. */
static bool sg_parse_ints_(const char *v, int *out, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || x < 1 || x > 1000000) return false;
        out[i] = (int)x;
        if (i + 1 < n) {
            if (*end != ',') return false;
            v = end + 1;
        } else if (*end) {
            return false;
        }
    }
    return true;
}

int sg_deeplab_config_parse(const char *line, sg_deeplab_config *cfg, sg_err *err)
{
    static const char *const keys[] = {"depth", "widths", "stem", "os", "multi_grid", "aspp",
                                       "rates", "reduce", "decoder", "classes"};
    enum { N_KEYS = sizeof keys / sizeof keys[0] };
    memset(cfg, 0, sizeof *cfg);
    char copy[1024];
    const char *vals[N_KEYS];
    if (sg_kv_line_split(line, keys, N_KEYS, copy, sizeof copy, vals, err)) return -1;
    for (int k = 0; k < N_KEYS; k++) {
        const char *v = vals[k];
        int one = 0;
        bool ok = true;
        switch (k) {
        case 0: ok = sg_parse_ints_(v, &cfg->backbone.depth, 1); break;
        case 1: ok = sg_parse_ints_(v, cfg->backbone.widths, 4); break;
        case 2:
            ok = !strcmp(v, "deep") || !strcmp(v, "torchvision");
            cfg->backbone.stem = !strcmp(v, "deep") ? SG_STEM_DEEP : SG_STEM_TORCHVISION;
            break;
        case 3: ok = sg_parse_ints_(v, &cfg->backbone.output_stride, 1); break;
        case 4:
            ok = !strcmp(v, "0") || !strcmp(v, "1");
            cfg->backbone.multi_grid = !strcmp(v, "1");
            break;
        case 5: ok = sg_parse_ints_(v, &cfg->aspp_channels, 1); break;
        case 6: ok = sg_parse_ints_(v, cfg->aspp_rates, 3); break;
        case 7: ok = sg_parse_ints_(v, &cfg->reduce_channels, 1); break;
        case 8: ok = sg_parse_ints_(v, &cfg->decoder_channels, 1); break;
        case 9: ok = sg_parse_ints_(v, &one, 1) && one <= 255; cfg->num_classes = one; break;
        }
        if (!ok) return sg_err_set(err, "model configuration: bad value '%s' for %s", v, keys[k]);
    }
    const sg_resnet_config *b = &cfg->backbone;
    if (b->depth != 18 && b->depth != 34 && b->depth != 50 && b->depth != 101)
        return sg_err_set(err, "model configuration: depth %d is not 18, 34, 50 or 101", b->depth);
    if (b->output_stride != 8 && b->output_stride != 16)
        return sg_err_set(err, "model configuration: os %d is not 8 or 16", b->output_stride);
    return 0;
}
