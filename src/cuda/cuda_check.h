/*
 * cuda_check.h: status checks for CUDA runtime, cuBLAS and cuDNN calls, and
 * the per-device library handles (internal to src/cuda/).
 * The checks abort with file:line, the failed expression and the library's
 * message.
 */
#ifndef SEMISEG_CUDA_CHECK_H
#define SEMISEG_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
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

#define CUDNN_CHECK(expr)                                                                  \
    do {                                                                                   \
        cudnnStatus_t st_ = (expr);                                                        \
        if (st_ != CUDNN_STATUS_SUCCESS) {                                                 \
            fprintf(stderr, "semiseg: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, \
                    cudnnGetErrorString(st_));                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Devices the backend tables, handles and caches have room for. */
#define SG_CUDA_MAX_DEVICES 16

/* After a kernel launch: launch errors always; execution errors too when
 * SG_CUDA_SYNC=1 is set. */
void sg_cuda_after_launch(const char *file, int line, const char *kernel);
#define SG_CUDA_LAUNCHED(kernel) sg_cuda_after_launch(__FILE__, __LINE__, kernel)

/* The current device's number (cudaGetDevice), checked < SG_CUDA_MAX_DEVICES. */
int sg_cuda_current_device(void);
/* The current device's library handles, made on first use, on the legacy
 * default stream like every kernel of the backend. The cuBLAS handle's math
 * mode follows sg_cuda_set_tf32. */
cublasHandle_t sg_cuda_cublas(void);
/* Sets sg_backend.deterministic of every CUDA table made (cuda_backend.cu). */
void sg_cuda_tables_set_deterministic(bool on);
cudnnHandle_t sg_cuda_cudnn(void);

#endif
