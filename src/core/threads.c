/*
 * threads.c: one knob for the CPU kernels' OpenMP threads and OpenBLAS's.
 *
 * Determinism does not rest on this number: kernels give each output element
 * to exactly one thread and reduce in a fixed order. OpenBLAS is kept at ONE
 * thread, because its own threading changes the bits of sgemm results with
 * the thread count; src/cpu/gemm.c splits GEMMs into shape-fixed blocks over
 * the OpenMP threads instead (tests/test_determinism.c checks 1 vs 2 threads
 * bitwise). OPENBLAS_CORETYPE is left as the environment sets it.
 */
#include "config.h"
#include "semiseg/base.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

static int sg_threads_ = 0;

static int sg_default_threads_(void)
{
    const char *env = getenv("SG_NUM_THREADS");
    if (env && *env) {
        int n = atoi(env);
        SG_CHECK(n >= 1 && n <= 1024, "SG_NUM_THREADS=%s is not a thread count in 1..1024", env);
        return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

void sg_set_num_threads(int n)
{
    SG_CHECK(n >= 1, "thread count must be >= 1, got %d", n);
    sg_threads_ = n;
    omp_set_num_threads(n);
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1);
#endif
}

int sg_get_num_threads(void)
{
    if (sg_threads_ == 0) sg_set_num_threads(sg_default_threads_());
    return sg_threads_;
}
