/*
 * layout.h: concatenation and slicing kernels (CPU). A tensor is viewed as
 * (outer, len, inner) around the concatenated / narrowed dimension: outer is
 * the product of the dims before it, inner of the dims after it. Forward
 * writes; backward ADDS into dx.
 *
 * References: torch.cat and torch.Tensor.narrow (copied).
 * Covered by tests/test_ops_layout.c.
 */
#ifndef SEMISEG_CPU_LAYOUT_H
#define SEMISEG_CPU_LAYOUT_H

#include <stddef.h>

/* One input of a concatenation: out (outer, out_len, inner) receives
 * x (outer, len, inner) at positions [off, off + len) of its middle axis. */
void sg_concat_forward_cpu(float *out, const float *x, size_t outer, int out_len, int off, int len,
                           size_t inner);
/* dx (outer, len, inner) += dout[:, off:off + len, :]. */
void sg_concat_backward_cpu(float *dx, const float *dout, size_t outer, int out_len, int off,
                            int len, size_t inner);

/* out (outer, len, inner) = x[:, start:start + len, :] with x (outer, x_len, inner). */
void sg_narrow_forward_cpu(float *out, const float *x, size_t outer, int x_len, int start, int len,
                           size_t inner);
/* dx[:, start:start + len, :] += dout. */
void sg_narrow_backward_cpu(float *dx, const float *dout, size_t outer, int x_len, int start,
                            int len, size_t inner);

#endif
