/*
 * batchnorm_fast.c: batch normalisation of NCHW tensors, with the optional
 * ReLU fused in, vectorised: the fast CPU path's BN (backend_dnnl.c). Same
 * contract and reference as batchnorm.c (torch.nn.functional.batch_norm,
 * ATen batch_norm_cpu / batch_norm_backward_cpu); see batchnorm_fast.h.
 *
 * Why not oneDNN's: on plain NCHW oneDNN 2.6 runs its non-JIT `ncsp_bnorm`,
 * whose backward took 4x ATen's time in bench_train's UniMatch iteration
 * (bench/README.md), and its fused ReLU is unvectorised there. Why not
 * batchnorm.c: its per-channel sums are one running double sum, a dependency
 * chain the compiler cannot vectorise without changing the result.
 *
 * Here each channel's sums are SG_SIMD_LANES partial double sums (element j
 * of a plane goes to partial j % SG_SIMD_LANES, the HW % SG_SIMD_LANES tail
 * to a separate sum), added in a fixed order at the end; one channel per
 * OpenMP thread. So the result depends neither on the thread count nor on
 * which SG_SIMD_CLONES clone runs (simd.h); it differs from batchnorm.c's
 * only by the rounding of the double sums (~1e-16 relative) and then agrees
 * with it to float precision. The element-wise expressions are batchnorm.c's.
 * Covered by tests/test_dnnl.c (against batchnorm.c, forward, backward,
 * with and without ReLU, train and eval, accumulating and overwriting dx).
 */
#include "batchnorm_fast.h"

#include <math.h>
#include <stddef.h>

#include "simd.h"

#define L SG_SIMD_LANES

/* The partial sums, added in lane order, then the tail. */
SG_SIMD_INLINE double sg_bnf_total_(const double *acc, double tail)
{
    double s = 0.0;
    for (int l = 0; l < L; l++) s += acc[l];
    return s + tail;
}

/* sum over the N planes (`stride` floats apart, HW each) of x - shift, or
 * of (x - shift)^2 with `square`. */
SG_SIMD_CLONES
static double sg_bnf_sum_(const float *x, size_t stride, int N, int HW, double shift,
                          bool square)
{
    double acc[L] = {0}, tail = 0.0;
    const int body = HW - HW % L;
    for (int n = 0; n < N; n++) {
        const float *p = x + (size_t)n * stride;
        if (square) {
            for (int j = 0; j < body; j += L)
                for (int l = 0; l < L; l++) {
                    double d = (double)p[j + l] - shift;
                    acc[l] += d * d;
                }
            for (int j = body; j < HW; j++) {
                double d = (double)p[j] - shift;
                tail += d * d;
            }
        } else {
            for (int j = 0; j < body; j += L)
                for (int l = 0; l < L; l++) acc[l] += (double)p[j + l] - shift;
            for (int j = body; j < HW; j++) tail += (double)p[j] - shift;
        }
    }
    return sg_bnf_total_(acc, tail);
}

void sg_batchnorm_fast_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                             const float *x, float momentum, float eps, int N, int C, int HW)
{
    const double n = (double)N * HW;
    const size_t stride = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * HW;
        double mu = sg_bnf_sum_(xc, stride, N, HW, 0.0, false) / n;
        /* Two passes, as batchnorm.c: no cancellation on near-constant channels. */
        double ss = sg_bnf_sum_(xc, stride, N, HW, mu, true);
        mean[c] = (float)mu;
        invstd[c] = (float)(1.0 / sqrt(ss / n + (double)eps));
        double m = momentum;
        running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mu);
        running_var[c] = (float)((1.0 - m) * running_var[c] + m * (ss / (n - 1.0)));
    }
}

SG_SIMD_CLONES
static void sg_bnf_normalize_(float *out, const float *x, size_t stride, int N, int HW, float mu,
                              float scale, float shift, bool relu)
{
    for (int n = 0; n < N; n++) {
        const float *p = x + (size_t)n * stride;
        float *o = out + (size_t)n * stride;
        if (relu)
#pragma omp simd
            for (int j = 0; j < HW; j++) {
                float v = (p[j] - mu) * scale + shift;
                o[j] = v > 0.0f ? v : 0.0f;
            }
        else
#pragma omp simd
            for (int j = 0; j < HW; j++) o[j] = (p[j] - mu) * scale + shift;
    }
}

void sg_batchnorm_fast_forward(float *out, const float *x, const float *w, const float *b,
                               const float *mean, const float *invstd, bool relu, int N, int C,
                               int HW)
{
    const size_t stride = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * HW;
        sg_bnf_normalize_(out + off, x + off, stride, N, HW, mean[c], invstd[c] * (w ? w[c] : 1.0f),
                          b ? b[c] : 0.0f, relu);
    }
}

/* dout where the ReLU passed its input (relu_out > 0), else 0, as
 * batchnorm.c; `relu` is a constant at every call, so each loop below is
 * compiled without the test it does not need. */
