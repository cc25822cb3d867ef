/*
 * backend.h: the kernel table. One struct of function pointers with the same
 * argument lists for every backend: the reference CPU kernels (plain C +
 * OpenBLAS, src/cpu/), the oneDNN CPU kernels (src/cpu/dnnl_*.c: the
 * reference table with the convolution, batch-norm and pooling entries
 * replaced) and the CUDA kernels (src/cuda/, cuDNN + cuBLAS, --with-cuda).
 * A context (sg_ctx) runs its ops on one backend, chosen when it is made;
 * every tensor carries the device its memory is on. A NULL entry means the
 * backend does not have that kernel: the op wrapper stops with the op's and
 * the backend's names (sg_backend_need).
 *
 * Pointers passed to a kernel are memory of the backend's device. `ws` is
 * the calling context's arena, whose blocks are device memory too: kernels
 * take their scratch from it. Backward kernels ADD into their gradient
 * outputs (dx += ...), as the CPU kernels always have; a NULL gradient
 * pointer means that gradient is not wanted. `dx_zero` says the dx buffer
 * was made zero for this call, so a library that can only overwrite
 * (oneDNN, cuDNN with beta 0) may write it directly.
 *
 * Saved state that only the same backend reads back (batch-norm statistics,
 * max-pooling indices or workspace) has a backend-defined layout: a node
 * keeps the backend its forward ran on and runs its backward there.
 *
 * Model: ggml's backend interface (ggml-backend.h: one table of functions
 * per backend, supports_op); test-backend-ops is tests/test_backend_ops.c,
 * which runs every entry of every backend present against the reference.
 */
#ifndef SEMISEG_BACKEND_H
#define SEMISEG_BACKEND_H

#include "semiseg/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sg_device_type { SG_DEVICE_CPU = 0, SG_DEVICE_CUDA = 1 } sg_device_type;

/* Where a tensor's memory is: the host, or CUDA device `index`. */
typedef struct sg_device {
    sg_device_type type;
    int index;                /* 0 on the CPU */
} sg_device;

bool sg_device_equal(sg_device a, sg_device b);
/* "cpu", "cuda:0" */
const char *sg_device_str(sg_device d, char *buf, size_t len);
#define SG_DEVICE_STR_LEN 24
/* Parses "cpu", "cuda" (= cuda:0) and "cuda:N". Returns -1 with a message
 * on anything else. Does not check that the device exists. */
int sg_device_parse(const char *s, sg_device *out, sg_err *err);

/* The dimensions of one 2-D convolution (torch.nn.functional.conv2d):
 * x (N, Cin, H, W), w (Cout, Cin / groups, kh, kw), out (N, Cout, Ho, Wo). */
typedef struct sg_conv2d_dims {
    int N, Cin, H, W;
    int Cout, kh, kw;
    int Ho, Wo;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    int groups;
} sg_conv2d_dims;

/* A permutation of a 4-D tensor (fewer dims padded with leading 1s):
 * x (shape), out (shape[perm[0]], ..., shape[perm[3]]). */
typedef struct sg_permute_dims {
    int shape[4];
    int perm[4];
} sg_permute_dims;

struct sg_arena;

