/*
 * normalize.h: per-position normalisation over the channels of an
 * (outer, C, inner) tensor (CPU): (N, C) is outer N, inner 1; (N, C, H, W)
 * is outer N, inner H W. Forward writes; backward ADDS into dx. The
 * arithmetic of one position is in normalize_math.h, shared with CUDA.
 *
 * Reference: torch.nn.functional.normalize(x, 2, 1, eps).
 * Covered by tests/test_ops_extra.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_NORMALIZE_H
#define SEMISEG_CPU_NORMALIZE_H

void sg_normalize_forward_cpu(float *out, const float *x, float eps, int outer, int C, int inner);
void sg_normalize_backward_cpu(float *dx, const float *dout, const float *x, float eps, int outer,
                               int C, int inner);

#endif
