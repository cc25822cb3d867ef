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
 * thread). Backward scatters, so it is parallel over planes only and walks
 * each plane in (oh, ow) order: the sums are independent of the thread count.
 */
#include "resize.h"

#include <stddef.h>

void sg_resize_bilinear_forward_cpu(float *out, const float *x, int planes, int h, int w, int oh,
                                    int ow, bool align_corners)
{
    const float sh = sg_bilinear_scale(h, oh, align_corners);
    const float sw = sg_bilinear_scale(w, ow, align_corners);
    const ptrdiff_t rows = (ptrdiff_t)planes * oh;
#pragma omp parallel for schedule(static)
    for (ptrdiff_t r = 0; r < rows; r++) {
        const int p = (int)(r / oh), y = (int)(r % oh);
        int h0, h1;
        float lh0, lh1;
        sg_bilinear_index(y, h, oh, sh, align_corners, &h0, &h1, &lh0, &lh1);
        const float *x0 = x + ((size_t)p * h + h0) * w;
        const float *x1 = x + ((size_t)p * h + h1) * w;
        float *o = out + (size_t)r * ow;
        for (int xo = 0; xo < ow; xo++) {
            int w0, w1;
            float lw0, lw1;
            sg_bilinear_index(xo, w, ow, sw, align_corners, &w0, &w1, &lw0, &lw1);
            o[xo] = sg_bilinear_combine(lh0, lh1, lw0, lw1, x0[w0], x0[w1], x1[w0], x1[w1]);
        }
    }
}

/* g += weight * v rounded once, as ATen's contracted fma(lh * lw, dout, g). */
static inline void sg_scatter_(float *g, float weight, double v)
{
    *g = (float)((double)*g + (double)weight * v);
}

void sg_resize_bilinear_backward_cpu(float *dx, const float *dout, int planes, int h, int w,
                                     int oh, int ow, bool align_corners)
{
    const float sh = sg_bilinear_scale(h, oh, align_corners);
    const float sw = sg_bilinear_scale(w, ow, align_corners);
#pragma omp parallel for schedule(static)
    for (int p = 0; p < planes; p++) {
        float *g = dx + (size_t)p * h * w;
        const float *d = dout + (size_t)p * oh * ow;
        for (int y = 0; y < oh; y++) {
            int h0, h1;
            float lh0, lh1;
            sg_bilinear_index(y, h, oh, sh, align_corners, &h0, &h1, &lh0, &lh1);
            for (int xo = 0; xo < ow; xo++) {
                int w0, w1;
                float lw0, lw1;
                sg_bilinear_index(xo, w, ow, sw, align_corners, &w0, &w1, &lw0, &lw1);
                const double v = d[(size_t)y * ow + xo];
                /* ATen's tap order: 00, 01, 10, 11. */
                sg_scatter_(&g[(size_t)h0 * w + w0], lh0 * lw0, v);
                sg_scatter_(&g[(size_t)h0 * w + w1], lh0 * lw1, v);
                sg_scatter_(&g[(size_t)h1 * w + w0], lh1 * lw0, v);
                sg_scatter_(&g[(size_t)h1 * w + w1], lh1 * lw1, v);
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
