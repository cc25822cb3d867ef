/*
 * channel_math.h: per-pixel scans over the channels of an (N, K, HW) map,
 * shared by the CPU and CUDA kernels through SG_HD: the first argmax
 * (pseudo-labels: torch.argmax / max(dim=1)), the argmax where a NaN wins
 * (the prediction's class ids, as torch.argmax), and the channel max
 * (CutMix-Seg's confidence). A pixel's channels are `stride` floats apart
 * (stride HW). They reproduce the loops of sg_pseudo_label_cpu,
 * sg_argmax_u8_cpu and sg_confidence_indicator_cpu (semi_kernels.c).
 * Covered by tests/test_semi.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_CHANNEL_MATH_H
#define SEMISEG_CPU_CHANNEL_MATH_H

#include <math.h>
#include <stddef.h>

#include "semiseg/base.h"

/* Index of the first maximum over K channels; a NaN never wins (strict >). */
SG_HD int sg_argmax_first(const float *x, int K, size_t stride)
{
    int best = 0;
    for (int k = 1; k < K; k++)
        if (x[k * stride] > x[best * stride]) best = k;
    return best;
}

/* Index of the first maximum over K channels, the first NaN counting as the
 * largest value (torch.argmax). */
SG_HD int sg_argmax_nan_first(const float *x, int K, size_t stride)
{
    float best = x[0];
    int arg = 0;
    for (int c = 1; c < K; c++) {
        float v = x[(size_t)c * stride];
        if (v > best || (isnan(v) && !isnan(best))) {
            best = v;
            arg = c;
        }
    }
    return arg;
}

/* max over C channels with fmaxf (a NaN channel is passed over). */
SG_HD float sg_channel_max(const float *p, int C, size_t stride)
{
    float mx = p[0];
    for (int c = 1; c < C; c++) mx = fmaxf(mx, p[c * stride]);
    return mx;
}

#endif
