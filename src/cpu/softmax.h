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

void sg_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner);
/* dx += y * (dout - sum_c dout * y) */
void sg_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                             int inner);

void sg_log_softmax_forward_cpu(float *out, const float *x, int outer, int C, int inner);
/* dx += dout - exp(y) * sum_c dout */
void sg_log_softmax_backward_cpu(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner);

#endif
