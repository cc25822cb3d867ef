/*
 * loss.c: loss kernels (CPU), see loss.h.
 * References (torch 1.13):
 *  - cross-entropy: torch.nn.functional.cross_entropy(logits, target,
 *    ignore_index=..., reduction='none') = log_softmax over K + nll_loss; its
 *    backward is softmax - onehot(target), scaled by the upstream gradient;
 *  - MSE: torch.nn.functional.mse_loss, backward 2 (a - b) g;
 *  - KL: torch.nn.functional.kl_div(log_input, target, log_target=False),
 *    which 1.13 computes as xlogy(target, target) - target * log_input, so its
 *    target gradient is log t + t/t - log_input: NaN at t == 0 (0/0);
 *  - entropy: -(p * torch.log(p + eps)).sum(1, keepdim=True).
 * Per-element work is split across OpenMP threads with each output written by
 * one thread; sums over channels and reductions run in double in a fixed
 * order. The per-element expressions are loss_math.h's, shared with the CUDA
 * kernels, except that the cross-entropy's exps are vexp.h's vectorisable
 * exp (its loops are SG_SIMD_CLONES, simd.h) where the GPU calls its own.
 * One-pixel maps (HW = 1: rows of K contiguous logits) take row loops that
 * vectorise over the classes and give the bits of the pixel tiles.
 * Covered by tests/test_ops_loss.c.
 */
#include "loss.h"

#include <math.h>

#include "loss_math.h"
#include "simd.h"
#include "softmax.h"
#include "vexp.h"

/* Cross-entropy pixels handled per task: the channel loop walks K strided
 * planes with the tile's pixels as the contiguous inner loop. */
#define SG_CE_TILE 64

double sg_weighted_sum_cpu(double *partials, const float *x, const float *w, size_t n)
{
    long nb = (long)sg_loss_blocks(n);
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        size_t i0 = (size_t)b * SG_LOSS_BLOCK;
        size_t i1 = i0 + SG_LOSS_BLOCK < n ? i0 + SG_LOSS_BLOCK : n;
        double s = 0.0;
        if (w)
            for (size_t i = i0; i < i1; i++) s += sg_wsum_term1(x[i], w[i]);
        else
            for (size_t i = i0; i < i1; i++) s += (double)x[i];
        partials[b] = s;
    }
    double s = 0.0;
    for (long b = 0; b < nb; b++) s += partials[b];
    return s;
}

/* One tile of the cross-entropy forward: `len` pixels of image n. */
SG_SIMD_CLONES
static void sg_ce_forward_tile_(float *ce, float *lse, float *wce, const float *x,
                                const int32_t *target, const float *weight, size_t p0, int K,
                                int HW, int len, int ignore_index)
{
    float m[SG_CE_TILE];
    double s[SG_CE_TILE];
    sg_softmax_max_sum_tile(m, s, x, K, HW, len);
    for (int j = 0; j < len; j++) {
        double l = sg_ce_lse(m[j], s[j]);
        int32_t c = target[p0 + j];
        lse[p0 + j] = (float)l;
        ce[p0 + j] = c == ignore_index ? 0.0f : sg_ce1(l, x[(size_t)c * HW + j]);
        if (wce) wce[p0 + j] = sg_ce_weighted1(weight, p0 + j, ce[p0 + j]);
    }
}

/* One image of a one-pixel cross-entropy (HW = 1: K contiguous logits, as
 * CTT's InfoNCE rows of thousands of classes): the tile's expressions, max and
 * sum order over one row, so the same bits as a one-pixel tile. */
SG_SIMD_CLONES
static void sg_ce_forward_row_(float *ce, float *lse, float *wce, const float *x,
                               const int32_t *target, const float *weight, size_t n, int K,
                               int ignore_index)
{
    float m;
    double s;
    sg_softmax_max_sum_row(&m, &s, x, K);
    double l = sg_ce_lse(m, s);
    int32_t c = target[n];
    lse[n] = (float)l;
    ce[n] = c == ignore_index ? 0.0f : sg_ce1(l, x[c]);
    if (wce) wce[n] = sg_ce_weighted1(weight, n, ce[n]);
}

