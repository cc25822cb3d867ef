/*
 * resize.c: bilinear and nearest resizing on the CPU, planes (N*C) of
 * contiguous (h, w) floats -> (oh, ow).
 * Reference: torch.nn.functional.interpolate(mode='bilinear', align_corners)
 * (ATen upsample_bilinear2d: interpolate along the width, then the height;
 * the backward scatters (lh * lw) dout into the four taps) and
 * mode='nearest' (upsample_nearest2d, legacy floor rule).
 * Covered by tests/test_ops_resize.c (parity + gradient checks).
 *
 * Forward: each source row is interpolated along the width once per task
 * (a plane's run of output rows) and reused by the output rows that read it,
 * then mixed along the height; both loops vectorise (SG_SIMD_CLONES,
 * simd.h), and each output gets the same operations as ATen's, so the same
 * bits. Backward scatters, so it walks each plane in (oh, ow) order, 16
 * planes at a time as vector lanes (sg_bilinear_back_block_), parallel over
 * those blocks: the sums are independent of the thread count.
 */
#include "resize.h"

#include <stddef.h>
#include <stdlib.h>

#include "simd.h"

/* One axis's stencils, dst = 0 .. out-1. */
typedef struct {
    int *i0, *i1;
    float *l0, *l1;
} sg_stencil_;

size_t sg_resize_bilinear_scratch_bytes(int oh, int ow)
{
    return 2 * ((size_t)oh + (size_t)ow) * (sizeof(int) + sizeof(float));
}

/* Carves one axis's table of `out` stencils from *mem and fills it. */
static sg_stencil_ sg_stencil_fill_(char **mem, int in, int out, bool align_corners)
{
    sg_stencil_ t;
    t.i0 = (int *)*mem;
    t.i1 = t.i0 + out;
    t.l0 = (float *)(t.i1 + out);
    t.l1 = t.l0 + out;
    *mem = (char *)(t.l1 + out);
    const float scale = sg_bilinear_scale(in, out, align_corners);
    for (int d = 0; d < out; d++)
        sg_bilinear_index(d, in, out, scale, align_corners, &t.i0[d], &t.i1[d], &t.l0[d],
                          &t.l1[d]);
    return t;
}

/* t = one source row interpolated along the width at every output column:
 * the `top` / `bottom` term of sg_bilinear_combine, shared by every output
 * row that reads that source row (4 of them when upsampling x4). */
SG_SIMD_CLONES
static void sg_bilinear_hrow_(float *t, const float *xr, const sg_stencil_ *tw, int ow)
{
    const int *i0 = tw->i0, *i1 = tw->i1;
    const float *l0 = tw->l0, *l1 = tw->l1;
#pragma omp simd
    for (int xo = 0; xo < ow; xo++) t[xo] = sg_bilinear_lerp(xr[i0[xo]], l0[xo], xr[i1[xo]], l1[xo]);
}

/* o = the height interpolation of two width-interpolated rows: the last step
 * of sg_bilinear_combine, so o has its bits. */
SG_SIMD_CLONES
static void sg_bilinear_vmix_(float *o, const float *top, const float *bottom, float lh0, float lh1,
                              int ow)
{
#pragma omp simd
    for (int xo = 0; xo < ow; xo++) o[xo] = sg_bilinear_lerp(top[xo], lh0, bottom[xo], lh1);
}

/* Output rows handled per task: enough to reuse each width-interpolated
 * source row, small enough to spread few planes over the threads. */
#define SG_BILINEAR_ROWS 32

void sg_resize_bilinear_forward_cpu(float *out, void *scratch, const float *x, int planes, int h,
                                    int w, int oh, int ow, bool align_corners)
{
    char *mem = scratch;
    const sg_stencil_ th = sg_stencil_fill_(&mem, h, oh, align_corners);
    const sg_stencil_ tw = sg_stencil_fill_(&mem, w, ow, align_corners);
    const int chunks = (oh + SG_BILINEAR_ROWS - 1) / SG_BILINEAR_ROWS;
#pragma omp parallel for schedule(static)
    for (long t = 0; t < (long)planes * chunks; t++) {
        const int p = (int)(t / chunks), y0 = (int)(t % chunks) * SG_BILINEAR_ROWS;
        const int y1 = oh - y0 < SG_BILINEAR_ROWS ? oh : y0 + SG_BILINEAR_ROWS;
        const float *xp = x + (size_t)p * h * w;
        /* Two cached width-interpolated source rows, keyed by source row. */
        float *rows = sg_xmalloc(2 * (size_t)ow * sizeof(float));
        int key[2] = {-1, -1};
        for (int y = y0; y < y1; y++) {
            const float *rp[2];
            const int want[2] = {th.i0[y], th.i1[y]};
            for (int k = 0; k < 2; k++) {
                int slot = key[0] == want[k] ? 0 : key[1] == want[k] ? 1 : -1;
                if (slot < 0) {
                    /* Never evict the row the other half of this pair uses. */
                    slot = k == 1 && key[0] == want[0] ? 1 : 0;
                    sg_bilinear_hrow_(rows + (size_t)slot * ow, xp + (size_t)want[k] * w, &tw, ow);
                    key[slot] = want[k];
                }
                rp[k] = rows + (size_t)slot * ow;
            }
            sg_bilinear_vmix_(out + ((size_t)p * oh + y) * ow, rp[0], rp[1], th.l0[y], th.l1[y], ow);
        }
        free(rows);
    }
}

/* Planes the backward runs side by side, as vector lanes. */
#define SG_BILINEAR_LANES 16

