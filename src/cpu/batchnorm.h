/*
 * batchnorm.h: 2-D batch normalisation kernels (CPU) over x (N, C, HW),
 * NCHW contiguous with HW = H*W. Per-channel statistics are computed in
 * double, one channel per thread. Backward ADDS into dx, dw, db (each may be
 * NULL when that gradient is not needed).
 */
#ifndef SEMISEG_CPU_BATCHNORM_H
#define SEMISEG_CPU_BATCHNORM_H

#include <stdbool.h>

/* Training statistics: mean[c] and invstd[c] = 1/sqrt(var_biased + eps) of
 * the batch, and the running update
 *   running_mean = (1 - m) running_mean + m mean
 *   running_var  = (1 - m) running_var  + m var_biased * n / (n - 1)
 * with n = N*HW > 1. */
void sg_batchnorm_stats_cpu(float *mean, float *invstd, float *running_mean, float *running_var,
                            const float *x, float momentum, float eps, int N, int C, int HW);
/* Evaluation statistics: mean = running_mean, invstd = 1/sqrt(running_var + eps). */
void sg_batchnorm_eval_stats_cpu(float *mean, float *invstd, const float *running_mean,
                                 const float *running_var, float eps, int C);
/* out = (x - mean[c]) * invstd[c] * w[c] + b[c]; w, b may be NULL (1 and 0).
 * With `relu`, out = max(that, 0) (torch.relu after batch_norm, same bits). */
void sg_batchnorm_forward_cpu(float *out, const float *x, const float *w, const float *b,
                              const float *mean, const float *invstd, bool relu, int N, int C,
                              int HW);
/* With xhat = (x - mean) invstd: db += sum dout, dw += sum dout xhat, and
 * training (statistics depend on x):
 *   dx += w invstd (dout - mean(dout) - xhat mean(dout xhat))
 * evaluation (statistics are constants): dx += w invstd dout. */
void sg_batchnorm_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *invstd, int training, int N, int C, int HW);
/* The backward of the forward with `relu`: as above with dout replaced by
 * dout where relu_out > 0 and 0 elsewhere (relu_out: that forward's output),
 * the same bits as threshold_backward followed by the plain backward. */
void sg_batchnorm_relu_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                                    const float *relu_out, const float *x, const float *w,
                                    const float *mean, const float *invstd, int training, int N,
                                    int C, int HW);

#endif
