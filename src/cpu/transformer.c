/*
 * transformer.c: the CPU kernels of the transformer ops (transformer.h).
 *
 * Layer norm over channels: torch.nn.functional.layer_norm applied to the
 * channels-last permutation of an (N, C, HW) tensor and permuted back (the
 * LayerNorm2d of ConvNeXt and mmcv), i.e. per position (n, i) the C values
 * x[n, :, i] are normalised with their biased variance, eps inside the
 * square root. The arithmetic is layernorm_math.h's, the one of the
 * last-dimension layer norm (layernorm.c), so both layouts give the same
 * bits; here a thread owns a tile of consecutive positions of one sample and
 * walks the channels in order with the tile as the contiguous inner loop.
 * Sums are in double; dw/db sum one channel per task over (n, i) in order, so
 * nothing depends on the thread count.
 *
 * Attention: the scaled dot-product attention of SegFormer's efficient
 * self-attention (Xie et al., NeurIPS 2021; the MiT code as AllSpark ships
 * it, xmed-lab/AllSpark@9da63e2:model/backbone/mit.py, Attention.forward:
 * attn = (q @ k^T) * scale, softmax over the keys, attn @ v),
 * one op over all heads. Head h of a (B, N, C) token tensor is the strided
 * (N, D) matrix of columns [h D, (h+1) D) (leading dimension C); of a
 * channels-first (B, C, N) tensor it is rows [h D, (h+1) D) read transposed
 * (leading dimension N). Both are plain strided operands of sg_gemm_cpu, so
 * neither layout needs a copy (the permutes of the PyTorch code). P is kept
 * for the backward: with dP = dO V^T and dS = P (dP - rowsum(dP P)) (the
 * softmax backward), dQ = scale dS K, dK = scale dS^T Q, dV = P^T dO. The
 * row softmax is softmax.c's (rows of M keys, inner 1), so the probabilities
 * are the softmax op's bits.
 * Covered by tests/test_ops_transformer.c (PyTorch parity, gradient checks)
 * and tests/test_backend_ops.c.
 */
#include "transformer.h"

#include <stddef.h>

#include "gemm.h"
#include "layernorm_math.h"
#include "semiseg/tensor.h"
#include "softmax.h"

#define SG_LNC_TILE 64

void sg_layernorm_channels_forward_cpu(float *out, float *mean, float *rstd, const float *x,
                                       const float *w, const float *b, float eps, int N, int C,
                                       size_t HW)
{
    const long tiles = (long)((HW + SG_LNC_TILE - 1) / SG_LNC_TILE);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)N * tiles; t++) {
        const size_t n = (size_t)(t / tiles), i0 = (size_t)(t % tiles) * SG_LNC_TILE;
        const int len = (int)(HW - i0 < SG_LNC_TILE ? HW - i0 : SG_LNC_TILE);
        const float *xs = x + n * (size_t)C * HW + i0;
        float *os = out + n * (size_t)C * HW + i0;
        double s[SG_LNC_TILE], ss[SG_LNC_TILE];
        float m[SG_LNC_TILE], is[SG_LNC_TILE];
        for (int j = 0; j < len; j++) s[j] = ss[j] = 0.0;
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) s[j] += xs[(size_t)c * HW + j];
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) ss[j] += sg_ln_sq1(xs[(size_t)c * HW + j], sg_ln_mean(s[j], C));
        for (int j = 0; j < len; j++) {
            m[j] = (float)sg_ln_mean(s[j], C);
            is[j] = sg_ln_rstd(ss[j], C, eps);
            mean[n * HW + i0 + (size_t)j] = m[j];
            rstd[n * HW + i0 + (size_t)j] = is[j];
        }
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++)
                os[(size_t)c * HW + j] = sg_ln_out1(xs[(size_t)c * HW + j], m[j], is[j], w, b, c);
    }
}

void sg_layernorm_channels_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                                        const float *x, const float *w, const float *mean,
                                        const float *rstd, int N, int C, size_t HW)
{
    if (dx) {
        const long tiles = (long)((HW + SG_LNC_TILE - 1) / SG_LNC_TILE);
#pragma omp parallel for schedule(static)
        for (long t = 0; t < (long)N * tiles; t++) {
            const size_t n = (size_t)(t / tiles), i0 = (size_t)(t % tiles) * SG_LNC_TILE;
            const int len = (int)(HW - i0 < SG_LNC_TILE ? HW - i0 : SG_LNC_TILE);
            const size_t base = n * (size_t)C * HW + i0;
            const float *xs = x + base, *gs = dout + base;
            double sg[SG_LNC_TILE], sgx[SG_LNC_TILE], mu[SG_LNC_TILE], is[SG_LNC_TILE];
            for (int j = 0; j < len; j++) {
                sg[j] = sgx[j] = 0.0;
                mu[j] = mean[n * HW + i0 + (size_t)j];
                is[j] = rstd[n * HW + i0 + (size_t)j];
            }
            for (int c = 0; c < C; c++)
                for (int j = 0; j < len; j++) {
                    const size_t e = (size_t)c * HW + (size_t)j;
                    const double g = sg_ln_g1(gs[e], w, c);
                    sg[j] += g;
                    sgx[j] += g * sg_ln_xhat1(xs[e], mu[j], is[j]);
                }
            for (int j = 0; j < len; j++) {
                sg[j] = sg_ln_mean(sg[j], C);
                sgx[j] = sg_ln_mean(sgx[j], C);
            }
            float *dxs = dx + base;
            for (int c = 0; c < C; c++)
                for (int j = 0; j < len; j++) {
                    const size_t e = (size_t)c * HW + (size_t)j;
                    dxs[e] += sg_ln_dx1(is[j], sg_ln_g1(gs[e], w, c), sg[j],
                                        sg_ln_xhat1(xs[e], mu[j], is[j]), sgx[j]);
                }
        }
    }
    if (dw || db) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++) {
            double sw = 0.0, sb = 0.0;
            for (int n = 0; n < N; n++) {
                const size_t base = ((size_t)n * C + (size_t)c) * HW;
                for (size_t i = 0; i < HW; i++) {
                    const double g = dout[base + i];
                    sb += g;
                    sw += g * sg_ln_xhat1(x[base + i], mean[(size_t)n * HW + i],
                                          rstd[(size_t)n * HW + i]);
                }
            }
            if (dw) dw[c] += (float)sw;
            if (db) db[c] += (float)sb;
        }
    }
}

