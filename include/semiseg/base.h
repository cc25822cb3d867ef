/*
 * base.h: error handling, the host/device inline marker and thread control.
 * Which kernels run (reference CPU, oneDNN, CUDA) is chosen per context: see
 * backend.h.
 *
 * SG_CHECK is for programmer errors (shape mismatch, bad argument): it prints
 * file:line, the function and a message, then abort()s, so a debugger or core
 * dump lands on the culprit. Runtime failures (files, data) return an error
 * code to the caller instead; see the run driver.
 *
 * Covered by tests/test_tensor.c (misuse messages are checked in a forked child).
 */
#ifndef SEMISEG_BASE_H
#define SEMISEG_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Per-element arithmetic is written once as inline functions usable from C and
 * CUDA, so the CPU tests exercise the same arithmetic the GPU runs. */
#ifdef __CUDACC__
#define SG_HD __host__ __device__ static inline
#else
#define SG_HD static inline
#endif

#if defined(__GNUC__)
#define SG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SG_NORETURN __attribute__((noreturn))
#else
#define SG_PRINTF(a, b)
#define SG_NORETURN
#endif

SG_NORETURN void sg_die_(const char *file, int line, const char *func, const char *fmt, ...)
    SG_PRINTF(4, 5);

#define SG_CHECK(cond, ...)                                              \
    do {                                                                 \
        if (!(cond)) sg_die_(__FILE__, __LINE__, __func__, __VA_ARGS__); \
    } while (0)

/* Runtime failures (a file, a decode, a config line) are reported through
 * an sg_err: the function returns non-zero and the message names the file
 * (and line, iteration...) so the caller can print it and exit non-zero. */
typedef struct sg_err {
    char msg[1024];
} sg_err;
/* Format the message into err (when err is not NULL); returns -1 so callers
 * can write `return sg_err_set(err, "...")`. */
int sg_err_set(sg_err *err, const char *fmt, ...) SG_PRINTF(2, 3);

/* malloc/calloc that die with the requested size instead of returning NULL. */
void *sg_xmalloc(size_t bytes);
void *sg_xcalloc(size_t count, size_t size);
/* 64-byte aligned allocation (cache line / AVX-512 register); free with free(). */
void *sg_xmalloc_aligned(size_t bytes);

/* Threads used by the CPU kernels (OpenMP) and by OpenBLAS. Results do not
 * depend on this number: every kernel splits work so that each output element
 * is computed by one thread in a fixed order. The default is the value of the
 * environment variable SG_NUM_THREADS, else the number of online CPUs. */
void sg_set_num_threads(int n);          /* 1..SG_MAX_THREADS */
int sg_get_num_threads(void);
#define SG_MAX_THREADS 1024
/* A thread count written as a whole decimal number in 1..SG_MAX_THREADS
 * ("4abc", "0", "99999" are errors). `what` names it in the message. */
int sg_num_threads_parse(const char *s, const char *what, int *out, sg_err *err);
/* Checks SG_NUM_THREADS when it is set, so that a program can report a bad
 * value as an error at start-up (the lazy default would stop with it). */
int sg_num_threads_env_check(sg_err *err);

#ifdef __cplusplus
}
#endif

#endif
