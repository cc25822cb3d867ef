/*
 * ctt_contrast.c: the high-level (contr_self_loss, tau 0.1) and low-level
 * (contr_net_loss, tau 0.5) contrastive modules of cross teacher training,
 * after 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py main() (the
 * `if with_embed and contr_train` block) and those two functions. The
 * anchor selection (labels, confidences, classes) is host-side logic on
 * tensors read with sg_tensor_read; the losses are recorded ops, evaluated
 * and differentiated over chunks of anchors on a scratch context, so that
 * the similarity matrices (anchors x bank entries) never all live at once
 * (term_loss_; ctt_params.contr_chunk); the trainer keeps that context from
 * step to step (ctt_nets.scratch), so its memory is not faulted in anew.
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

/* One term: the bank matrix (K * G, D) of class blocks of G rows; for the
 * high-level term positives = class k's block (G = CAP), for the low-level
 * one the peer's feature at the anchor's pixel (peer != NULL). */
typedef struct {
    sg_tensor *bank, *peer, *ones;
    int K, G;
    float tau;
} term_;

/* contr_self_loss, the sum over anchors a (n, D) of class k of
 *   sum_p -log(e^{a.p/tau} / (e^{a.p/tau} + sum_n e^{a.n/tau})):
 * logits = cos(a, [positive_feat; negative_feat]) / temp, the log-sum-exp of
 * the negatives once per anchor (s_0 - log_softmax(s)_0), for every positive. */
static sg_tensor *high_sum_(sg_ctx *ctx, sg_tensor *a, const term_ *t, int k, const int *idx)
{
    (void)idx;
    const int n = a->shape[0], cap = t->G;
    sg_tensor *s = sg_scale(ctx, sg_matmul(ctx, a, t->bank, false, true), 1.0f / t->tau);
    sg_tensor *pos = sg_narrow(ctx, s, 1, k * cap, cap), *neg = others_(ctx, s, k, t->K, cap);
    sg_tensor *lse = sg_sub(ctx, sg_narrow(ctx, neg, 1, 0, 1), sg_narrow(ctx, sg_log_softmax(ctx, neg, 1), 1, 0, 1));
    sg_tensor *cols[2] = {sg_reshape(ctx, pos, 2, (const int[]){n * cap, 1}),
                          sg_reshape(ctx, sg_matmul(ctx, lse, t->ones, false, false), 2, (const int[]){n * cap, 1})};
    return nce_sum_(ctx, sg_concat(ctx, cols, 2, 1));
}

/* contr_net_loss, the sum over anchors a (n, D) of class k (rows idx) of
 *   -log(e^{a.p_a/tau} / (e^{a.p_a/tau} + sum_n e^{a.n/tau})):
 * logits_posi = cos(a, p) / temp against the peer's detached rows;
 * logits_down over the other classes' entries of both banks. */
static sg_tensor *low_sum_(sg_ctx *ctx, sg_tensor *a, const term_ *t, int k, const int *idx)
{
    const int n = a->shape[0];
    sg_tensor *p = sg_index_select(ctx, t->peer, idx, n);
    sg_tensor *pos = sg_reshape(ctx, sg_scale(ctx, sg_cosine_similarity(ctx, a, p, 1e-8f), 1.0f / t->tau), 2,
                                (const int[]){n, 1});
    sg_tensor *neg = others_(ctx, sg_scale(ctx, sg_matmul(ctx, a, t->bank, false, true), 1.0f / t->tau), k, t->K, t->G);
    sg_tensor *row[2] = {pos, neg};
    return nce_sum_(ctx, sg_concat(ctx, row, 2, 1));
}

typedef sg_tensor *(*sum_fn_)(sg_ctx *ctx, sg_tensor *a, const term_ *t, int k, const int *idx);

/* A scalar constant. */
static sg_tensor *scalar_(sg_ctx *ctx, float v)
{
    sg_tensor *z = sg_tensor_new(ctx, SG_F32, 1, (const int[]){1});
    float *h = sg_ctx_stage(ctx, z);
    h[0] = v;
    sg_ctx_stage_done(ctx, z, h);
    return z;
}

/* The term over the anchors (mask, class = label) of rows (M, D):
 *   L = (1 / count) sum_k (1 / (norm_k n_k)) sum_{a of class k} sum_fn(a),
 * count = the classes with anchors, n_k their anchors, norm_k = CAP (high)
 * or 1 (low); NULL when no class has anchors.
 * Memory: the similarities of n anchors are n x K G floats, several copies
 * on a tape (646k anchors x 4864 at Cityscapes' 801 crops, 8 + 8 images:
 * ~12.6 GB each). So the anchors of each class go through in chunks of at
 * most `chunk`: each chunk's sum is recorded on a scratch context and
 * differentiated there at once, which leaves its value and G = dL/da; the
 * caller's tape gets, over the selected anchors A (n_all, D),
 *   term = sum(A * G) - [sum(A * G)] + L      ([.]: a constant copy)
 * whose value is L and whose gradient with respect to A is G. The tape keeps
 * three (n_all, D) matrices, the scratch context one chunk's similarities.
 * The chunk size moves sums by float32 rounding only (tests/test_ctt.c). */
