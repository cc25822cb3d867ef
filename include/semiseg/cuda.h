/*
 * cuda.h: the CUDA backend (built with ./configure --with-cuda): device
 * query, device memory, numerics switches (determinism, TF32) and cuBLAS
 * sgemm. The backend's kernel table is
 * sg_backend_cuda (semiseg/backend.h); the memory functions here are that
 * table's memory entries, callable directly.
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

/* What a FLOP/s peak estimate needs: SM count x clock x FP32 lanes per SM
 * (which depends on the compute capability). */
typedef struct sg_cuda_props {
    char name[256];           /* "NVIDIA H100 80GB HBM3" */
    int sm_count;             /* streaming multiprocessors */
    int clock_khz;            /* peak SM clock */
    int major, minor;         /* compute capability */
} sg_cuda_props;
void sg_cuda_device_props(int device, sg_cuda_props *props);
/* The device's FP32 FMA peak in GFLOP/s: 2 x FP32 lanes per SM x SMs x the
 * peak SM clock (the denominator of make bench-gpu's "fraction of peak"). */
double sg_cuda_fp32_peak_gflops(const sg_cuda_props *props);
/* Bytes of the device's memory in use (by every process: cudaMemGetInfo). */
size_t sg_cuda_memory_used(int device);

/* Device memory: the CUDA backend's memory entries (sg_backend_cuda's
 * alloc, free, to_device, ...; src/cuda/cuda_kernels.h declares them as
 * sg_cuda_alloc etc.). Everything runs on the legacy default stream, so
 * they are ordered with the kernels; to_host waits for the device. */

/* Deterministic mode (the default): cuDNN convolutions use only algorithms
 * documented as deterministic, so results repeat bitwise on the same GPU
 * model and library versions. Off: the fastest algorithm cudnnFind reports.
 * Every CUDA table's sg_backend.deterministic follows it (it is also the
 * table's set_deterministic entry, which run.deterministic calls). */
void sg_cuda_set_deterministic(bool on);
bool sg_cuda_get_deterministic(void);
/* TF32 tensor-core math for cuBLAS and cuDNN FP32 products (sm_80 and newer);
 * off by default: results then match the FP32 CPU reference. */
void sg_cuda_set_tf32(bool on);
bool sg_cuda_get_tf32(void);

/* Row-major C = alpha op(A) op(B) + beta C on device pointers (cuBLAS; TF32 only after sg_cuda_set_tf32(true)). */
void sg_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

#ifdef __cplusplus
}
#endif

#endif
