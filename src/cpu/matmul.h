/*
 * matmul.h: linear layer and (batched) matrix product kernels (CPU), all
 * through sg_gemm_cpu. Row-major; backwards ADD into gradients and skip a
 * NULL gradient.
 * Covered by tests/test_ops_linear.c.
 */
#ifndef SEMISEG_CPU_MATMUL_H
#define SEMISEG_CPU_MATMUL_H

#include <stdbool.h>

/* out (R, O) = x (R, I) w^T (w: (O, I)) + b (O; NULL for none). */
void sg_linear_forward_cpu(float *out, const float *x, const float *w, const float *b, int R, int I,
                           int O);
/* dx += dout w, dw += dout^T x, db += column sums of dout. */
void sg_linear_backward_cpu(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int R, int I, int O);

/* For each of B batches: c (M, N) = op(a) op(b), with a stored as (M, K), or
 * (K, M) when trans_a, and b stored as (K, N), or (N, K) when trans_b. */
void sg_matmul_forward_cpu(float *c, const float *a, const float *b, int B, int M, int N, int K,
                           bool trans_a, bool trans_b);
/* da, db (stored layouts) += the gradients of c = op(a) op(b) given dc. */
void sg_matmul_backward_cpu(float *da, float *db, const float *dc, const float *a, const float *b,
                            int B, int M, int N, int K, bool trans_a, bool trans_b);

#endif
