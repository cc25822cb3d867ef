/*
 * cuda_gather.cu: the gather entries of the CUDA kernel table (backend.h):
 * index_select (rows of x (M, row) by an index list -> (n, row)) and
 * permute (a 4-D permuted copy, sg_permute_dims).
 * References: torch.index_select(x, 0, idx) and its backward (index_add_
 * of the output gradient into zeros, in output-row order:
 * aten/src/ATen/native/TensorAdvancedIndexing.cpp), and
 * torch.Tensor.permute(...).contiguous(). The CPU twins are in
 * src/cpu/gather.c; the permutation's index arithmetic is its SG_HD code.
 *
 * Deterministic without atomics: the index_select backward is a gather, one
 * thread per dx element adding the dout rows of its source row's list
 * (src_start/src_rows, built by the op on the host) in list order, which is
 * the CPU kernel's order, so the two agree bitwise; a permutation writes
 * each dx element from one thread. Backward kernels add into dx.
 *
 * Covered by tests/test_backend_ops.c (every entry against the reference CPU
 * backend).
 */
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/gather.h"

/* A grid-stride kernel over n items, its launch checked. */
#define SG_LAUNCH(kernel, n, ...)                                  \
    do {                                                           \
        kernel<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(__VA_ARGS__); \
        SG_CUDA_LAUNCHED(#kernel);                                 \
    } while (0)

/* ---- index_select ------------------------------------------------------------------ */
__global__ static void sg_index_select_fwd_k_(float *out, const float *x, const int32_t *idx,
                                              size_t row, size_t n)
{
    SG_CUDA_FOR(e, n) out[e] = x[(size_t)idx[e / row] * row + e % row];
}

__global__ static void sg_index_select_bwd_k_(float *dx, const float *dout,
                                              const int32_t *src_start, const int32_t *src_rows,
                                              size_t row, size_t n)
{
    SG_CUDA_FOR(e, n) {
        const size_t m = e / row, k = e % row;
        float acc = dx[e];
        for (int32_t l = src_start[m]; l < src_start[m + 1]; l++)
            acc += dout[(size_t)src_rows[l] * row + k];
        dx[e] = acc;
    }
}

extern "C" void sg_cuda_index_select_forward(float *out, const float *x, const int32_t *idx,
                                             int n, size_t row)
{
    const size_t total = (size_t)n * row;
    if (total) SG_LAUNCH(sg_index_select_fwd_k_, total, out, x, idx, row, total);
}

extern "C" void sg_cuda_index_select_backward(float *dx, const float *dout,
                                              const int32_t *src_start, const int32_t *src_rows,
                                              int M, size_t row)
{
    const size_t total = (size_t)M * row;
    if (total) SG_LAUNCH(sg_index_select_bwd_k_, total, dx, dout, src_start, src_rows, row, total);
}

/* ---- permute ----------------------------------------------------------------------- */
/* The dims travel by value: the table's pointer is host memory. */
__global__ static void sg_permute_fwd_k_(float *out, const float *x, sg_permute_dims d, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = x[sg_permute_src(i, &d)];
}

__global__ static void sg_permute_bwd_k_(float *dx, const float *dout, sg_permute_dims d, size_t n)
{
    SG_CUDA_FOR(i, n) dx[sg_permute_src(i, &d)] += dout[i];
}

static size_t sg_permute_numel_(const sg_permute_dims *d)
{
    return (size_t)d->shape[0] * d->shape[1] * d->shape[2] * d->shape[3];
}

extern "C" void sg_cuda_permute_forward(float *out, const float *x, const sg_permute_dims *d)
{
    const size_t n = sg_permute_numel_(d);
    if (n) SG_LAUNCH(sg_permute_fwd_k_, n, out, x, *d, n);
}

extern "C" void sg_cuda_permute_backward(float *dx, const float *dout, const sg_permute_dims *d)
{
    const size_t n = sg_permute_numel_(d);
    if (n) SG_LAUNCH(sg_permute_bwd_k_, n, dx, dout, *d, n);
}
