/*
 * cuda_elementwise.cu: element-wise kernels on the GPU, using the same
 * per-element functions as the CPU kernels (src/core/pointwise.h).
 * Covered by tests/test_cuda.c (bitwise equal to the CPU results: the
 * arithmetic is identical and involves no rounding-order freedom).
 */
#include "semiseg/cuda.h"
#include "cuda_check.h"
#include "../core/pointwise.h"

#define SG_CUDA_BLOCK 256

static unsigned sg_grid_(size_t n)
{
    size_t blocks = (n + SG_CUDA_BLOCK - 1) / SG_CUDA_BLOCK;
    return (unsigned)(blocks < 65535u * 16u ? blocks : 65535u * 16u);
}

__global__ static void sg_relu_forward_kernel_(float *out, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = sg_relu1(x[i]);
}

__global__ static void sg_relu_backward_kernel_(float *dx, const float *dout, const float *x,
                                                size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] += sg_relu_grad1(dout[i], x[i]);
}

extern "C" void sg_relu_forward_cuda(float *out, const float *x, size_t n)
{
    if (n == 0) return;
    sg_relu_forward_kernel_<<<sg_grid_(n), SG_CUDA_BLOCK>>>(out, x, n);
    SG_CUDA_LAUNCHED("sg_relu_forward_kernel_");
}

extern "C" void sg_relu_backward_cuda(float *dx, const float *dout, const float *x, size_t n)
{
    if (n == 0) return;
    sg_relu_backward_kernel_<<<sg_grid_(n), SG_CUDA_BLOCK>>>(dx, dout, x, n);
    SG_CUDA_LAUNCHED("sg_relu_backward_kernel_");
}
