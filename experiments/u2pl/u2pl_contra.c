/*
 * u2pl_contra.c: U2PL's contrastive term with unreliable negatives
 * (Wang et al., CVPR 2022, Sec. 3.3), as the released code computes it:
 * the masks of Haochen-Wang409/U2PL@ab3d2be:train_semi.py (entropy
 * percentiles, nearest-downsampled one-hots and masks) and
 * u2pl/utils/loss_helper.py compute_contra_memobank_loss (queues, anchors,
 * prototypes, InfoNCE). The comments quote the code; B = nl + nu, (h, w) the
 * decoder resolution (stride 4), K classes, D feature channels.
 *
 * Everything but the similarity and its cross-entropy is selection logic
 * (thresholds, masks, ranks, sampling, queues): it runs on the host on
 * copies read with sg_tensor_read, as U2PL itself moves the queues to the
 * CPU. The anchors are rows of the student features taken with
 * sg_index_select and normalised with sg_normalize, so the gradient flows
 * back into them; the keys (the class prototype and the sampled negatives)
 * are constants, normalised on the host, and the cosine similarities are
 * one batched sg_matmul.
 *
 * The three quirk switches (hp->quirk_*, README "Quirk switches") select
 * between the released code and the paper's intent. Covered by
 * tests/test_u2pl.c against tests/ref/gen_u2pl.py.
 */
#include "u2pl_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* An int32 (n, H, W) map from host values, nearest-downsampled to (h, w)
 * (F.interpolate(..., mode="nearest")) and read back into out. */
static void down_(sg_ctx *ctx, const int32_t *full, int n, int H, int W, int h, int w, int32_t *out)
{
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, H, W});
    int32_t *host = sg_ctx_stage(ctx, t);
    memcpy(host, full, (size_t)n * H * W * sizeof *full);
    sg_ctx_stage_done(ctx, t, host);
    sg_tensor_read(sg_resize_nearest_labels(ctx, t, h, w), out);
}

/* out = v / max(||v||_2, 1e-8), accumulated in double (F.normalize's eps). */
static void unit_(const float *v, int n, float *out)
{
    double ss = 0.0;
    for (int k = 0; k < n; k++) ss += (double)v[k] * v[k];
    const double norm = fmax(sqrt(ss), 1e-8);
    for (int k = 0; k < n; k++) out[k] = (float)(v[k] / norm);
}

static sg_tensor *zero_(sg_ctx *ctx)
{
    sg_tensor *z = sg_tensor_new(ctx, SG_F32, 1, (const int[]){1});
    float *host = sg_ctx_stage(ctx, z);
    host[0] = 0.0f;
    sg_ctx_stage_done(ctx, z, host);
    return z;
}

/* Host copies of the step's maps at decoder resolution. */
typedef struct {
    int B, nl, K, D, hw;
    uint8_t *onehot;   /* (B, K, hw): label_l_small / label_u_small */
    int32_t *low;      /* (B, hw): low_mask_all */
    int32_t *high;     /* (B, hw): high_mask_all */
    float *prob;       /* (B, K, hw): teacher softmax */
    uint8_t *rank;     /* (B, K, hw): position of class k in torch.sort(prob, 1, descending) */
    float *feat_t;     /* (B hw, D): teacher features, pixel-major */
} maps_;

/* label_onehot(labels, K) of one part (n images at `first`), downsampled.
 * Released code: outputs.scatter_(0, labels.unsqueeze(1), 1) on a
 * (K, n, H, W) tensor writes only batch slot 0, with the union of the
 * part's labels (255 counted as class 0); outputs[:, labels == 255] = 0
 * then clears slot 0 where image 0 is 255. Paper: one one-hot per image. */
static void onehot_(maps_ *m, const int32_t *lab, int first, int n, bool quirk)
{
    const int K = m->K, hw = m->hw;
    for (int b = 0; b < n; b++) {
        uint8_t *o = m->onehot + (size_t)(first + b) * K * hw;
        for (int p = 0; p < hw; p++) {
            if (!quirk) {
                const int32_t y = lab[(size_t)b * hw + p];
                if (y != 255) o[(size_t)y * hw + p] = 1;
            } else if (b == 0 && lab[p] != 255) {
                for (int j = 0; j < n; j++) {
                    const int32_t y = lab[(size_t)j * hw + p];
                    o[(size_t)(y == 255 ? 0 : y) * hw + p] = 1;
                }
            }
        }
    }
}

