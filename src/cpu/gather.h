/*
 * gather.h: kernels that move elements by a computed index (CPU): rows
 * picked by an index list (torch.index_select(x, 0, idx)) and permuted
 * copies (x.permute(perm).contiguous()). Forward writes; backward ADDS into
 * dx. The permutation's index arithmetic is SG_HD, so the CUDA kernels
 * (src/cuda/cuda_gather.cu) share it.
 *
 * Shapes: index_select views x as (M, row) and out as (n, row); a
 * permutation works on 4-D shapes (sg_permute_dims, backend.h), fewer dims
 * padded with leading 1s by the op (src/core/op_layout.c).
 * Covered by tests/test_ops_extra.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_GATHER_H
#define SEMISEG_CPU_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "semiseg/backend.h"
#include "semiseg/base.h"

/* The offset in x (d->shape, contiguous) of element i (row-major) of
 * out = x.permute(d->perm): out's coordinate j is x's coordinate perm[j]. */
SG_HD size_t sg_permute_src(size_t i, const sg_permute_dims *d)
{
    size_t xstride[4], src = 0;
    xstride[3] = 1;
    for (int k = 2; k >= 0; k--) xstride[k] = xstride[k + 1] * (size_t)d->shape[k + 1];
    for (int j = 3; j >= 0; j--) {
        const size_t len = (size_t)d->shape[d->perm[j]];
        src += i % len * xstride[d->perm[j]];
        i /= len;
    }
    return src;
}

/* out (n, row) = x[idx[j]] (rows of x (M, row)). */
void sg_index_select_forward_cpu(float *out, const float *x, const int32_t *idx, int n,
                                 size_t row);
/* dx[m] += dout[src_rows[e]] for e in [src_start[m], src_start[m + 1]), in
 * that order (backend.h). */
void sg_index_select_backward_cpu(float *dx, const float *dout, const int32_t *src_start,
                                  const int32_t *src_rows, int M, size_t row);

void sg_permute_forward_cpu(float *out, const float *x, const sg_permute_dims *d);
void sg_permute_backward_cpu(float *dx, const float *dout, const sg_permute_dims *d);

#endif
