/*
 * elementwise.h: binary element-wise kernels and channel scaling (CPU).
 * Forward writes `out`; backward ADDS into the gradients, and a NULL gradient
 * pointer means that input needs none. a and b (and their gradients) may be
 * the same array, as when an op is applied to (x, x).
 */
#ifndef SEMISEG_CPU_ELEMENTWISE_H
#define SEMISEG_CPU_ELEMENTWISE_H

#include <stddef.h>

void sg_add_forward_cpu(float *out, const float *a, const float *b, size_t n);
/* da += dout, db += dout. */
void sg_add_backward_cpu(float *da, float *db, const float *dout, size_t n);
void sg_sub_forward_cpu(float *out, const float *a, const float *b, size_t n);
/* da += dout, db -= dout. */
void sg_sub_backward_cpu(float *da, float *db, const float *dout, size_t n);
void sg_mul_forward_cpu(float *out, const float *a, const float *b, size_t n);
/* da += dout * b, db += dout * a. */
void sg_mul_backward_cpu(float *da, float *db, const float *dout, const float *a,
                         const float *b, size_t n);
void sg_scale_forward_cpu(float *out, const float *x, float s, size_t n);
/* dx += s * dout. */
void sg_scale_backward_cpu(float *dx, const float *dout, float s, size_t n);

/* Per-channel scaling of (N*C, HW) planes: out[p, i] = x[p, i] * scale[p].
 * Dropout2d with scale[p] = 0 (dropped) or 1/(1-p) (kept). */
void sg_dropout2d_forward_cpu(float *out, const float *x, const float *scale, size_t planes,
                              size_t hw);
/* dx[p, i] += dout[p, i] * scale[p]. */
void sg_dropout2d_backward_cpu(float *dx, const float *dout, const float *scale, size_t planes,
                               size_t hw);

#endif
