/*
 * allspark.c: the AllSpark module (allspark.h), restated from
 * xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py (AllSpark.forward,
 * CrossAttnMem.forward and _dequeue_and_enqueue).
 *
 * Layout: the tokens (2B, N, C) of the released code are the channels-first
 * maps (2B, C, h, w) here: its Linear layers are sg_linear_channels, its
 * LayerNorms sg_layernorm_channels. A head's queries Q_h (N x C in the
 * token layout) are rows [h C, (h+1) C) of the (H C, N) channels-first map,
 * so the channel affinity Q_h^T K_h is a batched matmul of (C, N) blocks
 * with the second transposed; the pooled keys of the cross branch are the
 * (S H C, N) rows of the key map, in the released order (sample, then
 * channel). The instance norm psi of a (C x C) or (H C x S H C) map is
 * sg_layernorm over the flattened map without affine parameters (the same
 * biased-variance normalisation, eps 1e-5).
 *
 * The grouping and the memory writes are selection logic without gradient
 * (torch.no_grad in the released code): the resized logits and Z_u are read
 * to the host, the cosines are computed there in double, and the chosen
 * channel maps are written into the memory buffer row by row
 * (sg_tensor_write_range), wherever it lives.
 * Covered by tests/test_allspark_module.c.
 */
#include "semiseg/allspark.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SG_AS_LN_EPS 1e-6f   /* attn_norm, encoder_norm: LayerNorm(eps=1e-6) */
#define SG_AS_IN_EPS 1e-5f   /* psi: nn.InstanceNorm2d's default eps */

static sg_tensor *sg_as_param_(sg_builder *b, const char *prefix, const char *name, int ndim,
                               const int *shape, float bound, float value)
{
    char full[SG_PARAM_NAME_LEN];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const uint64_t stream = sg_rng_stream(SG_RNG_INIT, 0, (uint64_t)b->set->n_params);
    sg_tensor *t = sg_param_add(b->set, full, b->group, ndim, shape);
    if (bound > 0.0f)
        sg_init_uniform(t, bound, b->seed, stream);
    else
        sg_init_constant(t, value);
    return t;
}

void sg_allspark_build(sg_allspark *m, const sg_allspark_config *cfg, sg_builder *b,
                       const char *prefix)
{
    const int Cin = cfg->in_channels, C = cfg->channels, H = cfg->heads, K = cfg->classes;
    SG_CHECK(Cin >= 1 && C >= 1 && H >= 1 && K >= 1 && K <= 256 && cfg->tokens >= 1,
             "AllSpark: in_channels %d, channels %d, heads %d, classes %d, tokens %d (want >= 1, "
             "classes <= 256)", Cin, C, H, K, cfg->tokens);
    SG_CHECK(cfg->dropout >= 0.0f && cfg->dropout < 1.0f, "AllSpark: dropout %g outside [0, 1)",
             (double)cfg->dropout);
    *m = (sg_allspark){.cfg = *cfg};
    /* nn.Conv2d default: kaiming_uniform(a = sqrt 5) = U(+-1/sqrt(fan_in)), bias alike. */
    const float conv_in = (float)(1.0 / sqrt((double)Cin)), conv_out = (float)(1.0 / sqrt((double)C));
    /* nn.init.xavier_uniform_: U(+-sqrt(6 / (fan_in + fan_out))). */
    const float xav = (float)sqrt(6.0 / ((double)C + (double)H * C));
    m->map_in_w = sg_as_param_(b, prefix, "map_in.0.weight", 4, (const int[]){C, Cin, 1, 1}, conv_in, 0);
    m->map_in_b = sg_as_param_(b, prefix, "map_in.0.bias", 1, (const int[]){C}, conv_in, 0);
    m->attn_norm_w = sg_as_param_(b, prefix, "attn_norm.weight", 1, (const int[]){C}, 0, 1.0f);
    m->attn_norm_b = sg_as_param_(b, prefix, "attn_norm.bias", 1, (const int[]){C}, 0, 0.0f);
    sg_tensor **proj[6] = {&m->q_u, &m->k_u, &m->v_u, &m->q_l2u, &m->k_l2u, &m->v_l2u};
    const char *pname[6] = {"q_u", "k_u", "v_u", "q_l2u", "k_l2u", "v_l2u"};
    char n[64];
    for (int i = 0; i < 6; i++) {
        snprintf(n, sizeof n, "attn.%s.weight", pname[i]);
        *proj[i] = sg_as_param_(b, prefix, n, 2, (const int[]){H * C, C}, xav, 0);
    }
    m->out_u = sg_as_param_(b, prefix, "attn.out_u.weight", 2, (const int[]){C, H * C}, xav, 0);
    m->out_l2u = sg_as_param_(b, prefix, "attn.out_l2u.weight", 2, (const int[]){C, H * C}, xav, 0);
    m->enc_norm_w = sg_as_param_(b, prefix, "encoder_norm.weight", 1, (const int[]){C}, 0, 1.0f);
    m->enc_norm_b = sg_as_param_(b, prefix, "encoder_norm.bias", 1, (const int[]){C}, 0, 0.0f);
    m->map_out_w = sg_as_param_(b, prefix, "map_out.0.weight", 4, (const int[]){C, C, 1, 1}, conv_out, 0);
    m->map_out_b = sg_as_param_(b, prefix, "map_out.0.bias", 1, (const int[]){C}, conv_out, 0);
    char full[SG_PARAM_NAME_LEN];
    snprintf(full, sizeof full, "%sattn.queue_ptr", prefix);
    m->queue_ptr = sg_buffer_add(b->set, full, 1, (const int[]){K});
    snprintf(full, sizeof full, "%sattn.kv_queue", prefix);
    const uint64_t stream = sg_rng_stream(SG_RNG_INIT, 1, (uint64_t)b->set->n_buffers);
    m->kv_queue = sg_buffer_add(b->set, full, 3, (const int[]){K, C, cfg->tokens});
    /* torch.randn, from sg_rng here: N(0, 1) rounded once. */
    sg_rng r;
    sg_rng_init(&r, b->seed, stream);
    for (size_t i = 0; i < sg_numel(m->kv_queue); i++) m->kv_queue->data[i] = sg_rng_normal(&r);
}

