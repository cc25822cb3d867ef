/*
 * cuda_grid.h: launch shapes shared by the CUDA kernels (internal to
 * src/cuda/): the block size of the 1-D kernels and the grid of a
 * grid-stride loop.
 */
#ifndef SEMISEG_CUDA_GRID_H
#define SEMISEG_CUDA_GRID_H

#include <stddef.h>

/* Threads per block of the 1-D kernels. A power of two: the block
 * reductions halve it. */
#define SG_CUDA_THREADS 256

/* Blocks for a grid-stride loop over n > 0 items: one item per thread up to
 * a cap that keeps the grid inside the launch limits; past it threads loop. */
static inline unsigned sg_cuda_grid(size_t n)
{
    const size_t cap = (size_t)65535 * 16;
    size_t blocks = (n + SG_CUDA_THREADS - 1) / SG_CUDA_THREADS;
    return (unsigned)(blocks < cap ? blocks : cap);
}

/* Item i of [0, n) for every thread of the grid, size_t throughout. */
#define SG_CUDA_FOR(i, n)                                                           \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (size_t)(n); \
         i += (size_t)gridDim.x * blockDim.x)

#endif