static sg_tensor *term_loss_(sg_ctx *ctx, sg_ctx *scratch, sg_tensor *rows, const int32_t *label,
                             const uint8_t *mask, size_t M, const term_ *t, sum_fn_ fn, bool per_positive, int chunk)
{
    const int K = t->K, D = rows->shape[1];
    int *order = sg_xmalloc((M ? M : 1) * sizeof *order), *start = sg_xmalloc((size_t)(K + 1) * sizeof *start);
    int n_all = 0, count = 0;
    for (int k = 0; k < K; k++) {
        start[k] = n_all;
        for (size_t i = 0; i < M; i++)
            if (mask[i] && label[i] == k) order[n_all++] = (int)i;
        count += n_all > start[k];
    }
    start[K] = n_all;
    sg_tensor *out = NULL;
    if (count) {
        sg_tensor *A = sg_index_select(ctx, rows, order, n_all);
        sg_tensor *G = sg_tensor_new(ctx, SG_F32, 2, (const int[]){n_all, D});
        double L = 0.0;
        sg_ctx local;
        if (!scratch) sg_ctx_init_on(&local, ctx->be);
        sg_ctx *sub = scratch ? scratch : &local;
        SG_CHECK(sub->be == ctx->be, "ctt_contrast: the scratch context is on backend %s, the step on %s",
                 sub->be->name, ctx->be->name);
        const double flops0 = sub->flops;
        for (int k = 0; k < K; k++) {
            const int nk = start[k + 1] - start[k];
            if (!nk) continue;
            /* loss += sum(-log(...)) / (size * per_count_size) (high) or / per_count_size (low);
             * then loss / class_count */
            const float w = 1.0f / ((float)count * (per_positive ? (float)t->G * (float)nk : (float)nk));
            for (int off = start[k]; off < start[k + 1]; off += chunk) {
                const int n = start[k + 1] - off < chunk ? start[k + 1] - off : chunk;
                const size_t bytes = (size_t)n * D * sizeof(float);
                sg_tensor *a = sg_tensor_new(sub, SG_F32, 2, (const int[]){n, D});
                ctx->be->copy(a->data, A->data + (size_t)off * D, bytes);
                a->requires_grad = true;
                sg_tensor *l = sg_scale(sub, fn(sub, a, t, k, order + off), w);
                L += sg_tensor_item(l);
                sg_backward(sub, l);
                if (a->grad)
                    ctx->be->copy(G->data + (size_t)off * D, a->grad, bytes);
                else
                    ctx->be->memset_zero(G->data + (size_t)off * D, bytes);
                sg_ctx_reset(sub);
            }
        }
        ctx->flops += sub->flops - flops0;
        if (!scratch) sg_ctx_free(&local);
        sg_tensor *P = sg_sum(ctx, sg_mul(ctx, A, G));
        out = sg_add(ctx, sg_sub(ctx, P, detach_(ctx, P)), scalar_(ctx, (float)L));
    }
    free(order);
    free(start);
    return out;
}

void ctt_contrast(sg_ctx *ctx, const ctt_contrast_in *in, const ctt_params *hp, ctt_contrast_out *out)
{
    *out = (ctt_contrast_out){0};
    const int NL = in->feat_x[0]->shape[0], NU = in->feat_u[0]->shape[0];
    const int h = in->feat_x[0]->shape[2], w = in->feat_x[0]->shape[3];
    const int K = in->bank[0]->n_classes, cap = in->bank[0]->capacity[0];
    SG_CHECK(K >= 2, "ctt_contrast: needs at least 2 classes, got %d", K);
    SG_CHECK(hp->contr_chunk >= 1, "ctt_contrast: chunk of %d anchors", hp->contr_chunk);
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
    sg_tensor *ones = sg_tensor_new(ctx, SG_F32, 2, (const int[]){1, cap});
    float *o = sg_ctx_stage(ctx, ones);
    for (int i = 0; i < cap; i++) o[i] = 1.0f;
    sg_ctx_stage_done(ctx, ones, o);
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
            const term_ t = {.bank = bank_matrix_(ctx, &in->bank[s], 1), .ones = ones, .K = K, .G = cap,
                             .tau = hp->tau_high};
            out->high[s] = term_loss_(ctx, in->scratch, rows, lab, mask, ML + MU, &t, high_sum_, true, hp->contr_chunk);
            if (!out->high[s]) out->high[s] = scalar_(ctx, 0.0f);
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
            const term_ t = {.bank = both, .peer = peer, .K = K, .G = 2 * cap, .tau = hp->tau_low};
            out->low[s] = term_loss_(ctx, in->scratch, rows_(ctx, in->feat_u[s]), lab, mask, MU, &t, low_sum_, false,
                                     hp->contr_chunk);
            if (!out->low[s]) out->low[s] = scalar_(ctx, 0.0f);
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
