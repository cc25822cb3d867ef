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
 * expressions are softmax_math.h's, shared with the CUDA kernels, except
 * that exp is vexp.h's vectorisable one (the loops are SG_SIMD_CLONES,
 * simd.h). Rows of contiguous channels (inner = 1: the attention's softmax
 * over keys, CTT's InfoNCE rows) have their own loops, forward and
 * log-softmax backward: a tile there would be one position wide, so the
 * exps would not vectorise; they sum in the same channel order, so a row
 * gives the bits of a one-position tile.
 * Covered by tests/test_ops_loss.c (parity on dim 1 of NCHW and the last dim
 * of 2-D/3-D tensors, gradient checks).
 */
#include "softmax.h"

#include <math.h>
#include <stddef.h>

#include "simd.h"
#include "softmax_math.h"
#include "vexp.h"

#define SG_SM_TILE 64

/* Tile t of the (outer, C, inner) view cut into `tiles` tiles per outer
 * index: its first element's offset, and its length in *len. */
static inline size_t sg_sm_tile_(long t, int tiles, int C, int inner, int *len)
{
    int o = (int)(t / tiles), i0 = (int)(t % tiles) * SG_SM_TILE;
    *len = inner - i0 < SG_SM_TILE ? inner - i0 : SG_SM_TILE;
    return (size_t)o * C * inner + (size_t)i0;
}

/* One tile of (log-)softmax: `len` positions, `inner` apart per channel. out
 * may be x (each element is read before it is written). */
SG_SIMD_CLONES
static void sg_softmax_tile_(float *out, const float *x, int C, int inner, int len, bool log_sm)
{
    float m[SG_SM_TILE];
    double s[SG_SM_TILE];
    sg_softmax_max_sum_tile(m, s, x, C, inner, len);
    if (log_sm) {
        for (int j = 0; j < len; j++) s[j] = log(s[j]);
        for (int c = 0; c < C; c++)
#pragma omp simd
            for (int j = 0; j < len; j++) {
                size_t k = (size_t)c * inner + j;
                out[k] = sg_log_softmax1(x[k], m[j], s[j]);
            }
    } else {
        for (int c = 0; c < C; c++)
#pragma omp simd
            for (int j = 0; j < len; j++) {
                size_t k = (size_t)c * inner + j;
                out[k] = (float)(sg_vexp((double)(x[k] - m[j])) / s[j]);
            }
    }
}

/* One row of C contiguous channels; the same max, sum order and outputs as
 * a one-position tile. out may be x. */
SG_SIMD_CLONES
static void sg_softmax_row_(float *out, const float *x, int C, bool log_sm)
{
    float m;
    double s;
    sg_softmax_max_sum_row(&m, &s, x, C);
    if (log_sm) {
        double ls = log(s);
#pragma omp simd
        for (int c = 0; c < C; c++) out[c] = sg_log_softmax1(x[c], m, ls);
    } else {
#pragma omp simd
        for (int c = 0; c < C; c++) out[c] = (float)(sg_vexp((double)(x[c] - m)) / s);
    }
}

static void sg_softmax_any_cpu_(float *out, const float *x, int outer, int C, int inner,
                                bool log_sm)
{
    if (inner == 1) {
#pragma omp parallel for schedule(static)
        for (long o = 0; o < (long)outer; o++)
            sg_softmax_row_(out + (size_t)o * C, x + (size_t)o * C, C, log_sm);
        return;
    }
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int len;
        size_t base = sg_sm_tile_(t, tiles, C, inner, &len);
        sg_softmax_tile_(out + base, x + base, C, inner, len, log_sm);
    }
}

/* Per-position sum over channels of a[c] (* b[c] when b is not NULL). */
SG_SIMD_INLINE void sg_tile_dot_(double *s, const float *a, const float *b, int C, int inner,
                                 int len)
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
    sg_softmax_any_cpu_(out, x, outer, C, inner, false);
}

void sg_log_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner)
{
    sg_softmax_any_cpu_(out, x, outer, C, inner, true);
}

void sg_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                             int inner)
{
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int len;
        size_t base = sg_sm_tile_(t, tiles, C, inner, &len);
        double s[SG_SM_TILE];
        sg_tile_dot_(s, dout + base, y + base, C, inner, len);
        for (int c = 0; c < C; c++)
            for (int j = 0; j < len; j++) {
                size_t k = base + (size_t)c * inner + j;
                dx[k] += sg_softmax_grad1(dout[k], y[k], s[j]);
            }
    }
}

/* One tile of the log-softmax backward: dx += dout - exp(y) sum_c dout. */
SG_SIMD_CLONES
static void sg_log_softmax_backward_tile_(float *dx, const float *dout, const float *y, int C,
                                          int inner, int len)
{
    double s[SG_SM_TILE];
    sg_tile_dot_(s, dout, NULL, C, inner, len);
    for (int c = 0; c < C; c++)
#pragma omp simd
        for (int j = 0; j < len; j++) {
            size_t k = (size_t)c * inner + j;
            dx[k] += (float)((double)dout[k] - sg_vexp((double)y[k]) * s[j]);
        }
}

/* The same for one row of C contiguous channels (inner = 1), with the same
 * sum order and expression: the row's elements vectorise where a tile would
 * be one position wide (CTT's InfoNCE rows: thousands of channels). */
SG_SIMD_CLONES
static void sg_log_softmax_backward_row_(float *dx, const float *dout, const float *y, int C)
{
    double s = 0.0;
    for (int c = 0; c < C; c++) s += (double)dout[c];
#pragma omp simd
    for (int c = 0; c < C; c++) dx[c] += (float)((double)dout[c] - sg_vexp((double)y[c]) * s);
}

void sg_log_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner)
{
    if (inner == 1) {
#pragma omp parallel for schedule(static)
        for (long o = 0; o < (long)outer; o++)
            sg_log_softmax_backward_row_(dx + (size_t)o * C, dout + (size_t)o * C, y + (size_t)o * C, C);
        return;
    }
    int tiles = (inner + SG_SM_TILE - 1) / SG_SM_TILE;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)outer * tiles; t++) {
        int len;
        size_t base = sg_sm_tile_(t, tiles, C, inner, &len);
        sg_log_softmax_backward_tile_(dx + base, dout + base, y + base, C, inner, len);
    }
}