void sg_cross_entropy_forward_cpu(float *ce, float *lse, float *wce, const float *logits,
                                  const int32_t *target, const float *weight, int N, int K, int HW,
                                  int ignore_index)
{
    if (HW == 1) {
#pragma omp parallel for schedule(static)
        for (long n = 0; n < (long)N; n++)
            sg_ce_forward_row_(ce, lse, wce, logits + (size_t)n * K, target, weight, (size_t)n, K,
                               ignore_index);
        return;
    }
    int tiles = (HW + SG_CE_TILE - 1) / SG_CE_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)N * tiles; t++) {
        int n = (int)(t / tiles), i0 = (int)(t % tiles) * SG_CE_TILE;
        int len = HW - i0 < SG_CE_TILE ? HW - i0 : SG_CE_TILE;
        sg_ce_forward_tile_(ce, lse, wce, logits + (size_t)n * K * HW + (size_t)i0, target, weight,
                            (size_t)n * HW + (size_t)i0, K, HW, len, ignore_index);
    }
}

/* One class plane of the cross-entropy backward: dx += g (softmax - onehot)
 * at the pixels whose target is not ignored, g the pixel's scaled upstream
 * gradient (times its weight). Ignored pixels keep dx's bits: a select, so
 * the loop has no branch and vectorises; `per_pixel` (dout given) and
 * `weighted` are constants at each call, so no test is left in the loop. */
SG_SIMD_INLINE void sg_ce_backward_body_(float *dx, const float *x, const float *dout,
                                         double scale, const float *lse, const int32_t *target,
                                         const float *weight, size_t p0, int k, int HW,
                                         int ignore_index, const bool per_pixel,
                                         const bool weighted)
{
#pragma omp simd
    for (int i = 0; i < HW; i++) {
        int32_t c = target[p0 + i];
        double g = scale * (per_pixel ? (double)dout[p0 + i] : 1.0);
        if (weighted) g *= (double)weight[p0 + i];
        double prob = sg_vexp((double)x[i] - (double)lse[p0 + i]);
        float v = dx[i] + (float)(g * (prob - (double)(c == k)));
        dx[i] = sg_simd_selectf(c == ignore_index, dx[i], v);
    }
}

/* body(per_pixel, weighted) with both flags constant: a per-pixel upstream
 * gradient (dout given) and weights, so each specialisation's loop keeps no
 * test; used inside the backward's SG_SIMD_CLONES functions. */
#define SG_CE_SPECIALISE_(body)            \
    do {                                   \
        if (dout) {                        \
            if (weight)                    \
                body(true, true);          \
            else                           \
                body(true, false);         \
        } else {                           \
            if (weight)                    \
                body(false, true);         \
            else                           \
                body(false, false);        \
        }                                  \
    } while (0)

SG_SIMD_CLONES
static void sg_ce_backward_plane_(float *dx, const float *x, const float *dout, double scale,
                                  const float *lse, const int32_t *target, const float *weight,
                                  size_t p0, int k, int HW, int ignore_index)
{
#define SG_CE_BODY_(per_pixel, weighted)                                                     \
    sg_ce_backward_body_(dx, x, dout, scale, lse, target, weight, p0, k, HW, ignore_index, \
                         per_pixel, weighted)
    SG_CE_SPECIALISE_(SG_CE_BODY_);
#undef SG_CE_BODY_
}

/* One image of a one-pixel cross-entropy backward (HW = 1): the plane's
 * expression for each of the K contiguous logits, vectorised over them
 * (element by element, so the same bits as K one-pixel planes). */
SG_SIMD_INLINE void sg_ce_backward_row_body_(float *dx, const float *x, const float *dout,
                                             double scale, const float *lse, const int32_t *target,
                                             const float *weight, size_t n, int K, int ignore_index,
                                             const bool per_pixel, const bool weighted)
{
    int32_t c = target[n];
    if (c == ignore_index) return;
    double g = scale * (per_pixel ? (double)dout[n] : 1.0);
    if (weighted) g *= (double)weight[n];
    const double l = (double)lse[n];
#pragma omp simd
    for (int k = 0; k < K; k++) {
        double prob = sg_vexp((double)x[k] - l);
        dx[k] = dx[k] + (float)(g * (prob - (double)(c == k)));
    }
}

