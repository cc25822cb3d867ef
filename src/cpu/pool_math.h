/*
 * pool_math.h: per-output arithmetic of max pooling and global average
 * pooling, shared by the CPU kernels (pool.c) and the CUDA kernels
 * (src/cuda/cuda_layout.cu) through SG_HD. Layout as pool.h: NC planes of
 * H x W. References: torch.nn.functional.max_pool2d (floor mode, dilation 1,
 * the CPU kernel's `val > maxval || isnan(val)` scan) and
 * adaptive_avg_pool2d(x, 1). Covered by tests/test_ops_conv.c (CPU) and
 * tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_POOL_MATH_H
#define SEMISEG_CPU_POOL_MATH_H

#include <math.h>

#include "semiseg/base.h"

/* Output (oh, ow) of plane xp: the maximum of its window clipped to the
 * plane (padding acts as -inf) and, in *best, its index within the plane.
 * The first maximum in row-major window order wins, a NaN wins over numbers,
 * and a window of only -inf keeps its first in-bounds element. */
SG_HD float sg_maxpool_window(const float *xp, int H, int W, int oh, int ow, int kernel,
                              int stride, int pad, int *best)
{
    int h0 = oh * stride - pad, h1 = h0 + kernel;
    if (h0 < 0) h0 = 0;
    if (h1 > H) h1 = H;
    int w0 = ow * stride - pad, w1 = w0 + kernel;
    if (w0 < 0) w0 = 0;
    if (w1 > W) w1 = W;
    int b = h0 * W + w0;
    float m = -INFINITY;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = xp[h * W + w];
            if (v > m || isnan(v)) {
                m = v;
                b = h * W + w;
            }
        }
    *best = b;
    return m;
}

/* The mean of a plane from its sum in double. */
SG_HD float sg_avgpool_mean(double sum, int HW) { return (float)(sum / HW); }
/* The gradient every element of a plane receives. */
SG_HD float sg_avgpool_grad(float dout, int HW) { return dout / (float)HW; }

#endif