SG_SIMD_INLINE double sg_bnf_grad_(const float *dout, const float *relu_out, size_t i,
                                   const bool relu)
{
    return relu ? sg_simd_selectf(relu_out[i] > 0.0f, dout[i], 0.0f) : dout[i];
}

SG_SIMD_INLINE void sg_bnf_grad_sums_body_(double *sum_dy, double *sum_dy_xhat, const float *dout,
                                          const float *relu_out, const float *x, size_t stride,
                                          int N, int HW, double mu, double is, const bool relu)
{
    double a[L] = {0}, ax[L] = {0}, t = 0.0, tx = 0.0;
    const int body = HW - HW % L;
    for (int n = 0; n < N; n++) {
        const size_t base = (size_t)n * stride;
        for (int j = 0; j < body; j += L)
#pragma omp simd
            for (int l = 0; l < L; l++) {
                size_t i = base + (size_t)(j + l);
                double g = sg_bnf_grad_(dout, relu_out, i, relu);
                a[l] += g;
                ax[l] += g * ((x[i] - mu) * is);
            }
        for (int j = body; j < HW; j++) {
            size_t i = base + (size_t)j;
            double g = sg_bnf_grad_(dout, relu_out, i, relu);
            t += g;
            tx += g * ((x[i] - mu) * is);
        }
    }
    *sum_dy = sg_bnf_total_(a, t);
    *sum_dy_xhat = sg_bnf_total_(ax, tx);
}

/* One channel's sum of g and of g xhat, xhat = (x - mu) is. */
SG_SIMD_CLONES
static void sg_bnf_grad_sums_(double *sum_dy, double *sum_dy_xhat, const float *dout,
                              const float *relu_out, const float *x, size_t stride, int N, int HW,
                              double mu, double is)
{
    if (relu_out)
        sg_bnf_grad_sums_body_(sum_dy, sum_dy_xhat, dout, relu_out, x, stride, N, HW, mu, is, true);
    else
        sg_bnf_grad_sums_body_(sum_dy, sum_dy_xhat, dout, NULL, x, stride, N, HW, mu, is, false);
}

SG_SIMD_INLINE void sg_bnf_dx_body_(float *dx, const float *dout, const float *relu_out,
                                   const float *x, size_t stride, int N, int HW, double mu,
                                   double is, double k, double mean_dy, double mean_dy_xhat,
                                   const bool relu, const bool overwrite)
{
    for (int n = 0; n < N; n++) {
        const size_t base = (size_t)n * stride;
#pragma omp simd
        for (int j = 0; j < HW; j++) {
            size_t i = base + (size_t)j;
            double xhat = (x[i] - mu) * is;
            double g = sg_bnf_grad_(dout, relu_out, i, relu);
            float v = (float)(k * (g - mean_dy - xhat * mean_dy_xhat));
            dx[i] = overwrite ? v : dx[i] + v;
        }
    }
}

/* dx (+)= k (g - mean_dy - xhat mean_dy_xhat); `overwrite`: dx holds zeros
 * (the buffer is new), so it is written without being read. */
SG_SIMD_CLONES
static void sg_bnf_dx_(float *dx, bool overwrite, const float *dout, const float *relu_out,
                       const float *x, size_t stride, int N, int HW, double mu, double is,
                       double k, double mean_dy, double mean_dy_xhat)
{
#define SG_BNF_DX_(relu, ow)                                                                  \
    sg_bnf_dx_body_(dx, dout, relu_out, x, stride, N, HW, mu, is, k, mean_dy, mean_dy_xhat, \
                    relu, ow)
    if (relu_out) {
        if (overwrite)
            SG_BNF_DX_(true, true);
        else
            SG_BNF_DX_(true, false);
    } else {
        if (overwrite)
            SG_BNF_DX_(false, true);
        else
            SG_BNF_DX_(false, false);
    }
#undef SG_BNF_DX_
}

void sg_batchnorm_fast_backward(float *dx, float *dw, float *db, bool dx_zero, const float *dout,
                                const float *relu_out, const float *x, const float *w,
                                const float *mean, const float *invstd, bool training, int N,
                                int C, int HW)
{
    const double n = (double)N * HW;
    const size_t stride = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * HW;
        const double mu = mean[c], is = invstd[c];
        double sum_dy, sum_dy_xhat;
        sg_bnf_grad_sums_(&sum_dy, &sum_dy_xhat, dout + off, relu_out ? relu_out + off : NULL,
                          x + off, stride, N, HW, mu, is);
        if (db) db[c] += (float)sum_dy;
        if (dw) dw[c] += (float)sum_dy_xhat;
        if (!dx) continue;
        /* In evaluation the statistics are constants: only the affine map
         * is differentiated, so the two mean terms vanish. */
        sg_bnf_dx_(dx + off, dx_zero, dout + off, relu_out ? relu_out + off : NULL, x + off, stride,
                   N, HW, mu, is, is * (w ? w[c] : 1.0), training ? sum_dy / n : 0.0,
                   training ? sum_dy_xhat / n : 0.0);
    }
}
