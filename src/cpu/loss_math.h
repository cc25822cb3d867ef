/*
 * loss_math.h: per-element arithmetic of the losses (cross-entropy, MSE, KL
 * divergence, entropy) and of their weighted sums, shared by the CPU kernels
 * (loss.c) and the CUDA kernels (src/cuda/cuda_softmax_loss.cu) through
 * SG_HD, so the CPU tests exercise the expressions the GPU evaluates. Each
 * function keeps the exact operation order and types of the CPU kernels it
 * came from: their results are bitwise what they were before.
 * References: see loss.c (torch 1.13). Covered by tests/test_ops_loss.c (CPU)
 * and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_LOSS_MATH_H
#define SEMISEG_CPU_LOSS_MATH_H

#include <math.h>
#include <stddef.h>

#include "semiseg/base.h"

/* ---- upstream gradient ---------------------------------------------------------- */
/* The scale on the upstream gradient: 1 for an unreduced loss (dout per
 * element), else the reduced loss's gradient dout[0] over the reduction's
 * divisor, in double, as op_loss.c computes it. */
SG_HD double sg_loss_scale(const float *dout, bool per_element, double divisor)
{
    return per_element ? 1.0 : (double)dout[0] / divisor;
}

/* Element i's upstream gradient before the scale: dout[i], or 1 when dout is
 * NULL (a reduced loss). */
SG_HD double sg_loss_dout1(const float *dout, size_t i) { return dout ? (double)dout[i] : 1.0; }

/* ---- weighted sum ------------------------------------------------------------------ */
/* Term of sum_i x w in double (the unweighted sum adds (double)x). */
SG_HD double sg_wsum_term1(float x, float w) { return (double)x * (double)w; }
SG_HD float sg_wsum_finish(double s, double divisor) { return (float)(s / divisor); }

/* ---- cross-entropy ----------------------------------------------------------------- */
/* logsumexp from the channel max m and s = sum_k exp(x_k - m) (sg_sm_exp1 on
 * the GPU, vexp.h's exp on the CPU). */
SG_HD double sg_ce_lse(float m, double s) { return (double)m + log(s); }
/* -log_softmax at the target: lse - x_target. */
SG_HD float sg_ce1(double lse, float x_target) { return (float)(lse - (double)x_target); }
/* weight * ce (weight NULL: ce). */
SG_HD float sg_ce_weighted1(const float *weight, size_t p, float ce)
{
    return weight ? weight[p] * ce : ce;
}
/* d loss / d weight = g ce, g the pixel's scaled upstream gradient. */
SG_HD float sg_ce_dweight1(double g, float ce) { return (float)(g * (double)ce); }
/* d loss / d logit_k = g (softmax_k - [k == target]), the softmax taken from
 * the saved logsumexp; g includes the pixel weight. The GPU's; loss.c
 * evaluates the same formula with vexp.h's exp. */
SG_HD float sg_ce_grad1(double g, float x, float lse, bool is_target)
{
    double prob = exp((double)x - (double)lse);
    return (float)(g * (prob - (is_target ? 1.0 : 0.0)));
}

/* ---- MSE --------------------------------------------------------------------------- */
SG_HD float sg_mse1(float a, float b)
{
    float d = a - b;
    return d * d;
}
/* d/da = 2 (a - b) scale dout; d/db is its negation. */
SG_HD double sg_mse_grad1(double scale, double dout, float a, float b)
{
    return 2.0 * scale * dout * (double)(a - b);
}

/* ---- KL divergence (log_target False) ---------------------------------------------- */
/* xlogy(t, t) - t log_input; xlogy is 0 at t == 0 rather than 0 * log 0 = NaN. */
SG_HD float sg_kl1(float log_input, float t)
{
    float tlogt = t == 0.0f ? 0.0f : t * logf(t);
    return tlogt - t * log_input;
}
SG_HD float sg_kl_grad_input1(double t, double g) { return (float)(-t * g); }
/* torch differentiates xlogy(t, t) in both arguments: log t + t/t, which is
 * 0/0 = NaN at t == 0; kept so gradients agree with torch. */
SG_HD float sg_kl_grad_target1(double t, float log_input, double g)
{
    double dx = t == 0.0 ? NAN : log(t) + 1.0;
    return (float)((dx - (double)log_input) * g);
}

/* ---- entropy ------------------------------------------------------------------------ */
/* Term p log(p + eps) of the channel sum, in double. */
SG_HD double sg_entropy_term1(float p, float eps)
{
    double v = p;
    return v * log(v + (double)eps);
}
/* -sum_c p log(p + eps) from the channel sum of sg_entropy_term1. */
SG_HD float sg_entropy_finish(double s) { return (float)-s; }
/* d entropy / d p = -(log(p + eps) + p / (p + eps)), times the upstream g. */
SG_HD float sg_entropy_grad1(float p, float eps, double g)
{
    double v = p;
    double e = v + (double)eps;
    return (float)(-(log(e) + v / e) * g);
}

#endif