typedef struct sg_backend {
    const char *name;         /* "cpu-reference", "cpu-dnnl", "cuda" */
    sg_device device;
    /* Results repeat bitwise for the same inputs (cuDNN: the deterministic
     * algorithms only). The reference CPU path is also independent of the
     * thread count; the oneDNN path for a fixed thread count only. */
    bool deterministic;
    /* conv2d_backward, batchnorm_backward and maxpool2d_backward write every
     * element of dx when called with dx_zero (rather than adding into it), so
     * the new gradient buffer they get need not be zero-filled first
     * (sg_grad_buffer_dx). False where a kernel accumulates regardless. */
    bool dx_zero_overwrites;
    /* Switches `deterministic` (cuDNN: the deterministic algorithm allow-list
     * or the fastest ones) for every table of this kind; NULL where there is
     * no choice (the CPU backends are always deterministic). */
    void (*set_deterministic)(bool on);
    /* TF32 tensor-core math for FP32 convolutions and matrix products (cuDNN,
     * cuBLAS; sm_80 and newer); off by default. NULL: no such mode. */
    void (*set_tf32)(bool on);
    /* The device's name ("NVIDIA H200 (sm_90)"); NULL on the CPU. */
    void (*device_name)(int index, char *buf, size_t len);

    /* ---- memory ---------------------------------------------------------------- */
    void *(*alloc)(size_t bytes);                  /* 64-byte aligned (256 on CUDA); dies on failure */
    void (*free)(void *p);
    void (*memset_zero)(void *p, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);      /* device to device */
    void (*to_device)(void *dst, const void *host, size_t bytes);
    void (*to_host)(void *host, const void *src, size_t bytes);  /* waits for the device */
    void (*synchronize)(void);

    /* ---- convolution, normalisation, pooling ------------------------------------ */
    void (*conv2d_forward)(struct sg_arena *ws, float *out, const float *x, const float *w,
                           const float *b, const sg_conv2d_dims *d);
    void (*conv2d_backward)(struct sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                            const float *dout, const float *x, const float *w,
                            const sg_conv2d_dims *d);
    /* w (planes, kh, kw) <-> its crop wc (planes, ckh, ckw) at (kh0, kw0):
     * wc = crop(w), or w += wc when add (the dead-tap cropping of op_conv.c). */
    void (*conv2d_crop_weight)(float *w, float *wc, int planes, int kh, int kw, int ckh, int ckw,
                               int kh0, int kw0, bool add);
    /* Batch norm over (N, C, HW), optionally followed by ReLU (out clamped).
     * Training: batch statistics, and running_mean/var updated with momentum
     * (unbiased variance), as torch.nn.functional.batch_norm. Eval: running
     * statistics. `saved` (2 C floats) receives what the backward needs. */
    void (*batchnorm_forward)(struct sg_arena *ws, float *out, float *saved, float *running_mean,
                              float *running_var, const float *x, const float *w, const float *b,
                              bool training, bool relu, float momentum, float eps, int N, int C,
                              int HW);
    /* With relu, `out` is the forward's clamped output and dout may be
     * overwritten (the ReLU's mask applied in place: only this node reads it). */
    void (*batchnorm_backward)(struct sg_arena *ws, float *dx, float *dw, float *db, bool dx_zero,
                               float *dout, const float *out, const float *x, const float *w,
                               const float *b, const float *saved, bool training, bool relu,
                               float eps, int N, int C, int HW);
    /* Over the last dimension D of `rows` rows; mean/rstd (rows) are saved. */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *x, const float *w,
                              const float *b, float eps, size_t rows, int D);
    void (*layernorm_backward)(float *dx, float *dw, float *db, const float *dout, const float *x,
                               const float *w, const float *mean, const float *rstd, size_t rows,
                               int D);
    /* Floor mode. With `record`, returns what the backward needs (argmax
     * indices or a library workspace, in ws); NULL without. */
    void *(*maxpool2d_forward)(struct sg_arena *ws, float *out, const float *x, bool record, int N,
                               int C, int H, int W, int Ho, int Wo, int kernel, int stride, int pad);
    void (*maxpool2d_backward)(float *dx, bool dx_zero, const float *dout, const void *saved,
                               int N, int C, int H, int W, int Ho, int Wo, int kernel, int stride,
                               int pad);
    void (*global_avgpool_forward)(float *out, const float *x, int NC, int HW);
    void (*global_avgpool_backward)(float *dx, const float *dout, int NC, int HW);

    /* ---- element-wise ---------------------------------------------------------- */
    void (*relu_forward)(float *out, const float *x, size_t n);
    void (*relu_backward)(float *dx, const float *dout, const float *x, size_t n);
    void (*gelu_forward)(float *out, const float *x, size_t n);
    void (*gelu_backward)(float *dx, const float *dout, const float *x, size_t n);
    void (*add_forward)(float *out, const float *a, const float *b, size_t n);
    void (*add_backward)(float *da, float *db, const float *dout, size_t n);
    void (*sub_forward)(float *out, const float *a, const float *b, size_t n);
    void (*sub_backward)(float *da, float *db, const float *dout, size_t n);
    void (*mul_forward)(float *out, const float *a, const float *b, size_t n);
    void (*mul_backward)(float *da, float *db, const float *dout, const float *a, const float *b,
                         size_t n);
    void (*scale_forward)(float *out, const float *x, float s, size_t n);
    void (*scale_backward)(float *dx, const float *dout, float s, size_t n);
    /* out = x * scale[plane] over `planes` planes of hw elements. */
    void (*dropout2d_forward)(float *out, const float *x, const float *scale, size_t planes,
                              size_t hw);
    void (*dropout2d_backward)(float *dx, const float *dout, const float *scale, size_t planes,
                               size_t hw);

    /* ---- resize, layout -------------------------------------------------------- */
    void (*resize_bilinear_forward)(struct sg_arena *ws, float *out, const float *x, int planes,
                                    int h, int w, int oh, int ow, bool align_corners);
    void (*resize_bilinear_backward)(struct sg_arena *ws, float *dx, const float *dout, int planes,
                                     int h, int w, int oh, int ow, bool align_corners);
    void (*resize_nearest_forward)(float *out, const float *x, int planes, int h, int w, int oh,
                                   int ow);
    void (*resize_nearest_backward)(float *dx, const float *dout, int planes, int h, int w, int oh,
                                    int ow);
    void (*resize_nearest_labels)(int32_t *out, const int32_t *x, int planes, int h, int w, int oh,
                                  int ow);
    /* One input of a concatenation along a dimension: out (outer, out_len,
     * inner) gets x (outer, len, inner) at offset off. */
    void (*concat_forward)(float *out, const float *x, size_t outer, int out_len, int off, int len,
                           size_t inner);
    void (*concat_backward)(float *dx, const float *dout, size_t outer, int out_len, int off,
                            int len, size_t inner);
    void (*narrow_forward)(float *out, const float *x, size_t outer, int x_len, int start, int len,
                           size_t inner);
    void (*narrow_backward)(float *dx, const float *dout, size_t outer, int x_len, int start,
                            int len, size_t inner);

    /* ---- softmax, reductions, matrix products ---------------------------------- */
    void (*softmax_forward)(float *out, const float *x, int outer, int C, int inner);
    void (*softmax_backward)(float *dx, const float *dout, const float *y, int outer, int C,
                             int inner);
    void (*log_softmax_forward)(float *out, const float *x, int outer, int C, int inner);
    void (*log_softmax_backward)(float *dx, const float *dout, const float *y, int outer, int C,
                                 int inner);
    /* out[0] = sum (or mean) of x, accumulated in double in a fixed order. */
    void (*sum_forward)(struct sg_arena *ws, float *out, const float *x, size_t n);
    void (*mean_forward)(struct sg_arena *ws, float *out, const float *x, size_t n);
    void (*sum_backward)(float *dx, const float *dout, size_t n);   /* dout: 1 element */
    void (*mean_backward)(float *dx, const float *dout, size_t n);
    /* x (R, I), w (O, I), b (O) -> out (R, O), as torch.nn.functional.linear. */
    void (*linear_forward)(float *out, const float *x, const float *w, const float *b, int R,
                           int I, int O);
    void (*linear_backward)(float *dx, float *dw, float *db, const float *dout, const float *x,
                            const float *w, int R, int I, int O);
    /* Batched c (B, M, N) = op(a) op(b); op transposes the last two dims. */
    void (*matmul_forward)(float *c, const float *a, const float *b, int B, int M, int N, int K,
                           bool trans_a, bool trans_b);
    void (*matmul_backward)(float *da, float *db, const float *dc, const float *a, const float *b,
                            int B, int M, int N, int K, bool trans_a, bool trans_b);

    /* ---- losses ---------------------------------------------------------------- */
    /* Per pixel: ce (unweighted, 0 at ignored), lse (logsumexp), and when
     * weight is given wce = weight * ce. logits (N, K, HW), target (N, HW). */
    void (*cross_entropy_forward)(float *ce, float *lse, float *wce, const float *logits,
                                  const int32_t *target, const float *weight, int N, int K, int HW,
                                  int ignore_index);
    /* dout: per pixel (N, HW) when per_pixel, else 1 element that is divided
     * by `divisor` (in double) for the reduction. */
    void (*cross_entropy_backward)(float *dlogits, float *dweight, const float *dout,
                                   bool per_pixel, double divisor, const float *logits,
                                   const float *lse, const float *ce, const int32_t *target,
                                   const float *weight, int N, int K, int HW, int ignore_index);
    /* Targets outside [0, K) other than ignore_index: *first_bad is the index
     * of the first (or -1); *count the pixels that are not ignored. */
    void (*cross_entropy_check_targets)(const int32_t *target, size_t n, int K, int ignore_index,
                                        size_t *count, long *first_bad);
    /* OHEM (TorchSemiSeg's ProbOhemCrossEntropy2d), in two element-wise
     * halves around a host-side selection of the threshold: pgt[n, i] =
     * prob[n, target[n, i], i] of prob (N, K, HW), NAN where the target is
     * ignore_index; then out = target where it is not ignored and
     * pgt <= tau, else ignore_index. */
    void (*ohem_target_prob)(float *pgt, const float *prob, const int32_t *target,
                             int ignore_index, int N, int K, size_t HW);
    void (*ohem_select)(int32_t *out, const int32_t *target, const float *pgt, float tau,
                        int ignore_index, size_t n);
    /* out[0] = (float)(sum_i x[i] * (w ? w[i] : 1) / divisor), in double, in a
     * fixed order. */
    void (*weighted_sum)(struct sg_arena *ws, float *out, const float *x, const float *w, size_t n,
                         double divisor);
    void (*mse_forward)(float *out, const float *a, const float *b, size_t n);
    void (*mse_backward)(float *da, float *db, const float *dout, bool per_element,
                         double divisor, const float *a, const float *b, size_t n);
    void (*kl_div_forward)(float *out, const float *log_input, const float *target, size_t n);
    void (*kl_div_backward)(float *dlog_input, float *dtarget, const float *dout, bool per_element,
                            double divisor, const float *log_input, const float *target,
                            size_t n);
    void (*entropy_forward)(float *out, const float *p, float eps, int N, int C, int HW);
    void (*entropy_backward)(float *dp, const float *dout, const float *p, float eps, int N, int C,
                             int HW);

    /* ---- optimizer ------------------------------------------------------------- */
    /* torch.optim.SGD for one tensor: d = g + wd p; buf = first ? d :
     * momentum buf + d; p -= lr buf. buf NULL: p -= lr d (momentum 0). */
    void (*sgd_update)(float *p, float *buf, const float *g, size_t n, float lr, float wd,
                       float momentum, bool first);
    /* e = e * decay + p * keep (keep = 1 - decay, rounded by the caller). */
    void (*ema_blend)(float *e, const float *p, size_t n, float decay, float keep);

    /* ---- semi-supervised primitives and evaluation ------------------------------ */
    /* label = argmax_k logits (first maximum), conf = max_k prob, per pixel of
     * (N, K, HW). */
    void (*pseudo_label)(int32_t *label, float *conf, const float *logits, const float *prob,
                         int N, int K, size_t HW);
    /* out = box == 1 ? b : a per pixel, elements of `es` bytes, (N, C, HW);
     * box (N, HW). */
    void (*paste)(void *out, const void *a, const void *b, const int32_t *box, size_t es, int N,
                  int C, size_t HW);
    /* Pixels whose ignore is not 255 (all when ignore is NULL), and of those
     * the ones with conf >= tau. */
    void (*count_confident)(const float *conf, const int32_t *ignore, float tau, size_t n,
                            size_t *valid, size_t *kept);
    /* valid[i] = ignore[i] != 255 (1 or 0). */
    void (*valid_from_ignore)(float *valid, const int32_t *ignore, size_t n);
    /* target = ignore == 255 ? 255 : label; weight = [ignore != 255 and conf >= tau]. */
    void (*masked_target)(int32_t *target, float *weight, const int32_t *label, const float *conf,
                          const int32_t *ignore, float tau, size_t n);
    /* ind[n, i] = [max_c probs[n, c, i] >= thresh]; *kept = their count. */
    void (*confidence_indicator)(float *ind, size_t *kept, const float *probs, float thresh, int N,
                                 int C, size_t HW);
    /* wmap[n, c, i] = valid[n, i] * (per_pixel ? ind[n, i] : factor). */
    void (*cons_weight_map)(float *wmap, const float *valid, const float *ind, float factor,
                            bool per_pixel, int N, int C, size_t HW);
    /* ids[n, i] = argmax_k x[n, k, i] (first maximum), x (N, K, HW), K <= 256. */
    void (*argmax_u8)(uint8_t *ids, const float *x, int N, int K, size_t HW);

    /* ---- gathers, per-position normalisation over channels ------------------------ */
    /* out (n, row) = x[idx[j]] for j < n, of x (M, row); idx in [0, M). */
    void (*index_select_forward)(float *out, const float *x, const int32_t *idx, int n,
                                 size_t row);
    /* dx (M, row) += the dout rows that read each source row: rows
     * src_rows[src_start[m] .. src_start[m + 1]) of dout (n, row), added in
     * that (increasing) order, so the sum is the same on every backend. */
    void (*index_select_backward)(float *dx, const float *dout, const int32_t *src_start,
                                  const int32_t *src_rows, int M, size_t row);
    /* out = x.permute(d->perm) of x (d->shape), both 4-D (sg_permute_dims). */
    void (*permute_forward)(float *out, const float *x, const sg_permute_dims *d);
    /* dx (d->shape) += dout permuted back. */
    void (*permute_backward)(float *dx, const float *dout, const sg_permute_dims *d);
    /* Per position of (outer, C, inner), over C: out = x / max(||x||_2, eps)
     * (torch.nn.functional.normalize(x, 2, 1, eps)). */
    void (*normalize_forward)(float *out, const float *x, float eps, int outer, int C, int inner);
    void (*normalize_backward)(float *dx, const float *dout, const float *x, float eps, int outer,
                               int C, int inner);
    /* out (outer, inner) = sum_c (a_c / max(||a||, eps)) (b_c / max(||b||, eps))
     * over C (torch.nn.functional.cosine_similarity(a, b, 1, eps), torch 1.13). */
    void (*cosine_similarity_forward)(float *out, const float *a, const float *b, float eps,
                                      int outer, int C, int inner);
    /* dout (outer, inner); da or db may be NULL. */
    void (*cosine_similarity_backward)(float *da, float *db, const float *dout, const float *a,
                                       const float *b, float eps, int outer, int C, int inner);
    /* Per position, over C >= 2: out = (x - mean) / std, unbiased std. */
    void (*standardize_forward)(float *out, const float *x, int outer, int C, int inner);
    void (*standardize_backward)(float *dx, const float *dout, const float *x, int outer, int C,
                                 int inner);

    /* ---- transformer ops ---------------------------------------------------------- */
    /* Layer norm over dim 1 of x (N, C, HW) (F.layer_norm of the channels-last
     * permutation, permuted back); mean/rstd (N, HW) are saved. */
    void (*layernorm_channels_forward)(float *out, float *mean, float *rstd, const float *x,
                                       const float *w, const float *b, float eps, int N, int C,
                                       size_t HW);
    void (*layernorm_channels_backward)(float *dx, float *dw, float *db, const float *dout,
                                        const float *x, const float *w, const float *mean,
                                        const float *rstd, int N, int C, size_t HW);
    /* Multi-head scaled dot-product attention, heads H of width D (C = H D):
     * per batch b and head h, P = softmax over the keys of scale Q K^T (N, M)
     * and O = P V, Q/O the rows n < N and K/V the rows m < M of channels
     * [h D, (h+1) D). Token layout: q/out (B, N, C), k/v (B, M, C); with
     * channels_first: q/out (B, C, N), k/v (B, C, M). prob (B, H, N, M)
     * receives P for the backward. */
    void (*attention_forward)(struct sg_arena *ws, float *out, float *prob, const float *q,
                              const float *k, const float *v, int B, int H, int N, int M, int D,
                              float scale, bool channels_first);
    void (*attention_backward)(struct sg_arena *ws, float *dq, float *dk, float *dv,
                               const float *dout, const float *q, const float *k, const float *v,
                               const float *prob, int B, int H, int N, int M, int D, float scale,
                               bool channels_first);
} sg_backend;

