/*
 * normalize_math.h: per-position arithmetic over the channels of an
 * (outer, C, inner) tensor, shared by the CPU kernels (normalize.c) and the
 * CUDA kernels (src/cuda/cuda_normalize.cu) through SG_HD: one call handles
 * one position, whose C channels are `stride` (= inner) floats apart.
 * Sums are in double in channel order and products are rounded before they
 * are added (sg_dmul: no fused multiply-add on the GPU), so both backends
 * compute the same bits.
 *
 * References (torch 1.13.1, the version the fixtures come from):
 * - torch.nn.functional.normalize(x, p=2, dim=1, eps) =
 *   x / norm(x, 2, 1).clamp_min(eps) (torch/nn/functional.py). Its gradient:
 *   where the norm n >= eps, dx = (g - y sum_c g_c y_c) / n with y the
 *   output; where n < eps the clamp_min passes no gradient to the norm, so
 *   dx = g / eps.
 * - torch.nn.functional.cosine_similarity(a, b, dim=1, eps)
 *   (aten/src/ATen/native/Distance.cpp): 1.13.1 normalises each input first,
 *   sum_c (a_c / c_a) (b_c / c_b) with c = max(||.||_2, eps) per input
 *   (older releases divided a.b by max(||a|| ||b||, eps), which differs
 *   wherever a norm is below eps; the eps handling changed again later).
 *   ATen clamps outside autograd, so the gradient is the unclamped formula
 *   with c in place of the norm: da = g (y_b - y_a cos) / c_a, y = x / c,
 *   also where ||a|| < eps (measured against 1.13.1; a clamp_min with a
 *   gradient, as in normalize, would give g y_b / c_a there).
 * - (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True): unbiased std
 *   s = sqrt(sum (x - m)^2 / (C - 1)); y = (x - m) / s and
 *   dx = (g - mean(g) - y sum_c g_c y_c / (C - 1)) / s.
 * Covered by tests/test_ops_extra.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_NORMALIZE_MATH_H
#define SEMISEG_CPU_NORMALIZE_MATH_H

#include <math.h>
#include <stddef.h>

#include "semiseg/base.h"

#include "pointwise.h"

/* Offset of channel 0 of position p = o * inner + i of (outer, C, inner). */
SG_HD size_t sg_channel_base(size_t p, int C, int inner)
{
    return p / (size_t)inner * (size_t)C * (size_t)inner + p % (size_t)inner;
}

/* ||x||_2 over C channels, rounded once to float. PyTorch sums the squares
 * in float; double here keeps the result within its rounding of the exact
 * norm, independent of the order. */
SG_HD float sg_l2norm(const float *x, int C, size_t stride)
{
    double s = 0.0;
    for (int c = 0; c < C; c++) {
        const double v = x[(size_t)c * stride];
        s += sg_dmul(v, v);
    }
    return (float)sqrt(s);
}

/* max(n, eps) as clamp_min: a NaN norm stays NaN. */
SG_HD float sg_clamp_min(float n, float eps) { return n < eps ? eps : n; }

SG_HD void sg_normalize1(float *out, const float *x, float eps, int C, size_t stride)
{
    const float d = sg_clamp_min(sg_l2norm(x, C, stride), eps);
    for (int c = 0; c < C; c++) out[(size_t)c * stride] = x[(size_t)c * stride] / d;
}

/* dx += the gradient of sg_normalize1 for the upstream gradient g. */
SG_HD void sg_normalize_backward1(float *dx, const float *g, const float *x, float eps, int C,
                                  size_t stride)
{
    const float n = sg_l2norm(x, C, stride);
    if (n < eps) {
        for (int c = 0; c < C; c++) dx[(size_t)c * stride] += g[(size_t)c * stride] / eps;
        return;
    }
    /* y = x / n exactly as the forward rounded it. */
    double gy = 0.0;
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        gy += sg_dmul(g[i], x[i] / n);
    }
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        dx[i] += (float)((g[i] - sg_dmul(x[i] / n, gy)) / n);
    }
}

/* cos = sum_c (a_c / c_a)(b_c / c_b): the quotients and their product in
 * float as ATen forms them, the sum in double. */
SG_HD float sg_cosine1(const float *a, const float *b, float eps, int C, size_t stride)
{
    const float ca = sg_clamp_min(sg_l2norm(a, C, stride), eps);
    const float cb = sg_clamp_min(sg_l2norm(b, C, stride), eps);
    double s = 0.0;
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        s += sg_fmul(a[i] / ca, b[i] / cb);
    }
    return (float)s;
}

/* da += g (y_b - y_a cos) / c_a, db += g (y_a - y_b cos) / c_b for the
 * upstream gradient g of the position (either may be NULL). */
SG_HD void sg_cosine_backward1(float *da, float *db, float g, const float *a, const float *b,
                               float eps, int C, size_t stride)
{
    const float ca = sg_clamp_min(sg_l2norm(a, C, stride), eps);
    const float cb = sg_clamp_min(sg_l2norm(b, C, stride), eps);
    const double cos = sg_cosine1(a, b, eps, C, stride);
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        const double ya = a[i] / ca, yb = b[i] / cb;
        if (da) da[i] += (float)(sg_dmul(g, yb - sg_dmul(ya, cos)) / ca);
        if (db) db[i] += (float)(sg_dmul(g, ya - sg_dmul(yb, cos)) / cb);
    }
}

/* The mean and the unbiased standard deviation over C >= 2 channels, in
 * double, rounded to float as ATen's float mean and std are. */
SG_HD void sg_mean_std(float *mean, float *std, const float *x, int C, size_t stride)
{
    double s = 0.0;
    for (int c = 0; c < C; c++) s += x[(size_t)c * stride];
    const double m = s / C;
    double ss = 0.0;
    for (int c = 0; c < C; c++) {
        const double d = x[(size_t)c * stride] - m;
        ss += sg_dmul(d, d);
    }
    *mean = (float)m;
    *std = (float)sqrt(ss / (C - 1));
}

/* y = (x - mean) / std in float, as the ATen expression evaluates it. A
 * constant position (std 0) gives NaN, as in PyTorch. */
SG_HD void sg_standardize1(float *out, const float *x, int C, size_t stride)
{
    float m, s;
    sg_mean_std(&m, &s, x, C, stride);
    for (int c = 0; c < C; c++) out[(size_t)c * stride] = (x[(size_t)c * stride] - m) / s;
}

/* dx += (g - mean(g) - y sum_c g_c y_c / (C - 1)) / std. */
SG_HD void sg_standardize_backward1(float *dx, const float *g, const float *x, int C,
                                    size_t stride)
{
    float m, s;
    sg_mean_std(&m, &s, x, C, stride);
    double sg = 0.0, sgy = 0.0;
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        sg += g[i];
        sgy += sg_dmul(g[i], (x[i] - m) / s);
    }
    const double mg = sg / C, k = sgy / (C - 1);
    for (int c = 0; c < C; c++) {
        const size_t i = (size_t)c * stride;
        const double y = (x[i] - m) / s;
        dx[i] += (float)((g[i] - mg - sg_dmul(y, k)) / s);
    }
}

#endif
