/*
 * mit.c: the MiT encoders and the SegFormer head (mit.h).
 *
 * Reference: NVlabs/SegFormer@65fa8cf:mmseg/models/backbones/mix_transformer.py
 * (OverlapPatchEmbed, Attention, Mlp/DWConv, Block, MixVisionTransformer,
 * mit_b0..mit_b5) and mmseg/models/decode_heads/segformer_head.py; AllSpark
 * ships the same code (xmed-lab/AllSpark@9da63e2:model/backbone/mit.py,
 * SegFormerHead in model/semseg/allspark.py). Every Linear acts on the
 * channels of an NCHW map as a 1x1 convolution (see mit.h); the layer norms
 * over tokens are sg_layernorm_channels; the attention is sg_attention on
 * the channels-first maps.
 * Covered by tests/test_mit.c.
 */
#include "semiseg/checkpoint.h"
#include "semiseg/mit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_MIT_LN_EPS 1e-6f     /* the blocks' and stages' norm_layer */
#define SG_MIT_LN_EPS_TORCH 1e-5f  /* nn.LayerNorm's default: patch embeds, attn.norm */

sg_mit_config sg_mit_config_preset(int variant)
{
    SG_CHECK(variant >= 0 && variant <= 5, "sg_mit_config_preset: MiT-B%d does not exist (B0..B5)",
             variant);
    static const int depths[6][4] = {{2, 2, 2, 2}, {2, 2, 2, 2}, {3, 4, 6, 3},
                                     {3, 4, 18, 3}, {3, 8, 27, 3}, {3, 6, 40, 3}};
    sg_mit_config c = {.embed_dims = {64, 128, 320, 512}, .num_heads = {1, 2, 5, 8},
                       .sr_ratios = {8, 4, 2, 1}, .mlp_ratio = 4, .drop_path_rate = 0.1f};
    if (variant == 0) {
        const int e0[4] = {32, 64, 160, 256};
        for (int s = 0; s < 4; s++) c.embed_dims[s] = e0[s];
    }
    for (int s = 0; s < 4; s++) c.depths[s] = depths[variant][s];
    return c;
}

void sg_mit_config_check(const sg_mit_config *c)
{
    for (int s = 0; s < 4; s++) {
        SG_CHECK(c->embed_dims[s] >= 1 && c->num_heads[s] >= 1 &&
                     c->embed_dims[s] % c->num_heads[s] == 0,
                 "MiT stage %d: %d channels do not split into %d heads", s + 1, c->embed_dims[s],
                 c->num_heads[s]);
        SG_CHECK(c->depths[s] >= 1 && c->depths[s] <= 64, "MiT stage %d: depth %d outside [1, 64]",
                 s + 1, c->depths[s]);
        SG_CHECK(c->sr_ratios[s] >= 1, "MiT stage %d: sr_ratio %d < 1", s + 1, c->sr_ratios[s]);
    }
    SG_CHECK(c->mlp_ratio >= 1, "MiT: mlp_ratio %d < 1", c->mlp_ratio);
    SG_CHECK(c->drop_path_rate >= 0.0f && c->drop_path_rate < 1.0f,
             "MiT: drop_path_rate %g outside [0, 1)", (double)c->drop_path_rate);
}

/* ---- building ----------------------------------------------------------------------------- */

/* Adds `prefix``name` with the given shape and initialises it: std > 0 a
 * normal N(0, std^2), std < 0 U(+-(-std)), std = 0 the constant `value`. */
static sg_tensor *sg_mit_param_(sg_builder *b, const char *prefix, const char *name, int ndim,
                                const int *shape, double std, float value)
{
    char full[SG_PARAM_NAME_LEN];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const uint64_t stream = sg_rng_stream(SG_RNG_INIT, 0, (uint64_t)b->set->n_params);
    sg_tensor *t = sg_param_add(b->set, full, b->group, ndim, shape);
    if (std > 0.0) {
        /* Computed in double from one float draw and rounded once, as init.c. */
        sg_rng r;
        sg_rng_init(&r, b->seed, stream);
        for (size_t i = 0; i < sg_numel(t); i++) t->data[i] = (float)(std * (double)sg_rng_normal(&r));
    } else if (std < 0.0) {
        sg_init_uniform(t, (float)-std, b->seed, stream);
    } else {
        sg_init_constant(t, value);
    }
    return t;
}

