/*
 * semi_kernels.c: pseudo-labels, CutMix pasting, confidence masks and the
 * label-map checks on the CPU (semi_kernels.h). References: UniMatch's
 * pseudo-labels (pred.softmax(dim=1).max(dim=1)), CutMix's paste
 * (img[mask == 1] = img_mix[mask == 1]), torch.argmax (first maximum; a NaN
 * wins as torch's argmax treats it as the largest value).
 * Pseudo-labels run in tiles of pixels, parallel and vectorised
 * (SG_SIMD_CLONES, simd.h), with sg_argmax_first's result.
 * Covered by tests/test_semi.c, tests/test_ops_loss.c, tests/test_metrics.c
 * and tests/test_backend_ops.c.
 */
#include "semi_kernels.h"

#include <math.h>
#include <string.h>

#include "channel_math.h"
#include "semi_math.h"
#include "simd.h"

/* Pixels per task of sg_pseudo_label_cpu: the channel loop walks K strided
 * planes with the tile's pixels as the contiguous inner loop. */
#define SG_PL_TILE 64

/* First maximum over channels, per pixel of a tile: what sg_argmax_first
 * returns (strict >, so the first of equal values, and a NaN never wins),
 * written as a running maximum so the pixels vectorise. */
SG_SIMD_INLINE void sg_pl_argmax_tile_(int32_t *arg, const float *x, int K, size_t HW, int len)
{
    float best[SG_PL_TILE];
    for (int j = 0; j < len; j++) {
        best[j] = x[j];
        arg[j] = 0;
    }
    for (int k = 1; k < K; k++)
#pragma omp simd
        for (int j = 0; j < len; j++) {
            const float v = x[(size_t)k * HW + j];
            const int win = v > best[j];
            best[j] = sg_simd_selectf(win, v, best[j]);
            arg[j] = win ? k : arg[j];
        }
}

SG_SIMD_CLONES
static void sg_pseudo_label_tile_(int32_t *label, float *conf, const float *logits,
                                  const float *prob, int K, size_t HW, int len)
{
    int32_t arg[SG_PL_TILE];
    sg_pl_argmax_tile_(label, logits, K, HW, len);
    sg_pl_argmax_tile_(arg, prob, K, HW, len);
    for (int j = 0; j < len; j++) conf[j] = prob[(size_t)arg[j] * HW + j];
}

void sg_pseudo_label_cpu(int32_t *label, float *conf, const float *logits, const float *prob,
                         int N, int K, size_t HW)
{
    const long tiles = (long)((HW + SG_PL_TILE - 1) / SG_PL_TILE);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)N * tiles; t++) {
        const size_t n = (size_t)(t / tiles), i0 = (size_t)(t % tiles) * SG_PL_TILE;
        const int len = HW - i0 < SG_PL_TILE ? (int)(HW - i0) : SG_PL_TILE;
        const size_t img = n * K * HW + i0, px = n * HW + i0;
        sg_pseudo_label_tile_(label + px, conf + px, logits + img, prob + img, K, HW, len);
    }
}

void sg_paste_cpu(void *out, const void *a, const void *b, const int32_t *box, size_t es, int N,
                  int C, size_t HW)
{
    const unsigned char *pa = a, *pb = b;
    unsigned char *po = out;
    for (int n = 0; n < N; n++) {
        const int32_t *m = box + n * HW;
        for (int c = 0; c < C; c++) {
            const size_t base = ((size_t)n * C + c) * HW;
            for (size_t i = 0; i < HW; i++) {
                const unsigned char *src = (sg_semi_pasted(m[i]) ? pb : pa) + (base + i) * es;
                memcpy(po + (base + i) * es, src, es);
            }
        }
    }
}

void sg_count_confident_cpu(const float *conf, const int32_t *ignore, float tau, size_t n,
                            size_t *valid, size_t *kept)
{
    size_t v = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (ignore && ignore[i] == 255) continue;
        v++;
        k += conf[i] >= tau;
    }
    *valid = v;
    *kept = k;
}

void sg_valid_from_ignore_cpu(float *valid, const int32_t *ignore, size_t n)
{
    for (size_t i = 0; i < n; i++) valid[i] = sg_semi_valid1(ignore[i]);
}

void sg_masked_target_cpu(int32_t *target, float *weight, const int32_t *label, const float *conf,
                          const int32_t *ignore, float tau, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        target[i] = sg_semi_target1(label[i], ignore[i]);
        weight[i] = sg_semi_weight1(conf[i], ignore[i], tau);
    }
}

void sg_confidence_indicator_cpu(float *ind, size_t *kept, const float *probs, float thresh,
                                 int N, int C, size_t HW)
{
    size_t k = 0;
    for (int n = 0; n < N; n++) {
        for (size_t i = 0; i < HW; i++) {
            float mx = sg_channel_max(probs + (size_t)n * C * HW + i, C, HW);
            ind[n * HW + i] = mx >= thresh;
            k += mx >= thresh;
        }
    }
    *kept = k;
}

void sg_cons_weight_map_cpu(float *wmap, const float *valid, const float *ind, float factor,
                            bool per_pixel, int N, int C, size_t HW)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (size_t i = 0; i < HW; i++)
                wmap[((size_t)n * C + c) * HW + i] = sg_semi_cons_weight1(
                    valid[n * HW + i], per_pixel ? ind[n * HW + i] : factor);
}

void sg_cross_entropy_check_targets_cpu(const int32_t *target, size_t n, int K, int ignore_index,
                                        size_t *count, long *first_bad)
{
    size_t c = 0;
    *first_bad = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t v = target[i];
        if (v == ignore_index) continue;
        if (v < 0 || v >= K) {
            *first_bad = (long)i;
            break;
        }
        c++;
    }
    *count = c;
}

void sg_ohem_target_prob_cpu(float *pgt, const float *prob, const int32_t *target,
                             int ignore_index, int N, int K, size_t HW)
{
    for (int b = 0; b < N; b++)
        for (size_t i = 0; i < HW; i++) {
            pgt[(size_t)b * HW + i] = sg_ohem_target_prob1(
                target[(size_t)b * HW + i], ignore_index, K, prob + (size_t)b * K * HW + i, HW);
        }
}

void sg_ohem_select_cpu(int32_t *out, const int32_t *target, const float *pgt, float tau,
                        int ignore_index, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = sg_ohem_select1(target[i], pgt[i], tau, ignore_index);
}

void sg_argmax_u8_cpu(uint8_t *ids, const float *x, int N, int K, size_t HW)
{
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * K * HW;
        for (size_t p = 0; p < HW; p++)
            ids[(size_t)n * HW + p] = (uint8_t)sg_argmax_nan_first(xn + p, K, HW);
    }
}
