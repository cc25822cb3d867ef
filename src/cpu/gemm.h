/*
 * gemm.h: the one place the CPU path calls BLAS. Row-major
 * C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, op = transpose
 * when trans_* is set. Used by convolution (im2col) and linear/matmul.
 */
#ifndef SEMISEG_CPU_GEMM_H
#define SEMISEG_CPU_GEMM_H

#include <stdbool.h>

void sg_gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
