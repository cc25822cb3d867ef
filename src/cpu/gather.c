/*
 * gather.c: index_select and permute on the CPU (gather.h).
 * References: torch.index_select (forward copies rows; its backward,
 * index_add_ of the output gradient into zeros, adds the rows in output
 * order: aten/src/ATen/native/TensorAdvancedIndexing.cpp,
 * index_select_backward) and torch.Tensor.permute followed by contiguous().
 * Covered by tests/test_ops_extra.c (PyTorch parity, gradient checks) and
 * tests/test_backend_ops.c.
 *
 * Every kernel is parallel over destination elements or rows, so each one
 * is written by one thread: the index_select backward gathers, per source
 * row, the output rows that read it (the op builds that list), and a
 * permutation is a bijection.
 */
#include "gather.h"

#include <string.h>

void sg_index_select_forward_cpu(float *out, const float *x, const int32_t *idx, int n,
                                 size_t row)
{
#pragma omp parallel for schedule(static)
    for (int j = 0; j < n; j++)
        memcpy(out + (size_t)j * row, x + (size_t)idx[j] * row, row * sizeof(float));
}

void sg_index_select_backward_cpu(float *dx, const float *dout, const int32_t *src_start,
                                  const int32_t *src_rows, int M, size_t row)
{
    /* Added into dx one output row at a time in increasing order, as
     * PyTorch's index_add_ does and as the CUDA gather does per element. */
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
        float *d = dx + (size_t)m * row;
        for (int32_t e = src_start[m]; e < src_start[m + 1]; e++) {
            const float *g = dout + (size_t)src_rows[e] * row;
            for (size_t k = 0; k < row; k++) d[k] += g[k];
        }
    }
}

static size_t sg_permute_numel_(const sg_permute_dims *d)
{
    return (size_t)d->shape[0] * d->shape[1] * d->shape[2] * d->shape[3];
}

void sg_permute_forward_cpu(float *out, const float *x, const sg_permute_dims *d)
{
    const size_t n = sg_permute_numel_(d);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = x[sg_permute_src(i, d)];
}

void sg_permute_backward_cpu(float *dx, const float *dout, const sg_permute_dims *d)
{
    const size_t n = sg_permute_numel_(d);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[sg_permute_src(i, d)] += dout[i];
}
