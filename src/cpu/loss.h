/*
 * loss.h: loss kernels (CPU): cross-entropy over (N, K, HW) logits, MSE,
 * KL divergence, per-pixel entropy, and the double-precision sum the
 * reductions share. Forwards write per-element maps; the wrapper reduces.
 * Backwards ADD into gradients; the upstream gradient of element i is
 * scale * dout[i], or just scale when dout is NULL (a reduced loss).
 * Covered by tests/test_ops_loss.c.
 */
#ifndef SEMISEG_CPU_LOSS_H
#define SEMISEG_CPU_LOSS_H

#include <stddef.h>
#include <stdint.h>

/* Elements per partial sum: fixed, so the summation order (and the result)
 * does not depend on the thread count. */
#define SG_LOSS_BLOCK 4096
static inline size_t sg_loss_blocks(size_t n)
{
    return (n + SG_LOSS_BLOCK - 1) / SG_LOSS_BLOCK;
}

/* sum_i x[i] * w[i] (w NULL: 1) in double. partials: sg_loss_blocks(n) scratch. */
double sg_weighted_sum_cpu(double *partials, const float *x, const float *w, size_t n);

/* logits (N, K, HW), target (N, HW) already validated (in [0, K) or ignore_index).
 * ce = logsumexp - logit[target] (0 at ignored pixels); lse = logsumexp;
 * wce (when not NULL) = weight * ce, weight NULL meaning 1. */
void sg_cross_entropy_forward_cpu(float *ce, float *lse, float *wce, const float *logits,
                                  const int32_t *target, const float *weight, int N, int K, int HW,
                                  int ignore_index);
/* With g = scale * dout[p] and w = weight[p] (1 when NULL), at non-ignored p:
 * dlogits += g w (softmax - onehot(target)), dweight += g ce. Either may be NULL. */
void sg_cross_entropy_backward_cpu(float *dlogits, float *dweight, const float *dout, double scale,
                                   const float *logits, const float *lse, const float *ce,
                                   const int32_t *target, const float *weight, int N, int K, int HW,
                                   int ignore_index);

/* out = (a - b)^2 */
void sg_mse_forward_cpu(float *out, const float *a, const float *b, size_t n);
/* da += 2 (a - b) g, db -= 2 (a - b) g. Either may be NULL. */
void sg_mse_backward_cpu(float *da, float *db, const float *dout, double scale, const float *a,
                         const float *b, size_t n);

/* out = xlogy(t, t) - t * log_input (0 where t == 0). */
void sg_kl_div_forward_cpu(float *out, const float *log_input, const float *target, size_t n);
/* dlog_input += -t g; dtarget += (log t + 1 - log_input) g, NaN where t == 0
 * (as torch 1.13). Either may be NULL. */
void sg_kl_div_backward_cpu(float *dlog_input, float *dtarget, const float *dout, double scale,
                            const float *log_input, const float *target, size_t n);

/* p (N, C, HW) -> out (N, HW) = -sum_c p log(p + eps). */
void sg_entropy_forward_cpu(float *out, const float *p, float eps, int N, int C, int HW);
/* dp += -(log(p + eps) + p / (p + eps)) dout[n, hw] */
void sg_entropy_backward_cpu(float *dp, const float *dout, const float *p, float eps, int N, int C,
                             int HW);

#endif
