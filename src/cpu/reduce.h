/*
 * reduce.h: full reductions of a flat float array to one value (CPU):
 * sum and mean, accumulated in double. Backward ADDS into dx.
 *
 * References: torch.sum / torch.mean over all elements (PyTorch sums float in
 * float with a cascade; double accumulation here agrees to float rounding).
 * Covered by tests/test_ops_layout.c.
 */
#ifndef SEMISEG_CPU_REDUCE_H
#define SEMISEG_CPU_REDUCE_H

#include <stddef.h>

/* Elements per partial sum. Fixed, so the summation tree (and the result,
 * bit for bit) does not depend on the number of threads. */
#define SG_REDUCE_CHUNK 4096

/* Doubles of scratch sg_sum_forward_cpu needs for n elements. */
static inline size_t sg_reduce_partials(size_t n)
{
    return (n + SG_REDUCE_CHUNK - 1) / SG_REDUCE_CHUNK;
}

/* out[0] = sum(x) (mean: / n); partials is scratch of sg_reduce_partials(n) doubles. */
void sg_sum_forward_cpu(float *out, const float *x, double *partials, size_t n);
void sg_mean_forward_cpu(float *out, const float *x, double *partials, size_t n);
/* dx += dout[0] (mean: dout[0] / n). */
void sg_sum_backward_cpu(float *dx, const float *dout, size_t n);
void sg_mean_backward_cpu(float *dx, const float *dout, size_t n);

#endif
