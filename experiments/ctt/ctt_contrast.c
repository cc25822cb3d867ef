/*
 * ctt_contrast.c: the high-level (contr_self_loss, tau 0.1) and low-level
 * (contr_net_loss, tau 0.5) contrastive modules of cross teacher training,
 * after 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py main() (the
 * `if with_embed and contr_train` block) and those two functions. The
 * anchor selection (labels, confidences, classes) is host-side logic on
 * tensors read with sg_tensor_read; the losses are recorded ops.
 *
 * Each InfoNCE term -log(e^{s_p} / (e^{s_p} + sum_n e^{s_n})) is the cross
 * entropy of the logit row (s_p, s_n...) at class 0; for the high-level
 * term, with CAP positives per anchor, of the two-entry row
 * (s_p, log sum_n e^{s_n}), the log-sum-exp taken once per anchor as
 * s_0 - log_softmax(s)_0. The released eps (1e-12, added twice inside the
 * log) is left out: it changes a term by about eps / ratio, below 1e-8
 * for any ratio a trained feature reaches. Features are L2-normalised
 * (sg_normalize, the released head's F.normalize) and bank rows are unit
 * vectors, so the dot product is the released cosine.
 * Covered by tests/test_ctt.c (tests/ref/gen_ctt.py scenario c).
 */
#include "ctt_contrast.h"

#include <stdlib.h>
#include <string.h>

/* A (M, D) matrix of the rows of x (N, D, h, w), pixel-major: (n, y, x). */
static sg_tensor *rows_(sg_ctx *ctx, sg_tensor *x)
{
    const int N = x->shape[0], D = x->shape[1], h = x->shape[2], w = x->shape[3];
    sg_tensor *p = sg_permute(ctx, sg_normalize(ctx, x, 1e-12f), (const int[]){0, 2, 3, 1});
    return sg_reshape(ctx, p, 2, (const int[]){N * h * w, D});
}

/* A copy of t outside the tape (pred_rep.detach()). */
static sg_tensor *detach_(sg_ctx *ctx, const sg_tensor *t)
{
    sg_tensor *out = sg_tensor_new(ctx, t->dtype, t->ndim, t->shape);
    ctx->be->copy(out->data, t->data, sg_numel(t) * sg_dtype_size(t->dtype));
    return out;
}

/* The labels (N, S, S) int32 at the feature size, read to host. */
static int32_t *labels_at_(sg_ctx *ctx, const sg_tensor *y, int h, int w)
{
    sg_tensor *d = sg_resize_nearest_labels(ctx, y, h, w);
    int32_t *v = sg_xmalloc(sg_numel(d) * sizeof *v);
    sg_tensor_read(d, v);
    return v;
}

/* The confidence (N, S, S) float at the feature size (F.interpolate nearest). */
static float *conf_at_(sg_ctx *ctx, sg_tensor *c, int h, int w)
{
    sg_tensor *v4 = sg_tensor_view(ctx, c, 4, (const int[]){c->shape[0], 1, c->shape[1], c->shape[2]});
    sg_tensor *d = sg_resize_nearest(ctx, v4, h, w);
    float *v = sg_xmalloc(sg_numel(d) * sizeof *v);
    sg_tensor_read(d, v);
    return v;
}

/* Bank rows as one constant (K * G, D) matrix: class c's block holds, for each
 * bank of `banks` in order, its CAP rows oldest first (G = n_banks * CAP). */
static sg_tensor *bank_matrix_(sg_ctx *ctx, sg_class_queue *const *banks, int n_banks)
{
    const int K = banks[0]->n_classes, D = banks[0]->dim, cap = banks[0]->capacity[0];
    sg_tensor *m = sg_tensor_new(ctx, SG_F32, 2, (const int[]){K * n_banks * cap, D});
    float *h = sg_ctx_stage(ctx, m);
    for (int c = 0; c < K; c++)
        for (int b = 0; b < n_banks; b++) {
            SG_CHECK(banks[b]->capacity[c] == cap && sg_class_queue_size(banks[b], c) == cap,
                     "ctt_contrast: bank class %d is not full (%d of %d)", c, sg_class_queue_size(banks[b], c),
                     banks[b]->capacity[c]);
            sg_class_queue_read(banks[b], c, 0, cap, h + ((size_t)(c * n_banks + b) * cap) * D);
        }
    sg_ctx_stage_done(ctx, m, h);
    return m;
}

/* The columns of s (n, K * G) outside class k's block of G. */
static sg_tensor *others_(sg_ctx *ctx, sg_tensor *s, int k, int K, int G)
{
    if (k == 0) return sg_narrow(ctx, s, 1, G, (K - 1) * G);
    if (k == K - 1) return sg_narrow(ctx, s, 1, 0, (K - 1) * G);
    sg_tensor *parts[2] = {sg_narrow(ctx, s, 1, 0, k * G), sg_narrow(ctx, s, 1, (k + 1) * G, (K - 1 - k) * G)};
    return sg_concat(ctx, parts, 2, 1);
}

