/*
 * allspark_deeplab.c: AllSpark's second network (allspark.h,
 * SG_ALLSPARK_DEEPLAB): the suite's DeepLabV3+ with the AllSpark module
 * between the encoder's c4 and the ASPP,
 *     c1..c4 = ResNet(x), c4 <- AllSpark(c4), logits = head(c1, c4),
 * the head being sg_deeplab_decode (ASPP, fusion with c1, classifier,
 * logits resized to the input). The insertion point is that of
 * wangshanwen001/Awesome-semi-supervised-semantic-segmentation-code@8d62173:
 * nets/deeplabv3_plus_allspark.py (self.allspark(x, ...) on the backbone's
 * last feature, then self.aspp); the module itself is the released one,
 * xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py, unchanged
 * (sg_allspark_forward) with C = c4's channels in and out and N = h4 w4 of
 * c4 at the training crop. x (2B, 3, S, S) in training -> c4 (2B, C, h4,
 * w4), N = h4 w4; in evaluation any (B, 3, H, W).
 *
 * The parameter set is the DeepLabV3+'s (its names, so
 * sg_pretrained_load_resnet fills "backbone." as for every DeepLabV3+
 * method) with the module's under "allspark." in group 1 after it, so the
 * DeepLabV3+'s own parameters draw the same initial values as a plain
 * sg_deeplab of the seed.
 * Covered by tests/test_allspark.c (one training iteration against
 * tests/ref/gen_allspark.py, the eval path, the config line).
 */
#include "semiseg/allspark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sg_allspark_deeplab_tokens(const sg_deeplab_config *cfg, int crop)
{
    int hw[4][2];
    sg_resnet_cost(&cfg->backbone, crop, crop, hw);
    return hw[3][0] * hw[3][1];
}

sg_tensor *sg_allspark_deeplab_forward(sg_ctx *ctx, sg_allspark_net *m, sg_tensor *x,
                                       sg_tensor *group_logits, bool use_memory,
                                       const sg_mit_noise *noise)
{
    const bool training = m->deeplab.training;
    SG_CHECK(!training || noise, "sg_allspark_deeplab_forward: training mode needs noise");
    sg_allspark_noise an = {0};
    if (training) {
        /* The SegFormer's numbering with no drop-path blocks; stream 0 (its
         * head's Dropout2d) stays unused. */
        an.seed = noise->seed;
        an.attn_u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 1);
        an.proj_u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 2);
        an.attn_l2u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 3);
        an.proj_l2u = sg_rng_stream(SG_RNG_DROPOUT, noise->a, 4);
    }
    sg_tensor *feats[4];
    sg_resnet_forward(ctx, &m->deeplab.backbone, x, training, feats);
    sg_tensor *c4 = sg_allspark_forward(ctx, &m->mod, feats[3], training, group_logits, use_memory,
                                        training ? &an : NULL);
    return sg_deeplab_decode(ctx, &m->deeplab, feats[0], c4, x->shape[2], x->shape[3], NULL);
}

void sg_allspark_deeplab_config_format(const sg_allspark_net_config *cfg, char *buf, size_t len)
{
    char words[400];
    sg_deeplab_config_format(&cfg->deeplab, words, sizeof words);
    snprintf(buf, len, "arch=allspark_deeplab %s heads=%d tokens=%d", words, cfg->heads, cfg->tokens);
}

/* The module's words (arch, heads, tokens) are taken out of the line and
 * the rest goes to sg_deeplab_config_parse, which checks its own keys (an
 * unknown word is refused there). */
int sg_allspark_deeplab_config_parse(const char *line, sg_allspark_net_config *cfg, sg_err *err)
{
    static const char *const keys[] = {"arch", "heads", "tokens"};
    enum { N_KEYS = sizeof keys / sizeof keys[0] };
    char copy[512], rest[512] = "";
    const char *vals[N_KEYS] = {NULL};
    if (strlen(line) >= sizeof copy) return sg_err_set(err, "model configuration too long");
    strcpy(copy, line);
    char *save = NULL;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        int k = 0;
        while (k < N_KEYS && !(strncmp(w, keys[k], strlen(keys[k])) == 0 && w[strlen(keys[k])] == '='))
            k++;
        if (k == N_KEYS) {
            const size_t n = strlen(rest);
            snprintf(rest + n, sizeof rest - n, "%s%s", n ? " " : "", w);
        } else if (vals[k]) {
            return sg_err_set(err, "model configuration: '%s' given twice", keys[k]);
        } else {
            vals[k] = w + strlen(keys[k]) + 1;
        }
    }
    for (int k = 0; k < N_KEYS; k++)
        if (!vals[k]) return sg_err_set(err, "model configuration: '%s' is missing", keys[k]);
    if (strcmp(vals[0], "allspark_deeplab"))
        return sg_err_set(err, "model configuration: arch '%s' is not allspark_deeplab", vals[0]);
    long heads, tokens;
    if (sg_kv_line_long("heads", vals[1], 1, 1000000, &heads, err) ||
        sg_kv_line_long("tokens", vals[2], 1, 1000000, &tokens, err))
        return -1;
    *cfg = (sg_allspark_net_config){.arch = SG_ALLSPARK_DEEPLAB, .heads = (int)heads, .dropout = 0.1f,
                                    .tokens = (int)tokens};
    return sg_deeplab_config_parse(rest, &cfg->deeplab, err);
}
