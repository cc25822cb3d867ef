/*
 * elementwise.c: add, sub, mul, scale and dropout2d's channel scaling on the
 * CPU, over flat contiguous arrays (dropout2d: N*C planes of H*W).
 * References: torch.add / torch.sub / torch.mul / tensor * scalar, and
 * torch.nn.functional.dropout2d in training (x * mask / (1 - p), one mask
 * value per (n, c) channel; the mask itself is drawn in op_elementwise.c).
 * Each element is one float operation, so results are exact roundings and
 * independent of the thread count. The per-element arithmetic is in
 * pointwise.h, shared with the CUDA kernels.
 * Covered by tests/test_ops_elementwise.c (parity + gradient checks).
 */
#include "elementwise.h"

#include "pointwise.h"

void sg_add_forward_cpu(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_add1(a[i], b[i]);
}

void sg_add_backward_cpu(float *da, float *db, const float *dout, size_t n)
{
    /* da and db may alias (add(x, x)); each element still gets both terms. */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

void sg_sub_forward_cpu(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_sub1(a[i], b[i]);
}

void sg_sub_backward_cpu(float *da, float *db, const float *dout, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] -= dout[i];
    }
}

void sg_mul_forward_cpu(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_mul1(a[i], b[i]);
}

void sg_mul_backward_cpu(float *da, float *db, const float *dout, const float *a,
                         const float *b, size_t n)
{
    /* With mul(x, x) da == db and a == b: the two updates give 2 x dout. */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = dout[i];
        if (da) da[i] += sg_mul1(g, b[i]);
        if (db) db[i] += sg_mul1(g, a[i]);
    }
}

void sg_scale_forward_cpu(float *out, const float *x, float s, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = sg_scale1(x[i], s);
}

void sg_scale_backward_cpu(float *dx, const float *dout, float s, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += sg_scale1(dout[i], s);
}

void sg_dropout2d_forward_cpu(float *out, const float *x, const float *scale, size_t planes,
                              size_t hw)
{
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        float s = scale[p];
        for (size_t i = 0; i < hw; i++) out[p * hw + i] = sg_scale1(x[p * hw + i], s);
    }
}

void sg_dropout2d_backward_cpu(float *dx, const float *dout, const float *scale, size_t planes,
                               size_t hw)
{
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        float s = scale[p];
        for (size_t i = 0; i < hw; i++) dx[p * hw + i] += sg_scale1(dout[p * hw + i], s);
    }
}
