/*
 * cuda.h: the CUDA backend (built with ./configure --with-cuda): device
 * query, device memory, the first element-wise kernels and cuBLAS sgemm.
 * Every call checks its CUDA/cuBLAS status and aborts with file:line and the
 * error string; SG_CUDA_SYNC=1 synchronises after each kernel so an
 * asynchronous error is blamed on the right launch.
 *
 * Covered by tests/test_cuda.c, which compares each against the CPU path
 * and reports SKIP on a machine without a CUDA device.
 */
#ifndef SEMISEG_CUDA_H
#define SEMISEG_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Usable devices; 0 (not an error) when there is no driver or device. */
int sg_cuda_device_count(void);
/* "NVIDIA H100 80GB HBM3 (sm_90)" into buf. */
void sg_cuda_device_name(int device, char *buf, size_t len);
/* cuDNN and cuBLAS versions linked at run time (e.g. 90100, 130000). */
int sg_cuda_cudnn_version(void);
int sg_cuda_cublas_version(void);

void *sg_cuda_malloc(size_t bytes);
void sg_cuda_free(void *p);
void sg_cuda_to_device(void *dst, const void *src, size_t bytes);
void sg_cuda_to_host(void *dst, const void *src, size_t bytes);

/* Device pointers; same arithmetic as the CPU kernels (src/core/pointwise.h). */
void sg_relu_forward_cuda(float *out, const float *x, size_t n);
void sg_relu_backward_cuda(float *dx, const float *dout, const float *x, size_t n); /* dx += */

/* Row-major C = alpha op(A) op(B) + beta C on device pointers (cuBLAS, TF32 off). */
void sg_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

#ifdef __cplusplus
}
#endif

#endif