/* sum over the rows of logits (n, C) of CE at class 0 (the first column is
 * each row's positive). */
static sg_tensor *nce_sum_(sg_ctx *ctx, sg_tensor *logits)
{
    const int n = logits->shape[0], C = logits->shape[1];
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, 1, 1});
    int32_t *z = sg_ctx_stage(ctx, t);
    memset(z, 0, (size_t)n * sizeof *z);
    sg_ctx_stage_done(ctx, t, z);
    return sg_cross_entropy(ctx, sg_reshape(ctx, logits, 4, (const int[]){n, C, 1, 1}), t, NULL, -1,
                            SG_REDUCE_SUM);
}

/* contr_self_loss(memory_bank, pred_rep, labels, mask, num_classes, temp). */
static sg_tensor *high_(sg_ctx *ctx, sg_tensor *rows, const int32_t *label, const uint8_t *mask, size_t M,
                        sg_tensor *bank, int K, int cap, float tau)
{
    int *idx = sg_xmalloc(M * sizeof *idx);
    sg_tensor *ones = sg_tensor_new(ctx, SG_F32, 2, (const int[]){1, cap});
    float *o = sg_ctx_stage(ctx, ones);
    for (int i = 0; i < cap; i++) o[i] = 1.0f;
    sg_ctx_stage_done(ctx, ones, o);
    sg_tensor *loss = NULL;
    int count = 0;
    for (int k = 0; k < K; k++) {
        int n = 0;
        for (size_t i = 0; i < M; i++)
            if (mask[i] && label[i] == k) idx[n++] = (int)i;
        if (!n) continue;
        count++;
        /* logits = cos(a, [positive_feat; negative_feat]) / temp */
        sg_tensor *a = sg_index_select(ctx, rows, idx, n);
        sg_tensor *s = sg_scale(ctx, sg_matmul(ctx, a, bank, false, true), 1.0f / tau);
        sg_tensor *pos = sg_narrow(ctx, s, 1, k * cap, cap), *neg = others_(ctx, s, k, K, cap);
        /* log sum_n e^{s_n} = s_0 - log_softmax(s)_0, one per anchor, for every positive */
        sg_tensor *lse = sg_sub(ctx, sg_narrow(ctx, neg, 1, 0, 1), sg_narrow(ctx, sg_log_softmax(ctx, neg, 1), 1, 0, 1));
        sg_tensor *cols[2] = {sg_reshape(ctx, pos, 2, (const int[]){n * cap, 1}),
                              sg_reshape(ctx, sg_matmul(ctx, lse, ones, false, false), 2, (const int[]){n * cap, 1})};
        /* loss += sum(-log(posi / (posi + down))) / (size * per_count_size) */
        sg_tensor *lk = sg_scale(ctx, nce_sum_(ctx, sg_concat(ctx, cols, 2, 1)), 1.0f / ((float)cap * (float)n));
        loss = loss ? sg_add(ctx, loss, lk) : lk;
    }
    free(idx);
    return loss ? sg_scale(ctx, loss, 1.0f / (float)count) : NULL;
}

/* contr_net_loss(cat([bank_l, bank_r], dim=1), rep_s, rep_peer.detach(), labels, mask, ...). */
static sg_tensor *low_(sg_ctx *ctx, sg_tensor *rows, sg_tensor *peer, const int32_t *label, const uint8_t *mask,
                       size_t M, sg_tensor *banks, int K, int G, float tau)
{
    int *idx = sg_xmalloc(M * sizeof *idx);
    sg_tensor *loss = NULL;
    int count = 0;
    for (int k = 0; k < K; k++) {
        int n = 0;
        for (size_t i = 0; i < M; i++)
            if (mask[i] && label[i] == k) idx[n++] = (int)i;
        if (!n) continue;
        count++;
        sg_tensor *a = sg_index_select(ctx, rows, idx, n);
        const bool was = sg_ctx_set_grad(ctx, false);
        sg_tensor *p = sg_index_select(ctx, peer, idx, n);
        sg_ctx_set_grad(ctx, was);
        /* logits_posi = cos(a, p) / temp; logits_down over negative_feat */
        sg_tensor *pos = sg_reshape(ctx, sg_scale(ctx, sg_cosine_similarity(ctx, a, p, 1e-8f), 1.0f / tau), 2,
                                    (const int[]){n, 1});
        sg_tensor *neg = others_(ctx, sg_scale(ctx, sg_matmul(ctx, a, banks, false, true), 1.0f / tau), k, K, G);
        /* loss += sum(-log(posi / (posi + down))) / per_count_size */
        sg_tensor *row[2] = {pos, neg};
        sg_tensor *lk = sg_scale(ctx, nce_sum_(ctx, sg_concat(ctx, row, 2, 1)), 1.0f / (float)n);
        loss = loss ? sg_add(ctx, loss, lk) : lk;
    }
    free(idx);
    return loss ? sg_scale(ctx, loss, 1.0f / (float)count) : NULL;
}

