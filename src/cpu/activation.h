/*
 * activation.h: element-wise activation kernels (CPU). Forward writes `out`;
 * backward ADDS into dx. Shapes: flat arrays of n elements.
 * The per-element arithmetic lives in src/cpu/pointwise.h, shared with
 * the CUDA kernels.
 */
#ifndef SEMISEG_CPU_ACTIVATION_H
#define SEMISEG_CPU_ACTIVATION_H

#include <stddef.h>

/* out may be x (an in-place clamp). */
void sg_relu_forward_cpu(float *out, const float *x, size_t n);
/* dx += dout where x > 0 (PyTorch: gradient 0 at exactly 0). */
void sg_relu_backward_cpu(float *dx, const float *dout, const float *x, size_t n);

void sg_gelu_forward_cpu(float *out, const float *x, size_t n);
/* dx += dout * GELU'(x). */
void sg_gelu_backward_cpu(float *dx, const float *dout, const float *x, size_t n);

#endif
