/*
 * layout.c: concatenation and narrowing on the CPU, over the (outer, len,
 * inner) view described in layout.h.
 * Reference: torch.cat (forward copies each input into its slice of the
 * output; backward hands each input its slice of dout) and
 * torch.Tensor.narrow (the transpose of that).
 * Covered by tests/test_ops_layout.c (parity + gradient checks).
 *
 * Every kernel moves contiguous runs of len * inner floats, one per outer
 * index, in parallel: each destination element is touched by one thread.
 */
#include "layout.h"

#include <string.h>

/* The shared strided copy: dst rows of dst_stride floats at dst_off, from src
 * rows of src_stride floats at src_off, `run` floats per row. */
static void sg_copy_rows_(float *dst, size_t dst_stride, size_t dst_off, const float *src,
                          size_t src_stride, size_t src_off, size_t outer, size_t run)
{
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++)
        memcpy(dst + o * dst_stride + dst_off, src + o * src_stride + src_off, run * sizeof(float));
}

static void sg_add_rows_(float *dst, size_t dst_stride, size_t dst_off, const float *src,
                         size_t src_stride, size_t src_off, size_t outer, size_t run)
{
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++) {
        float *d = dst + o * dst_stride + dst_off;
        const float *s = src + o * src_stride + src_off;
        for (size_t i = 0; i < run; i++) d[i] += s[i];
    }
}

void sg_concat_forward_cpu(float *out, const float *x, size_t outer, int out_len, int off, int len,
                           size_t inner)
{
    sg_copy_rows_(out, (size_t)out_len * inner, (size_t)off * inner, x, (size_t)len * inner, 0,
                  outer, (size_t)len * inner);
}

void sg_concat_backward_cpu(float *dx, const float *dout, size_t outer, int out_len, int off,
                            int len, size_t inner)
{
    sg_add_rows_(dx, (size_t)len * inner, 0, dout, (size_t)out_len * inner, (size_t)off * inner,
                 outer, (size_t)len * inner);
}

void sg_narrow_forward_cpu(float *out, const float *x, size_t outer, int x_len, int start, int len,
                           size_t inner)
{
    sg_copy_rows_(out, (size_t)len * inner, 0, x, (size_t)x_len * inner, (size_t)start * inner,
                  outer, (size_t)len * inner);
}

void sg_narrow_backward_cpu(float *dx, const float *dout, size_t outer, int x_len, int start,
                            int len, size_t inner)
{
    sg_add_rows_(dx, (size_t)x_len * inner, (size_t)start * inner, dout, (size_t)len * inner, 0,
                 outer, (size_t)len * inner);
}
