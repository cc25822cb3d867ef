/*
 * layout.c: concatenation and narrowing on the CPU, over the (outer, len,
 * inner) view described in layout.h.
 * Reference: torch.cat (forward copies each input into its slice of the
 * output; backward hands each input its slice of dout) and
 * torch.Tensor.narrow (the transpose of that).
 * Covered by tests/test_ops_layout.c (parity + gradient checks).
 *
 * Every kernel moves contiguous runs of len * inner floats, one per outer
 * index, cut into chunks of at most SG_ROW_CHUNK floats that the threads
 * share: narrowing or concatenating along the batch dimension has outer = 1
 * and one long run, which would otherwise leave all but one thread idle.
 * Each destination element is touched by one thread, once, so the split
 * cannot change the result.
 */
#include "layout.h"

#include <stdbool.h>
#include <string.h>

/* 64 KiB of floats: long enough that a chunk amortises its scheduling, short
 * enough that a 2 x 21 x 128 x 128 batch slice makes dozens of them. */
#define SG_ROW_CHUNK 16384
/* Below this many floats in all, one thread does the job. */
#define SG_ROWS_PAR_MIN 32768

/* The shared strided copy: dst rows of dst_stride floats at dst_off, from src
 * rows of src_stride floats at src_off, `run` floats per row; with add,
 * dst += src instead. */
static void sg_rows_(float *dst, size_t dst_stride, size_t dst_off, const float *src,
                     size_t src_stride, size_t src_off, size_t outer, size_t run, bool add)
{
    if (run == 0) return;
    const size_t per_row = (run + SG_ROW_CHUNK - 1) / SG_ROW_CHUNK, tasks = outer * per_row;
#pragma omp parallel for schedule(static) if (outer * run >= SG_ROWS_PAR_MIN)
    for (size_t t = 0; t < tasks; t++) {
        const size_t o = t / per_row, i0 = (t % per_row) * SG_ROW_CHUNK;
        const size_t n = run - i0 < SG_ROW_CHUNK ? run - i0 : SG_ROW_CHUNK;
        float *d = dst + o * dst_stride + dst_off + i0;
        const float *s = src + o * src_stride + src_off + i0;
        if (add)
            for (size_t i = 0; i < n; i++) d[i] += s[i];
        else
            memcpy(d, s, n * sizeof(float));
    }
}

void sg_concat_forward_cpu(float *out, const float *x, size_t outer, int out_len, int off, int len,
                           size_t inner)
{
    sg_rows_(out, (size_t)out_len * inner, (size_t)off * inner, x, (size_t)len * inner, 0, outer,
             (size_t)len * inner, false);
}

void sg_concat_backward_cpu(float *dx, const float *dout, size_t outer, int out_len, int off,
                            int len, size_t inner)
{
    sg_rows_(dx, (size_t)len * inner, 0, dout, (size_t)out_len * inner, (size_t)off * inner, outer,
             (size_t)len * inner, true);
}

void sg_narrow_forward_cpu(float *out, const float *x, size_t outer, int x_len, int start, int len,
                           size_t inner)
{
    sg_rows_(out, (size_t)len * inner, 0, x, (size_t)x_len * inner, (size_t)start * inner, outer,
             (size_t)len * inner, false);
}

void sg_narrow_backward_cpu(float *dx, const float *dout, size_t outer, int x_len, int start,
                            int len, size_t inner)
{
    sg_rows_(dx, (size_t)x_len * inner, (size_t)start * inner, dout, (size_t)len * inner, 0, outer,
             (size_t)len * inner, true);
}