/* Linear (out, in) + bias (out) of the MiT: trunc_normal(0.02), bias 0. */
static void sg_mit_linear_(sg_builder *b, const char *prefix, const char *name, int out, int in,
                           sg_tensor **w, sg_tensor **bias)
{
    char n[SG_PARAM_NAME_LEN];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = sg_mit_param_(b, prefix, n, 2, (const int[]){out, in}, 0.02, 0.0f);
    snprintf(n, sizeof n, "%s.bias", name);
    *bias = sg_mit_param_(b, prefix, n, 1, (const int[]){out}, 0.0, 0.0f);
}

/* Conv (out, in/groups, k, k) + bias of the MiT: N(0, 2 / (k k out / groups)), bias 0. */
static void sg_mit_conv_(sg_builder *b, const char *prefix, const char *name, int out, int in,
                         int k, int groups, sg_tensor **w, sg_tensor **bias)
{
    char n[SG_PARAM_NAME_LEN];
    snprintf(n, sizeof n, "%s.weight", name);
    const double fan_out = (double)k * k * out / groups;
    *w = sg_mit_param_(b, prefix, n, 4, (const int[]){out, in / groups, k, k}, sqrt(2.0 / fan_out),
                       0.0f);
    snprintf(n, sizeof n, "%s.bias", name);
    *bias = sg_mit_param_(b, prefix, n, 1, (const int[]){out}, 0.0, 0.0f);
}

static void sg_mit_norm_(sg_builder *b, const char *prefix, const char *name, int c,
                         sg_tensor **w, sg_tensor **bias)
{
    char n[SG_PARAM_NAME_LEN];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = sg_mit_param_(b, prefix, n, 1, (const int[]){c}, 0.0, 1.0f);
    snprintf(n, sizeof n, "%s.bias", name);
    *bias = sg_mit_param_(b, prefix, n, 1, (const int[]){c}, 0.0, 0.0f);
}

void sg_mit_build(sg_mit *net, const sg_mit_config *cfg, sg_builder *b, const char *prefix)
{
    sg_mit_config_check(cfg);
    *net = (sg_mit){.cfg = *cfg};
    char n[SG_PARAM_NAME_LEN];
    for (int s = 0; s < 4; s++) {
        const int cin = s == 0 ? 3 : cfg->embed_dims[s - 1], c = cfg->embed_dims[s];
        net->channels[s] = c;
        snprintf(n, sizeof n, "patch_embed%d.proj", s + 1);
        sg_mit_conv_(b, prefix, n, c, cin, s == 0 ? 7 : 3, 1, &net->pe_w[s], &net->pe_b[s]);
        snprintf(n, sizeof n, "patch_embed%d.norm", s + 1);
        sg_mit_norm_(b, prefix, n, c, &net->pe_nw[s], &net->pe_nb[s]);
    }
    int total = 0, j = 0;
    for (int s = 0; s < 4; s++) total += cfg->depths[s];
    for (int s = 0; s < 4; s++) {
        const int c = cfg->embed_dims[s], hidden = c * cfg->mlp_ratio, sr = cfg->sr_ratios[s];
        net->blocks[s] = calloc((size_t)cfg->depths[s], sizeof(sg_mit_block));
        SG_CHECK(net->blocks[s], "sg_mit_build: out of memory");
        for (int i = 0; i < cfg->depths[s]; i++, j++) {
            sg_mit_block *k = &net->blocks[s][i];
            /* torch.linspace(0, rate, total)[j], in float as torch computes it. */
            k->drop_path = total > 1 ? (float)((double)cfg->drop_path_rate * j / (total - 1)) : 0.0f;
            char p[SG_PARAM_NAME_LEN];
            snprintf(p, sizeof p, "%sblock%d.%d.", prefix, s + 1, i);
            sg_mit_norm_(b, p, "norm1", c, &k->norm1_w, &k->norm1_b);
            sg_mit_linear_(b, p, "attn.q", c, c, &k->q_w, &k->q_b);
            sg_mit_linear_(b, p, "attn.kv", 2 * c, c, &k->kv_w, &k->kv_b);
            sg_mit_linear_(b, p, "attn.proj", c, c, &k->proj_w, &k->proj_b);
            if (sr > 1) {
                sg_mit_conv_(b, p, "attn.sr", c, c, sr, 1, &k->sr_w, &k->sr_b);
                sg_mit_norm_(b, p, "attn.norm", c, &k->srn_w, &k->srn_b);
            }
            sg_mit_norm_(b, p, "norm2", c, &k->norm2_w, &k->norm2_b);
            sg_mit_linear_(b, p, "mlp.fc1", hidden, c, &k->fc1_w, &k->fc1_b);
            sg_mit_conv_(b, p, "mlp.dwconv.dwconv", hidden, hidden, 3, hidden, &k->dw_w, &k->dw_b);
            sg_mit_linear_(b, p, "mlp.fc2", c, hidden, &k->fc2_w, &k->fc2_b);
        }
        snprintf(n, sizeof n, "norm%d", s + 1);
        sg_mit_norm_(b, prefix, n, c, &net->norm_w[s], &net->norm_b[s]);
    }
}

