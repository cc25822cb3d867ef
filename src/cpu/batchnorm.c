/*
 * batchnorm.c: batch normalisation of NCHW tensors on the CPU.
 * Reference: torch.nn.functional.batch_norm (ATen batch_norm_cpu and
 * batch_norm_backward_cpu): training normalises with the batch mean and the
 * biased variance and updates the running variance with the unbiased one;
 * eps is added inside the square root; evaluation uses the running statistics.
 * Layout: x (N, C, HW) contiguous; channel c's values are the N runs
 * x[n, c, 0..HW). Every loop runs one channel per OpenMP thread, summing in a
 * fixed order in double, so results do not depend on the thread count.
 * The fused BN+ReLU (sg_batchnorm2d_relu) clamps in the same loop and masks
 * the upstream gradient by the output's sign in the backward.
 * Covered by tests/test_ops_norm.c (parity with PyTorch + gradient checks).
 */
#include "batchnorm.h"

#include <math.h>
#include <stddef.h>

void sg_batchnorm_stats_cpu(float *mean, float *invstd, float *running_mean, float *running_var,
                            const float *x, float momentum, float eps, int N, int C, int HW)
{
    const double n = (double)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double s = 0.0;
        for (int i = 0; i < N; i++) {
            const float *p = x + ((size_t)i * C + c) * HW;
            for (int j = 0; j < HW; j++) s += p[j];
        }
        double mu = s / n;
        /* Two passes: sum of squared deviations has no cancellation, which
         * matters for the nearly constant channels BN exists to handle. */
        double ss = 0.0;
        for (int i = 0; i < N; i++) {
            const float *p = x + ((size_t)i * C + c) * HW;
            for (int j = 0; j < HW; j++) {
                double d = p[j] - mu;
                ss += d * d;
            }
        }
        mean[c] = (float)mu;
        invstd[c] = (float)(1.0 / sqrt(ss / n + (double)eps));
        double m = momentum;
        running_mean[c] = (float)((1.0 - m) * running_mean[c] + m * mu);
        running_var[c] = (float)((1.0 - m) * running_var[c] + m * (ss / (n - 1.0)));
    }
}

void sg_batchnorm_eval_stats_cpu(float *mean, float *invstd, const float *running_mean,
                                 const float *running_var, float eps, int C)
{
    for (int c = 0; c < C; c++) {
        mean[c] = running_mean[c];
        invstd[c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
    }
}

void sg_batchnorm_forward_cpu(float *out, const float *x, const float *w, const float *b,
                              const float *mean, const float *invstd, bool relu, int N, int C,
                              int HW)
{
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float scale = invstd[c] * (w ? w[c] : 1.0f);
        float shift = b ? b[c] : 0.0f;
        float mu = mean[c];
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + c) * HW;
            if (relu)
                for (int j = 0; j < HW; j++) {
                    float v = (x[off + j] - mu) * scale + shift;
                    out[off + j] = v > 0.0f ? v : 0.0f;
                }
            else
                for (int j = 0; j < HW; j++) out[off + j] = (x[off + j] - mu) * scale + shift;
        }
    }
}

/* The backward, with dout masked by relu_out > 0 when relu_out is given. */
static void sg_bn_backward_(float *dx, float *dw, float *db, const float *dout,
                            const float *relu_out, const float *x, const float *w,
                            const float *mean, const float *invstd, int training, int N, int C,
                            int HW)
{
    const double n = (double)N * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double mu = mean[c], is = invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + c) * HW;
            for (int j = 0; j < HW; j++) {
                double g = !relu_out || relu_out[off + j] > 0.0f ? dout[off + j] : 0.0f;
                sum_dy += g;
                sum_dy_xhat += g * ((x[off + j] - mu) * is);
            }
        }
        if (db) db[c] += (float)sum_dy;
        if (dw) dw[c] += (float)sum_dy_xhat;
        if (!dx) continue;
        double k = is * (w ? w[c] : 1.0);
        /* In evaluation the statistics are constants: only the affine map
         * is differentiated, so the two mean terms vanish. */
        double mean_dy = training ? sum_dy / n : 0.0;
        double mean_dy_xhat = training ? sum_dy_xhat / n : 0.0;
        for (int i = 0; i < N; i++) {
            size_t off = ((size_t)i * C + c) * HW;
            for (int j = 0; j < HW; j++) {
                double xhat = (x[off + j] - mu) * is;
                double g = !relu_out || relu_out[off + j] > 0.0f ? dout[off + j] : 0.0f;
                dx[off + j] += (float)(k * (g - mean_dy - xhat * mean_dy_xhat));
            }
        }
    }
}

void sg_batchnorm_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *invstd, int training, int N, int C, int HW)
{
    sg_bn_backward_(dx, dw, db, dout, NULL, x, w, mean, invstd, training, N, C, HW);
}

void sg_batchnorm_relu_backward_cpu(float *dx, float *dw, float *db, const float *dout,
                                    const float *relu_out, const float *x, const float *w,
                                    const float *mean, const float *invstd, int training, int N,
                                    int C, int HW)
{
    sg_bn_backward_(dx, dw, db, dout, relu_out, x, w, mean, invstd, training, N, C, HW);
}
