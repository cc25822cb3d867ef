/*
 * cuda_device.cu: device query, device memory, the cuBLAS handle and
 * sgemm (cuda.h). cuBLAS runs with CUBLAS_DEFAULT_MATH so TF32 is never used:
 * the tests compare against FP32 CPU results.
 * Covered by tests/test_cuda.c.
 */
#include "semiseg/cuda.h"
#include "cuda_check.h"

#include <cudnn.h>
#include <pthread.h>
#include <string.h>

int sg_cuda_device_count(void)
{
    int n = 0;
    /* No driver or no device is a normal CPU-only machine, not an error. */
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

void sg_cuda_device_name(int device, char *buf, size_t len)
{
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(buf, len, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
}

int sg_cuda_cudnn_version(void) { return (int)cudnnGetVersion(); }

int sg_cuda_cublas_version(void)
{
    int v = 0;
    CUBLAS_CHECK(cublasGetVersion(sg_cuda_cublas(), &v));
    return v;
}

void *sg_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

void sg_cuda_free(void *p) { CUDA_CHECK(cudaFree(p)); }

void sg_cuda_to_device(void *dst, const void *src, size_t bytes)
{
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void sg_cuda_to_host(void *dst, const void *src, size_t bytes)
{
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void sg_cuda_after_launch(const char *file, int line, const char *kernel)
{
    cudaError_t err = cudaGetLastError();
    const char *sync = getenv("SG_CUDA_SYNC");
    if (err == cudaSuccess && sync && strcmp(sync, "1") == 0) err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
        fprintf(stderr, "semiseg: %s:%d: kernel %s failed: %s\n", file, line, kernel,
                cudaGetErrorString(err));
        abort();
    }
}

static cublasHandle_t sg_cublas_handle_;
static pthread_once_t sg_cublas_once_ = PTHREAD_ONCE_INIT;

static void sg_cublas_create_(void)
{
    CUBLAS_CHECK(cublasCreate(&sg_cublas_handle_));
    CUBLAS_CHECK(cublasSetMathMode(sg_cublas_handle_, CUBLAS_DEFAULT_MATH));
}

cublasHandle_t sg_cuda_cublas(void)
{
    pthread_once(&sg_cublas_once_, sg_cublas_create_);
    return sg_cublas_handle_;
}

void sg_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    /* cuBLAS is column-major: row-major C = op(A) op(B) is column-major
     * C^T = op(B)^T op(A)^T, i.e. swap the operands and M/N. */
    CUBLAS_CHECK(cublasSgemm(sg_cuda_cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                             trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, A, lda,
                             &beta, C, ldc));
}
