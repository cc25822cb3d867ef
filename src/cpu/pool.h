/*
 * pool.h: max pooling and global average pooling kernels (CPU).
 * Layout: x (N, C, H, W) seen as NC planes of H x W; out (NC, Ho, Wo).
 * Forward writes `out`; backward ADDS into dx.
 * Matches torch.nn.functional.max_pool2d / adaptive_avg_pool2d(x, 1);
 * covered by tests/test_ops_conv.c.
 */
#ifndef SEMISEG_CPU_POOL_H
#define SEMISEG_CPU_POOL_H

#include <stdint.h>

/* Padding acts as -inf; the first maximum in row-major window order wins (a
 * NaN wins over numbers), as PyTorch's CPU kernel. argmax (NC, Ho, Wo) gets
 * each maximum's index within its H x W plane; it may be NULL. */
void sg_maxpool2d_forward_cpu(float *out, int32_t *argmax, const float *x, int NC, int H, int W,
                              int Ho, int Wo, int kernel, int stride, int pad);
void sg_maxpool2d_backward_cpu(float *dx, const float *dout, const int32_t *argmax, int NC, int H,
                               int W, int Ho, int Wo);

/* out[i] = mean of plane i (HW elements), summed in double. */
void sg_global_avgpool_forward_cpu(float *out, const float *x, int NC, int HW);
void sg_global_avgpool_backward_cpu(float *dx, const float *dout, int NC, int HW);

#endif
