/*
 * backend_reference.c: the reference CPU backend's kernel table (backend.h):
 * plain C with OpenMP and OpenBLAS sgemm, the kernels every PyTorch fixture
 * checks and the reference every other backend is compared against. Its
 * results do not depend on the thread count. Most entries are the CPU
 * kernels themselves; the adapters here take scratch from the arena and
 * give batch norm and max pooling the table's saved-state form.
 * Covered by tests/test_backend_ops.c and every tests/test_ops_*.c.
 */
#include "semiseg/backend.h"
#include "semiseg/tensor.h"

#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "elementwise.h"
#include "gather.h"
#include "layernorm.h"
#include "transformer.h"
#include "layout.h"
#include "loss.h"
#include "loss_math.h"
#include "matmul.h"
#include "normalize.h"
#include "optim.h"
#include "pool.h"
#include "reduce.h"
#include "resize.h"
#include "semi_kernels.h"
#include "softmax.h"

/* ---- memory: the host ------------------------------------------------------------ */
static void sg_host_free_(void *p) { free(p); }
/* Zero fills of 256 KiB and more are split over the threads: a gradient
 * buffer for a batch of logits runs to tens of MB, and one thread clearing
 * it kept the others waiting (bench/README.md). Disjoint ranges, so the
 * split cannot change the result. */
#define SG_HOST_ZERO_CHUNK ((size_t)1 << 18)
static void sg_host_zero_(void *p, size_t bytes)
{
    const size_t chunks = (bytes + SG_HOST_ZERO_CHUNK - 1) / SG_HOST_ZERO_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (size_t c = 0; c < chunks; c++) {
        const size_t off = c * SG_HOST_ZERO_CHUNK, rest = bytes - off;
        memset((char *)p + off, 0, rest < SG_HOST_ZERO_CHUNK ? rest : SG_HOST_ZERO_CHUNK);
    }
}
static void sg_host_copy_(void *dst, const void *src, size_t bytes) { memmove(dst, src, bytes); }
static void sg_host_sync_(void) {}

/* ---- adapters ------------------------------------------------------------------------ */
static float *sg_conv_scratch_(sg_arena *ws, const sg_conv2d_dims *d)
{
    size_t n = sg_conv2d_scratch_floats(d);
    return n ? sg_arena_alloc(ws, n * sizeof(float)) : NULL;
}

static void sg_ref_conv2d_forward_(sg_arena *ws, float *out, const float *x, const float *w,
                                   const float *b, const sg_conv2d_dims *d)
{
    sg_conv2d_forward_cpu(out, sg_conv_scratch_(ws, d), x, w, b, d);
}

static void sg_ref_conv2d_backward_(sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                                    const float *dout, const float *x, const float *w,
                                    const sg_conv2d_dims *d)
{
    (void)dx_zero; /* the reference kernel always accumulates */
    float *col = (dx || dw) ? sg_conv_scratch_(ws, d) : NULL;
    sg_conv2d_backward_cpu(dx, dw, db, col, dout, x, w, d);
}

/* saved = [mean (C), invstd (C)] */
static void sg_ref_batchnorm_forward_(sg_arena *ws, float *out, float *saved, float *running_mean,
                                      float *running_var, const float *x, const float *w,
                                      const float *b, bool training, bool relu, float momentum,
                                      float eps, int N, int C, int HW)
{
    (void)ws;
    float *mean = saved, *invstd = saved + C;
    if (training)
        sg_batchnorm_stats_cpu(mean, invstd, running_mean, running_var, x, momentum, eps, N, C,
                               HW);
    else
        sg_batchnorm_eval_stats_cpu(mean, invstd, running_mean, running_var, eps, C);
    sg_batchnorm_forward_cpu(out, x, w, b, mean, invstd, relu, N, C, HW);
}

static void sg_ref_batchnorm_backward_(sg_arena *ws, float *dx, float *dw, float *db,
                                       bool dx_zero, float *dout, const float *out,
                                       const float *x, const float *w, const float *b,
                                       const float *saved, bool training, bool relu, float eps,
                                       int N, int C, int HW)
{
    (void)ws, (void)dx_zero, (void)b, (void)eps;
    const float *mean = saved, *invstd = saved + C;
    if (relu)
        sg_batchnorm_relu_backward_cpu(dx, dw, db, dout, out, x, w, mean, invstd, training, N, C,
                                       HW);
    else
        sg_batchnorm_backward_cpu(dx, dw, db, dout, x, w, mean, invstd, training, N, C, HW);
}

