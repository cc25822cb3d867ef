/*
 * test_cuda.c: the CUDA backend against the CPU path (include/semiseg/cuda.h).
 * Reports SKIP when semiseg was built without CUDA or the machine has no
 * device, so `make check` behaves the same everywhere.
 */
#include "config.h"
#include "tap.h"

#ifndef SG_HAVE_CUDA
int main(void) { tap_skip_all("built without CUDA (./configure --with-cuda)"); }
#else

#include "semiseg.h"
#include "semiseg/cuda.h"
#include "../src/cuda/cuda_kernels.h"
#include "fixture.h"
#include "../src/cpu/activation.h"
#include "../src/cpu/gemm.h"

#include <stdlib.h>
#include <string.h>

static void fill_(float *x, size_t n, uint64_t stream)
{
    sg_rng r;
    sg_rng_init(&r, 99, sg_rng_stream(SG_RNG_TEST, 5, stream));
    sg_rng_fill_uniform(&r, x, n, -1.0f, 1.0f);
}

static void test_relu(void)
{
    /* Not a multiple of the block size, and larger than one grid pass. */
    const size_t n = (size_t)65535 * 16 * 256 + 1237;
    float *x = sg_xmalloc(n * 4), *dout = sg_xmalloc(n * 4), *cpu = sg_xmalloc(n * 4),
          *gpu = sg_xmalloc(n * 4);
    fill_(x, n, 1);
    fill_(dout, n, 2);
    float *dx_ = sg_cuda_alloc(n * 4), *dd_ = sg_cuda_alloc(n * 4), *do_ = sg_cuda_alloc(n * 4);
    sg_cuda_to_device(dx_, x, n * 4);
    sg_cuda_to_device(dd_, dout, n * 4);
    sg_cuda_relu_forward(do_, dx_, n);
    sg_cuda_to_host(gpu, do_, n * 4);
    sg_relu_forward_cpu(cpu, x, n);
    tap_ok(memcmp(cpu, gpu, n * 4) == 0, "relu forward on the GPU is bitwise the CPU result");

    /* Backward accumulates: start both from the same non-zero gradient. */
    for (size_t i = 0; i < n; i++) cpu[i] = 0.5f;
    sg_cuda_to_device(do_, cpu, n * 4);
    sg_cuda_relu_backward(do_, dd_, dx_, n);
    sg_cuda_to_host(gpu, do_, n * 4);
    sg_relu_backward_cpu(cpu, dout, x, n);
    tap_ok(memcmp(cpu, gpu, n * 4) == 0, "relu backward (+=) on the GPU is bitwise the CPU result");
    sg_cuda_free(dx_);
    sg_cuda_free(dd_);
    sg_cuda_free(do_);
    free(x);
    free(dout);
    free(cpu);
    free(gpu);
}

static void test_gemm(void)
{
    const int M = 67, N = 45, K = 301;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *A = sg_xmalloc(M * K * 4), *B = sg_xmalloc(K * N * 4), *C = sg_xmalloc(M * N * 4),
                  *G = sg_xmalloc(M * N * 4);
            fill_(A, (size_t)M * K, 10 + ta);
            fill_(B, (size_t)K * N, 20 + tb);
            fill_(C, (size_t)M * N, 30);
            int lda = ta ? M : K, ldb = tb ? K : N;
            float *dA = sg_cuda_alloc(M * K * 4), *dB = sg_cuda_alloc(K * N * 4),
                  *dC = sg_cuda_alloc(M * N * 4);
            sg_cuda_to_device(dA, A, M * K * 4);
            sg_cuda_to_device(dB, B, K * N * 4);
            sg_cuda_to_device(dC, C, M * N * 4);
            sg_gemm_cuda(ta, tb, M, N, K, 0.75f, dA, lda, dB, ldb, 0.5f, dC, N);
            sg_cuda_to_host(G, dC, M * N * 4);
            sg_gemm_cpu(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C, N);
            /* Both sum K=301 products of |.| <= 1 in FP32 in different orders:
             * the difference is bounded by ~K * 2^-24 * sum|a b| ~ 3e-3 worst
             * case; typical rounding is ~1e-5, so 1e-4 + 1e-4 |ref| catches any
             * wrong transpose or TF32 use (TF32 errors are ~1e-3). */
            tap_ok(sg_allclose(G, C, (size_t)M * N, 1e-4, 1e-4, "gemm"),
                   "cuBLAS sgemm matches OpenBLAS (trans_a %d, trans_b %d)", ta, tb);
            sg_cuda_free(dA);
            sg_cuda_free(dB);
            sg_cuda_free(dC);
            free(A);
            free(B);
            free(C);
            free(G);
        }
}

int main(void)
{
    if (sg_cuda_device_count() == 0) tap_skip_all("no CUDA device");
    char name[256];
    sg_cuda_device_name(0, name, sizeof name);
    tap_diag("device 0: %s, cuDNN %d, cuBLAS %d", name, sg_cuda_cudnn_version(),
             sg_cuda_cublas_version());
    tap_ok(sg_cuda_cudnn_version() >= 90000, "cuDNN 9 or newer at run time");
    test_relu();
    test_gemm();
    return tap_done();
}
#endif
