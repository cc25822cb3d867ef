/*
 * layernorm.c: layer normalisation over the last dimension on the CPU.
 * Reference: torch.nn.functional.layer_norm(x, (D,), weight, bias, eps)
 * (ATen LayerNormKernel): biased variance, eps inside the square root.
 * Layout: x (rows, D) contiguous. Row statistics and dx run one row per
 * thread; dw/db sum over rows, so they run one column per thread with the
 * rows in order. All sums are in double, independent of the thread count.
 * The per-element expressions are layernorm_math.h's, shared with the CUDA
 * kernels.
 * Covered by tests/test_ops_norm.c (parity with PyTorch + gradient checks).
 */
#include "layernorm.h"

#include "layernorm_math.h"

void sg_layernorm_forward_cpu(float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, float eps, size_t rows, int D)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)D;
        double s = 0.0;
        for (int d = 0; d < D; d++) s += xr[d];
        double mu = sg_ln_mean(s, D);
        double ss = 0.0;
        for (int d = 0; d < D; d++) ss += sg_ln_sq1(xr[d], mu);
        float m = (float)mu;
        float is = sg_ln_rstd(ss, D, eps);
        mean[r] = m;
        rstd[r] = is;
        float *o = out + r * (size_t)D;
        for (int d = 0; d < D; d++) o[d] = sg_ln_out1(xr[d], m, is, w, b, d);
    }
}

void sg_layernorm_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *rstd, size_t rows, int D)
{
    if (dx) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * (size_t)D, *gr = dout + r * (size_t)D;
            double mu = mean[r], is = rstd[r];
            double sum_g = 0.0, sum_g_xhat = 0.0;
            for (int d = 0; d < D; d++) {
                double g = sg_ln_g1(gr[d], w, d);
                sum_g += g;
                sum_g_xhat += g * sg_ln_xhat1(xr[d], mu, is);
            }
            double mean_g = sg_ln_mean(sum_g, D), mean_g_xhat = sg_ln_mean(sum_g_xhat, D);
            float *dxr = dx + r * (size_t)D;
            for (int d = 0; d < D; d++) {
                double g = sg_ln_g1(gr[d], w, d);
                double xhat = sg_ln_xhat1(xr[d], mu, is);
                dxr[d] += sg_ln_dx1(is, g, mean_g, xhat, mean_g_xhat);
            }
        }
    }
    if (dw || db) {
#pragma omp parallel for schedule(static)
        for (int d = 0; d < D; d++) {
            double sw = 0.0, sb = 0.0;
            for (size_t r = 0; r < rows; r++) {
                double g = dout[r * (size_t)D + d];
                sb += g;
                sw += g * sg_ln_xhat1(x[r * (size_t)D + d], mean[r], rstd[r]);
            }
            if (dw) dw[d] += (float)sw;
            if (db) db[d] += (float)sb;
        }
    }
}
