/*
 * allspark_net.c: the networks AllSpark trains (allspark.h). The released
 * one, SegFormer with the AllSpark module on c4
 * (xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py SemiDecoder,
 * model/model_helper.py ModelBuilder): c1..c4 = MiT(x), c4 <- AllSpark(c4),
 * logits = SegFormerHead(c1..c4) resized to the input; and the entry points
 * of both kinds, which hand the DeepLabV3+ kind to allspark_deeplab.c.
 * Shapes and the noise streams: allspark.h. Covered by tests/test_allspark.c
 * (one training iteration of each kind against PyTorch, the eval path, the
 * config lines).
 */
#include "semiseg/allspark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sg_allspark_tokens(int crop)
{
    const int side = (crop + 31) / 32;
    return side * side;
}

void sg_allspark_net_init(sg_allspark_net *m, const sg_allspark_net_config *cfg, uint64_t seed)
{
    SG_CHECK(cfg->heads >= 1 && cfg->tokens >= 1, "sg_allspark_net_init: heads %d, tokens %d (want >= 1)",
             cfg->heads, cfg->tokens);
    SG_CHECK(cfg->arch == SG_ALLSPARK_SEGFORMER || cfg->arch == SG_ALLSPARK_DEEPLAB,
             "sg_allspark_net_init: arch %d is neither SegFormer nor DeepLabV3+", (int)cfg->arch);
    memset(m, 0, sizeof *m);
    m->arch = cfg->arch;
    /* The network first, then the module after its parameters (group 1), so
     * that the network draws the same initial values as alone. */
    int c4, classes;
    if (cfg->arch == SG_ALLSPARK_DEEPLAB) {
        sg_deeplab_init(&m->deeplab, &cfg->deeplab, seed);
        c4 = m->deeplab.backbone.channels[3];
        classes = cfg->deeplab.num_classes;
    } else {
        sg_segformer_init(&m->seg, &cfg->seg, seed);
        c4 = m->seg.backbone.channels[3];
        classes = cfg->seg.num_classes;
    }
    const sg_allspark_config ac = {.in_channels = c4,
                                   .channels = c4,
                                   .heads = cfg->heads,
                                   .classes = classes,
                                   .tokens = cfg->tokens,
                                   .dropout = cfg->dropout,
                                   .pool_size = cfg->pool_size};
    sg_builder b = {.set = sg_allspark_net_params(m), .seed = seed, .group = 1,
                    .conv_init = SG_INIT_TORCH_DEFAULT};
    sg_allspark_build(&m->mod, &ac, &b, "allspark.");
}

void sg_allspark_net_free(sg_allspark_net *m)
{
    if (m->arch == SG_ALLSPARK_DEEPLAB)
        sg_deeplab_free(&m->deeplab);
    else
        sg_segformer_free(&m->seg);
}

sg_param_set *sg_allspark_net_params(sg_allspark_net *m)
{
    return m->arch == SG_ALLSPARK_DEEPLAB ? &m->deeplab.params : &m->seg.params;
}

bool *sg_allspark_net_training(sg_allspark_net *m)
{
    return m->arch == SG_ALLSPARK_DEEPLAB ? &m->deeplab.training : &m->seg.training;
}

sg_tensor *sg_allspark_net_forward(sg_ctx *ctx, sg_allspark_net *m, sg_tensor *x,
                                   sg_tensor *group_logits, bool use_memory,
                                   const sg_mit_noise *noise)
{
    if (m->arch == SG_ALLSPARK_DEEPLAB) return sg_allspark_deeplab_forward(ctx, m, x, group_logits, use_memory, noise);
    const bool training = m->seg.training;
    SG_CHECK(!training || noise, "sg_allspark_net_forward: training mode needs noise");
    const sg_mit_config *bc = &m->seg.cfg.backbone;
    const uint64_t blocks = (uint64_t)(bc->depths[0] + bc->depths[1] + bc->depths[2] + bc->depths[3]);
    sg_allspark_noise an = {0};
    if (training) {
        an.seed = noise->seed;
        an.attn_u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 1 + blocks);
        an.proj_u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 2 + blocks);
        an.attn_l2u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 3 + blocks);
        an.proj_l2u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 4 + blocks);
    }
    sg_segformer_out out;
    sg_mit_forward(ctx, &m->seg.backbone, x, training ? noise : NULL, out.feats);
    out.feats[3] = sg_allspark_forward(ctx, &m->mod, out.feats[3], training, group_logits, use_memory,
                                       training ? &an : NULL);
    sg_segformer_decode(ctx, &m->seg, out.feats, x->shape[2], x->shape[3], noise, &out);
    return out.logits;
}

sg_tensor *sg_allspark_net_eval_logits(sg_ctx *ctx, void *net, sg_tensor *image)
{
    return sg_allspark_net_forward(ctx, net, image, NULL, false, NULL);
}

void sg_allspark_net_config_format(const sg_allspark_net_config *cfg, char *buf, size_t len)
{
    if (cfg->arch == SG_ALLSPARK_DEEPLAB) {
        sg_allspark_deeplab_config_format(cfg, buf, len);
        return;
    }
    snprintf(buf, len, "arch=allspark mit=%d embed_dim=%d classes=%d heads=%d tokens=%d",
             cfg->variant, cfg->seg.embed_dim, cfg->seg.num_classes, cfg->heads, cfg->tokens);
}

/* Whether `line` holds the word `word` (delimited by blanks or the ends). */
static bool has_word_(const char *line, const char *word)
{
    const size_t n = strlen(word);
    for (const char *p = strstr(line, word); p; p = strstr(p + 1, word))
        if ((p == line || p[-1] == ' ' || p[-1] == '\t') && (p[n] == 0 || p[n] == ' ' || p[n] == '\t'))
            return true;
    return false;
}

int sg_allspark_net_config_parse(const char *line, sg_allspark_net_config *cfg, sg_err *err)
{
    if (has_word_(line, "arch=allspark_deeplab")) return sg_allspark_deeplab_config_parse(line, cfg, err);
    static const char *const keys[] = {"arch", "mit", "embed_dim", "classes", "heads", "tokens"};
    enum { N_KEYS = sizeof keys / sizeof keys[0] };
    char copy[512];
    const char *vals[N_KEYS];
    if (sg_kv_line_split(line, keys, N_KEYS, copy, sizeof copy, vals, err)) return -1;
    if (strcmp(vals[0], "allspark"))
        return sg_err_set(err, "model configuration: arch '%s' is not allspark", vals[0]);
    long v[N_KEYS] = {0};
    for (int k = 1; k < N_KEYS; k++)
        if (sg_kv_line_long(keys[k], vals[k], k == 1 ? 0 : 1, k == 1 ? 5 : k == 3 ? 256 : 1000000, &v[k], err))
            return -1;
    *cfg = (sg_allspark_net_config){.variant = (int)v[1],
                                    .seg = sg_segformer_config_preset((int)v[1], (int)v[3]),
                                    .heads = (int)v[4],
                                    .dropout = 0.1f,
                                    .tokens = (int)v[5]};
    cfg->seg.embed_dim = (int)v[2];
    return 0;
}
