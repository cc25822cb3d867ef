/*
 * matmul.c: linear layer and (batched) matrix product on the CPU via
 * sg_gemm_cpu. References: torch.nn.functional.linear (y = x w^T + b) and
 * torch.matmul / torch.bmm with operands optionally transposed.
 *
 * Gradients of C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC;
 * when an operand is stored transposed its gradient is written in the stored
 * layout, i.e. the transpose of those products, which is again one gemm with
 * the operand order swapped. The bias gradient sums rows in double, one
 * column per task, so it is independent of the thread count.
 * Covered by tests/test_ops_linear.c.
 */
#include "matmul.h"

#include "gemm.h"

#include <stddef.h>

void sg_linear_forward_cpu(float *out, const float *x, const float *w, const float *b, int R, int I,
                           int O)
{
    if (b) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++)
            for (int o = 0; o < O; o++) out[(size_t)r * O + o] = b[o];
    }
    sg_gemm_cpu(false, true, R, O, I, 1.0f, x, I, w, I, b ? 1.0f : 0.0f, out, O);
}

void sg_linear_backward_cpu(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int R, int I, int O)
{
    if (dx) sg_gemm_cpu(false, false, R, I, O, 1.0f, dout, O, w, I, 1.0f, dx, I);
    if (dw) sg_gemm_cpu(true, false, O, I, R, 1.0f, dout, O, x, I, 1.0f, dw, I);
    if (db) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int r = 0; r < R; r++) s += (double)dout[(size_t)r * O + o];
            db[o] += (float)s;
        }
    }
}

void sg_matmul_forward_cpu(float *c, const float *a, const float *b, int B, int M, int N, int K,
                           bool trans_a, bool trans_b)
{
    int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    for (int i = 0; i < B; i++)
        sg_gemm_cpu(trans_a, trans_b, M, N, K, 1.0f, a + (size_t)i * M * K, lda,
                    b + (size_t)i * K * N, ldb, 0.0f, c + (size_t)i * M * N, N);
}

void sg_matmul_backward_cpu(float *da, float *db, const float *dc, const float *a, const float *b,
                            int B, int M, int N, int K, bool trans_a, bool trans_b)
{
    int lda = trans_a ? M : K, ldb = trans_b ? K : N;
    for (int i = 0; i < B; i++) {
        const float *ai = a + (size_t)i * M * K, *bi = b + (size_t)i * K * N;
        const float *dci = dc + (size_t)i * M * N;
        if (da) {
            float *dai = da + (size_t)i * M * K;
            if (trans_a) /* dA stored (K, M) = op(B) dC^T */
                sg_gemm_cpu(trans_b, true, K, M, N, 1.0f, bi, ldb, dci, N, 1.0f, dai, M);
            else /* dA (M, K) = dC op(B)^T */
                sg_gemm_cpu(false, !trans_b, M, K, N, 1.0f, dci, N, bi, ldb, 1.0f, dai, K);
        }
        if (db) {
            float *dbi = db + (size_t)i * K * N;
            if (trans_b) /* dB stored (N, K) = dC^T op(A) */
                sg_gemm_cpu(true, trans_a, N, K, M, 1.0f, dci, N, ai, lda, 1.0f, dbi, K);
            else /* dB (K, N) = op(A)^T dC */
                sg_gemm_cpu(!trans_a, false, K, N, M, 1.0f, ai, lda, dci, N, 1.0f, dbi, N);
        }
    }
}
