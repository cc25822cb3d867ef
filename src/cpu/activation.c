/*
 * activation.c: ReLU and exact GELU on the CPU, over flat arrays.
 * References: torch.nn.functional.relu (its backward passes the gradient where
 * the input is > 0: threshold_backward with threshold 0) and
 * torch.nn.functional.gelu with approximate='none' (0.5 x (1 + erf(x / sqrt 2))).
 * Covered by tests/test_ops_elementwise.c (parity + gradient checks).
 */
#include "activation.h"

#include "pointwise.h"

void sg_relu_forward_cpu(float *out, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_relu1(x[i]);
}

void sg_relu_backward_cpu(float *dx, const float *dout, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += sg_relu_grad1(dout[i], x[i]);
}

void sg_gelu_forward_cpu(float *out, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_gelu1(x[i]);
}

void sg_gelu_backward_cpu(float *dx, const float *dout, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += dout[i] * sg_gelu_grad1(x[i]);
}
