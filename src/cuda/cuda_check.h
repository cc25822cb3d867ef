/*
 * cuda_check.h: status checks for CUDA runtime and cuBLAS calls (internal).
 * Abort with file:line, the failed expression and the library's message.
 */
#ifndef SEMISEG_CUDA_CHECK_H
#define SEMISEG_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#define CUDA_CHECK(expr)                                                                   \
    do {                                                                                   \
        cudaError_t err_ = (expr);                                                         \
        if (err_ != cudaSuccess) {                                                         \
            fprintf(stderr, "semiseg: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, \
                    cudaGetErrorString(err_));                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#define CUBLAS_CHECK(expr)                                                                 \
    do {                                                                                   \
        cublasStatus_t st_ = (expr);                                                       \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                \
            fprintf(stderr, "semiseg: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, \
                    cublasGetStatusString(st_));                                           \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* After a kernel launch: launch errors always; execution errors too when
 * SG_CUDA_SYNC=1 is set. */
void sg_cuda_after_launch(const char *file, int line, const char *kernel);
#define SG_CUDA_LAUNCHED(kernel) sg_cuda_after_launch(__FILE__, __LINE__, kernel)

cublasHandle_t sg_cuda_cublas(void);

#endif
