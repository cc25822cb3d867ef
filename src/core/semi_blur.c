/*
 * semi_blur.c: the Gaussian blur of the ClassMix strong transform (semi.h,
 * "ClassMix blur"), kornia 0.3.0 GaussianBlur2d as
 * 1181110317/SSL_CTT@33d7e3c:utils/transformsgpu.py gaussian_blur calls it
 * (kornia/filters/gaussian.py get_gaussian_kernel2d, filter.py filter2d
 * with reflect padding).
 *
 * Host-side: the image is read once (sg_tensor_read when it lives on a
 * device; its own memory on the CPU), blurred, and written back once. The
 * separable kernel is applied as two 1-D passes, rows then columns, each
 * output pixel a double sum of float32 taps times float32 pixels in tap
 * order (intermediate rows rounded to float32). The loops run over a whole
 * row per tap, so the compiler can vectorise them without reordering any
 * pixel's sum, and OpenMP gives each (image, channel) plane to one thread:
 * the result does not depend on the thread count. Taps that are 0 in
 * float32 (beyond about 14 sigma: at the released sigma <= 1.15 all but the
 * middle 33 of a 1024 crop's 103) are skipped: for finite pixels they add
 * exact zeros, so no sum changes (an inf or NaN pixel no longer spreads NaN
 * over the zero taps' reach, as kornia's 0 * inf would).
 *
 * Covered by tests/test_classmix.c (tests/ref/gen_classmix.py: kornia's 2-D
 * kernel; 1 vs 2 threads bitwise).
 */
#include "semiseg/semi.h"

#include <math.h>
#include <stdlib.h>

int sg_semi_blur_kernel_size(int side)
{
    /* int(np.floor(np.ceil(0.1 * L) - 0.5 + np.ceil(0.1 * L) % 2)) */
    const int c = (int)ceil(0.1 * side);
    return c % 2 ? c : c - 1;
}

/* kornia 0.3.0 gaussian(window_size, sigma): math.exp in double per tap,
 * stored as float32, divided by their float32 sum. */
static float *sg_blur_taps_(int k, float sigma)
{
    float *g = sg_xmalloc((size_t)k * sizeof *g);
    float sum = 0.0f;
    for (int x = 0; x < k; x++) {
        const double d = x - k / 2;
        g[x] = (float)exp(-d * d / (2.0 * (double)sigma * (double)sigma));
        sum += g[x];
    }
    for (int x = 0; x < k; x++) g[x] /= sum;
    return g;
}

/* F.pad(mode='reflect') index: the border pixel is not repeated. */
static int sg_blur_reflect_(int i, int n)
{
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

/* Per-thread scratch of one plane. */
typedef struct {
    float *tmp;      /* (H, W) the rows pass */
    float *pad;      /* W + kx - 1: one reflect-padded row */
    const float **src; /* ky row pointers of tmp for one output row */
    double *acc;     /* W */
} sg_blur_scratch_;

/* The first tap that is not 0 (the taps are symmetric and largest in the
 * middle, so [first, k - first) holds every nonzero one). */
static int sg_blur_first_(const float *g, int k)
{
    int j = 0;
    while (j < k / 2 && g[j] == 0.0f) j++;
    return j;
}

/* One (H, W) plane: out = columns(rows(in)). */
static void sg_blur_plane_(const float *in, float *out, int H, int W, const float *gy, int ky, const float *gx,
                           int kx, const sg_blur_scratch_ *s)
{
    double *acc = s->acc;
    const int jx = sg_blur_first_(gx, kx), jy = sg_blur_first_(gy, ky);
    for (int r = 0; r < H; r++) {
        const float *row = in + (size_t)r * W;
        for (int c = 0; c < W + kx - 1; c++) s->pad[c] = row[sg_blur_reflect_(c - kx / 2, W)];
        for (int c = 0; c < W; c++) acc[c] = 0.0;
        for (int j = jx; j < kx - jx; j++) {
            const double g = gx[j];
            const float *p = s->pad + j;
#pragma omp simd
            for (int c = 0; c < W; c++) acc[c] += g * (double)p[c];
        }
        float *t = s->tmp + (size_t)r * W;
        for (int c = 0; c < W; c++) t[c] = (float)acc[c];
    }
    for (int r = 0; r < H; r++) {
        for (int i = jy; i < ky - jy; i++) s->src[i] = s->tmp + (size_t)sg_blur_reflect_(r + i - ky / 2, H) * W;
        for (int c = 0; c < W; c++) acc[c] = 0.0;
        for (int i = jy; i < ky - jy; i++) {
            const double g = gy[i];
            const float *p = s->src[i];
#pragma omp simd
            for (int c = 0; c < W; c++) acc[c] += g * (double)p[c];
        }
        float *o = out + (size_t)r * W;
        for (int c = 0; c < W; c++) o[c] = (float)acc[c];
    }
}

sg_tensor *sg_semi_gaussian_blur(sg_ctx *ctx, sg_tensor *img, float sigma)
{
    SG_CHECK(img->dtype == SG_F32 && img->ndim == 4 && !img->requires_grad,
             "sg_semi_gaussian_blur: expected a float (N, C, H, W) tensor without gradient");
    SG_CHECK(sigma > 0, "sg_semi_gaussian_blur: sigma %g <= 0", (double)sigma);
    const int N = img->shape[0], C = img->shape[1], H = img->shape[2], W = img->shape[3];
    const int ky = sg_semi_blur_kernel_size(H), kx = sg_semi_blur_kernel_size(W);
    SG_CHECK(ky >= 1 && kx >= 1 && ky / 2 < H && kx / 2 < W,
             "sg_semi_gaussian_blur: a %d x %d image is too small for reflect padding", H, W);
    float *gy = sg_blur_taps_(ky, sigma), *gx = sg_blur_taps_(kx, sigma);
    const size_t hw = (size_t)H * W, planes = (size_t)N * C;
    const bool host = img->device.type == SG_DEVICE_CPU;
    float *copy = NULL;
    if (!host) {
        copy = sg_xmalloc(sg_numel(img) * sizeof *copy);
        sg_tensor_read(img, copy);
    }
    const float *x = host ? img->data : copy;
    sg_tensor *out = sg_tensor_like(ctx, img);
    float *o = sg_ctx_stage(ctx, out);
#pragma omp parallel
    {
        sg_blur_scratch_ s = {.tmp = sg_xmalloc(hw * sizeof(float)),
                              .pad = sg_xmalloc((size_t)(W + kx - 1) * sizeof(float)),
                              .src = sg_xmalloc((size_t)ky * sizeof(const float *)),
                              .acc = sg_xmalloc((size_t)W * sizeof(double))};
#pragma omp for schedule(static)
        for (size_t p = 0; p < planes; p++) sg_blur_plane_(x + p * hw, o + p * hw, H, W, gy, ky, gx, kx, &s);
        free(s.tmp);
        free(s.pad);
        free(s.src);
        free(s.acc);
    }
    sg_ctx_stage_done(ctx, out, o);
    free(copy);
    free(gx);
    free(gy);
    return out;
}
