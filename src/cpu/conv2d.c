/*
 * conv2d.c: 2-D convolution on the CPU by im2col + GEMM, per image and group.
 * Reference: torch.nn.functional.conv2d (stride, padding, dilation, groups,
 * optional bias) and its autograd (convolution_backward).
 *
 * Per image n and group g, with K = Cin/groups * kh * kw and P = Ho * Wo:
 *   col (K, P) = im2col(x[n, group channels])
 *   out[n, g] (Cout/groups, P) = w_g (Cout/groups, K) * col + b
 *   dw_g += dout[n, g] * col^T         (images in order 0, 1, ...)
 *   dx[n, g] += col2im(w_g^T * dout[n, g])
 * A 1x1, stride-1, unpadded convolution uses x itself as col.
 *
 * Determinism: im2col/col2im split work over input channels, and each channel's
 * elements are read/written by one thread in a fixed order; GEMM keeps its K
 * order across threads (gemm.c); bias gradients are per-channel double sums.
 * Covered by tests/test_ops_conv.c (PyTorch parity + gradient checks).
 */
#include "conv2d.h"

#include <string.h>

#include "gemm.h"

bool sg_conv2d_is_pointwise(const sg_conv2d_dims *d)
{
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
           d->pad_w == 0;
}

size_t sg_conv2d_scratch_floats(const sg_conv2d_dims *d)
{
    if (sg_conv2d_is_pointwise(d)) return 0;
    return (size_t)(d->Cin / d->groups) * (size_t)d->kh * (size_t)d->kw * (size_t)d->Ho *
           (size_t)d->Wo;
}

/* col (C * kh * kw, Ho * Wo) from x (C, H, W); padded taps are 0. */
static void im2col_(float *col, const float *x, int C, const sg_conv2d_dims *d)
{
    const int H = d->H, W = d->W, Ho = d->Ho, Wo = d->Wo;
    const size_t P = (size_t)Ho * (size_t)Wo;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * P;
                for (int oh = 0; oh < Ho; oh++) {
                    float *r = row + (size_t)oh * Wo;
                    int ih = oh * d->stride_h - d->pad_h + ki * d->dil_h;
                    if (ih < 0 || ih >= H) {
                        memset(r, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *xr = xc + (size_t)ih * W;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow * d->stride_w - d->pad_w + kj * d->dil_w;
                        r[ow] = (iw >= 0 && iw < W) ? xr[iw] : 0.0f;
                    }
                }
            }
    }
}

/* dx (C, H, W) += col2im(col); taps are added in (ki, kj, oh, ow) order. */
static void col2im_(float *dx, const float *col, int C, const sg_conv2d_dims *d)
{
    const int H = d->H, W = d->W, Ho = d->Ho, Wo = d->Wo;
    const size_t P = (size_t)Ho * (size_t)Wo;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float *dxc = dx + (size_t)c * H * W;
        for (int ki = 0; ki < d->kh; ki++)
            for (int kj = 0; kj < d->kw; kj++) {
                const float *row = col + ((size_t)(c * d->kh + ki) * d->kw + kj) * P;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * d->stride_h - d->pad_h + ki * d->dil_h;
                    if (ih < 0 || ih >= H) continue;
                    const float *r = row + (size_t)oh * Wo;
                    float *dxr = dxc + (size_t)ih * W;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow * d->stride_w - d->pad_w + kj * d->dil_w;
                        if (iw >= 0 && iw < W) dxr[iw] += r[ow];
                    }
                }
            }
    }
}

void sg_conv2d_forward_cpu(float *out, float *col, const float *x, const float *w,
                           const float *b, const sg_conv2d_dims *d)
{
    const int G = d->groups, Cg = d->Cin / G, Cog = d->Cout / G;
    const int K = Cg * d->kh * d->kw, P = d->Ho * d->Wo;
    const size_t HW = (size_t)d->H * d->W;
    const bool pointwise = sg_conv2d_is_pointwise(d);
    for (int n = 0; n < d->N; n++) {
        float *on = out + (size_t)n * d->Cout * P;
        /* The bias goes in first and the GEMM adds onto it (beta = 1), as
         * PyTorch's slow_conv2d does. */
        if (b) {
#pragma omp parallel for schedule(static)
            for (int c = 0; c < d->Cout; c++)
                for (int p = 0; p < P; p++) on[(size_t)c * P + p] = b[c];
        }
        for (int g = 0; g < G; g++) {
            const float *xg = x + ((size_t)n * d->Cin + (size_t)g * Cg) * HW;
            const float *cg = xg;
            if (!pointwise) {
                im2col_(col, xg, Cg, d);
                cg = col;
            }
            sg_gemm_cpu(false, false, Cog, P, K, 1.0f, w + (size_t)g * Cog * K, K, cg, P,
                        b ? 1.0f : 0.0f, on + (size_t)g * Cog * P, P);
        }
    }
}

void sg_conv2d_backward_cpu(float *dx, float *dw, float *db, float *col, const float *dout,
                            const float *x, const float *w, const sg_conv2d_dims *d)
{
    const int G = d->groups, Cg = d->Cin / G, Cog = d->Cout / G;
    const int K = Cg * d->kh * d->kw, P = d->Ho * d->Wo;
    const size_t HW = (size_t)d->H * d->W;
    const bool pointwise = sg_conv2d_is_pointwise(d);

    if (db) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < d->Cout; c++) {
            double s = 0.0;
            for (int n = 0; n < d->N; n++) {
                const float *g = dout + ((size_t)n * d->Cout + c) * P;
                for (int p = 0; p < P; p++) s += g[p];
            }
            db[c] += (float)s;
        }
    }
    if (!dx && !dw) return;

    for (int n = 0; n < d->N; n++)
        for (int g = 0; g < G; g++) {
            const size_t xoff = ((size_t)n * d->Cin + (size_t)g * Cg) * HW;
            const float *dg = dout + ((size_t)n * d->Cout + (size_t)g * Cog) * P;
            const float *wg = w + (size_t)g * Cog * K;
            if (dw) {
                const float *cg = x + xoff;
                if (!pointwise) {
                    im2col_(col, x + xoff, Cg, d);
                    cg = col;
                }
                sg_gemm_cpu(false, true, Cog, K, P, 1.0f, dg, P, cg, P, 1.0f,
                            dw + (size_t)g * Cog * K, K);
            }
            if (dx) {
                if (pointwise) {
                    sg_gemm_cpu(true, false, K, P, Cog, 1.0f, wg, K, dg, P, 1.0f, dx + xoff, P);
                } else {
                    sg_gemm_cpu(true, false, K, P, Cog, 1.0f, wg, K, dg, P, 0.0f, col, P);
                    col2im_(dx + xoff, col, Cg, d);
                }
            }
        }
}

void sg_conv2d_crop_weight_cpu(float *w, float *wc, int planes, int kh, int kw, int ckh, int ckw,
                               int kh0, int kw0, bool add)
{
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < ckh; i++)
            for (int j = 0; j < ckw; j++) {
                float *f = &w[((size_t)p * kh + kh0 + i) * kw + kw0 + j];
                float *g = &wc[((size_t)p * ckh + i) * ckw + j];
                if (add)
                    *f += *g;
                else
                    *g = *f;
            }
}