/* ---- Channel Semantic Grouping and the memory ------------------------------------------ */

/* Per sample b, channel c of zu (B, C, N) goes to argmax_k of the cosine
 * between class map k of pm (B, K, N) and channel map c, both normalised
 * as F.normalize (x / max(||x||, 1e-12)); then the enqueue. Host-side. */
static void sg_as_group_enqueue_(sg_allspark *m, const float *pm, const float *zu, int B)
{
    const int C = m->cfg.channels, K = m->cfg.classes, N = m->cfg.tokens;
    double *pn = malloc(sizeof(double) * (size_t)K * N), *zn = malloc(sizeof(double) * (size_t)C * N);
    int *cls = malloc(sizeof(int) * (size_t)C);
    float ptr[256];
    SG_CHECK(pn && zn && cls, "AllSpark: out of memory");
    sg_tensor_read(m->queue_ptr, ptr);
    for (int b = 0; b < B; b++) {
        const float *P = pm + (size_t)b * K * N, *Z = zu + (size_t)b * C * N;
        for (int pass = 0; pass < 2; pass++) {
            const float *src = pass ? Z : P;
            double *dst = pass ? zn : pn;
            for (int r = 0; r < (pass ? C : K); r++) {
                double ss = 0.0;
                for (int i = 0; i < N; i++) ss += (double)src[(size_t)r * N + i] * src[(size_t)r * N + i];
                const double d = fmax(sqrt(ss), 1e-12);
                for (int i = 0; i < N; i++) dst[(size_t)r * N + i] = src[(size_t)r * N + i] / d;
            }
        }
        for (int c = 0; c < C; c++) {
            double best = -INFINITY;
            cls[c] = 0;
            for (int k = 0; k < K; k++) {
                double s = 0.0;
                for (int i = 0; i < N; i++) s += pn[(size_t)k * N + i] * zn[(size_t)c * N + i];
                if (s > best) best = s, cls[c] = k;
            }
        }
        /* Classes in increasing order (torch.unique), channels in order within a class. */
        for (int k = 0; k < K; k++) {
            int p = (int)ptr[k];
            int count = 0;
            for (int c = 0; c < C; c++) count += cls[c] == k;
            if (count == 0) continue;
            for (int c = 0, j = 0; c < C; c++) {
                if (cls[c] != k) continue;
                const int slot = (p + j++) % C;
                sg_tensor_write_range(m->kv_queue, ((size_t)k * C + (size_t)slot) * N, (size_t)N,
                                      Z + (size_t)c * N);
            }
            ptr[k] = (float)((p + count) % C);
        }
    }
    sg_tensor_write(m->queue_ptr, ptr);
    free(pn);
    free(zn);
    free(cls);
}