/* The backward of `lanes` planes interleaved: g (h, w, SG_BILINEAR_LANES)
 * holds their dx, lane l = plane p0 + l. Per output pixel in (oh, ow) order,
 * the four taps 00, 01, 10, 11 as ATen scatters them, each one vector
 * operation over the lanes: every element sees exactly the scatter's
 * sequence of roundings, so the result has the bits of the plane-by-plane
 * loop. Lanes past `lanes` hold zeros and are never copied back. */
SG_SIMD_CLONES
static void sg_bilinear_back_block_(float *g, double *drow, const float *dout, int lanes, int w,
                                    int oh, int ow, const sg_stencil_ *th, const sg_stencil_ *tw)
{
    enum { L = SG_BILINEAR_LANES };
    for (int y = 0; y < oh; y++) {
        for (int xo = 0; xo < ow; xo++)
            for (int l = 0; l < L; l++)
                drow[(size_t)xo * L + l] =
                    l < lanes ? (double)dout[((size_t)l * oh + y) * ow + xo] : 0.0;
        const float lh0 = th->l0[y], lh1 = th->l1[y];
        float *g0 = g + (size_t)th->i0[y] * w * L, *g1 = g + (size_t)th->i1[y] * w * L;
        for (int xo = 0; xo < ow; xo++) {
            float *g00 = g0 + (size_t)tw->i0[xo] * L, *g01 = g0 + (size_t)tw->i1[xo] * L;
            float *g10 = g1 + (size_t)tw->i0[xo] * L, *g11 = g1 + (size_t)tw->i1[xo] * L;
            const float lw0 = tw->l0[xo], lw1 = tw->l1[xo];
            const double *v = drow + (size_t)xo * L;
            /* Four loops, not one: the taps may hit the same element (edges),
             * and each must see the previous tap's result. */
#pragma omp simd
            for (int l = 0; l < L; l++) g00[l] = sg_bilinear_accum(g00[l], lh0 * lw0, v[l]);
#pragma omp simd
            for (int l = 0; l < L; l++) g01[l] = sg_bilinear_accum(g01[l], lh0 * lw1, v[l]);
#pragma omp simd
            for (int l = 0; l < L; l++) g10[l] = sg_bilinear_accum(g10[l], lh1 * lw0, v[l]);
#pragma omp simd
            for (int l = 0; l < L; l++) g11[l] = sg_bilinear_accum(g11[l], lh1 * lw1, v[l]);
        }
    }
}

void sg_resize_bilinear_backward_cpu(float *dx, void *scratch, const float *dout, int planes,
                                     int h, int w, int oh, int ow, bool align_corners)
{
    enum { L = SG_BILINEAR_LANES };
    char *mem = scratch;
    const sg_stencil_ th = sg_stencil_fill_(&mem, h, oh, align_corners);
    const sg_stencil_ tw = sg_stencil_fill_(&mem, w, ow, align_corners);
    const size_t hw = (size_t)h * w;
    const int blocks = (planes + L - 1) / L;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int p0 = b * L, lanes = planes - p0 < L ? planes - p0 : L;
        float *g = sg_xmalloc(hw * L * sizeof(float));
        double *drow = sg_xmalloc((size_t)ow * L * sizeof(double));
        /* dx accumulates: the taps start from its values, as the scatter did. */
        for (size_t e = 0; e < hw; e++)
            for (int l = 0; l < L; l++) g[e * L + l] = l < lanes ? dx[(p0 + l) * hw + e] : 0.0f;
        sg_bilinear_back_block_(g, drow, dout + (size_t)p0 * oh * ow, lanes, w, oh, ow, &th, &tw);
        for (int l = 0; l < lanes; l++)
            for (size_t e = 0; e < hw; e++) dx[(p0 + l) * hw + e] = g[e * L + l];
        free(drow);
        free(g);
    }
}

void sg_resize_nearest_forward_cpu(float *out, const float *x, int planes, int h, int w, int oh,
                                   int ow)
{
    const ptrdiff_t rows = (ptrdiff_t)planes * oh;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t r = 0; r < rows; r++) {
        const int p = (int)(r / oh), y = (int)(r % oh);
        const float *xr = x + ((size_t)p * h + sg_nearest_index(y, h, oh)) * w;
        float *o = out + (size_t)r * ow;
        for (int xo = 0; xo < ow; xo++) o[xo] = xr[sg_nearest_index(xo, w, ow)];
    }
}

void sg_resize_nearest_backward_cpu(float *dx, const float *dout, int planes, int h, int w,
                                    int oh, int ow)
{
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *g = dx + (size_t)p * h * w;
        const float *d = dout + (size_t)p * oh * ow;
        for (int y = 0; y < oh; y++) {
            float *gr = g + (size_t)sg_nearest_index(y, h, oh) * w;
            const float *dr = d + (size_t)y * ow;
            for (int xo = 0; xo < ow; xo++) gr[sg_nearest_index(xo, w, ow)] += dr[xo];
        }
    }
}

void sg_resize_nearest_labels_cpu(int32_t *out, const int32_t *x, int planes, int h, int w,
                                  int oh, int ow)
{
    const ptrdiff_t rows = (ptrdiff_t)planes * oh;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t r = 0; r < rows; r++) {
        const int p = (int)(r / oh), y = (int)(r % oh);
        const int32_t *xr = x + ((size_t)p * h + sg_nearest_index(y, h, oh)) * w;
        int32_t *o = out + (size_t)r * ow;
        for (int xo = 0; xo < ow; xo++) o[xo] = xr[sg_nearest_index(xo, w, ow)];
    }
}
