/*
 * transformer.h: the CPU kernels of the transformer ops (ops.h): layer norm
 * over the channels of (N, C, HW) and multi-head scaled dot-product
 * attention. Arguments as the kernel-table entries of the same names
 * (backend.h); backward kernels ADD into their gradient outputs (each may
 * be NULL when not wanted).
 * Covered by tests/test_ops_transformer.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_TRANSFORMER_H
#define SEMISEG_CPU_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>

struct sg_arena;

void sg_layernorm_channels_forward_cpu(float *out, float *mean, float *rstd, const float *x,
                                       const float *w, const float *b, float eps, int N, int C,
                                       size_t HW);
void sg_layernorm_channels_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                                        const float *x, const float *w, const float *mean,
                                        const float *rstd, int N, int C, size_t HW);
void sg_attention_forward_cpu(struct sg_arena *ws, float *out, float *prob, const float *q,
                              const float *k, const float *v, int B, int H, int N, int M, int D,
                              float scale, bool channels_first);
void sg_attention_backward_cpu(struct sg_arena *ws, float *dq, float *dk, float *dv,
                               const float *dout, const float *q, const float *k, const float *v,
                               const float *prob, int B, int H, int N, int M, int D, float scale,
                               bool channels_first);

#endif
