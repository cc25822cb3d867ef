/*
 * batchnorm_fast.h: vectorised 2-D batch normalisation (CPU) over x (N, C,
 * HW), NCHW contiguous, with an optional fused ReLU: the fast CPU path's BN
 * (backend_dnnl.c). The contract of batchnorm.h: mean and invstd (C) are
 * saved by the training statistics; training updates the running statistics
 * with the unbiased variance. The backward ADDS into dw, db and, unless
 * dx_zero (dx holds zeros: it is overwritten without being read), dx; each
 * may be NULL. relu_out (the forward's clamped output) masks dout where the
 * forward had the ReLU; NULL otherwise.
 */
#ifndef SEMISEG_CPU_BATCHNORM_FAST_H
#define SEMISEG_CPU_BATCHNORM_FAST_H

#include <stdbool.h>

void sg_batchnorm_fast_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                             const float *x, float momentum, float eps, int N, int C, int HW);
void sg_batchnorm_fast_forward(float *out, const float *x, const float *w, const float *b,
                               const float *mean, const float *invstd, bool relu, int N, int C,
                               int HW);
void sg_batchnorm_fast_backward(float *dx, float *dw, float *db, bool dx_zero, const float *dout,
                                const float *relu_out, const float *x, const float *w,
                                const float *mean, const float *invstd, bool training, int N,
                                int C, int HW);

#endif
