/*
 * pointwise.h: per-element arithmetic shared by the CPU kernels and the CUDA
 * kernels (SG_HD = __host__ __device__ under nvcc), so that the CPU tests
 * exercise the same expressions the GPU evaluates.
 * Covered by tests/test_ops_elementwise.c (CPU) and tests/test_cuda.c (GPU).
 */
#ifndef SEMISEG_POINTWISE_H
#define SEMISEG_POINTWISE_H

#include <math.h>

#include "semiseg/base.h"

/* torch.relu; the gradient is 0 at exactly 0, as threshold_backward. */
SG_HD float sg_relu1(float x) { return x > 0.0f ? x : 0.0f; }
/* dout * relu'(x) */
SG_HD float sg_relu_grad1(float dout, float x) { return x > 0.0f ? dout : 0.0f; }

/* Exact GELU x * Phi(x), Phi the standard normal CDF via erf, the same
 * expression as ATen's GeluKernel (approximate='none'). */
SG_HD float sg_gelu1(float x) { return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)); }

/* d GELU / dx = Phi(x) + x * phi(x), phi the standard normal density. */
SG_HD float sg_gelu_grad1(float x)
{
    const float beta = (float)(M_2_SQRTPI * M_SQRT1_2 * 0.5); /* 1 / sqrt(2 pi) */
    float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
    float pdf = expf(-0.5f * x * x) * beta;
    return cdf + x * pdf;
}

#endif