/* A scalar 0 (a term without anchors). */
static sg_tensor *zero_(sg_ctx *ctx)
{
    sg_tensor *z = sg_tensor_new(ctx, SG_F32, 1, (const int[]){1});
    float *v = sg_ctx_stage(ctx, z);
    v[0] = 0.0f;
    sg_ctx_stage_done(ctx, z, v);
    return z;
}

void ctt_contrast(sg_ctx *ctx, const ctt_contrast_in *in, const ctt_params *hp, ctt_contrast_out *out)
{
    *out = (ctt_contrast_out){0};
    const int NL = in->feat_x[0]->shape[0], NU = in->feat_u[0]->shape[0];
    const int h = in->feat_x[0]->shape[2], w = in->feat_x[0]->shape[3];
    const int K = in->bank[0]->n_classes, cap = in->bank[0]->capacity[0];
    SG_CHECK(K >= 2, "ctt_contrast: needs at least 2 classes, got %d", K);
    const size_t hw = (size_t)h * w, ML = (size_t)NL * hw, MU = (size_t)NU * hw;
    const bool was = sg_ctx_set_grad(ctx, false);
    /* labels_feat = nearest(labels); prob_s, max_s = nearest(max_probs), nearest(pseudo_label) */
    int32_t *yl = labels_at_(ctx, in->lab->mask, h, w), *pl[2];
    float *pc[2];
    for (int s = 0; s < 2; s++) {
        pl[s] = labels_at_(ctx, in->mix[s].label, h, w);
        pc[s] = conf_at_(ctx, in->mix[s].conf, h, w);
    }
    sg_ctx_set_grad(ctx, was);
    uint8_t *mask = sg_xmalloc(ML + MU);
    int32_t *lab = sg_xmalloc((ML + MU) * sizeof *lab);
    if (hp->contr_high)
        for (int s = 0; s < 2; s++) {
            /* labels_s = cat(labels_feat, max_s); mask_s = cat(labels_feat != ignore, prob_s >= gamma) */
            for (size_t i = 0; i < ML; i++) {
                lab[i] = yl[i];
                mask[i] = yl[i] != in->ignore_index;
            }
            for (size_t i = 0; i < MU; i++) {
                lab[ML + i] = pl[s][i];
                mask[ML + i] = pc[s][i] >= hp->gamma;
            }
            sg_tensor *feats[2] = {in->feat_x[s], in->feat_u[s]};
            sg_tensor *rows = rows_(ctx, sg_concat(ctx, feats, 2, 0));
            sg_tensor *bank = bank_matrix_(ctx, &in->bank[s], 1);
            out->high[s] = high_(ctx, rows, lab, mask, ML + MU, bank, K, cap, hp->tau_high);
            if (!out->high[s]) out->high[s] = zero_(ctx);
        }
    if (hp->contr_low) {
        sg_tensor *both = bank_matrix_(ctx, in->bank, 2);
        for (int s = 0; s < 2; s++) {
            const int q = 1 - s;
            /* max_u_q = argmax of the peer's prediction of its own mix (feature size) */
            const bool g = sg_ctx_set_grad(ctx, false);
            sg_tensor *fq = detach_(ctx, in->feat_u[q]);
            sg_tensor *zq = sg_conv2d(ctx, fq, in->student[q]->cls_w, in->student[q]->cls_b,
                                      sg_conv2d_params_make(1, 0, 1, 1));
            sg_tensor *peer = rows_(ctx, fq);
            const int Kz = zq->shape[1];
            float *z = sg_xmalloc(sg_numel(zq) * sizeof *z);
            sg_tensor_read(zq, z);
            sg_ctx_set_grad(ctx, g);
            for (size_t i = 0; i < MU; i++) {
                const size_t n = i / hw, j = i % hw;
                int a = 0;
                for (int k = 1; k < Kz; k++)
                    if (z[(n * Kz + k) * hw + j] > z[(n * Kz + a) * hw + j]) a = k;
                lab[i] = a;
                /* mask_s[unlabeled] == 0: the peer teacher's confidence < gamma */
                mask[i] = !(pc[s][i] >= hp->gamma);
            }
            free(z);
            out->low[s] = low_(ctx, rows_(ctx, in->feat_u[s]), peer, lab, mask, MU, both, K, 2 * cap, hp->tau_low);
            if (!out->low[s]) out->low[s] = zero_(ctx);
        }
    }
    free(mask);
    free(lab);
    free(yl);
    for (int s = 0; s < 2; s++) {
        free(pl[s]);
        free(pc[s]);
    }
}
