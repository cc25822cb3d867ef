/*
 * cuda_kernels.h: the CUDA backend's entries of the kernel table
 * (include/semiseg/backend.h), one function per entry, named sg_cuda_<entry>,
 * with the entry's argument list; pointers are device memory. The table
 * itself is assembled in src/cuda/cuda_backend.cu. Internal to src/cuda/.
 * Covered by tests/test_backend_ops.c on a machine with a CUDA device.
 */
#ifndef SEMISEG_CUDA_KERNELS_H
#define SEMISEG_CUDA_KERNELS_H

#include "semiseg/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

void *sg_cuda_alloc(size_t bytes);
void sg_cuda_free(void *p);
void sg_cuda_memset_zero(void *p, size_t bytes);
void sg_cuda_copy(void *dst, const void *src, size_t bytes);
void sg_cuda_to_device(void *dst, const void *host, size_t bytes);
void sg_cuda_to_host(void *host, const void *src, size_t bytes);
void sg_cuda_synchronize(void);
void sg_cuda_conv2d_forward(struct sg_arena *ws, float *out, const float *x, const float *w, const float *b, const sg_conv2d_dims *d);
void sg_cuda_conv2d_backward(struct sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero, const float *dout, const float *x, const float *w, const sg_conv2d_dims *d);
void sg_cuda_conv2d_crop_weight(float *w, float *wc, int planes, int kh, int kw, int ckh, int ckw, int kh0, int kw0, bool add);
void sg_cuda_batchnorm_forward(struct sg_arena *ws, float *out, float *saved, float *running_mean, float *running_var, const float *x, const float *w, const float *b, bool training, bool relu, float momentum, float eps, int N, int C, int HW);
void sg_cuda_batchnorm_backward(struct sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero, float *dout, const float *out, const float *x, const float *w, const float *b, const float *saved, bool training, bool relu, float eps, int N, int C, int HW);
void sg_cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b, float eps, size_t rows, int D);
void sg_cuda_layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w, const float *mean, const float *rstd, size_t rows, int D);
void *sg_cuda_maxpool2d_forward(struct sg_arena *ws, float *out, const float *x, bool record, int N, int C, int H, int W, int Ho, int Wo, int kernel, int stride, int pad);
void sg_cuda_maxpool2d_backward(float *dx, bool dx_zero, const float *dout, const void *saved, int N, int C, int H, int W, int Ho, int Wo, int kernel, int stride, int pad);
void sg_cuda_global_avgpool_forward(float *out, const float *x, int NC, int HW);
void sg_cuda_global_avgpool_backward(float *dx, const float *dout, int NC, int HW);
void sg_cuda_relu_forward(float *out, const float *x, size_t n);
void sg_cuda_relu_backward(float *dx, const float *dout, const float *x, size_t n);
void sg_cuda_gelu_forward(float *out, const float *x, size_t n);
void sg_cuda_gelu_backward(float *dx, const float *dout, const float *x, size_t n);
void sg_cuda_add_forward(float *out, const float *a, const float *b, size_t n);
void sg_cuda_add_backward(float *da, float *db, const float *dout, size_t n);
void sg_cuda_sub_forward(float *out, const float *a, const float *b, size_t n);
void sg_cuda_sub_backward(float *da, float *db, const float *dout, size_t n);
void sg_cuda_mul_forward(float *out, const float *a, const float *b, size_t n);
void sg_cuda_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b, size_t n);
void sg_cuda_scale_forward(float *out, const float *x, float s, size_t n);
void sg_cuda_scale_backward(float *dx, const float *dout, float s, size_t n);
void sg_cuda_dropout2d_forward(float *out, const float *x, const float *scale, size_t planes, size_t hw);
void sg_cuda_dropout2d_backward(float *dx, const float *dout, const float *scale, size_t planes, size_t hw);
void sg_cuda_resize_bilinear_forward(struct sg_arena *ws, float *out, const float *x, int planes, int h, int w, int oh, int ow, bool align_corners);
void sg_cuda_resize_bilinear_backward(struct sg_arena *ws, float *dx, const float *dout, int planes, int h, int w, int oh, int ow, bool align_corners);
void sg_cuda_resize_nearest_forward(float *out, const float *x, int planes, int h, int w, int oh, int ow);
void sg_cuda_resize_nearest_backward(float *dx, const float *dout, int planes, int h, int w, int oh, int ow);
void sg_cuda_resize_nearest_labels(int32_t *out, const int32_t *x, int planes, int h, int w, int oh, int ow);
void sg_cuda_concat_forward(float *out, const float *x, size_t outer, int out_len, int off, int len, size_t inner);
void sg_cuda_concat_backward(float *dx, const float *dout, size_t outer, int out_len, int off, int len, size_t inner);
void sg_cuda_narrow_forward(float *out, const float *x, size_t outer, int x_len, int start, int len, size_t inner);
void sg_cuda_narrow_backward(float *dx, const float *dout, size_t outer, int x_len, int start, int len, size_t inner);
void sg_cuda_softmax_forward(float *out, const float *x, int outer, int C, int inner);
void sg_cuda_softmax_backward(float *dx, const float *dout, const float *y, int outer, int C, int inner);
void sg_cuda_log_softmax_forward(float *out, const float *x, int outer, int C, int inner);
void sg_cuda_log_softmax_backward(float *dx, const float *dout, const float *y, int outer, int C, int inner);
void sg_cuda_sum_forward(struct sg_arena *ws, float *out, const float *x, size_t n);
void sg_cuda_mean_forward(struct sg_arena *ws, float *out, const float *x, size_t n);
void sg_cuda_sum_backward(float *dx, const float *dout, size_t n);
void sg_cuda_mean_backward(float *dx, const float *dout, size_t n);
void sg_cuda_linear_forward(float *out, const float *x, const float *w, const float *b, int R, int I, int O);
void sg_cuda_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w, int R, int I, int O);
void sg_cuda_matmul_forward(float *c, const float *a, const float *b, int B, int M, int N, int K, bool trans_a, bool trans_b);
void sg_cuda_matmul_backward(float *da, float *db, const float *dc, const float *a, const float *b, int B, int M, int N, int K, bool trans_a, bool trans_b);
void sg_cuda_cross_entropy_forward(float *ce, float *lse, float *wce, const float *logits, const int32_t *target, const float *weight, int N, int K, int HW, int ignore_index);
void sg_cuda_cross_entropy_backward(float *dlogits, float *dweight, const float *dout, bool per_pixel, double divisor, const float *logits, const float *lse, const float *ce, const int32_t *target, const float *weight, int N, int K, int HW, int ignore_index);
void sg_cuda_cross_entropy_check_targets(const int32_t *target, size_t n, int K, int ignore_index, size_t *count, long *first_bad);
void sg_cuda_ohem_target_prob(float *pgt, const float *prob, const int32_t *target, int ignore_index, int N, int K, size_t HW);
void sg_cuda_ohem_select(int32_t *out, const int32_t *target, const float *pgt, float tau, int ignore_index, size_t n);
void sg_cuda_weighted_sum(struct sg_arena *ws, float *out, const float *x, const float *w, size_t n, double divisor);
void sg_cuda_mse_forward(float *out, const float *a, const float *b, size_t n);
void sg_cuda_mse_backward(float *da, float *db, const float *dout, bool per_element, double divisor, const float *a, const float *b, size_t n);
void sg_cuda_kl_div_forward(float *out, const float *log_input, const float *target, size_t n);
void sg_cuda_kl_div_backward(float *dlog_input, float *dtarget, const float *dout, bool per_element, double divisor, const float *log_input, const float *target, size_t n);
void sg_cuda_entropy_forward(float *out, const float *p, float eps, int N, int C, int HW);
void sg_cuda_entropy_backward(float *dp, const float *dout, const float *p, float eps, int N, int C, int HW);
void sg_cuda_sgd_update(float *p, float *buf, const float *g, size_t n, float lr, float wd, float momentum, bool first);
void sg_cuda_ema_blend(float *e, const float *p, size_t n, float decay, float keep);
void sg_cuda_pseudo_label(int32_t *label, float *conf, const float *logits, const float *prob, int N, int K, size_t HW);
void sg_cuda_paste(void *out, const void *a, const void *b, const int32_t *box, size_t es, int N, int C, size_t HW);
void sg_cuda_count_confident(const float *conf, const int32_t *ignore, float tau, size_t n, size_t *valid, size_t *kept);
void sg_cuda_valid_from_ignore(float *valid, const int32_t *ignore, size_t n);
void sg_cuda_masked_target(int32_t *target, float *weight, const int32_t *label, const float *conf, const int32_t *ignore, float tau, size_t n);
void sg_cuda_confidence_indicator(float *ind, size_t *kept, const float *probs, float thresh, int N, int C, size_t HW);
void sg_cuda_cons_weight_map(float *wmap, const float *valid, const float *ind, float factor, bool per_pixel, int N, int C, size_t HW);
void sg_cuda_argmax_u8(uint8_t *ids, const float *x, int N, int K, size_t HW);
void sg_cuda_index_select_forward(float *out, const float *x, const int32_t *idx, int n, size_t row);
void sg_cuda_index_select_backward(float *dx, const float *dout, const int32_t *src_start, const int32_t *src_rows, int M, size_t row);
void sg_cuda_permute_forward(float *out, const float *x, const sg_permute_dims *d);
void sg_cuda_permute_backward(float *dx, const float *dout, const sg_permute_dims *d);
void sg_cuda_normalize_forward(float *out, const float *x, float eps, int outer, int C, int inner);
void sg_cuda_normalize_backward(float *dx, const float *dout, const float *x, float eps, int outer, int C, int inner);
void sg_cuda_cosine_similarity_forward(float *out, const float *a, const float *b, float eps, int outer, int C, int inner);
void sg_cuda_cosine_similarity_backward(float *da, float *db, const float *dout, const float *a, const float *b, float eps, int outer, int C, int inner);
void sg_cuda_standardize_forward(float *out, const float *x, int outer, int C, int inner);
void sg_cuda_standardize_backward(float *dx, const float *dout, const float *x, int outer, int C, int inner);

void sg_cuda_layernorm_channels_forward(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b, float eps, int N, int C, size_t HW);
void sg_cuda_layernorm_channels_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w, const float *mean, const float *rstd, int N, int C, size_t HW);
void sg_cuda_attention_forward(struct sg_arena *ws, float *out, float *prob, const float *q, const float *k, const float *v, int B, int H, int N, int M, int D, float scale, bool channels_first);
void sg_cuda_attention_backward(struct sg_arena *ws, float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k, const float *v, const float *prob, int B, int H, int N, int M, int D, float scale, bool channels_first);
#ifdef __cplusplus
}
#endif

#endif
