/*
 * normalize.h: per-position normalisation over the channels of an
 * (outer, C, inner) tensor (CPU): (N, C) is outer N, inner 1; (N, C, H, W)
 * is outer N, inner H W. Forward writes; backward ADDS into dx. The
 * arithmetic of one position is in normalize_math.h, shared with CUDA.
 *
 * References: torch.nn.functional.normalize(x, 2, 1, eps),
 * torch.nn.functional.cosine_similarity(a, b, 1, eps) (out: one value per
 * position, (outer, inner)), and (x - x.mean(1)) / x.std(1) (unbiased).
 * Covered by tests/test_ops_extra.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_NORMALIZE_H
#define SEMISEG_CPU_NORMALIZE_H

void sg_normalize_forward_cpu(float *out, const float *x, float eps, int outer, int C, int inner);
void sg_normalize_backward_cpu(float *dx, const float *dout, const float *x, float eps, int outer,
                               int C, int inner);
/* out (outer, inner) = cosine similarity of a and b over C; dout (outer, inner). */
void sg_cosine_similarity_forward_cpu(float *out, const float *a, const float *b, float eps,
                                      int outer, int C, int inner);
void sg_cosine_similarity_backward_cpu(float *da, float *db, const float *dout, const float *a,
                                       const float *b, float eps, int outer, int C, int inner);
/* (x - mean) / std over C >= 2 (unbiased std). */
void sg_standardize_forward_cpu(float *out, const float *x, int outer, int C, int inner);
void sg_standardize_backward_cpu(float *dx, const float *dout, const float *x, int outer, int C,
                                 int inner);

#endif
