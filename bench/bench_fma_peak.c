/*
 * bench_fma_peak.c: the CPU's FP32 fused multiply-add peak, measured, for
 * `make bench` (bench/run_bench.sh divides each C workload's GFLOP/s by the
 * peak at the same thread count).
 *
 *   bench/bench_fma_peak --threads T
 *
 * Prints one line: `c fma-peak threads=T gflops=X isa=avx512|avx2|sse|generic`.
 *
 * Why measured and not computed from lscpu: under a hypervisor the reported
 * clock is the TSC's, and turbo and AVX-512 frequency offsets move the real
 * one; a figure taken by the same process kind, on the same machine in the
 * same state as the workloads, makes the fraction of peak compare like with
 * like.
 *
 * How: T OpenMP threads (the kernels' threads, sg_set_num_threads) each run,
 * until a shared deadline DURATION_S after the start, blocks of FMA_ACCS
 * independent vector chains acc = acc * MUL + ADD. Twelve chains cover the
 * FMA latency times the FMA ports of current x86 cores (4 cycles x 2 = 8 in
 * flight) with room to spare and still fit in 16 ymm registers. Each FMA
 * counts 2 FLOP per lane, the workloads' convention; the rate is all
 * threads' FLOPs over the wall time of the parallel region, the best of
 * REPEATS. The build is not -march=native, so the x86 kernels are compiled
 * for target("avx512f") and target("avx2,fma") and chosen at run time with
 * __builtin_cpu_supports; they use intrinsics because AM_CFLAGS'
 * -ffp-contract=off keeps a * b + c from fusing. The fallback, 16-byte GCC
 * vectors (SSE2 on x86-64, "generic" elsewhere), issues a multiply and an
 * add, also 2 FLOP per lane. The chains' sum goes to a volatile, so the
 * compiler cannot drop the loops.
 */
#include "config.h"
#include "semiseg/base.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif

enum { FMA_ACCS = 12, FMA_BLOCK = 4096, REPEATS = 3, MAX_LANES = 16 };
#define DURATION_S 0.25
/* acc = acc * MUL + ADD converges to 1: the values stay normal, never
 * denormal or infinite, which could slow the units down. */
#define MUL 0.5f
#define ADD 0.5f

/* Written once per repeat: the chains' results are observable. */
static volatile float fma_sink_;

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One kernel runs blocks of FMA_BLOCK x FMA_ACCS vector multiply-adds until
 * the deadline, leaves the sum of its chains in lanes[0..lanes) and returns
 * the number of blocks. The clock is read once per block (~10 us), so its
 * cost is negligible. */
typedef struct {
    const char *isa;
    int lanes;
    uint64_t (*run)(double deadline, float *lanes);
} fma_kernel;

typedef float v4f __attribute__((vector_size(16)));

static uint64_t run_vec4_(double deadline, float *lanes)
{
    v4f acc[FMA_ACCS];
    for (int i = 0; i < FMA_ACCS; i++) acc[i] = (v4f){0} + (float)i;
    uint64_t blocks = 0;
    do {
        for (int k = 0; k < FMA_BLOCK; k++)
#pragma GCC unroll 12
            for (int i = 0; i < FMA_ACCS; i++) acc[i] = acc[i] * MUL + ADD;
        blocks++;
    } while (now_() < deadline);
    for (int i = 1; i < FMA_ACCS; i++) acc[0] += acc[i];
    memcpy(lanes, &acc[0], sizeof acc[0]);
    return blocks;
}

#ifdef __x86_64__
__attribute__((target("avx2,fma"))) static uint64_t run_avx2_(double deadline, float *lanes)
{
    const __m256 mul = _mm256_set1_ps(MUL), add = _mm256_set1_ps(ADD);
    __m256 acc[FMA_ACCS];
    for (int i = 0; i < FMA_ACCS; i++) acc[i] = _mm256_set1_ps((float)i);
    uint64_t blocks = 0;
    do {
        for (int k = 0; k < FMA_BLOCK; k++)
#pragma GCC unroll 12
            for (int i = 0; i < FMA_ACCS; i++) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
        blocks++;
    } while (now_() < deadline);
    for (int i = 1; i < FMA_ACCS; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
    _mm256_storeu_ps(lanes, acc[0]);
    return blocks;
}

__attribute__((target("avx512f"))) static uint64_t run_avx512_(double deadline, float *lanes)
{
    const __m512 mul = _mm512_set1_ps(MUL), add = _mm512_set1_ps(ADD);
    __m512 acc[FMA_ACCS];
    for (int i = 0; i < FMA_ACCS; i++) acc[i] = _mm512_set1_ps((float)i);
    uint64_t blocks = 0;
    do {
        for (int k = 0; k < FMA_BLOCK; k++)
#pragma GCC unroll 12
            for (int i = 0; i < FMA_ACCS; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
        blocks++;
    } while (now_() < deadline);
    for (int i = 1; i < FMA_ACCS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    _mm512_storeu_ps(lanes, acc[0]);
    return blocks;
}
#endif

/* The widest kernel this CPU (and its OS's saved register state) runs. */
static fma_kernel pick_kernel_(void)
{
#ifdef __x86_64__
    if (__builtin_cpu_supports("avx512f")) return (fma_kernel){"avx512", 16, run_avx512_};
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return (fma_kernel){"avx2", 8, run_avx2_};
    return (fma_kernel){"sse", 4, run_vec4_};
#else
    return (fma_kernel){"generic", 4, run_vec4_};
#endif
}

int main(int argc, char **argv)
{
    int threads;
    sg_err err;
    if (argc != 3 || strcmp(argv[1], "--threads")) {
        fprintf(stderr, "usage: bench_fma_peak --threads T\n");
        return 2;
    }
    if (sg_num_threads_parse(argv[2], "--threads", &threads, &err)) {
        fprintf(stderr, "bench_fma_peak: %s\n", err.msg);
        return 2;
    }
    sg_set_num_threads(threads);
    const fma_kernel kernel = pick_kernel_();

    double best = 0.0;
    for (int r = 0; r < REPEATS; r++) {
        uint64_t blocks = 0;
        float sum = 0.0f;
        const double t0 = now_();
#pragma omp parallel reduction(+ : blocks, sum)
        {
            float lanes[MAX_LANES];
            blocks += kernel.run(t0 + DURATION_S, lanes);
            for (int l = 0; l < kernel.lanes; l++) sum += lanes[l];
        }
        const double wall = now_() - t0;
        fma_sink_ = sum;
        const double flops = 2.0 * (double)blocks * FMA_BLOCK * FMA_ACCS * kernel.lanes;
        if (flops / wall > best) best = flops / wall;
    }
    printf("c fma-peak threads=%d gflops=%.1f isa=%s\n", threads, best / 1e9, kernel.isa);
    return 0;
}
