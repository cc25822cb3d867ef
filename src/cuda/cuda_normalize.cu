/*
 * cuda_normalize.cu: the per-position normalisations over channels of the
 * CUDA kernel table (backend.h): normalize, cosine similarity and
 * standardisation over dim 1 of an (outer, C, inner) tensor. One thread per position (o, i) runs the SG_HD code of
 * src/cpu/normalize_math.h, the CPU kernels' own arithmetic (double sums in
 * channel order, products rounded before they are added), so the results
 * equal the CPU's and repeat run to run. Backward kernels add into dx.
 * References: torch.nn.functional.normalize(x, 2, 1, eps),
 * cosine_similarity(a, b, 1, eps) (torch 1.13's gradient, normalize_math.h)
 * and (x - x.mean(1)) / x.std(1) (unbiased).
 * Covered by tests/test_backend_ops.c (every entry against the reference CPU
 * backend).
 */
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/normalize_math.h"

/* A grid-stride kernel over n items, its launch checked. */
#define SG_LAUNCH(kernel, n, ...)                                  \
    do {                                                           \
        kernel<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(__VA_ARGS__); \
        SG_CUDA_LAUNCHED(#kernel);                                 \
    } while (0)

__global__ static void sg_normalize_fwd_k_(float *out, const float *x, float eps, int C,
                                           int inner, size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_normalize1(out + b, x + b, eps, C, (size_t)inner);
    }
}

__global__ static void sg_normalize_bwd_k_(float *dx, const float *dout, const float *x,
                                           float eps, int C, int inner, size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_normalize_backward1(dx + b, dout + b, x + b, eps, C, (size_t)inner);
    }
}

extern "C" void sg_cuda_normalize_forward(float *out, const float *x, float eps, int outer, int C,
                                          int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P) SG_LAUNCH(sg_normalize_fwd_k_, P, out, x, eps, C, inner, P);
}

extern "C" void sg_cuda_normalize_backward(float *dx, const float *dout, const float *x, float eps,
                                           int outer, int C, int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P) SG_LAUNCH(sg_normalize_bwd_k_, P, dx, dout, x, eps, C, inner, P);
}

__global__ static void sg_cosine_fwd_k_(float *out, const float *a, const float *b, float eps,
                                        int C, int inner, size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t base = sg_channel_base(p, C, inner);
        out[p] = sg_cosine1(a + base, b + base, eps, C, (size_t)inner);
    }
}

__global__ static void sg_cosine_bwd_k_(float *da, float *db, const float *dout, const float *a,
                                        const float *b, float eps, int C, int inner, size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t base = sg_channel_base(p, C, inner);
        sg_cosine_backward1(da ? da + base : NULL, db ? db + base : NULL, dout[p], a + base,
                            b + base, eps, C, (size_t)inner);
    }
}

extern "C" void sg_cuda_cosine_similarity_forward(float *out, const float *a, const float *b,
                                                  float eps, int outer, int C, int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P) SG_LAUNCH(sg_cosine_fwd_k_, P, out, a, b, eps, C, inner, P);
}

extern "C" void sg_cuda_cosine_similarity_backward(float *da, float *db, const float *dout,
                                                   const float *a, const float *b, float eps,
                                                   int outer, int C, int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P && (da || db)) SG_LAUNCH(sg_cosine_bwd_k_, P, da, db, dout, a, b, eps, C, inner, P);
}

__global__ static void sg_standardize_fwd_k_(float *out, const float *x, int C, int inner,
                                             size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_standardize1(out + b, x + b, C, (size_t)inner);
    }
}

__global__ static void sg_standardize_bwd_k_(float *dx, const float *dout, const float *x, int C,
                                             int inner, size_t P)
{
    SG_CUDA_FOR(p, P) {
        const size_t b = sg_channel_base(p, C, inner);
        sg_standardize_backward1(dx + b, dout + b, x + b, C, (size_t)inner);
    }
}

extern "C" void sg_cuda_standardize_forward(float *out, const float *x, int outer, int C,
                                            int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P) SG_LAUNCH(sg_standardize_fwd_k_, P, out, x, C, inner, P);
}

extern "C" void sg_cuda_standardize_backward(float *dx, const float *dout, const float *x,
                                             int outer, int C, int inner)
{
    const size_t P = (size_t)outer * inner;
    if (P) SG_LAUNCH(sg_standardize_bwd_k_, P, dx, dout, x, C, inner, P);
}
