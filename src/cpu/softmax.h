/*
 * softmax.h: softmax and log-softmax kernels (CPU) over the middle axis of a
 * tensor viewed as (outer, C, inner): element (o, c, i) lives at
 * (o * C + c) * inner + i. dim = 1 of NCHW is (N, C, H*W); the last dim of a
 * matrix is (rows, C, 1). Forward writes `out`; backward ADDS into dx and
 * needs only the forward output y.
 * Covered by tests/test_ops_loss.c.
 */
#ifndef SEMISEG_CPU_SOFTMAX_H
#define SEMISEG_CPU_SOFTMAX_H

#include <stddef.h>

#include "simd.h"
#include "vexp.h"

void sg_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner);
/* dx += y * (dout - sum_c dout * y) */
void sg_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                             int inner);

void sg_log_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner);
/* dx += dout - exp(y) * sum_c dout */
void sg_log_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner);

/* For one tile of `len` positions (channel c of position j at x[c inner + j],
 * len <= the callers' tile arrays): m[j] = the channel max, s[j] = sum_c
 * exp(x - m[j]) in double, in channel order, with vexp.h's exp. The softmax
 * denominator of softmax.c and the log-sum-exp of loss.c's cross-entropy;
 * inlined into their SG_SIMD_CLONES tile functions. */
SG_SIMD_INLINE void sg_softmax_max_sum_tile(float *m, double *s, const float *x, int C,
                                            int inner, int len)
{
    for (int j = 0; j < len; j++) m[j] = x[j];
    for (int c = 1; c < C; c++)
        for (int j = 0; j < len; j++) m[j] = sg_simd_maxf(m[j], x[(size_t)c * inner + j]);
    for (int j = 0; j < len; j++) s[j] = 0.0;
    for (int c = 0; c < C; c++)
#pragma omp simd
        for (int j = 0; j < len; j++) s[j] += sg_vexp((double)(x[(size_t)c * inner + j] - m[j]));
}

/* Exps a row's loop computes (vectorised) before adding them in order. */
#define SG_SM_ROW_CHUNK 256

/* The same for one row of C contiguous channels (inner = 1): the same max,
 * the same exps (vexp.h's exp is the same function vectorised or not) added
 * in the same channel order, so the same bits as a one-position tile; the
 * exps are computed a chunk at a time so that they vectorise. Inlined into
 * the row loops of softmax.c and loss.c. */
SG_SIMD_INLINE void sg_softmax_max_sum_row(float *m_out, double *s_out, const float *x, int C)
{
    float m = x[0];
    for (int c = 1; c < C; c++) m = sg_simd_maxf(m, x[c]);
    double s = 0.0, e[SG_SM_ROW_CHUNK];
    for (int c0 = 0; c0 < C; c0 += SG_SM_ROW_CHUNK) {
        int len = C - c0 < SG_SM_ROW_CHUNK ? C - c0 : SG_SM_ROW_CHUNK;
#pragma omp simd
        for (int i = 0; i < len; i++) e[i] = sg_vexp((double)(x[c0 + i] - m));
        for (int i = 0; i < len; i++) s += e[i];
    }
    *m_out = m;
    *s_out = s;
}

#endif
