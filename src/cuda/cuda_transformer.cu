/*
 * cuda_transformer.cu: the CUDA entries of the kernel table (backend.h) for
 * the transformer ops, with the CPU kernels' arithmetic (src/cpu/transformer.c).
 *
 *   layernorm_channels_forward/backward  x (N, C, HW), over C   F.layer_norm on
 *                                        the channels-last permutation
 *   attention_forward/backward           q (B, N, C), k/v (B, M, C) or
 *                                        channels-first (B, C, N), (B, C, M)
 *
 * Layer norm over channels: one thread per position (n, i) walks the
 * channels in order (consecutive threads read consecutive positions, so the
 * loads coalesce), with layernorm_math.h's expressions and double sums in
 * the CPU's order: the statistics and dx are the CPU's up to the device's
 * sqrt. dw/db: one block per channel sums its N HW terms, each thread a
 * strided slice in double, then a fixed shared-memory tree: deterministic.
 *
 * Attention: per sample, the heads are one cuBLAS strided batch (head h's Q
 * starts h D floats further in the token layout, h D N in the channels-first
 * one), operands taken in their stored layout with the leading dimension C
 * or N as on the CPU; the row softmax and its backward are the softmax
 * entries' kernels (rows of M keys). Scratch for dP and dS comes from the
 * caller's arena.
 * Covered by tests/test_backend_ops.c (against the reference CPU backend).
 */
#include "semiseg/base.h"
#include "semiseg/tensor.h"
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/layernorm_math.h"

/* ---- layer norm over channels ------------------------------------------------------------ */

__global__ static void sg_lnc_forward_kernel_(float *out, float *mean, float *rstd, const float *x,
                                              const float *w, const float *b, float eps, int C,
                                              size_t HW, size_t positions)
{
    SG_CUDA_FOR(p, positions)
    {
        const size_t n = p / HW, i = p % HW;
        const float *xs = x + n * (size_t)C * HW + i;
        double s = 0.0, ss = 0.0;
        for (int c = 0; c < C; c++) s += xs[(size_t)c * HW];
        const double mu = sg_ln_mean(s, C);
        for (int c = 0; c < C; c++) ss += sg_ln_sq1(xs[(size_t)c * HW], mu);
        const float m = (float)mu, is = sg_ln_rstd(ss, C, eps);
        mean[p] = m;
        rstd[p] = is;
        float *os = out + n * (size_t)C * HW + i;
        for (int c = 0; c < C; c++) os[(size_t)c * HW] = sg_ln_out1(xs[(size_t)c * HW], m, is, w, b, c);
    }
}

__global__ static void sg_lnc_dx_kernel_(float *dx, const float *dout, const float *x,
                                         const float *w, const float *mean, const float *rstd,
                                         int C, size_t HW, size_t positions)
{
    SG_CUDA_FOR(p, positions)
    {
        const size_t base = (p / HW) * (size_t)C * HW + p % HW;
        const double mu = mean[p], is = rstd[p];
        double sg = 0.0, sgx = 0.0;
        for (int c = 0; c < C; c++) {
            const size_t e = base + (size_t)c * HW;
            const double g = sg_ln_g1(dout[e], w, c);
            sg += g;
            sgx += g * sg_ln_xhat1(x[e], mu, is);
        }
        const double mg = sg_ln_mean(sg, C), mgx = sg_ln_mean(sgx, C);
        for (int c = 0; c < C; c++) {
            const size_t e = base + (size_t)c * HW;
            dx[e] += sg_ln_dx1(is, sg_ln_g1(dout[e], w, c), mg, sg_ln_xhat1(x[e], mu, is), mgx);
        }
    }
}

/* Block c: dw[c] += sum dout xhat, db[c] += sum dout over the N HW
 * positions of channel c. */
__global__ static void sg_lnc_dwdb_kernel_(float *dw, float *db, const float *dout,
                                           const float *x, const float *mean, const float *rstd,
                                           int N, int C, size_t HW)
{
    __shared__ double sw[SG_CUDA_THREADS], sb[SG_CUDA_THREADS];
    const int c = (int)blockIdx.x;
    const size_t total = (size_t)N * HW;
    double aw = 0.0, ab = 0.0;
    for (size_t p = threadIdx.x; p < total; p += SG_CUDA_THREADS) {
        const size_t e = ((p / HW) * (size_t)C + (size_t)c) * HW + p % HW;
        const double g = dout[e];
        ab += g;
        aw += g * sg_ln_xhat1(x[e], mean[p], rstd[p]);
    }
    sw[threadIdx.x] = aw;
    sb[threadIdx.x] = ab;
    __syncthreads();
    for (unsigned s = SG_CUDA_THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            sw[threadIdx.x] += sw[threadIdx.x + s];
            sb[threadIdx.x] += sb[threadIdx.x + s];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        if (dw) dw[c] += (float)sw[0];
        if (db) db[c] += (float)sb[0];
    }
}

extern "C" void sg_cuda_layernorm_channels_forward(float *out, float *mean, float *rstd,
                                                   const float *x, const float *w, const float *b,
                                                   float eps, int N, int C, size_t HW)
{
    const size_t positions = (size_t)N * HW;
    if (positions == 0 || C <= 0) return;
    sg_lnc_forward_kernel_<<<sg_cuda_grid(positions), SG_CUDA_THREADS>>>(out, mean, rstd, x, w, b,
                                                                         eps, C, HW, positions);
    SG_CUDA_LAUNCHED("sg_lnc_forward_kernel_");
}

