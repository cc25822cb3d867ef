/*
 * softmax_math.h: per-element arithmetic of softmax and log-softmax over the
 * C axis, shared by the CPU kernels (softmax.c) and the CUDA kernels
 * (src/cuda/cuda_softmax_loss.cu) through SG_HD, so the CPU tests exercise
 * the expressions the GPU evaluates, except exp: the CPU's loops call
 * vexp.h's vectorisable exp where sg_sm_exp1, sg_softmax1 and
 * sg_log_softmax_grad1 call the device's (the same formula around it; the
 * two exps differ in the last bits of a double). The channel sums themselves
 * (double, in channel order) stay in the callers: their loop shapes differ.
 * Covered by tests/test_ops_loss.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_SOFTMAX_MATH_H
#define SEMISEG_CPU_SOFTMAX_MATH_H

#include <math.h>

#include "semiseg/base.h"

/* exp(x - max) in double: the term of the normalising sum. The difference is
 * taken in float first, as the CPU kernels always have. */
SG_HD double sg_sm_exp1(float x, float m) { return exp((double)(x - m)); }

/* softmax = exp(x - max) / sum_c exp(x_c - max) */
SG_HD float sg_softmax1(float x, float m, double s) { return (float)(sg_sm_exp1(x, m) / s); }

/* log_softmax = (x - max) - log(sum); log_s is log of that sum. */
SG_HD float sg_log_softmax1(float x, float m, double log_s)
{
    return (float)((double)(x - m) - log_s);
}

/* Softmax backward: y (dout - sum_c dout y); s is that sum. */
SG_HD float sg_softmax_grad1(float dout, float y, double s)
{
    return (float)((double)y * ((double)dout - s));
}

/* The term dout y of the softmax backward's channel sum. */
SG_HD double sg_softmax_dot1(float dout, float y) { return (double)dout * (double)y; }

/* Log-softmax backward: dout - exp(y) sum_c dout; s is that sum. */
SG_HD float sg_log_softmax_grad1(float dout, float y, double s)
{
    return (float)((double)dout - exp((double)y) * s);
}

#endif
