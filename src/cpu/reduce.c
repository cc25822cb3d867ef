/*
 * reduce.c: sum and mean of all elements on the CPU.
 * Reference: torch.sum(x) and torch.mean(x); their backward broadcasts dout
 * (mean: dout / numel, divided in float as PyTorch's mean_backward does).
 * Covered by tests/test_ops_layout.c (parity + gradient checks).
 *
 * The forward sums fixed chunks of SG_REDUCE_CHUNK elements in double, in
 * parallel, then adds the chunk sums in order on one thread: the same tree
 * for any thread count, so the result is bitwise reproducible. The final
 * steps are reduce_math.h's, shared with the CUDA kernels.
 */
#include "reduce.h"

#include "reduce_math.h"

static double sg_sum_double_(const float *x, double *partials, size_t n)
{
    const size_t chunks = sg_reduce_partials(n);
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        const size_t lo = c * SG_REDUCE_CHUNK;
        const size_t hi = lo + SG_REDUCE_CHUNK < n ? lo + SG_REDUCE_CHUNK : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++) s += x[i];
        partials[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < chunks; c++) total += partials[c];
    return total;
}

void sg_sum_forward_cpu(float *out, const float *x, double *partials, size_t n)
{
    out[0] = sg_sum_finish(sg_sum_double_(x, partials, n));
}

void sg_mean_forward_cpu(float *out, const float *x, double *partials, size_t n)
{
    out[0] = sg_mean_finish(sg_sum_double_(x, partials, n), n);
}

void sg_sum_backward_cpu(float *dx, const float *dout, size_t n)
{
    const float g = dout[0];
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += g;
}

void sg_mean_backward_cpu(float *dx, const float *dout, size_t n)
{
    const float g = sg_mean_grad(dout[0], n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] += g;
}