static void sg_as_grouping_(sg_ctx *ctx, sg_allspark *m, sg_tensor *zu, sg_tensor *logits,
                            int h, int w)
{
    const int B = zu->shape[0];
    const bool prev = sg_ctx_set_grad(ctx, false);
    sg_tensor *pm = sg_resize_bilinear(ctx, logits, h, w, false);
    sg_ctx_set_grad(ctx, prev);
    float *hp = malloc(sizeof(float) * sg_numel(pm)), *hz = malloc(sizeof(float) * sg_numel(zu));
    SG_CHECK(hp && hz, "AllSpark: out of memory");
    sg_tensor_read(pm, hp);
    sg_tensor_read(zu, hz);
    sg_as_group_enqueue_(m, hp, hz, B);
    free(hp);
    free(hz);
}

/* ---- forward ------------------------------------------------------------------------------ */

/* psi then softmax over the last dim of A: the instance norm normalises
 * each of `maps` equal consecutive blocks of A (one attention map each). */
static sg_tensor *sg_as_psi_softmax_(sg_ctx *ctx, sg_tensor *A, int maps)
{
    const int nd = A->ndim;
    int shape[4];
    memcpy(shape, A->shape, sizeof shape);
    const int flat[2] = {maps, (int)(sg_numel(A) / (size_t)maps)};
    sg_tensor *t = sg_reshape(ctx, A, 2, flat);
    t = sg_layernorm(ctx, t, NULL, NULL, SG_AS_IN_EPS);
    t = sg_reshape(ctx, t, nd, shape);
    return sg_softmax(ctx, t, nd - 1);
}

static sg_tensor *sg_as_drop_(sg_ctx *ctx, sg_tensor *x, float p, const sg_allspark_noise *nz,
                              uint64_t stream)
{
    return nz && p > 0.0f ? sg_dropout(ctx, x, p, nz->seed, stream) : x;
}