void sg_mit_free(sg_mit *net)
{
    for (int s = 0; s < 4; s++) {
        free(net->blocks[s]);
        net->blocks[s] = NULL;
    }
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* Rows [row0, row0 + rows) of a long-lived Linear weight (O, I) or bias (O)
 * as a 1x1 conv weight (rows, I, 1, 1) or a bias (rows): a header over the
 * same data and gradient buffer, so the conv's backward accumulates into
 * the parameter's own gradient. Only a leaf owning its memory qualifies:
 * its gradient buffer exists for the tensor's whole life. */
static sg_tensor *sg_rows_as_(sg_ctx *ctx, sg_tensor *w, int row0, int rows, bool conv)
{
    SG_CHECK(w->owns_memory && (!w->requires_grad || w->grad),
             "MiT: a Linear weight must be a long-lived parameter");
    const size_t width = w->ndim == 2 ? (size_t)w->shape[1] : 1;
    sg_tensor *t = sg_arena_alloc(sg_ctx_host_arena(ctx), sizeof *t);
    *t = *w;
    t->owns_memory = false;
    if (conv) {
        t->ndim = 4;
        t->shape[0] = rows;
        t->shape[1] = (int)width;
        t->shape[2] = t->shape[3] = 1;
    } else {
        t->ndim = 1;
        t->shape[0] = rows;
    }
    t->data = w->data + (size_t)row0 * width;
    t->grad = w->grad ? w->grad + (size_t)row0 * width : NULL;
    return t;
}

/* nn.Linear over the channels of x (N, I, H, W): (N, O, H, W). */
static sg_tensor *sg_linear_nchw_(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b, int row0,
                                  int rows)
{
    char a[SG_SHAPE_STR_LEN], c[SG_SHAPE_STR_LEN];
    SG_CHECK(w->ndim == 2 && x->ndim == 4 && x->shape[1] == w->shape[1] && row0 >= 0 &&
                 row0 + rows <= w->shape[0] && (!b || (b->ndim == 1 && b->shape[0] == w->shape[0])),
             "sg_linear_channels: weight %s does not fit x %s", sg_shape_str(w, a, sizeof a),
             sg_shape_str(x, c, sizeof c));
    return sg_conv2d(ctx, x, sg_rows_as_(ctx, w, row0, rows, true),
                     b ? sg_rows_as_(ctx, b, row0, rows, false) : NULL,
                     sg_conv2d_params_make(1, 0, 1, 1));
}

sg_tensor *sg_linear_channels(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b)
{
    return sg_linear_nchw_(ctx, x, w, b, 0, w->ndim == 2 ? w->shape[0] : 0);
}

static sg_tensor *sg_mit_attention_(sg_ctx *ctx, const sg_mit_block *k, sg_tensor *x, int C,
                                    int heads, int sr)
{
    sg_tensor *q = sg_linear_nchw_(ctx, x, k->q_w, k->q_b, 0, C);
    sg_tensor *r = x;
    if (sr > 1) {
        r = sg_conv2d(ctx, x, k->sr_w, k->sr_b, sg_conv2d_params_make(sr, 0, 1, 1));
        r = sg_layernorm_channels(ctx, r, k->srn_w, k->srn_b, SG_MIT_LN_EPS_TORCH);
    }
    sg_tensor *kk = sg_linear_nchw_(ctx, r, k->kv_w, k->kv_b, 0, C);
    sg_tensor *vv = sg_linear_nchw_(ctx, r, k->kv_w, k->kv_b, C, C);
    /* qk_scale = None: head_dim ** -0.5, a Python float rounded to float. */
    const float scale = (float)pow((double)(C / heads), -0.5);
    sg_tensor *a = sg_attention(ctx, q, kk, vv, heads, scale);
    return sg_linear_nchw_(ctx, a, k->proj_w, k->proj_b, 0, C);
}

static sg_tensor *sg_mit_mlp_(sg_ctx *ctx, const sg_mit_block *k, sg_tensor *x, int hidden, int C)
{
    sg_tensor *h = sg_linear_nchw_(ctx, x, k->fc1_w, k->fc1_b, 0, hidden);
    h = sg_conv2d(ctx, h, k->dw_w, k->dw_b, sg_conv2d_params_make(1, 1, 1, hidden));
    h = sg_gelu(ctx, h);
    return sg_linear_nchw_(ctx, h, k->fc2_w, k->fc2_b, 0, C);
}

/* x + drop_path(y): the residual branch of a block (DropPath only with
 * noise and a nonzero rate; nn.Identity otherwise). */
static sg_tensor *sg_mit_residual_(sg_ctx *ctx, sg_tensor *x, sg_tensor *y, float p,
                                   const sg_mit_noise *noise, int j)
{
    if (noise && p > 0.0f)
        y = sg_drop_path(ctx, y, p, noise->seed,
                         sg_rng_stream(SG_RNG_DROPOUT, noise->a, (uint64_t)j + 1));
    return sg_add(ctx, x, y);
}

void sg_mit_forward(sg_ctx *ctx, const sg_mit *net, sg_tensor *x, const sg_mit_noise *noise,
                    sg_tensor *feats[4])
{
    const sg_mit_config *cfg = &net->cfg;
    char a[SG_SHAPE_STR_LEN];
    SG_CHECK(x->ndim == 4 && x->shape[1] == 3, "sg_mit_forward: expects (N, 3, H, W), got %s",
             sg_shape_str(x, a, sizeof a));
    int j = 0;
    for (int s = 0; s < 4; s++) {
        const int C = cfg->embed_dims[s];
        const sg_conv2d_params pp = s == 0 ? sg_conv2d_params_make(4, 3, 1, 1)
                                           : sg_conv2d_params_make(2, 1, 1, 1);
        x = sg_conv2d(ctx, x, net->pe_w[s], net->pe_b[s], pp);
        x = sg_layernorm_channels(ctx, x, net->pe_nw[s], net->pe_nb[s], SG_MIT_LN_EPS_TORCH);
        for (int i = 0; i < cfg->depths[s]; i++, j++) {
            const sg_mit_block *k = &net->blocks[s][i];
            sg_tensor *h = sg_layernorm_channels(ctx, x, k->norm1_w, k->norm1_b, SG_MIT_LN_EPS);
            h = sg_mit_attention_(ctx, k, h, C, cfg->num_heads[s], cfg->sr_ratios[s]);
            x = sg_mit_residual_(ctx, x, h, k->drop_path, noise, j);
            h = sg_layernorm_channels(ctx, x, k->norm2_w, k->norm2_b, SG_MIT_LN_EPS);
            h = sg_mit_mlp_(ctx, k, h, C * cfg->mlp_ratio, C);
            x = sg_mit_residual_(ctx, x, h, k->drop_path, noise, j);
        }
        x = sg_layernorm_channels(ctx, x, net->norm_w[s], net->norm_b[s], SG_MIT_LN_EPS);
        feats[s] = x;
    }
}

/* ---- SegFormer ------------------------------------------------------------------------------- */

sg_segformer_config sg_segformer_config_preset(int variant, int num_classes)
{
    /* NVlabs/SegFormer@65fa8cf:local_configs/segformer/B0..B5: decoder_params
     * embed_dim 256 for B0 and B1, 768 for B2..B5. */
    return (sg_segformer_config){.backbone = sg_mit_config_preset(variant),
                                 .embed_dim = variant <= 1 ? 256 : 768,
                                 .num_classes = num_classes,
                                 .head_dropout = 0.1f};
}

void sg_segformer_init(sg_segformer *m, const sg_segformer_config *cfg, uint64_t seed)
{
    SG_CHECK(cfg->embed_dim >= 1 && cfg->num_classes >= 1 && cfg->num_classes <= 256,
             "sg_segformer_init: embed_dim %d, num_classes %d (want >= 1, classes <= 256)",
             cfg->embed_dim, cfg->num_classes);
    SG_CHECK(cfg->head_dropout >= 0.0f && cfg->head_dropout < 1.0f,
             "sg_segformer_init: head_dropout %g outside [0, 1)", (double)cfg->head_dropout);
    *m = (sg_segformer){.cfg = *cfg, .training = true};
    sg_param_set_init(&m->params);
    sg_builder b = {.set = &m->params, .seed = seed, .group = 0,
                    .conv_init = SG_INIT_KAIMING_FAN_OUT};
    sg_mit_build(&m->backbone, &cfg->backbone, &b, "backbone.");
    b.group = 1;
    const int E = cfg->embed_dim;
    char n[SG_PARAM_NAME_LEN];
    /* nn.Module registration order: linear_c4, c3, c2, c1. */
    for (int i = 3; i >= 0; i--) {
        const int cin = m->backbone.channels[i];
        const double bound = 1.0 / sqrt((double)cin);
        snprintf(n, sizeof n, "linear_c%d.proj.weight", i + 1);
        m->lin_w[i] = sg_mit_param_(&b, "decode_head.", n, 2, (const int[]){E, cin}, -bound, 0.0f);
        snprintf(n, sizeof n, "linear_c%d.proj.bias", i + 1);
        m->lin_b[i] = sg_mit_param_(&b, "decode_head.", n, 1, (const int[]){E}, -bound, 0.0f);
    }
    m->fuse = sg_builder_convbn(&b, "decode_head.linear_fuse.conv", "decode_head.linear_fuse.bn",
                                4 * E, E, 1, 1, 1);
    b.conv_init = SG_INIT_TORCH_DEFAULT;
    m->pred_w = sg_builder_conv(&b, "decode_head.linear_pred.weight", cfg->num_classes, E, 1);
    m->pred_b = sg_builder_bias(&b, "decode_head.linear_pred.bias", cfg->num_classes, E);
}

void sg_segformer_free(sg_segformer *m)
{
    sg_mit_free(&m->backbone);
    sg_param_set_free(&m->params);
}

void sg_segformer_forward(sg_ctx *ctx, sg_segformer *m, sg_tensor *x, const sg_mit_noise *noise,
                          sg_segformer_out *out)
{
    SG_CHECK(!m->training || noise, "sg_segformer_forward: training mode needs noise");
    sg_mit_forward(ctx, &m->backbone, x, m->training ? noise : NULL, out->feats);
    sg_segformer_decode(ctx, m, out->feats, x->shape[2], x->shape[3], noise, out);
}

void sg_segformer_decode(sg_ctx *ctx, sg_segformer *m, sg_tensor *const feats[4], int height,
                         int width, const sg_mit_noise *noise, sg_segformer_out *out)
{
    SG_CHECK(!m->training || noise, "sg_segformer_decode: training mode needs noise");
    const sg_mit_noise *nz = m->training ? noise : NULL;
    if (out->feats != feats) memcpy(out->feats, feats, sizeof out->feats);
    const int E = m->cfg.embed_dim;
    const int h1 = out->feats[0]->shape[2], w1 = out->feats[0]->shape[3];
    sg_tensor *parts[4];
    for (int i = 3; i >= 0; i--) {
        sg_tensor *e = sg_linear_nchw_(ctx, out->feats[i], m->lin_w[i], m->lin_b[i], 0, E);
        if (i > 0) e = sg_resize_bilinear(ctx, e, h1, w1, false);
        parts[3 - i] = e;
    }
    sg_tensor *f = sg_concat(ctx, parts, 4, 1);
    f = sg_convbn_forward(ctx, &m->fuse, f, m->training, true);
    out->feature = f;
    if (nz && m->cfg.head_dropout > 0.0f)
        f = sg_dropout2d(ctx, f, m->cfg.head_dropout, nz->seed,
                         sg_rng_stream(SG_RNG_DROPOUT, nz->a, 0));
    f = sg_conv2d(ctx, f, m->pred_w, m->pred_b, sg_conv2d_params_make(1, 0, 1, 1));
    out->logits = sg_resize_bilinear(ctx, f, height, width, false);
}

/* ---- pretrained weights ------------------------------------------------------------------------ */

int sg_pretrained_load_mit(sg_param_set *set, const char *prefix, const char *path, sg_err *err)
{
    SG_CHECK(set && prefix && path, "sg_pretrained_load_mit: NULL argument");
    const sg_name_rule rules[3] = {{"module.", prefix}, {"backbone.", prefix}, {"", prefix}};
    static const char *const skip[2] = {"head.", "module.head."};
    const sg_weights_opts opts = {.rules = rules,
                                  .n_rules = 3,
                                  .skip = skip,
                                  .n_skip = 2,
                                  .target_prefix = prefix,
                                  .strict = true};
    return sg_weights_load(set, path, &opts, NULL, err);
}

sg_tensor *sg_segformer_eval_logits(sg_ctx *ctx, void *m, sg_tensor *image)
{
    sg_segformer_out o;
    sg_segformer_forward(ctx, m, image, NULL, &o);
    return o.logits;
}

void sg_segformer_line_format(int variant, const sg_segformer_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "arch=segformer mit=%d embed_dim=%d classes=%d", variant, cfg->embed_dim,
             cfg->num_classes);
}

int sg_segformer_line_parse(const char *line, int *variant, sg_segformer_config *cfg, sg_err *err)
{
    static const char *const keys[] = {"arch", "mit", "embed_dim", "classes"};
    enum { N_KEYS = sizeof keys / sizeof keys[0] };
    char copy[512];
    const char *vals[N_KEYS];
    long mit, embed, classes;
    if (sg_kv_line_split(line, keys, N_KEYS, copy, sizeof copy, vals, err)) return -1;
    if (strcmp(vals[0], "segformer"))
        return sg_err_set(err, "model configuration: arch '%s' is not segformer", vals[0]);
    if (sg_kv_line_long(keys[1], vals[1], 0, 5, &mit, err) ||
        sg_kv_line_long(keys[2], vals[2], 1, 1000000, &embed, err) ||
        sg_kv_line_long(keys[3], vals[3], 1, 256, &classes, err))
        return -1;
    *variant = (int)mit;
    *cfg = sg_segformer_config_preset((int)mit, (int)classes);
    cfg->embed_dim = (int)embed;
    return 0;
}