/* The saved state is the argmax of every output (int32). */
static void *sg_ref_maxpool2d_forward_(sg_arena *ws, float *out, const float *x, bool record,
                                       int N, int C, int H, int W, int Ho, int Wo, int kernel,
                                       int stride, int pad)
{
    int32_t *argmax =
        record ? sg_arena_alloc(ws, (size_t)N * C * Ho * Wo * sizeof(int32_t)) : NULL;
    sg_maxpool2d_forward_cpu(out, argmax, x, N * C, H, W, Ho, Wo, kernel, stride, pad);
    return argmax;
}

static void sg_ref_maxpool2d_backward_(float *dx, bool dx_zero, const float *dout,
                                       const void *saved, int N, int C, int H, int W, int Ho,
                                       int Wo, int kernel, int stride, int pad)
{
    (void)dx_zero, (void)kernel, (void)stride, (void)pad;
    sg_maxpool2d_backward_cpu(dx, dout, saved, N * C, H, W, Ho, Wo);
}

static void sg_ref_resize_bilinear_forward_(sg_arena *ws, float *out, const float *x, int planes,
                                            int h, int w, int oh, int ow, bool align_corners)
{
    void *scratch = sg_arena_alloc(ws, sg_resize_bilinear_scratch_bytes(oh, ow));
    sg_resize_bilinear_forward_cpu(out, scratch, x, planes, h, w, oh, ow, align_corners);
}

static void sg_ref_resize_bilinear_backward_(sg_arena *ws, float *dx, const float *dout,
                                             int planes, int h, int w, int oh, int ow,
                                             bool align_corners)
{
    void *scratch = sg_arena_alloc(ws, sg_resize_bilinear_scratch_bytes(oh, ow));
    sg_resize_bilinear_backward_cpu(dx, scratch, dout, planes, h, w, oh, ow, align_corners);
}

static void sg_ref_sum_forward_(sg_arena *ws, float *out, const float *x, size_t n)
{
    sg_sum_forward_cpu(out, x, sg_arena_alloc(ws, sg_reduce_partials(n) * sizeof(double)), n);
}

static void sg_ref_mean_forward_(sg_arena *ws, float *out, const float *x, size_t n)
{
    sg_mean_forward_cpu(out, x, sg_arena_alloc(ws, sg_reduce_partials(n) * sizeof(double)), n);
}

static void sg_ref_cross_entropy_backward_(float *dlogits, float *dweight, const float *dout,
                                           bool per_pixel, double divisor, const float *logits,
                                           const float *lse, const float *ce,
                                           const int32_t *target, const float *weight, int N,
                                           int K, int HW, int ignore_index)
{
    sg_cross_entropy_backward_cpu(dlogits, dweight, per_pixel ? dout : NULL,
                                  sg_loss_scale(dout, per_pixel, divisor), logits, lse, ce,
                                  target, weight, N, K, HW, ignore_index);
}

static void sg_ref_weighted_sum_(sg_arena *ws, float *out, const float *x, const float *w,
                                 size_t n, double divisor)
{
    double *partials = sg_arena_alloc(ws, sg_loss_blocks(n) * sizeof(double));
    out[0] = sg_wsum_finish(sg_weighted_sum_cpu(partials, x, w, n), divisor);
}

static void sg_ref_mse_backward_(float *da, float *db, const float *dout, bool per_element,
                                 double divisor, const float *a, const float *b, size_t n)
{
    sg_mse_backward_cpu(da, db, per_element ? dout : NULL,
                        sg_loss_scale(dout, per_element, divisor), a, b, n);
}

static void sg_ref_kl_div_backward_(float *dlog_input, float *dtarget, const float *dout,
                                    bool per_element, double divisor, const float *log_input,
                                    const float *target, size_t n)
{
    sg_kl_div_backward_cpu(dlog_input, dtarget, per_element ? dout : NULL,
                           sg_loss_scale(dout, per_element, divisor), log_input, target, n);
}

