/*
 * pool.c: max pooling (with argmax for backward) and global average pooling.
 * References: torch.nn.functional.max_pool2d (floor mode, dilation 1; the CPU
 * kernel's `val > maxval || isnan(val)` scan, so the first of tied maxima wins
 * and gets the gradient) and torch.nn.functional.adaptive_avg_pool2d(x, 1),
 * which PyTorch computes as x.mean((-1, -2)).
 * All loops split over the NC planes: each plane is read and written by one
 * thread in a fixed order, so results do not depend on the thread count.
 * Covered by tests/test_ops_conv.c (PyTorch parity + gradient checks).
 */
#include "pool.h"

#include <math.h>
#include <stddef.h>

void sg_maxpool2d_forward_cpu(float *out, int32_t *argmax, const float *x, int NC, int H, int W,
                              int Ho, int Wo, int kernel, int stride, int pad)
{
    const size_t P = (size_t)Ho * Wo;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        const float *xp = x + (size_t)i * H * W;
        for (int oh = 0; oh < Ho; oh++) {
            int h0 = oh * stride - pad, h1 = h0 + kernel;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int ow = 0; ow < Wo; ow++) {
                int w0 = ow * stride - pad, w1 = w0 + kernel;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                /* A window of only -inf keeps its first in-bounds element. */
                int best = h0 * W + w0;
                float m = -INFINITY;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        float v = xp[h * W + w];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = h * W + w;
                        }
                    }
                size_t o = (size_t)i * P + (size_t)oh * Wo + ow;
                out[o] = m;
                if (argmax) argmax[o] = best;
            }
        }
    }
}

void sg_maxpool2d_backward_cpu(float *dx, const float *dout, const int32_t *argmax, int NC, int H,
                               int W, int Ho, int Wo)
{
    const size_t P = (size_t)Ho * Wo;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        float *dxp = dx + (size_t)i * H * W;
        for (size_t o = (size_t)i * P; o < (size_t)(i + 1) * P; o++) dxp[argmax[o]] += dout[o];
    }
}

void sg_global_avgpool_forward_cpu(float *out, const float *x, int NC, int HW)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        const float *xp = x + (size_t)i * HW;
        double s = 0.0;
        for (int j = 0; j < HW; j++) s += xp[j];
        out[i] = (float)(s / HW);
    }
}

void sg_global_avgpool_backward_cpu(float *dx, const float *dout, int NC, int HW)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        float g = dout[i] / (float)HW;
        float *dxp = dx + (size_t)i * HW;
        for (int j = 0; j < HW; j++) dxp[j] += g;
    }
}