SG_SIMD_CLONES
static void sg_ce_backward_row_(float *dx, const float *x, const float *dout, double scale,
                                const float *lse, const int32_t *target, const float *weight,
                                size_t n, int K, int ignore_index)
{
#define SG_CE_ROW_(per_pixel, weighted) \
    sg_ce_backward_row_body_(dx, x, dout, scale, lse, target, weight, n, K, ignore_index, per_pixel, weighted)
    SG_CE_SPECIALISE_(SG_CE_ROW_);
#undef SG_CE_ROW_
}

void sg_cross_entropy_backward_cpu(float *dlogits, float *dweight, const float *dout, double scale,
                                   const float *logits, const float *lse, const float *ce,
                                   const int32_t *target, const float *weight, int N, int K, int HW,
                                   int ignore_index)
{
    if (dweight) {
#pragma omp parallel for schedule(static)
        for (long p = 0; p < (long)N * HW; p++)
            if (target[p] != ignore_index)
                dweight[p] += sg_ce_dweight1(scale * sg_loss_dout1(dout, (size_t)p), ce[p]);
    }
    if (!dlogits) return;
    if (HW == 1) {
#pragma omp parallel for schedule(static)
        for (long n = 0; n < (long)N; n++)
            sg_ce_backward_row_(dlogits + (size_t)n * K, logits + (size_t)n * K, dout, scale, lse, target,
                                weight, (size_t)n, K, ignore_index);
        return;
    }
#pragma omp parallel for schedule(static)
    for (long nk = 0; nk < (long)N * K; nk++) {
        int n = (int)(nk / K), k = (int)(nk % K);
        sg_ce_backward_plane_(dlogits + (size_t)nk * HW, logits + (size_t)nk * HW, dout, scale, lse,
                              target, weight, (size_t)n * HW, k, HW, ignore_index);
    }
}

void sg_mse_forward_cpu(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_mse1(a[i], b[i]);
}

void sg_mse_backward_cpu(float *da, float *db, const float *dout, double scale, const float *a,
                         const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double g = sg_mse_grad1(scale, sg_loss_dout1(dout, i), a[i], b[i]);
        if (da) da[i] += (float)g;
        if (db) db[i] -= (float)g;
    }
}

void sg_kl_div_forward_cpu(float *out, const float *log_input, const float *target, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_kl1(log_input[i], target[i]);
}

void sg_kl_div_backward_cpu(float *dlog_input, float *dtarget, const float *dout, double scale,
                            const float *log_input, const float *target, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double g = scale * sg_loss_dout1(dout, i);
        double t = target[i];
        if (dlog_input) dlog_input[i] += sg_kl_grad_input1(t, g);
        if (dtarget) dtarget[i] += sg_kl_grad_target1(t, log_input[i], g);
    }
}

void sg_entropy_forward_cpu(float *out, const float *p, float eps, int N, int C, int HW)
{
#pragma omp parallel for schedule(static)
    for (long q = 0; q < (long)N * HW; q++) {
        long n = q / HW, i = q % HW;
        const float *pp = p + (size_t)n * C * HW + (size_t)i;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += sg_entropy_term1(pp[(size_t)c * HW], eps);
        out[q] = sg_entropy_finish(s);
    }
}

void sg_entropy_backward_cpu(float *dp, const float *dout, const float *p, float eps, int N, int C,
                             int HW)
{
#pragma omp parallel for schedule(static)
    for (long q = 0; q < (long)N * HW; q++) {
        long n = q / HW, i = q % HW;
        size_t base = (size_t)n * C * HW + (size_t)i;
        double g = dout[q];
        for (int c = 0; c < C; c++)
            dp[base + (size_t)c * HW] += sg_entropy_grad1(p[base + (size_t)c * HW], eps, g);
    }
}
