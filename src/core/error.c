/*
 * error.c: fatal-error reporting and checked allocation (see base.h).
 * Covered by tests/test_tensor.c (misuse messages).
 */
#include "semiseg/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void sg_die_(const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "semiseg: %s:%d: %s: ", file, line, func);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

int sg_err_set(sg_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void *sg_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    SG_CHECK(p != NULL, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *sg_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    SG_CHECK(p != NULL, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *sg_xmalloc_aligned(size_t bytes)
{
    /* aligned_alloc needs a size that is a multiple of the alignment. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    SG_CHECK(p != NULL, "out of memory allocating %zu bytes", bytes);
    return p;
}
