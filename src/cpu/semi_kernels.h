/*
 * semi_kernels.h: CPU kernels of the semi-supervised primitives and of the
 * label maps (backend.h entries pseudo_label, paste, count_confident,
 * valid_from_ignore, masked_target, confidence_indicator, cons_weight_map,
 * cross_entropy_check_targets, ohem_target_prob, ohem_select, argmax_u8). The wrappers that check shapes
 * and allocate are in src/core/semi.c, src/core/op_loss.c and
 * src/eval/predict.c. Covered by tests/test_semi.c, tests/test_ops_loss.c,
 * tests/test_metrics.c and tests/test_backend_ops.c.
 */
#ifndef SEMISEG_CPU_SEMI_KERNELS_H
#define SEMISEG_CPU_SEMI_KERNELS_H

#include "semiseg/base.h"

void sg_pseudo_label_cpu(int32_t *label, float *conf, const float *logits, const float *prob,
                         int N, int K, size_t HW);
void sg_paste_cpu(void *out, const void *a, const void *b, const int32_t *box, size_t es, int N,
                  int C, size_t HW);
void sg_count_confident_cpu(const float *conf, const int32_t *ignore, float tau, size_t n,
                            size_t *valid, size_t *kept);
void sg_valid_from_ignore_cpu(float *valid, const int32_t *ignore, size_t n);
void sg_masked_target_cpu(int32_t *target, float *weight, const int32_t *label, const float *conf,
                          const int32_t *ignore, float tau, size_t n);
void sg_confidence_indicator_cpu(float *ind, size_t *kept, const float *probs, float thresh,
                                 int N, int C, size_t HW);
void sg_cons_weight_map_cpu(float *wmap, const float *valid, const float *ind, float factor,
                            bool per_pixel, int N, int C, size_t HW);
void sg_cross_entropy_check_targets_cpu(const int32_t *target, size_t n, int K, int ignore_index,
                                        size_t *count, long *first_bad);
void sg_ohem_target_prob_cpu(float *pgt, const float *prob, const int32_t *target,
                             int ignore_index, int N, int K, size_t HW);
void sg_ohem_select_cpu(int32_t *out, const int32_t *target, const float *pgt, float tau,
                        int ignore_index, size_t n);
void sg_argmax_u8_cpu(uint8_t *ids, const float *x, int N, int K, size_t HW);

#endif