sg_tensor *sg_allspark_forward(sg_ctx *ctx, sg_allspark *m, sg_tensor *x, bool training,
                               sg_tensor *group_logits, bool use_memory,
                               const sg_allspark_noise *noise)
{
    const int C = m->cfg.channels, H = m->cfg.heads, K = m->cfg.classes;
    char a[SG_SHAPE_STR_LEN];
    /* The memory holds maps of N tokens, so training needs that size; the
     * eval path reads no memory and takes any size (whole-image evaluation). */
    SG_CHECK(x->ndim == 4 && x->shape[1] == m->cfg.in_channels &&
                 (!training || (x->shape[2] * x->shape[3] == m->cfg.tokens && x->shape[0] % 2 == 0)),
             "sg_allspark_forward: expects x (%s, %d, h, w) with h w = %d tokens in training, got %s",
             training ? "2B" : "B", m->cfg.in_channels, m->cfg.tokens, sg_shape_str(x, a, sizeof a));
    SG_CHECK(!training || noise, "sg_allspark_forward: training needs noise for the dropouts");
    SG_CHECK(!training || (group_logits && group_logits->ndim == 4 &&
                           group_logits->shape[0] == x->shape[0] / 2 &&
                           group_logits->shape[1] == K),
             "sg_allspark_forward: training needs group_logits (%d, %d, H, W), got %s",
             x->shape[0] / 2, K, group_logits ? sg_shape_str(group_logits, a, sizeof a) : "NULL");
    if (!training) x = sg_concat(ctx, (sg_tensor *const[]){x, x}, 2, 0);
    const int B = x->shape[0] / 2, h = x->shape[2], w = x->shape[3], N = h * w;
    const sg_allspark_noise *nz = training ? noise : NULL;
    const float p = m->cfg.dropout;

    sg_tensor *en = sg_conv2d(ctx, x, m->map_in_w, m->map_in_b, sg_conv2d_params_make(1, 0, 1, 1));
    en = sg_gelu(ctx, en);
    sg_tensor *z = sg_layernorm_channels(ctx, en, m->attn_norm_w, m->attn_norm_b, SG_AS_LN_EPS);
    sg_tensor *zl = sg_narrow(ctx, z, 0, 0, B), *zu = sg_narrow(ctx, z, 0, B, B);
    if (training) sg_as_grouping_(ctx, m, zu, group_logits, h, w);

    /* Unlabeled: channel self-attention per head. */
    const int heads3[3] = {B * H, C, N};
    sg_tensor *q = sg_reshape(ctx, sg_linear_channels(ctx, zu, m->q_u, NULL), 3, heads3);
    sg_tensor *k = sg_reshape(ctx, sg_linear_channels(ctx, zu, m->k_u, NULL), 3, heads3);
    sg_tensor *v = sg_reshape(ctx, sg_linear_channels(ctx, zu, m->v_u, NULL), 3, heads3);
    sg_tensor *att = sg_as_psi_softmax_(ctx, sg_matmul(ctx, q, k, false, true), B * H);
    att = sg_as_drop_(ctx, att, p, nz, nz ? nz->attn_u : 0);
    sg_tensor *o = sg_matmul(ctx, att, v, false, false);          /* (B H, C, N) */
    o = sg_reshape(ctx, o, 4, (const int[]){B, H, C, N});
    o = sg_permute(ctx, o, (const int[]){0, 2, 1, 3});           /* channel c of head h at c H + h */
    o = sg_reshape(ctx, o, 4, (const int[]){B, C * H, h, w});
    sg_tensor *out_u = sg_as_drop_(ctx, sg_linear_channels(ctx, o, m->out_u, NULL), p, nz,
                                   nz ? nz->proj_u : 0);

    /* Labeled: every query channel against the pooled key channels. */
    sg_tensor *src = zu;
    if (training && use_memory) {
        const int mshape[4] = {K, C, h, w};
        src = sg_narrow(ctx, sg_tensor_view(ctx, m->kv_queue, 4, mshape), 0, 0, K); /* a copy */
    }
    /* Keys from the batch pool the unlabeled images of each group of
     * pool_size (one GPU's batch in the released DDP runs); the memory's
     * K slots are every labeled image's keys. */
    const bool from_memory = src != zu;
    const int pool = from_memory || m->cfg.pool_size <= 0 || m->cfg.pool_size > B ? B : m->cfg.pool_size;
    SG_CHECK(from_memory || B % pool == 0,
             "sg_allspark_forward: %d unlabeled images do not split into groups of pool_size %d", B, pool);
    const int G = from_memory ? 1 : B / pool, S = from_memory ? src->shape[0] : pool;
    q = sg_reshape(ctx, sg_linear_channels(ctx, zl, m->q_l2u, NULL), 3, (const int[]){G, B / G * H * C, N});
    k = sg_reshape(ctx, sg_linear_channels(ctx, src, m->k_l2u, NULL), 3, (const int[]){G, S * H * C, N});
    v = sg_reshape(ctx, sg_linear_channels(ctx, src, m->v_l2u, NULL), 3, (const int[]){G, S * H * C, N});
    att = sg_as_psi_softmax_(ctx, sg_matmul(ctx, q, k, false, true), B);
    att = sg_as_drop_(ctx, att, p, nz, nz ? nz->attn_l2u : 0);
    o = sg_matmul(ctx, att, v, false, false);                    /* (G, B / G H C, N) */
    o = sg_reshape(ctx, o, 4, (const int[]){B, H * C, h, w});
    sg_tensor *out_l = sg_as_drop_(ctx, sg_linear_channels(ctx, o, m->out_l2u, NULL), p, nz,
                                   nz ? nz->proj_l2u : 0);

    sg_tensor *y = sg_add(ctx, sg_concat(ctx, (sg_tensor *const[]){out_l, out_u}, 2, 0), en);
    y = sg_layernorm_channels(ctx, y, m->enc_norm_w, m->enc_norm_b, SG_AS_LN_EPS);
    y = sg_gelu(ctx, sg_conv2d(ctx, y, m->map_out_w, m->map_out_b, sg_conv2d_params_make(1, 0, 1, 1)));
    return training ? y : sg_narrow(ctx, y, 0, 0, B);
}
