/*
 * resize.c: bilinear and nearest resizing on the CPU, planes (N*C) of
 * contiguous (h, w) floats -> (oh, ow).
 * Reference: torch.nn.functional.interpolate(mode='bilinear', align_corners)
 * (ATen upsample_bilinear2d: interpolate along the width, then the height;
 * the backward scatters (lh * lw) dout into the four taps) and
 * mode='nearest' (upsample_nearest2d, legacy floor rule).
 * Covered by tests/test_ops_resize.c (parity + gradient checks).
 *
 * Forward is parallel over output rows (each output element written by one
 * thread), each row a vectorised loop (SG_SIMD_CLONES, simd.h). Backward
 * scatters, so it is parallel over planes only and walks
 * each plane in (oh, ow) order: the sums are independent of the thread count.
 */
#include "resize.h"

#include <stddef.h>

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

/* One output row from source rows x0 (weight lh0) and x1 (lh1); each element
 * is independent, so the loop vectorises (gathers) with the same bits. */
SG_SIMD_CLONES
static void sg_bilinear_row_(float *o, const float *x0, const float *x1, float lh0, float lh1,
                             const sg_stencil_ *tw, int ow)
{
    const int *i0 = tw->i0, *i1 = tw->i1;
    const float *l0 = tw->l0, *l1 = tw->l1;
#pragma omp simd
    for (int xo = 0; xo < ow; xo++)
        o[xo] = sg_bilinear_combine(lh0, lh1, l0[xo], l1[xo], x0[i0[xo]], x0[i1[xo]], x1[i0[xo]],
                                    x1[i1[xo]]);
}

void sg_resize_bilinear_forward_cpu(float *out, void *scratch, const float *x, int planes, int h,
                                    int w, int oh, int ow, bool align_corners)
{
    char *mem = scratch;
    const sg_stencil_ th = sg_stencil_fill_(&mem, h, oh, align_corners);
    const sg_stencil_ tw = sg_stencil_fill_(&mem, w, ow, align_corners);
    const ptrdiff_t rows = (ptrdiff_t)planes * oh;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t r = 0; r < rows; r++) {
        const int p = (int)(r / oh), y = (int)(r % oh);
        sg_bilinear_row_(out + (size_t)r * ow, x + ((size_t)p * h + th.i0[y]) * w,
                         x + ((size_t)p * h + th.i1[y]) * w, th.l0[y], th.l1[y], &tw, ow);
    }
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
            const float lh0 = th.l0[y], lh1 = th.l1[y];
            float *g0 = g + (size_t)th.i0[y] * w, *g1 = g + (size_t)th.i1[y] * w;
            const float *dr = d + (size_t)y * ow;
            for (int xo = 0; xo < ow; xo++) {
                const int w0 = tw.i0[xo], w1 = tw.i1[xo];
                const float lw0 = tw.l0[xo], lw1 = tw.l1[xo];
                const double v = dr[xo];
                /* ATen's tap order: 00, 01, 10, 11. */
                g0[w0] = sg_bilinear_accum(g0[w0], lh0 * lw0, v);
                g0[w1] = sg_bilinear_accum(g0[w1], lh0 * lw1, v);
                g1[w0] = sg_bilinear_accum(g1[w0], lh1 * lw0, v);
                g1[w1] = sg_bilinear_accum(g1[w1], lh1 * lw1, v);
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
