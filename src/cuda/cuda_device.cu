/*
 * cuda_device.cu: device query, device memory (the memory entries of the
 * CUDA kernel table, backend.h), the numerics switches (deterministic, TF32),
 * the per-device cuBLAS and cuDNN handles, and row-major sgemm (cuda.h).
 *
 * Streams: every kernel, copy and library call of the backend runs on the
 * legacy default stream, so all of them are ordered with each other and the
 * blocking copies to the host wait for them; nothing here needs an event.
 * cuBLAS runs with CUBLAS_DEFAULT_MATH, which never uses TF32 for FP32 data,
 * unless sg_cuda_set_tf32(true): the tests compare against FP32 CPU results.
 * Covered by tests/test_cuda.c and tests/test_backend_ops.c.
 */
#include "semiseg/base.h"
#include "semiseg/cuda.h"
#include "cuda_check.h"
#include "cuda_kernels.h"

#include <pthread.h>
#include <string.h>

/* ---- device query ---------------------------------------------------------------- */

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

void sg_cuda_device_props(int device, sg_cuda_props *props)
{
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    memset(props, 0, sizeof *props);
    snprintf(props->name, sizeof props->name, "%s", prop.name);
    props->sm_count = prop.multiProcessorCount;
    props->major = prop.major;
    props->minor = prop.minor;
    /* CUDA 13 dropped cudaDeviceProp.clockRate; the attribute remains. */
    CUDA_CHECK(cudaDeviceGetAttribute(&props->clock_khz, cudaDevAttrClockRate, device));
}

double sg_cuda_fp32_peak_gflops(const sg_cuda_props *p)
{
    /* FP32 lanes per SM (CUDA C Programming Guide, "Arithmetic
     * Instructions": 32-bit floating-point add, multiply, multiply-add):
     * 64 on sm_60/70/75/80, 128 on sm_86/89/90 and later. */
    const int lanes = (p->major == 8 && p->minor == 0) || p->major < 8 ? 64 : 128;
    return 2.0 * lanes * p->sm_count * (p->clock_khz * 1e3) / 1e9;
}

size_t sg_cuda_memory_used(int device)
{
    int prev;
    CUDA_CHECK(cudaGetDevice(&prev));
    CUDA_CHECK(cudaSetDevice(device));
    size_t free_b = 0, total = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total));
    CUDA_CHECK(cudaSetDevice(prev));
    return total - free_b;
}

int sg_cuda_cudnn_version(void) { return (int)cudnnGetVersion(); }

int sg_cuda_cublas_version(void)
{
    int v = 0;
    CUBLAS_CHECK(cublasGetVersion(sg_cuda_cublas(), &v));
    return v;
}

int sg_cuda_current_device(void)
{
    int d = 0;
    CUDA_CHECK(cudaGetDevice(&d));
    SG_CHECK(d >= 0 && d < SG_CUDA_MAX_DEVICES, "CUDA device %d: only devices 0..%d are supported",
             d, SG_CUDA_MAX_DEVICES - 1);
    return d;
}

/* ---- memory (the kernel table's memory entries) ---------------------------------- */

void *sg_cuda_alloc(size_t bytes)
{
    void *p = NULL;
    /* cudaMalloc(0) may return NULL, which callers would take for a failure. */
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess)
        sg_die_(__FILE__, __LINE__, __func__, "cudaMalloc of %zu bytes failed: %s", bytes,
                cudaGetErrorString(err));
    return p;
}

void sg_cuda_free(void *p) { CUDA_CHECK(cudaFree(p)); }

void sg_cuda_memset_zero(void *p, size_t bytes)
{
    if (bytes == 0) return;
    /* Stream 0 is the legacy default stream the kernels run on: ordered. */
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
}

void sg_cuda_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
}

void sg_cuda_to_device(void *dst, const void *host, size_t bytes)
{
    if (bytes == 0) return;
    /* Synchronous: the caller may reuse `host` as soon as this returns. */
    CUDA_CHECK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice));
}

void sg_cuda_to_host(void *host, const void *src, size_t bytes)
{
    if (bytes == 0) return;
    /* A blocking copy on the legacy stream waits for every earlier kernel. */
    CUDA_CHECK(cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost));
}

void sg_cuda_synchronize(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

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

/* ---- numerics switches ----------------------------------------------------------- */

/* Set once at start-up by the program (before ops run), read by the kernels. */
static bool sg_cuda_deterministic_ = true;
static bool sg_cuda_tf32_ = false;

void sg_cuda_set_deterministic(bool on)
{
    sg_cuda_deterministic_ = on;
    sg_cuda_tables_set_deterministic(on);
}
bool sg_cuda_get_deterministic(void) { return sg_cuda_deterministic_; }
void sg_cuda_set_tf32(bool on) { sg_cuda_tf32_ = on; }
bool sg_cuda_get_tf32(void) { return sg_cuda_tf32_; }

/* ---- library handles, one per device ---------------------------------------------- */

/* A handle belongs to the device current when it was made, so each device
 * gets its own. The lock covers the lazy creation. */
static pthread_mutex_t sg_cuda_handles_lock_ = PTHREAD_MUTEX_INITIALIZER;
static cublasHandle_t sg_cublas_handles_[SG_CUDA_MAX_DEVICES];
static cudnnHandle_t sg_cudnn_handles_[SG_CUDA_MAX_DEVICES];

cublasHandle_t sg_cuda_cublas(void)
{
    int d = sg_cuda_current_device();
    pthread_mutex_lock(&sg_cuda_handles_lock_);
    if (!sg_cublas_handles_[d]) CUBLAS_CHECK(cublasCreate(&sg_cublas_handles_[d]));
    cublasHandle_t h = sg_cublas_handles_[d];
    pthread_mutex_unlock(&sg_cuda_handles_lock_);
    /* Applied on every use so that sg_cuda_set_tf32 takes effect on handles
     * made before it; a host-side field store. CUBLAS_DEFAULT_MATH keeps FP32
     * products in FP32 (tensor cores only where no precision is lost). */
    CUBLAS_CHECK(cublasSetMathMode(h, sg_cuda_tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH
                                                    : CUBLAS_DEFAULT_MATH));
    return h;
}

cudnnHandle_t sg_cuda_cudnn(void)
{
    int d = sg_cuda_current_device();
    pthread_mutex_lock(&sg_cuda_handles_lock_);
    /* A new handle runs on the NULL (legacy default) stream, like the kernels. */
    if (!sg_cudnn_handles_[d]) CUDNN_CHECK(cudnnCreate(&sg_cudnn_handles_[d]));
    cudnnHandle_t h = sg_cudnn_handles_[d];
    pthread_mutex_unlock(&sg_cuda_handles_lock_);
    return h;
}

/* ---- sgemm ----------------------------------------------------------------------- */

void sg_gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    /* cuBLAS is column-major: row-major C = op(A) op(B) is column-major
     * C^T = op(B)^T op(A)^T, i.e. swap the operands and M/N. */
    CUBLAS_CHECK(cublasSgemm(sg_cuda_cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                             trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, A, lda,
                             &beta, C, ldc));
}
