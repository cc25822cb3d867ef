/*
 * normalize_math.h: per-position arithmetic over the channels of an
 * (outer, C, inner) tensor, shared by the CPU kernels (normalize.c) and the
 * CUDA kernels (src/cuda/cuda_normalize.cu) through SG_HD: one call handles
 * one position, whose C channels are `stride` (= inner) floats apart.
 * Sums are in double in channel order and products are rounded before they
 * are added (sg_dmul: no fused multiply-add on the GPU), so both backends
 * compute the same bits.
 *
 * Reference: torch.nn.functional.normalize(x, p=2, dim=1, eps) =
 * x / norm(x, 2, 1).clamp_min(eps) (torch/nn/functional.py). Its gradient:
 * where the norm n >= eps, dx = (g - y sum_c g_c y_c) / n with y the output;
 * where n < eps the clamp_min passes no gradient to the norm, so
 * dx = g / eps.
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

#endif