/* ---- attention ------------------------------------------------------------------------ */

/* A logical matrix whose element (i, j) is p[i ld + j], or p[j ld + i] when
 * stored transposed (t). */
typedef struct {
    const float *p;
    int ld;
    bool t;
} sg_mat_;

/* C (M, N) = alpha op(A) op(B) + beta C, op = transpose when oa/ob; C is
 * stored transposed when tc (then C^T = op(B)^T op(A)^T is computed). */
static void sg_gemm_mat_(bool oa, sg_mat_ A, bool ob, sg_mat_ B, float alpha, float beta,
                         float *C, int ldc, bool tc, int M, int N, int K)
{
    if (tc) {
        sg_gemm_mat_(!ob, B, !oa, A, alpha, beta, C, ldc, false, N, M, K);
        return;
    }
    sg_gemm_cpu(oa != A.t, ob != B.t, M, N, K, alpha, A.p, A.ld, B.p, B.ld, beta, C, ldc);
}

/* Head h of sample b of a (B, L, H D) token tensor or a (B, H D, L) one. */
static size_t sg_head_off_(int b, int h, int L, int H, int D, bool cf)
{
    return (size_t)b * L * H * D + (size_t)h * D * (cf ? (size_t)L : 1);
}

static sg_mat_ sg_head_(const float *base, int b, int h, int L, int H, int D, bool cf)
{
    return (sg_mat_){base + sg_head_off_(b, h, L, H, D, cf), cf ? L : H * D, cf};
}

void sg_attention_forward_cpu(struct sg_arena *ws, float *out, float *prob, const float *q,
                              const float *k, const float *v, int B, int H, int N, int M, int D,
                              float scale, bool cf)
{
    (void)ws;
    const size_t nm = (size_t)N * M;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            sg_gemm_mat_(false, sg_head_(q, b, h, N, H, D, cf), true,
                         sg_head_(k, b, h, M, H, D, cf), scale, 0.0f,
                         prob + ((size_t)b * H + (size_t)h) * nm, M, false, N, M, D);
    sg_softmax_forward_cpu(prob, prob, B * H * N, M, 1);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            sg_gemm_mat_(false, (sg_mat_){prob + ((size_t)b * H + (size_t)h) * nm, M, false},
                         false, sg_head_(v, b, h, M, H, D, cf), 1.0f, 0.0f,
                         out + sg_head_off_(b, h, N, H, D, cf), cf ? N : H * D, cf, N, D, M);
}

void sg_attention_backward_cpu(struct sg_arena *ws, float *dq, float *dk, float *dv,
                               const float *dout, const float *q, const float *k, const float *v,
                               const float *prob, int B, int H, int N, int M, int D, float scale,
                               bool cf)
{
    const size_t nm = (size_t)N * M, n_all = (size_t)B * H * nm;
    const int ldn = cf ? N : H * D, ldm = cf ? M : H * D;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const sg_mat_ P = {prob + ((size_t)b * H + (size_t)h) * nm, M, false};
            const sg_mat_ dO = sg_head_(dout, b, h, N, H, D, cf);
            if (dv)
                sg_gemm_mat_(true, P, false, dO, 1.0f, 1.0f, dv + sg_head_off_(b, h, M, H, D, cf),
                             ldm, cf, M, D, N);
        }
    if (!dq && !dk) return;
    sg_arena_mark mark = sg_arena_get_mark(ws);
    float *dp = sg_arena_alloc(ws, n_all * sizeof(float));
    float *ds = sg_arena_calloc(ws, n_all * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            sg_gemm_mat_(false, sg_head_(dout, b, h, N, H, D, cf), true,
                         sg_head_(v, b, h, M, H, D, cf), 1.0f, 0.0f,
                         dp + ((size_t)b * H + (size_t)h) * nm, M, false, N, M, D);
    sg_softmax_backward_cpu(ds, dp, prob, B * H * N, M, 1);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const sg_mat_ S = {ds + ((size_t)b * H + (size_t)h) * nm, M, false};
            if (dq)
                sg_gemm_mat_(false, S, false, sg_head_(k, b, h, M, H, D, cf), scale, 1.0f,
                             dq + sg_head_off_(b, h, N, H, D, cf), ldn, cf, N, D, M);
            if (dk)
                sg_gemm_mat_(true, S, false, sg_head_(q, b, h, N, H, D, cf), scale, 1.0f,
                             dk + sg_head_off_(b, h, M, H, D, cf), ldm, cf, M, D, N);
        }
    sg_arena_release(ws, mark);
}
