/*
 * cuda_pointwise.cu: the element-wise entries of the CUDA kernel table
 * (backend.h): relu, gelu, add, sub, mul, scale and dropout2d forward and
 * backward, the SGD step, the EMA blend, the semi-supervised label maps
 * (valid_from_ignore, masked_target, cons_weight_map, paste) and the copy
 * between a convolution weight and its dead-tap crop (conv2d_crop_weight).
 *
 * Shapes: flat arrays of n elements; dropout2d (planes, hw) with one scale
 * per plane; cons_weight_map and paste (N, C, HW) with per-pixel maps
 * (N, HW); conv2d_crop_weight w (planes, kh, kw) and wc (planes, ckh, ckw).
 * References: torch.relu, torch.nn.functional.gelu (approximate='none'),
 * torch.add / sub / mul, tensor * scalar, torch.nn.functional.dropout2d
 * (training), torch.optim.SGD (single-tensor path), the EMA teacher update
 * `ema * decay + p * (1 - decay)`, UniMatch's masked CE target and weight,
 * CutMix-Seg's consistency weight and paste (img[mask == 1] = mix[mask == 1]).
 *
 * Every per-element expression is the SG_HD function the CPU kernel calls
 * (src/cpu/pointwise.h, optim_math.h, semi_math.h), so everything but GELU
 * (device erff/expf are not glibc's) is bitwise the CPU result. Each element
 * is written by one thread, so results repeat run to run. Backward kernels
 * add into their gradients; a NULL gradient is not wanted.
 *
 * Covered by tests/test_backend_ops.c (every entry against the reference CPU
 * backend) and tests/test_cuda.c (relu, bitwise).
 */
#include "cuda_check.h"
#include "cuda_grid.h"
#include "cuda_kernels.h"

#include "../cpu/optim_math.h"
#include "../cpu/pointwise.h"
#include "../cpu/semi_math.h"

/* A grid-stride kernel over n items, its launch checked. */
#define SG_LAUNCH(kernel, n, ...)                                  \
    do {                                                           \
        kernel<<<sg_cuda_grid(n), SG_CUDA_THREADS>>>(__VA_ARGS__); \
        SG_CUDA_LAUNCHED(#kernel);                                 \
    } while (0)

/* ---- activations ------------------------------------------------------------------- */
__global__ static void sg_relu_fwd_k_(float *out, const float *x, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_relu1(x[i]);
}

__global__ static void sg_relu_bwd_k_(float *dx, const float *dout, const float *x, size_t n)
{
    SG_CUDA_FOR(i, n) dx[i] += sg_relu_grad1(dout[i], x[i]);
}

__global__ static void sg_gelu_fwd_k_(float *out, const float *x, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_gelu1(x[i]);
}

__global__ static void sg_gelu_bwd_k_(float *dx, const float *dout, const float *x, size_t n)
{
    SG_CUDA_FOR(i, n) dx[i] += dout[i] * sg_gelu_grad1(x[i]);
}

extern "C" void sg_cuda_relu_forward(float *out, const float *x, size_t n)
{
    if (n) SG_LAUNCH(sg_relu_fwd_k_, n, out, x, n);
}

extern "C" void sg_cuda_relu_backward(float *dx, const float *dout, const float *x, size_t n)
{
    if (n) SG_LAUNCH(sg_relu_bwd_k_, n, dx, dout, x, n);
}

extern "C" void sg_cuda_gelu_forward(float *out, const float *x, size_t n)
{
    if (n) SG_LAUNCH(sg_gelu_fwd_k_, n, out, x, n);
}

extern "C" void sg_cuda_gelu_backward(float *dx, const float *dout, const float *x, size_t n)
{
    if (n) SG_LAUNCH(sg_gelu_bwd_k_, n, dx, dout, x, n);
}

/* ---- binary ops and scaling -------------------------------------------------------- */
__global__ static void sg_add_fwd_k_(float *out, const float *a, const float *b, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_add1(a[i], b[i]);
}

__global__ static void sg_sub_fwd_k_(float *out, const float *a, const float *b, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_sub1(a[i], b[i]);
}

__global__ static void sg_mul_fwd_k_(float *out, const float *a, const float *b, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_mul1(a[i], b[i]);
}

/* da and db may be one array (add(x, x)): one thread makes both updates of an
 * element in turn, as the CPU loop does, so the element gets both terms. */
__global__ static void sg_add_bwd_k_(float *da, float *db, const float *dout, size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

__global__ static void sg_sub_bwd_k_(float *da, float *db, const float *dout, size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        if (da) da[i] += dout[i];
        if (db) db[i] -= dout[i];
    }
}

__global__ static void sg_mul_bwd_k_(float *da, float *db, const float *dout, const float *a,
                                     const float *b, size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        float g = dout[i];
        if (da) da[i] += sg_mul1(g, b[i]);
        if (db) db[i] += sg_mul1(g, a[i]);
    }
}