/* The reference CPU kernels: always present. */
const sg_backend *sg_backend_cpu_reference(void);
/* The oneDNN CPU kernels; NULL in a build without oneDNN. */
const sg_backend *sg_backend_cpu_dnnl(void);
/* The CUDA kernels on device `index`; NULL (and a reason in err) in a build
 * without CUDA, or when the device does not exist. */
const sg_backend *sg_backend_cuda(int index, sg_err *err);
/* The CPU backend a context gets by default: oneDNN when built in, unless
 * SG_CPU_PATH=reference (SG_CPU_PATH=fast without oneDNN aborts). */
const sg_backend *sg_backend_cpu_default(void);
/* By name: "reference" or "cpu-reference", "fast" or "cpu-dnnl", "cuda" or
 * "cuda:N". NULL with a message when unknown or not built in. */
const sg_backend *sg_backend_by_name(const char *name, sg_err *err);
/* The backend of a device: the default CPU backend, or CUDA device N. */
const sg_backend *sg_backend_of_device(sg_device d);

/* The entry `fn` of backend `be`, or a stop naming the op and the backend:
 *   SG_BACKEND_NEED(be, conv2d_forward)(ws, out, ...);                      */
SG_NORETURN void sg_backend_missing_(const sg_backend *be, const char *entry, const char *file,
                                     int line);
#define SG_BACKEND_NEED(be, fn) \
    ((be)->fn ? (be)->fn : (sg_backend_missing_((be), #fn, __FILE__, __LINE__), (be)->fn))

/* Whether backend `be` has entry number i of sg_backend_entries (for the
 * backend-ops test and the README's op table). */
typedef struct sg_backend_entry {
    const char *name;
    size_t offset;            /* of the function pointer in sg_backend */
} sg_backend_entry;
extern const sg_backend_entry sg_backend_entries[];
extern const int sg_backend_n_entries;
bool sg_backend_has(const sg_backend *be, int entry);

#ifdef __cplusplus
}
#endif

#endif
