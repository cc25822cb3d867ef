/*
 * layernorm_math.h: per-element arithmetic of layer normalisation over the
 * last dimension D (torch.nn.functional.layer_norm: biased variance, eps
 * inside the square root), shared by the CPU kernels (layernorm.c) and the
 * CUDA kernels (src/cuda/cuda_reduce.cu) through SG_HD. Row and column
 * sums stay in the callers (double; their trees differ).
 * Covered by tests/test_ops_norm.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_LAYERNORM_MATH_H
#define SEMISEG_CPU_LAYERNORM_MATH_H

#include <math.h>

#include "semiseg/base.h"

/* A row sum over D divided by D: the mean, mean(g) and mean(g xhat). */
SG_HD double sg_ln_mean(double s, int D) { return s / D; }
/* Term (x - mean)^2 of the biased variance's sum. */
SG_HD double sg_ln_sq1(float x, double mu)
{
    double t = x - mu;
    return t * t;
}
/* 1 / sqrt(var + eps) from ss = sum_d (x - mean)^2. */
SG_HD float sg_ln_rstd(double ss, int D, float eps)
{
    return (float)(1.0 / sqrt(ss / D + (double)eps));
}
/* (x - mean) rstd w + b in float, from the saved float statistics. */
SG_HD float sg_ln_out1(float x, float m, float is, const float *w, const float *b, int d)
{
    float y = (x - m) * is;
    if (w) y *= w[d];
    if (b) y += b[d];
    return y;
}
/* The gradient reaching xhat: dout w (w NULL: dout). */
SG_HD double sg_ln_g1(float dout, const float *w, int d) { return (double)dout * (w ? w[d] : 1.0); }
SG_HD double sg_ln_xhat1(float x, double mu, double is) { return (x - mu) * is; }
/* dx = rstd (g - mean(g) - xhat mean(g xhat)). */
SG_HD float sg_ln_dx1(double is, double g, double mean_g, double xhat, double mean_g_xhat)
{
    return (float)(is * (g - mean_g - xhat * mean_g_xhat));
}

#endif
