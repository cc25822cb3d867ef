/*
 * pool.c: max pooling (with argmax for backward) and global average pooling.
 * References: torch.nn.functional.max_pool2d (floor mode, dilation 1; the CPU
 * kernel's `val > maxval || isnan(val)` scan, so the first of tied maxima wins
 * and gets the gradient) and torch.nn.functional.adaptive_avg_pool2d(x, 1),
 * which PyTorch computes as x.mean((-1, -2)).
 * All loops split over the NC planes: each plane is read and written by one
 * thread in a fixed order, so results do not depend on the thread count.
 * The per-output arithmetic is in pool_math.h, shared with the CUDA kernels.
 * Covered by tests/test_ops_conv.c (PyTorch parity + gradient checks).
 */
#include "pool.h"

#include <stddef.h>

#include "pool_math.h"

void sg_maxpool2d_forward_cpu(float *out, int32_t *argmax, const float *x, int NC, int H, int W,
                              int Ho, int Wo, int kernel, int stride, int pad)
{
    const size_t P = (size_t)Ho * Wo;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        const float *xp = x + (size_t)i * H * W;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                int best;
                const float m = sg_maxpool_window(xp, H, W, oh, ow, kernel, stride, pad, &best);
                size_t o = (size_t)i * P + (size_t)oh * Wo + ow;
                out[o] = m;
                if (argmax) argmax[o] = best;
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
        out[i] = sg_avgpool_mean(s, HW);
    }
}

void sg_global_avgpool_backward_cpu(float *dx, const float *dout, int NC, int HW)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < NC; i++) {
        float g = sg_avgpool_grad(dout[i], HW);
        float *dxp = dx + (size_t)i * HW;
        for (int j = 0; j < HW; j++) dxp[j] += g;
    }
}