/* torch.sort(prob, 1, True): the rank of every class per pixel, ties by
 * class index (torch's order of equal values is unspecified). */
static void ranks_(maps_ *m)
{
    const int K = m->K, hw = m->hw;
    int *order = sg_xmalloc((size_t)K * sizeof *order);
    for (int b = 0; b < m->B; b++)
        for (int p = 0; p < hw; p++) {
            const float *pr = m->prob + (size_t)b * K * hw + p;
            for (int k = 0; k < K; k++) {
                int j = k;
                while (j > 0 && pr[(size_t)order[j - 1] * hw] < pr[(size_t)k * hw]) {
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = k;
            }
            for (int r = 0; r < K; r++) m->rank[((size_t)b * K + order[r]) * hw + p] = (uint8_t)r;
        }
    free(order);
}

/* Candidate anchors of class c (rows b hw + p), the prototype (mean teacher
 * feature of the low-valid pixels; *n_valid of them) and the negative keys
 * pushed into queue c. */
static void class_sets_(const maps_ *m, const u2pl_params *hp, int c, int **anchors, int *n_anchor,
                        float *proto, long *n_valid, sg_class_queue *q)
{
    const int K = m->K, hw = m->hw, D = m->D;
    int *a = sg_xmalloc((size_t)m->B * hw * sizeof *a);
    int na = 0, nk = 0, cap = 0;
    long nv = 0;
    double *sum = sg_xcalloc((size_t)D, sizeof *sum);
    float *keys = NULL;
    for (int b = 0; b < m->B; b++)
        for (int p = 0; p < hw; p++) {
            const size_t bc = ((size_t)b * K + c) * hw + p, row = (size_t)b * hw + p;
            const float pc = m->prob[bc];
            const float *ft = m->feat_t + row * D;
            /* low_valid_pixel = cat(label_l, label_u) * low_mask
             * rep_mask_low_entropy = (prob_seg > current_class_threshold) * low_valid_pixel_seg */
            const bool low_valid = m->onehot[bc] && m->low[row];
            if (low_valid) {
                nv++;
                for (int k = 0; k < D; k++) sum[k] += ft[k];
                if (pc > hp->delta_p) a[na++] = (int)row;
            }
            /* rep_mask_high_entropy = (prob_seg < current_class_negative_threshold)
             *                         * high_valid_pixel_seg (= label == c times high_mask)
             * class_mask_l = c among the top low_rank classes, times (label_l[:, c] == 0)
             * class_mask_u = c at ranks [low_rank, high_rank)
             * negative_mask = rep_mask_high_entropy * class_mask */
            const bool high = m->high[row] && (!hp->quirk_negative_mask || m->onehot[bc]);
            const int r = m->rank[bc];
            const bool cls = b < m->nl ? r < hp->low_rank && !m->onehot[bc]
                                       : r >= hp->low_rank && r < hp->high_rank;
            if (pc < hp->delta_n && high && cls) {
                if (nk == cap) {
                    cap = cap ? 2 * cap : 64;
                    keys = realloc(keys, (size_t)cap * D * sizeof *keys);
                    SG_CHECK(keys, "u2pl_contra_loss: out of memory");
                }
                memcpy(keys + (size_t)nk * D, ft, (size_t)D * sizeof *ft);
                nk++;
            }
        }
    /* keys = rep_teacher[negative_mask]; dequeue_and_enqueue(keys, memobank[c], ...) */
    if (nk) sg_class_queue_push(q, c, keys, nk);
    /* torch.mean(rep_teacher[low_valid_pixel_seg], dim=0) (NaN when empty, never read then) */
    for (int k = 0; k < D; k++) proto[k] = nv ? (float)(sum[k] / (double)nv) : NAN;
    free(keys);
    free(sum);
    *anchors = a;
    *n_anchor = na;
    *n_valid = nv;
}

sg_tensor *u2pl_contra_loss(sg_ctx *ctx, sg_tensor *rep, sg_tensor *rep_t, sg_tensor *prob_t,
                            const sg_tensor *labels_l, const sg_tensor *labels_u, const float *entropy_u,
                            const float *entropy_sorted, double alpha_t, const u2pl_params *hp,
                            sg_class_queue *q, sg_rng *rng)
{
    const int B = rep->shape[0], D = rep->shape[1], h = rep->shape[2], w = rep->shape[3];
    const int nl = labels_l->shape[0], nu = labels_u->shape[0], H = labels_u->shape[1],
              W = labels_u->shape[2], K = prob_t->shape[1];
    SG_CHECK(nl + nu == B && q->dim == D && q->n_classes == K && K <= 256,
             "u2pl_contra_loss: %d + %d images for %d features, queue %d x %d for %d x %d", nl, nu, B,
             q->n_classes, q->dim, K, D);
    const size_t HW = (size_t)H * W, hw = (size_t)h * w;
    maps_ m = {.B = B, .nl = nl, .K = K, .D = D, .hw = (int)hw};

    /* low_thresh = np.percentile(entropy[label_u_aug != 255], alpha_t), high_thresh at
     * 100 - alpha_t (pseudo-labels are never 255: every unlabeled pixel) */
    const float low_th = (float)sg_semi_percentile_sorted(entropy_sorted, (size_t)nu * HW, alpha_t);
    const float high_th = (float)sg_semi_percentile_sorted(entropy_sorted, (size_t)nu * HW, 100.0 - alpha_t);

    /* low_mask_all = cat(label_l != 255, entropy <= low_thresh), high_mask_all =
     * cat(label_l != 255, entropy >= high_thresh) (negative_high_entropy; else
     * ones), each F.interpolate(..., mode="nearest") to (h, w); the labels alike. */
    int32_t *lab = sg_xmalloc((size_t)B * HW * sizeof *lab);
    int32_t *lo = sg_xmalloc((size_t)B * HW * sizeof *lo), *hi = sg_xmalloc((size_t)B * HW * sizeof *hi);
    sg_tensor_read(labels_l, lab);
    sg_tensor_read(labels_u, lab + (size_t)nl * HW);
    for (size_t i = 0; i < (size_t)B * HW; i++) {
        if (i < (size_t)nl * HW) {
            lo[i] = hi[i] = lab[i] != 255;
        } else {
            const float e = entropy_u[i - (size_t)nl * HW];
            lo[i] = e <= low_th;
            hi[i] = hp->negative_high_entropy ? e >= high_th : 1;
        }
    }
    int32_t *lab_s = sg_xmalloc((size_t)B * hw * sizeof *lab_s);
    m.low = sg_xmalloc((size_t)B * hw * sizeof *m.low);
    m.high = sg_xmalloc((size_t)B * hw * sizeof *m.high);
    down_(ctx, lab, B, H, W, h, w, lab_s);
    down_(ctx, lo, B, H, W, h, w, m.low);
    down_(ctx, hi, B, H, W, h, w, m.high);
    free(lab);
    free(lo);
    free(hi);
    m.onehot = sg_xcalloc((size_t)B * K * hw, 1);
    onehot_(&m, lab_s, 0, nl, hp->quirk_onehot);
    onehot_(&m, lab_s + (size_t)nl * hw, nl, nu, hp->quirk_onehot);
    free(lab_s);

    /* prob, rep_teacher: the train-mode teacher's softmax and features */
    m.prob = sg_xmalloc((size_t)B * K * hw * sizeof *m.prob);
    sg_tensor_read(prob_t, m.prob);
    m.rank = sg_xmalloc((size_t)B * K * hw);
    ranks_(&m);
    const bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *ft = sg_permute(ctx, rep_t, (const int[]){0, 2, 3, 1});
    sg_ctx_set_grad(ctx, was);
    m.feat_t = sg_xmalloc((size_t)B * hw * D * sizeof *m.feat_t);
    sg_tensor_read(ft, m.feat_t);

    /* for i in range(num_segments): ... (all queues are updated before any loss) */
    int **anchors = sg_xmalloc((size_t)K * sizeof *anchors);
    int *n_anchor = sg_xmalloc((size_t)K * sizeof *n_anchor);
    float *proto = sg_xmalloc((size_t)K * D * sizeof *proto);
    int *valid = sg_xmalloc((size_t)K * sizeof *valid), n_valid = 0;
    for (int c = 0; c < K; c++) {
        long nv;
        class_sets_(&m, hp, c, &anchors[c], &n_anchor[c], proto + (size_t)c * D, &nv, q);
        if (nv > 0) valid[n_valid++] = c;
    }
    free(m.onehot);
    free(m.low);
    free(m.high);
    free(m.prob);
    free(m.rank);
    free(m.feat_t);

    sg_tensor *loss = NULL;
    if (n_valid > 1) {
        /* rep.permute(0, 2, 3, 1): the student features as rows b hw + p */
        sg_tensor *rows_all =
            sg_reshape(ctx, sg_permute(ctx, rep, (const int[]){0, 2, 3, 1}), 2, (const int[]){B * (int)hw, D});
        const int Q = hp->num_queries, NN = hp->num_negatives;
        int *idx = sg_xmalloc((size_t)Q * sizeof *idx);
        sg_tensor *target = sg_tensor_new(ctx, SG_I32, 3, (const int[]){Q, 1, 1});
        int32_t *th = sg_ctx_stage(ctx, target);
        memset(th, 0, (size_t)Q * sizeof *th);
        sg_ctx_stage_done(ctx, target, th);
        for (int i = 0; i < n_valid; i++) {
            /* Released code: seg_feat_low_entropy_list[i] and seg_proto[i] (class i)
             * with memobank[valid_classes[i]]; paper: class valid_classes[i] for all. */
            const int c = hp->quirk_class_index ? i : valid[i], cq = valid[i];
            const int qn = sg_class_queue_size(q, cq);
            if (n_anchor[c] == 0 || qn == 0) continue;
            /* seg_low_entropy_idx = torch.randint(len(anchors), size=(num_queries,)) */
            for (int a = 0; a < Q; a++) idx[a] = anchors[c][sg_rng_below(rng, (uint32_t)n_anchor[c])];
            /* high_entropy_idx = torch.randint(len(negative_feat), size=(num_queries * num_negatives,))
             * all_feat = cat(positive_feat, negative_feat.reshape(num_queries, num_negatives, D)),
             * each row divided by max(its norm, 1e-8) here (constants) */
            float *bank = sg_xmalloc((size_t)qn * D * sizeof *bank);
            sg_class_queue_read(q, cq, 0, qn, bank);
            sg_tensor *keys = sg_tensor_new(ctx, SG_F32, 3, (const int[]){Q, 1 + NN, D});
            float *kh = sg_ctx_stage(ctx, keys);
            for (int a = 0; a < Q; a++)
                for (int j = 0; j <= NN; j++) {
                    const float *src = j == 0 ? proto + (size_t)c * D
                                              : bank + (size_t)sg_rng_below(rng, (uint32_t)qn) * D;
                    unit_(src, D, kh + ((size_t)a * (1 + NN) + j) * D);
                }
            sg_ctx_stage_done(ctx, keys, kh);
            free(bank);
            /* seg_logits = torch.cosine_similarity(anchor_feat.unsqueeze(1), all_feat, dim=2):
             * the normalised anchors (F.normalize, as ATen's cosine_similarity divides
             * each side by its clamped norm) times the normalised keys, batched
             * reco_loss += F.cross_entropy(seg_logits / temp, zeros(num_queries)) */
            sg_tensor *an = sg_normalize(ctx, sg_index_select(ctx, rows_all, idx, Q), 1e-8f);
            sg_tensor *cos = sg_matmul(ctx, sg_reshape(ctx, an, 3, (const int[]){Q, 1, D}), keys, false, true);
            sg_tensor *logits =
                sg_scale(ctx, sg_reshape(ctx, cos, 4, (const int[]){Q, 1 + NN, 1, 1}), 1.0f / hp->temperature);
            sg_tensor *ce = sg_cross_entropy(ctx, logits, target, NULL, 255, SG_REDUCE_MEAN);
            loss = loss ? sg_add(ctx, loss, ce) : ce;
        }
        free(idx);
        /* reco_loss / valid_seg: skipped classes count in the denominator */
        if (loss) loss = sg_scale(ctx, loss, 1.0f / (float)n_valid);
    }
    for (int c = 0; c < K; c++) free(anchors[c]);
    free(anchors);
    free(n_anchor);
    free(proto);
    free(valid);
    return loss ? loss : zero_(ctx);
}
