/*
 * normalize.c: per-position normalisation over channels on the CPU
 * (normalize.h): one position (o, i) of the (outer, C, inner) view at a
 * time, in parallel over positions; each position's channel loop is the
 * SG_HD code of normalize_math.h, so the result does not depend on the
 * thread count and equals the CUDA kernels'.
 * References: torch.nn.functional.normalize, cosine_similarity and the
 * standardisation (x - x.mean(1)) / x.std(1) (see normalize_math.h).
 * Covered by tests/test_ops_extra.c (PyTorch parity, gradient checks) and
 * tests/test_backend_ops.c.
 */
#include "normalize.h"

#include <stddef.h>

#include "normalize_math.h"

void sg_normalize_forward_cpu(float *out, const float *x, float eps, int outer, int C, int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_normalize1(out + b, x + b, eps, C, (size_t)inner);
    }
}

void sg_normalize_backward_cpu(float *dx, const float *dout, const float *x, float eps, int outer,
                               int C, int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_normalize_backward1(dx + b, dout + b, x + b, eps, C, (size_t)inner);
    }
}

void sg_cosine_similarity_forward_cpu(float *out, const float *a, const float *b, float eps,
                                      int outer, int C, int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t base = sg_channel_base(p, C, inner);
        out[p] = sg_cosine1(a + base, b + base, eps, C, (size_t)inner);
    }
}

void sg_cosine_similarity_backward_cpu(float *da, float *db, const float *dout, const float *a,
                                       const float *b, float eps, int outer, int C, int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t base = sg_channel_base(p, C, inner);
        sg_cosine_backward1(da ? da + base : NULL, db ? db + base : NULL, dout[p], a + base,
                            b + base, eps, C, (size_t)inner);
    }
}

void sg_standardize_forward_cpu(float *out, const float *x, int outer, int C, int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_standardize1(out + b, x + b, C, (size_t)inner);
    }
}

void sg_standardize_backward_cpu(float *dx, const float *dout, const float *x, int outer, int C,
                                 int inner)
{
    const size_t P = (size_t)outer * (size_t)inner;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < P; p++) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_standardize_backward1(dx + b, dout + b, x + b, C, (size_t)inner);
    }
}