__global__ static void sg_scale_fwd_k_(float *out, const float *x, float s, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_scale1(x[i], s);
}

__global__ static void sg_scale_bwd_k_(float *dx, const float *dout, float s, size_t n)
{
    SG_CUDA_FOR(i, n) dx[i] += sg_scale1(dout[i], s);
}

__global__ static void sg_dropout2d_fwd_k_(float *out, const float *x, const float *scale,
                                           size_t hw, size_t n)
{
    SG_CUDA_FOR(i, n) out[i] = sg_scale1(x[i], scale[i / hw]);
}

__global__ static void sg_dropout2d_bwd_k_(float *dx, const float *dout, const float *scale,
                                           size_t hw, size_t n)
{
    SG_CUDA_FOR(i, n) dx[i] += sg_scale1(dout[i], scale[i / hw]);
}

extern "C" void sg_cuda_add_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n) SG_LAUNCH(sg_add_fwd_k_, n, out, a, b, n);
}

extern "C" void sg_cuda_add_backward(float *da, float *db, const float *dout, size_t n)
{
    if (n && (da || db)) SG_LAUNCH(sg_add_bwd_k_, n, da, db, dout, n);
}

extern "C" void sg_cuda_sub_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n) SG_LAUNCH(sg_sub_fwd_k_, n, out, a, b, n);
}

extern "C" void sg_cuda_sub_backward(float *da, float *db, const float *dout, size_t n)
{
    if (n && (da || db)) SG_LAUNCH(sg_sub_bwd_k_, n, da, db, dout, n);
}

extern "C" void sg_cuda_mul_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n) SG_LAUNCH(sg_mul_fwd_k_, n, out, a, b, n);
}

extern "C" void sg_cuda_mul_backward(float *da, float *db, const float *dout, const float *a,
                                     const float *b, size_t n)
{
    if (n && (da || db)) SG_LAUNCH(sg_mul_bwd_k_, n, da, db, dout, a, b, n);
}

extern "C" void sg_cuda_scale_forward(float *out, const float *x, float s, size_t n)
{
    if (n) SG_LAUNCH(sg_scale_fwd_k_, n, out, x, s, n);
}

extern "C" void sg_cuda_scale_backward(float *dx, const float *dout, float s, size_t n)
{
    if (n) SG_LAUNCH(sg_scale_bwd_k_, n, dx, dout, s, n);
}

extern "C" void sg_cuda_dropout2d_forward(float *out, const float *x, const float *scale,
                                          size_t planes, size_t hw)
{
    const size_t n = planes * hw;
    if (n) SG_LAUNCH(sg_dropout2d_fwd_k_, n, out, x, scale, hw, n);
}

extern "C" void sg_cuda_dropout2d_backward(float *dx, const float *dout, const float *scale,
                                           size_t planes, size_t hw)
{
    const size_t n = planes * hw;
    if (n) SG_LAUNCH(sg_dropout2d_bwd_k_, n, dx, dout, scale, hw, n);
}

/* ---- optimizer ------------------------------------------------------------------- */
__global__ static void sg_sgd_plain_k_(float *p, const float *g, size_t n, float lr, float wd)
{
    SG_CUDA_FOR(i, n) p[i] = sg_sgd_step1(p[i], sg_sgd_dir1(g[i], p[i], wd), lr);
}

/* On the first step the buffer is uninitialised memory: it is written, not
 * read. */
__global__ static void sg_sgd_momentum_k_(float *p, float *buf, const float *g, size_t n,
                                          float lr, float wd, float momentum, bool first)
{
    SG_CUDA_FOR(i, n)
    {
        float d = sg_sgd_dir1(g[i], p[i], wd);
        float v = first ? d : sg_sgd_momentum1(buf[i], d, momentum);
        buf[i] = v;
        p[i] = sg_sgd_step1(p[i], v, lr);
    }
}

__global__ static void sg_ema_k_(float *e, const float *p, size_t n, float decay, float keep)
{
    SG_CUDA_FOR(i, n) e[i] = sg_ema1(e[i], p[i], decay, keep);
}

extern "C" void sg_cuda_sgd_update(float *p, float *buf, const float *g, size_t n, float lr,
                                   float wd, float momentum, bool first)
{
    if (!n) return;
    if (buf)
        SG_LAUNCH(sg_sgd_momentum_k_, n, p, buf, g, n, lr, wd, momentum, first);
    else
        SG_LAUNCH(sg_sgd_plain_k_, n, p, g, n, lr, wd);
}