static const sg_backend sg_backend_reference_ = {
    .name = "cpu-reference",
    .device = {SG_DEVICE_CPU, 0},
    .deterministic = true,
    .alloc = sg_xmalloc_aligned,
    .free = sg_host_free_,
    .memset_zero = sg_host_zero_,
    .copy = sg_host_copy_,
    .to_device = sg_host_copy_,
    .to_host = sg_host_copy_,
    .synchronize = sg_host_sync_,
    .conv2d_forward = sg_ref_conv2d_forward_,
    .conv2d_backward = sg_ref_conv2d_backward_,
    .conv2d_crop_weight = sg_conv2d_crop_weight_cpu,
    .batchnorm_forward = sg_ref_batchnorm_forward_,
    .batchnorm_backward = sg_ref_batchnorm_backward_,
    .layernorm_forward = sg_layernorm_forward_cpu,
    .layernorm_backward = sg_layernorm_backward_cpu,
    .maxpool2d_forward = sg_ref_maxpool2d_forward_,
    .maxpool2d_backward = sg_ref_maxpool2d_backward_,
    .global_avgpool_forward = sg_global_avgpool_forward_cpu,
    .global_avgpool_backward = sg_global_avgpool_backward_cpu,
    .relu_forward = sg_relu_forward_cpu,
    .relu_backward = sg_relu_backward_cpu,
    .gelu_forward = sg_gelu_forward_cpu,
    .gelu_backward = sg_gelu_backward_cpu,
    .add_forward = sg_add_forward_cpu,
    .add_backward = sg_add_backward_cpu,
    .sub_forward = sg_sub_forward_cpu,
    .sub_backward = sg_sub_backward_cpu,
    .mul_forward = sg_mul_forward_cpu,
    .mul_backward = sg_mul_backward_cpu,
    .scale_forward = sg_scale_forward_cpu,
    .scale_backward = sg_scale_backward_cpu,
    .dropout2d_forward = sg_dropout2d_forward_cpu,
    .dropout2d_backward = sg_dropout2d_backward_cpu,
    .resize_bilinear_forward = sg_ref_resize_bilinear_forward_,
    .resize_bilinear_backward = sg_ref_resize_bilinear_backward_,
    .resize_nearest_forward = sg_resize_nearest_forward_cpu,
    .resize_nearest_backward = sg_resize_nearest_backward_cpu,
    .resize_nearest_labels = sg_resize_nearest_labels_cpu,
    .concat_forward = sg_concat_forward_cpu,
    .concat_backward = sg_concat_backward_cpu,
    .narrow_forward = sg_narrow_forward_cpu,
    .narrow_backward = sg_narrow_backward_cpu,
    .softmax_forward = sg_softmax_forward_cpu,
    .softmax_backward = sg_softmax_backward_cpu,
    .log_softmax_forward = sg_log_softmax_forward_cpu,
    .log_softmax_backward = sg_log_softmax_backward_cpu,
    .sum_forward = sg_ref_sum_forward_,
    .mean_forward = sg_ref_mean_forward_,
    .sum_backward = sg_sum_backward_cpu,
    .mean_backward = sg_mean_backward_cpu,
    .linear_forward = sg_linear_forward_cpu,
    .linear_backward = sg_linear_backward_cpu,
    .matmul_forward = sg_matmul_forward_cpu,
    .matmul_backward = sg_matmul_backward_cpu,
    .cross_entropy_forward = sg_cross_entropy_forward_cpu,
    .cross_entropy_backward = sg_ref_cross_entropy_backward_,
    .cross_entropy_check_targets = sg_cross_entropy_check_targets_cpu,
    .ohem_target_prob = sg_ohem_target_prob_cpu,
    .ohem_select = sg_ohem_select_cpu,
    .weighted_sum = sg_ref_weighted_sum_,
    .mse_forward = sg_mse_forward_cpu,
    .mse_backward = sg_ref_mse_backward_,
    .kl_div_forward = sg_kl_div_forward_cpu,
    .kl_div_backward = sg_ref_kl_div_backward_,
    .entropy_forward = sg_entropy_forward_cpu,
    .entropy_backward = sg_entropy_backward_cpu,
    .sgd_update = sg_sgd_update_cpu,
    .ema_blend = sg_ema_blend_cpu,
    .pseudo_label = sg_pseudo_label_cpu,
    .paste = sg_paste_cpu,
    .count_confident = sg_count_confident_cpu,
    .valid_from_ignore = sg_valid_from_ignore_cpu,
    .masked_target = sg_masked_target_cpu,
    .confidence_indicator = sg_confidence_indicator_cpu,
    .cons_weight_map = sg_cons_weight_map_cpu,
    .argmax_u8 = sg_argmax_u8_cpu,
    .index_select_forward = sg_index_select_forward_cpu,
    .index_select_backward = sg_index_select_backward_cpu,
    .permute_forward = sg_permute_forward_cpu,
    .permute_backward = sg_permute_backward_cpu,
    .normalize_forward = sg_normalize_forward_cpu,
    .normalize_backward = sg_normalize_backward_cpu,
    .cosine_similarity_forward = sg_cosine_similarity_forward_cpu,
    .cosine_similarity_backward = sg_cosine_similarity_backward_cpu,
    .standardize_forward = sg_standardize_forward_cpu,
    .standardize_backward = sg_standardize_backward_cpu,
    .layernorm_channels_forward = sg_layernorm_channels_forward_cpu,
    .layernorm_channels_backward = sg_layernorm_channels_backward_cpu,
    .attention_forward = sg_attention_forward_cpu,
    .attention_backward = sg_attention_backward_cpu,
};

const sg_backend *sg_backend_cpu_reference(void) { return &sg_backend_reference_; }
