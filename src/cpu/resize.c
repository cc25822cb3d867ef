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
 * bits. Backward scatters, so it is parallel over planes only and walks each
 * plane in (oh, ow) order: the sums are independent of the thread count; the
 * summed columns stay in registers (sg_bilinear_back_row_).
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

/* The backward's taps of output row y into one source row g, in ATen's order
 * (per output column: the w0 tap, then the w1 tap; with `both`, the two
 * source rows are the same row and the second row's pair follows, as ATen's
 * 00, 01, 10, 11). The stencil's columns never decrease and w1 is w0 or
 * w0 + 1, so the two columns being summed into stay in registers (va = g[c],
 * vb = g[c + 1]) until the window moves: each element sees exactly the
 * sequence of roundings of the scatter, without a store and reload per tap. */
SG_SIMD_INLINE void sg_bilinear_back_row_(float *g, const float *d, float lha, float lhb,
                                          const sg_stencil_ *tw, int ow, int w, const bool both)
{
    int c = tw->i0[0];
    float va = g[c], vb = c + 1 < w ? g[c + 1] : 0.0f;
    for (int xo = 0; xo < ow; xo++) {
        const int w0 = tw->i0[xo], w1 = tw->i1[xo];
        if (w0 != c) {
            g[c] = va;
            if (c + 1 < w) g[c + 1] = vb;
            c = w0;
            va = g[c];
            vb = c + 1 < w ? g[c + 1] : 0.0f;
        }
        const float lw0 = tw->l0[xo], lw1 = tw->l1[xo];
        const double v = d[xo];
        va = sg_bilinear_accum(va, lha * lw0, v);
        if (w1 == c)
            va = sg_bilinear_accum(va, lha * lw1, v);
        else
            vb = sg_bilinear_accum(vb, lha * lw1, v);
        if (both) {
            va = sg_bilinear_accum(va, lhb * lw0, v);
            if (w1 == c)
                va = sg_bilinear_accum(va, lhb * lw1, v);
            else
                vb = sg_bilinear_accum(vb, lhb * lw1, v);
        }
    }
    g[c] = va;
    if (c + 1 < w) g[c + 1] = vb;
}

void sg_resize_bilinear_backward_cpu(float *dx, void *scratch, const float *dout, int planes,
                                     int h, int w, int oh, int ow, bool align_corners)
{
    char *mem = scratch;
    const sg_stencil_ th = sg_stencil_fill_(&mem, h, oh, align_corners);
    const sg_stencil_ tw = sg_stencil_fill_(&mem, w, ow, align_corners);
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *g = dx + (size_t)p * h * w;
        const float *d = dout + (size_t)p * oh * ow;
        for (int y = 0; y < oh; y++) {
            const float *dr = d + (size_t)y * ow;
            float *g0 = g + (size_t)th.i0[y] * w, *g1 = g + (size_t)th.i1[y] * w;
            if (g0 == g1) {
                sg_bilinear_back_row_(g0, dr, th.l0[y], th.l1[y], &tw, ow, w, true);
            } else {
                /* Different rows: all of g0's taps, then g1's, changes no
                 * element's sequence. */
                sg_bilinear_back_row_(g0, dr, th.l0[y], 0.0f, &tw, ow, w, false);
                sg_bilinear_back_row_(g1, dr, th.l1[y], 0.0f, &tw, ow, w, false);
            }
        }
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