extern "C" void sg_cuda_ema_blend(float *e, const float *p, size_t n, float decay, float keep)
{
    if (n) SG_LAUNCH(sg_ema_k_, n, e, p, n, decay, keep);
}

/* ---- semi-supervised label maps -------------------------------------------------- */
__global__ static void sg_valid_k_(float *valid, const int32_t *ignore, size_t n)
{
    SG_CUDA_FOR(i, n) valid[i] = sg_semi_valid1(ignore[i]);
}

__global__ static void sg_masked_target_k_(int32_t *target, float *weight, const int32_t *label,
                                           const float *conf, const int32_t *ignore, float tau,
                                           size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        target[i] = sg_semi_target1(label[i], ignore[i]);
        weight[i] = sg_semi_weight1(conf[i], ignore[i], tau);
    }
}

/* wmap (N, C, HW) from the per-pixel maps (N, HW); ind is read only per
 * pixel (it may be NULL otherwise). */
__global__ static void sg_cons_weight_k_(float *wmap, const float *valid, const float *ind,
                                         float factor, bool per_pixel, size_t C, size_t HW,
                                         size_t n)
{
    SG_CUDA_FOR(i, n)
    {
        const size_t pix = i / (C * HW) * HW + i % HW;
        wmap[i] = sg_semi_cons_weight1(valid[pix], per_pixel ? ind[pix] : factor);
    }
}

/* One thread per byte: elements of any size es, the same rule for all their
 * bytes. */
__global__ static void sg_paste_k_(unsigned char *out, const unsigned char *a,
                                   const unsigned char *b, const int32_t *box, size_t es,
                                   size_t C, size_t HW, size_t bytes)
{
    SG_CUDA_FOR(i, bytes)
    {
        const size_t e = i / es;
        const size_t pix = e / (C * HW) * HW + e % HW;
        out[i] = sg_semi_pasted(box[pix]) ? b[i] : a[i];
    }
}

extern "C" void sg_cuda_valid_from_ignore(float *valid, const int32_t *ignore, size_t n)
{
    if (n) SG_LAUNCH(sg_valid_k_, n, valid, ignore, n);
}

extern "C" void sg_cuda_masked_target(int32_t *target, float *weight, const int32_t *label,
                                      const float *conf, const int32_t *ignore, float tau,
                                      size_t n)
{
    if (n) SG_LAUNCH(sg_masked_target_k_, n, target, weight, label, conf, ignore, tau, n);
}

extern "C" void sg_cuda_cons_weight_map(float *wmap, const float *valid, const float *ind,
                                        float factor, bool per_pixel, int N, int C, size_t HW)
{
    const size_t n = (size_t)N * (size_t)C * HW;
    if (n) SG_LAUNCH(sg_cons_weight_k_, n, wmap, valid, ind, factor, per_pixel, (size_t)C, HW, n);
}

extern "C" void sg_cuda_paste(void *out, const void *a, const void *b, const int32_t *box,
                              size_t es, int N, int C, size_t HW)
{
    const size_t bytes = (size_t)N * (size_t)C * HW * es;
    if (bytes)
        SG_LAUNCH(sg_paste_k_, bytes, (unsigned char *)out, (const unsigned char *)a,
                  (const unsigned char *)b, box, es, (size_t)C, HW, bytes);
}

/* ---- convolution weight crop ----------------------------------------------------- */
/* One thread per tap of the crop: each element of w and of wc has one
 * writer. */
__global__ static void sg_crop_weight_k_(float *w, float *wc, int kh, int kw, int ckh, int ckw,
                                         int kh0, int kw0, bool add, size_t n)
{
    SG_CUDA_FOR(t, n)
    {
        const size_t p = t / ((size_t)ckh * ckw);
        const int i = (int)(t / (size_t)ckw % (size_t)ckh), j = (int)(t % (size_t)ckw);
        float *f = &w[(p * kh + kh0 + i) * kw + kw0 + j];
        if (add)
            *f += wc[t];
        else
            wc[t] = *f;
    }
}

extern "C" void sg_cuda_conv2d_crop_weight(float *w, float *wc, int planes, int kh, int kw,
                                           int ckh, int ckw, int kh0, int kw0, bool add)
{
    const size_t n = (size_t)planes * (size_t)ckh * (size_t)ckw;
    if (n) SG_LAUNCH(sg_crop_weight_k_, n, w, wc, kh, kw, ckh, ckw, kh0, kw0, add, n);
}
