/*
 * pointwise.h: per-element arithmetic shared by the CPU kernels (activation.c,
 * elementwise.c) and the CUDA kernels (src/cuda/cuda_pointwise.cu) through
 * SG_HD (__host__ __device__ under nvcc), so that the CPU tests exercise the
 * same expressions the GPU evaluates. Each function keeps the operation order
 * and types of the CPU loop it came from: those results are bitwise what they
 * were before.
 * Covered by tests/test_ops_elementwise.c (CPU), tests/test_cuda.c and
 * tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_POINTWISE_H
#define SEMISEG_POINTWISE_H

#include <math.h>

#include "semiseg/base.h"

/* A product that feeds a sum. nvcc fuses a * b + c into one fma unless told
 * otherwise (-fmad=true), while the CPU build rounds every product
 * (-ffp-contract=off); the _rn intrinsics are never fused, so the GPU rounds
 * the product too and gives the CPU's bits. On the host these are plain
 * products. */
SG_HD float sg_fmul(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

SG_HD double sg_dmul(double a, double b)
{
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

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

/* torch.add / torch.sub / torch.mul; the backward of mul is sg_mul1(dout,
 * other operand) and of scale (tensor * scalar, and dropout2d's per-channel
 * 0 or 1/(1-p)) sg_scale1(dout, s), both added to the gradient. */
SG_HD float sg_add1(float a, float b) { return a + b; }
SG_HD float sg_sub1(float a, float b) { return a - b; }
SG_HD float sg_mul1(float a, float b) { return sg_fmul(a, b); }
SG_HD float sg_scale1(float x, float s) { return sg_fmul(x, s); }

#endif
