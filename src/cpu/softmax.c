/*
 * softmax.c: softmax / log-softmax over the C axis of (outer, C, inner).
 * Reference: torch.softmax / torch.log_softmax (max subtraction for
 * stability; backward as torch's _softmax_backward_data and
 * _log_softmax_backward_data).
 *
 * Work is split into tiles of up to SG_SM_TILE consecutive inner positions of
 * one outer index. A tile is owned by one thread and walks the channels in
 * order with the tile's positions as the contiguous inner loop, so NCHW
 * channel strides stay cache friendly and every result is independent of the
 * thread count. Channel sums accumulate in double. The per-element
 * expressions are softmax_math.h's, shared with the CUDA kernels.
 * Covered by tests/test_ops_loss.c (parity on dim 1 of NCHW and the last dim
 * of 2-D/3-D tensors, gradient checks).
 */
#include "softmax.h"

#include <math.h>
#include <stddef.h>

#include "softmax_math.h"

#define SG_SM_TILE 64

/* Per-position max over channels and sum of exp(x - max) for one tile. */
static void sg_tile_max_sum_(float *m, double *s, const float *x, int C, int inner, int len)
{
    for (int j = 0; j < len; j++) m[j] = x[j];
    for (int c = 1; c < C; c++)
        for (int j = 0; j < len; j++) m[j] = fmaxf(m[j], x[(size_t)c * inner + j]);
    for (int j = 0; j < len; j++) s[j] = 0.0;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < len; j++) s[j] += sg_sm_exp1(x[(size_t)c * inner + j], m[j]);
}

/* Per-position sum over channels of a[c] (* b[c] when b is not NULL). */
static void sg_tile_dot_(double *s, const float *a, const float *b, int C, int inner, int len)
{
    for (int j = 0; j < len; j++) s[j] = 0.0;
    for (int c = 0; c < C; c++) {
        const float *ac = a + (size_t)c * inner;
        if (b) {
            const float *bc = b + (size_t)c * inner;
            for (int j = 0; j < len; j++) s[j] += sg_softmax_dot1(ac[j], bc[j]);
        } else {
            for (int j = 0; j < len; j++) s[j] += (double)ac[j];
        }
    }
}

void sg_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner)
{
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int o = (int)(t / tiles), i0 = (int)(t % tiles) * SG_SM_TILE;
        int len = inner - i0 < SG_SM_TILE ? inner - i0 : SG_SM_TILE;
        size_t base = (size_t)o * C * inner + (size_t)i0;
        float m[SG_SM_TILE];
        double s[SG_SM_TILE];
        sg_tile_max_sum_(m, s, x + base, C, inner, len);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) {
                size_t k = base + (size_t)c * inner + j;
                out[k] = sg_softmax1(x[k], m[j], s[j]);
            }
    }
}

void sg_log_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner)
{
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int o = (int)(t / tiles), i0 = (int)(t % tiles) * SG_SM_TILE;
        int len = inner - i0 < SG_SM_TILE ? inner - i0 : SG_SM_TILE;
        size_t base = (size_t)o * C * inner + (size_t)i0;
        float m[SG_SM_TILE];
        double s[SG_SM_TILE];
        sg_tile_max_sum_(m, s, x + base, C, inner, len);
        for (int j = 0; j < len; j++) s[j] = log(s[j]);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) {
                size_t k = base + (size_t)c * inner + j;
                out[k] = sg_log_softmax1(x[k], m[j], s[j]);
            }
    }
}

void sg_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                             int inner)
{
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int o = (int)(t / tiles), i0 = (int)(t % tiles) * SG_SM_TILE;
        int len = inner - i0 < SG_SM_TILE ? inner - i0 : SG_SM_TILE;
        size_t base = (size_t)o * C * inner + (size_t)i0;
        double s[SG_SM_TILE];
        sg_tile_dot_(s, dout + base, y + base, C, inner, len);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) {
                size_t k = base + (size_t)c * inner + j;
                dx[k] += sg_softmax_grad1(dout[k], y[k], s[j]);
            }
    }
}

void sg_log_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner)
{
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int o = (int)(t / tiles), i0 = (int)(t % tiles) * SG_SM_TILE;
        int len = inner - i0 < SG_SM_TILE ? inner - i0 : SG_SM_TILE;
        size_t base = (size_t)o * C * inner + (size_t)i0;
        double s[SG_SM_TILE];
        sg_tile_dot_(s, dout + base, NULL, C, inner, len);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) {
                size_t k = base + (size_t)c * inner + j;
                dx[k] += sg_log_softmax_grad1(dout[k], y[k], s[j]);
            }
    }
}
