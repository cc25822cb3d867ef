/*
 * threads.c: one knob for the CPU kernels' OpenMP threads and OpenBLAS's.
 *
 * Determinism does not rest on this number: kernels give each output element
 * to exactly one thread and reduce in a fixed order. OpenBLAS is kept at ONE
 * thread, because its own threading changes the bits of sgemm results with
 * the thread count; src/cpu/gemm.c splits GEMMs into shape-fixed blocks over
 * the OpenMP threads instead (tests/test_determinism.c checks 1 vs 2 threads
 * bitwise). OPENBLAS_CORETYPE is left as the environment sets it.
 *
 * A forked child computes on one thread: GCC's libgomp does not carry its
 * thread pool across fork(), and the child's first parallel region with
 * more than one thread waits forever for workers that do not exist
 * (PyTorch guards its forked children the same way). A fork handler sets
 * the child's count to 1; tests/test_determinism.c forks after parallel
 * work and checks that the child finishes.
 */
#include "config.h"
#include "semiseg/base.h"

#include <cblas.h>
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static int sg_threads_ = 0;

static void sg_threads_after_fork_child_(void)
{
    sg_threads_ = 1;
    omp_set_num_threads(1);
}

/* At load time, so that a program that forks before it sets a count is covered too. */
__attribute__((constructor)) static void sg_threads_register_fork_handler_(void)
{
    pthread_atfork(NULL, NULL, sg_threads_after_fork_child_);
}

int sg_num_threads_parse(const char *s, const char *what, int *out, sg_err *err)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (end == s || *end || errno || n < 1 || n > SG_MAX_THREADS)
        return sg_err_set(err, "%s = '%s': expected a thread count in 1..%d", what, s,
                          SG_MAX_THREADS);
    *out = (int)n;
    return 0;
}

int sg_num_threads_env_check(sg_err *err)
{
    const char *env = getenv("SG_NUM_THREADS");
    int n;
    return env && *env ? sg_num_threads_parse(env, "SG_NUM_THREADS", &n, err) : 0;
}

static int sg_default_threads_(void)
{
    const char *env = getenv("SG_NUM_THREADS");
    if (env && *env) {
        int n;
        sg_err err;
        SG_CHECK(sg_num_threads_parse(env, "SG_NUM_THREADS", &n, &err) == 0, "%s", err.msg);
        return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

void sg_set_num_threads(int n)
{
    SG_CHECK(n >= 1 && n <= SG_MAX_THREADS, "thread count %d outside 1..%d", n, SG_MAX_THREADS);
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