extern "C" void sg_cuda_layernorm_channels_backward(float *dx, float *dw, float *db,
                                                    const float *dout, const float *x,
                                                    const float *w, const float *mean,
                                                    const float *rstd, int N, int C, size_t HW)
{
    const size_t positions = (size_t)N * HW;
    if (positions == 0 || C <= 0) return;
    if (dx) {
        sg_lnc_dx_kernel_<<<sg_cuda_grid(positions), SG_CUDA_THREADS>>>(dx, dout, x, w, mean,
                                                                        rstd, C, HW, positions);
        SG_CUDA_LAUNCHED("sg_lnc_dx_kernel_");
    }
    if (dw || db) {
        sg_lnc_dwdb_kernel_<<<C, SG_CUDA_THREADS>>>(dw, db, dout, x, mean, rstd, N, C, HW);
        SG_CUDA_LAUNCHED("sg_lnc_dwdb_kernel_");
    }
}

/* ---- attention ------------------------------------------------------------------------------ */

/* A batch of logical matrices: element (i, j) of matrix z is
 * p[z stride + i ld + j], or p[z stride + j ld + i] when stored transposed. */
struct sg_bmat_ {
    const float *p;
    int ld;
    size_t stride;
    bool t;
};

/* C_z (M, N) = alpha op(A_z) op(B_z) + beta C_z for z < batch (row-major
 * C, ldc, stride sC; stored transposed when tc). cuBLAS is column-major: the
 * row-major product is its C^T = op(B)^T op(A)^T. */
static void sg_bgemm_(bool oa, sg_bmat_ A, bool ob, sg_bmat_ B, float alpha, float beta, float *C,
                      int ldc, size_t sC, bool tc, int M, int N, int K, int batch)
{
    if (tc) {
        sg_bgemm_(!ob, B, !oa, A, alpha, beta, C, ldc, sC, false, N, M, K, batch);
        return;
    }
    if (M == 0 || N == 0 || batch == 0) return;
    const bool ta = oa != A.t, tb = ob != B.t;
    CUBLAS_CHECK(cublasSgemmStridedBatched(
        sg_cuda_cublas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
        &alpha, B.p, B.ld, (long long)B.stride, A.p, A.ld, (long long)A.stride, &beta, C, ldc,
        (long long)sC, batch));
}

/* The H heads of sample b of a (B, L, H D) tensor, or of a (B, H D, L) one. */
static sg_bmat_ sg_heads_(const float *base, int b, int L, int H, int D, bool cf)
{
    return {base + (size_t)b * L * H * D, cf ? L : H * D, (size_t)D * (cf ? (size_t)L : 1), cf};
}

extern "C" void sg_cuda_attention_forward(struct sg_arena *, float *out, float *prob,
                                          const float *q, const float *k, const float *v, int B,
                                          int H, int N, int M, int D, float scale, bool cf)
{
    const size_t nm = (size_t)N * M;
    for (int b = 0; b < B; b++)
        sg_bgemm_(false, sg_heads_(q, b, N, H, D, cf), true, sg_heads_(k, b, M, H, D, cf), scale,
                  0.0f, prob + (size_t)b * H * nm, M, nm, false, N, M, D, H);
    sg_cuda_softmax_forward(prob, prob, B * H * N, M, 1);
    for (int b = 0; b < B; b++) {
        const sg_bmat_ P = {prob + (size_t)b * H * nm, M, nm, false};
        const sg_bmat_ O = sg_heads_(out, b, N, H, D, cf);
        sg_bgemm_(false, P, false, sg_heads_(v, b, M, H, D, cf), 1.0f, 0.0f, (float *)O.p, O.ld,
                  O.stride, cf, N, D, M, H);
    }
}

extern "C" void sg_cuda_attention_backward(struct sg_arena *ws, float *dq, float *dk, float *dv,
                                           const float *dout, const float *q, const float *k,
                                           const float *v, const float *prob, int B, int H, int N,
                                           int M, int D, float scale, bool cf)
{
    const size_t nm = (size_t)N * M, n_all = (size_t)B * H * nm;
    if (dv)
        for (int b = 0; b < B; b++) {
            const sg_bmat_ P = {prob + (size_t)b * H * nm, M, nm, false};
            const sg_bmat_ dV = sg_heads_(dv, b, M, H, D, cf);
            sg_bgemm_(true, P, false, sg_heads_(dout, b, N, H, D, cf), 1.0f, 1.0f, (float *)dV.p,
                      dV.ld, dV.stride, cf, M, D, N, H);
        }
    if (!dq && !dk) return;
    sg_arena_mark mark = sg_arena_get_mark(ws);
    float *dp = (float *)sg_arena_alloc(ws, n_all * sizeof(float));
    float *ds = (float *)sg_arena_calloc(ws, n_all * sizeof(float));
    for (int b = 0; b < B; b++)
        sg_bgemm_(false, sg_heads_(dout, b, N, H, D, cf), true, sg_heads_(v, b, M, H, D, cf), 1.0f,
                  0.0f, dp + (size_t)b * H * nm, M, nm, false, N, M, D, H);
    sg_cuda_softmax_backward(ds, dp, prob, B * H * N, M, 1);
    for (int b = 0; b < B; b++) {
        const sg_bmat_ S = {ds + (size_t)b * H * nm, M, nm, false};
        if (dq) {
            const sg_bmat_ dQ = sg_heads_(dq, b, N, H, D, cf);
            sg_bgemm_(false, S, false, sg_heads_(k, b, M, H, D, cf), scale, 1.0f, (float *)dQ.p,
                      dQ.ld, dQ.stride, cf, N, D, M, H);
        }
        if (dk) {
            const sg_bmat_ dK = sg_heads_(dk, b, M, H, D, cf);
            sg_bgemm_(true, S, false, sg_heads_(q, b, N, H, D, cf), scale, 1.0f, (float *)dK.p,
                      dK.ld, dK.stride, cf, M, D, N, H);
        }
    }
    sg_arena_release(ws, mark);
}
