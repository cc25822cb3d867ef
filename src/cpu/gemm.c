/*
 * gemm.c: sgemm through OpenBLAS (cblas), see gemm.h.
 *
 * Determinism: OpenBLAS's own threading does NOT give results independent of
 * the thread count (Debian's 0.3.21 with Haswell kernels: a 32x1024x27 sgemm
 * differs in a quarter of its outputs between 1 and 2 threads, and even one
 * thread gives different bits when the same product is cut into other
 * pieces). So OpenBLAS always runs single-threaded (threads.c) and this file
 * does the parallel split itself: C is cut into blocks of SG_GEMM_BLOCK
 * columns (or rows, when N is too small to split), a cut that depends on the
 * shape alone, and the blocks are spread over OpenMP threads. Every output
 * element is then computed by the same single-threaded call whatever the
 * thread count. tests/test_determinism.c checks 1 vs 2 threads bitwise.
 * Covered by every convolution/linear parity test.
 */
#include "gemm.h"

#include <cblas.h>

#include "semiseg/base.h"

/* Wide enough that OpenBLAS's packed micro-kernels stay efficient (the
 * repacked operand costs 1/SG_GEMM_BLOCK of the arithmetic), narrow enough
 * that the 8x8 to 32x32 feature maps of a segmentation net still split. */
#define SG_GEMM_BLOCK 128

static void sg_sgemm_(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sg_gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    /* The first call pins OpenBLAS to one thread (threads.c). */
    sg_get_num_threads();
    if (N >= 2 * SG_GEMM_BLOCK) {
        /* Column block j of C needs columns j of op(B): B[:, j] or B^T rows. */
        int nb = (N + SG_GEMM_BLOCK - 1) / SG_GEMM_BLOCK;
#pragma omp parallel for schedule(static)
        for (int j = 0; j < nb; j++) {
            int n0 = j * SG_GEMM_BLOCK, n = N - n0 < SG_GEMM_BLOCK ? N - n0 : SG_GEMM_BLOCK;
            const float *Bj = trans_b ? B + (size_t)n0 * ldb : B + n0;
            sg_sgemm_(trans_a, trans_b, M, n, K, alpha, A, lda, Bj, ldb, beta, C + n0, ldc);
        }
    } else if (M >= 2 * SG_GEMM_BLOCK) {
        /* Row block i of C needs rows i of op(A): A[i, :] or A^T columns. */
        int mb = (M + SG_GEMM_BLOCK - 1) / SG_GEMM_BLOCK;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < mb; i++) {
            int m0 = i * SG_GEMM_BLOCK, m = M - m0 < SG_GEMM_BLOCK ? M - m0 : SG_GEMM_BLOCK;
            const float *Ai = trans_a ? A + m0 : A + (size_t)m0 * lda;
            sg_sgemm_(trans_a, trans_b, m, N, K, alpha, Ai, lda, B, ldb, beta,
                      C + (size_t)m0 * ldc, ldc);
        }
    } else {
        sg_sgemm_(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}
