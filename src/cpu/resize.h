/*
 * resize.h: bilinear and nearest resizing kernels (CPU) over `planes` = N*C
 * contiguous (h, w) planes -> (oh, ow) planes. Forward writes `out`; backward
 * ADDS into dx. The source-index arithmetic is SG_HD so a device kernel can
 * share it bit for bit.
 *
 * References: torch.nn.functional.interpolate, modes 'bilinear' (ATen's
 * upsample_bilinear2d, UpSample.h compute_source_index_and_lambda) and
 * 'nearest' (nearest_idx, the legacy floor rule).
 * Covered by tests/test_ops_resize.c.
 */
#ifndef SEMISEG_CPU_RESIZE_H
#define SEMISEG_CPU_RESIZE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "semiseg/base.h"

#include "pointwise.h"

/* PyTorch's area_pixel_compute_scale<float>: the ratio is rounded to float
 * before use, so the source coordinates (and weights) match PyTorch's. */
SG_HD float sg_bilinear_scale(int in, int out, bool align_corners)
{
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

/* One axis of the bilinear stencil: the two source indices and their weights.
 * As ATen's compute_source_index_and_lambda, the source coordinate is formed
 * in double (acc_type of float) from the float scale, clamped at 0 for
 * align_corners=False, and the weights are rounded to float. The product is
 * rounded before the - 0.5 (sg_dmul) on the GPU too, whose fused
 * multiply-add would otherwise move the coordinate by an ulp. */
SG_HD void sg_bilinear_index(int dst, int in, int out, float scale, bool align_corners,
                             int *i0, int *i1, float *l0, float *l1)
{
    if (in == out) {
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
    }
    double src = align_corners ? (double)scale * dst : sg_dmul(scale, dst + 0.5) - 0.5;
    if (src < 0.0) src = 0.0;
    int i = (int)floor(src);
    if (i > in - 1) i = in - 1;
    *i0 = i;
    *i1 = i + (i < in - 1);
    *l1 = (float)(src - i);
    *l0 = 1.0f - *l1;
}

/* a * wa + b * wb as ATen's CPU kernel evaluates it once the compiler has
 * contracted it to fma(a, wa, b * wb): b * wb is rounded to float, a * wa is
 * exact in double (a float product fits), and the sum is rounded to float.
 * Rounding the sum via double can differ from a true fma only when it lands
 * on a float tie, which no fixture case hits; it keeps the loop vectorisable
 * where fmaf would be a libm call without -mfma. */
SG_HD float sg_bilinear_lerp(float a, float wa, float b, float wb)
{
    return (float)((double)a * wa + (double)(b * wb));
}

/* One bilinear output from its four taps: interpolate along the width in the
 * two source rows, then along the height, as ATen's upsample_bilinear2d
 * (bit for bit against torch 1.13's CPU kernel in the parity fixtures). */
SG_HD float sg_bilinear_combine(float lh0, float lh1, float lw0, float lw1, float x00, float x01,
                                float x10, float x11)
{
    const float top = sg_bilinear_lerp(x00, lw0, x01, lw1);
    const float bottom = sg_bilinear_lerp(x10, lw0, x11, lw1);
    return sg_bilinear_lerp(top, lh0, bottom, lh1);
}

/* One tap of the backward: g + weight * v rounded once, as ATen's contracted
 * fma(lh * lw, dout, g). The product of the float weight and v (a float) is
 * exact in double, so a fused multiply-add gives the same bits. */
SG_HD float sg_bilinear_accum(float g, float weight, double v)
{
    return (float)((double)g + (double)weight * v);
}

/* Legacy 'nearest' (ATen nearest_idx): exact copies for equal sizes and for
 * exact 2x upsampling, otherwise floor(dst * (float)in/out) in float. */
SG_HD int sg_nearest_index(int dst, int in, int out)
{
    if (out == in) return dst;
    if (out == 2 * in) return dst >> 1;
    float scale = (float)in / (float)out;
    int i = (int)floorf((float)dst * scale);
    return i < in - 1 ? i : in - 1;
}

/* Bytes of scratch the bilinear kernels take: the stencil (indices and
 * weights) of every output row and column, computed once per call rather
 * than once per output element. */
size_t sg_resize_bilinear_scratch_bytes(int oh, int ow);
void sg_resize_bilinear_forward_cpu(float *out, void *scratch, const float *x, int planes, int h,
                                    int w, int oh, int ow, bool align_corners);
/* Scatter-add in a fixed (oh, ow) order within each plane; planes in parallel.
 * Each tap adds (lh * lw) * dout with one rounding, as ATen's kernel does. */
void sg_resize_bilinear_backward_cpu(float *dx, void *scratch, const float *dout, int planes,
                                     int h, int w, int oh, int ow, bool align_corners);

void sg_resize_nearest_forward_cpu(float *out, const float *x, int planes, int h, int w, int oh,
                                   int ow);
void sg_resize_nearest_backward_cpu(float *dx, const float *dout, int planes, int h, int w,
                                    int oh, int ow);
/* The nearest rule on int32 label maps (no gradient). */
void sg_resize_nearest_labels_cpu(int32_t *out, const int32_t *x, int planes, int h, int w,
                                  int oh, int ow);

#endif
