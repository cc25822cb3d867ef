/*
 * reduce_math.h: the per-element steps of the full sum and mean (torch.sum,
 * torch.mean), shared by the CPU kernels (reduce.c) and the CUDA kernels
 * (src/cuda/cuda_reduce.cu) through SG_HD. The double-precision sum
 * itself is the callers': its tree differs between the two.
 * Covered by tests/test_ops_layout.c (CPU) and tests/test_backend_ops.c (GPU).
 */
#ifndef SEMISEG_CPU_REDUCE_MATH_H
#define SEMISEG_CPU_REDUCE_MATH_H

#include <stddef.h>

#include "semiseg/base.h"

SG_HD float sg_sum_finish(double total) { return (float)total; }
SG_HD float sg_mean_finish(double total, size_t n) { return (float)(total / (double)n); }
/* PyTorch's mean_backward divides in float: dout / numel. */
SG_HD float sg_mean_grad(float dout, size_t n) { return dout / (float)n; }

#endif
