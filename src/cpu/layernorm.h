/*
 * layernorm.h: layer normalisation over the last dimension (CPU). x is
 * (rows, D) contiguous, rows = product of the leading dimensions. Backward
 * ADDS into dx, dw, db (each may be NULL when not needed).
 */
#ifndef SEMISEG_CPU_LAYERNORM_H
#define SEMISEG_CPU_LAYERNORM_H

#include <stddef.h>

/* out = (x - mean_r) rstd_r w + b with the biased variance and
 * rstd_r = 1/sqrt(var_r + eps); w, b may be NULL. Saves mean[r], rstd[r]. */
void sg_layernorm_forward_cpu(float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, float eps, size_t rows, int D);
/* With xhat = (x - mean) rstd and g = dout w:
 *   dx += rstd (g - mean_d(g) - xhat mean_d(g xhat)),
 *   dw += sum_r dout xhat, db += sum_r dout. */
void sg_layernorm_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *rstd, size_t rows, int D);

#endif
