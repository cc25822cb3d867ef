/*
 * ops.h: the differentiable operations. Each takes a context and input
 * tensors, allocates its output in the arena, and records a backward node on
 * the tape when recording is on and an input requires a gradient.
 *
 * Numerics follow PyTorch (the specification); each op's kernel file cites
 * the PyTorch function it matches. Shapes: images are (N, C, H, W); label maps
 * are SG_I32 (N, H, W). Shape mismatches abort with the op name and shapes.
 *
 * Covered by tests/test_ops_*.c: PyTorch parity from committed fixtures and
 * finite-difference gradient checks.
 */
#ifndef SEMISEG_OPS_H
#define SEMISEG_OPS_H

#include "semiseg/rng.h"
#include "semiseg/tape.h"

/* ---- convolution and pooling ------------------------------------------------ */
typedef struct sg_conv2d_params {
    int stride_h, stride_w;
    int pad_h, pad_w;
    int dil_h, dil_w;
    int groups;
} sg_conv2d_params;
/* Square kernels' common case: stride s, padding p, dilation d, groups g. */
sg_conv2d_params sg_conv2d_params_make(int stride, int pad, int dil, int groups);

/* x (N, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or NULL
 * -> (N, Cout, Ho, Wo), Ho = (H + 2p - d(kh-1) - 1)/s + 1. torch.nn.functional.conv2d */
sg_tensor *sg_conv2d(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b, sg_conv2d_params p);

/* Max pooling, padding with -inf, floor mode. torch.nn.functional.max_pool2d */
sg_tensor *sg_maxpool2d(sg_ctx *ctx, sg_tensor *x, int kernel, int stride, int pad);
/* (N, C, H, W) -> (N, C, 1, 1). torch.nn.functional.adaptive_avg_pool2d(x, 1) */
sg_tensor *sg_global_avgpool(sg_ctx *ctx, sg_tensor *x);

/* ---- normalisation --------------------------------------------------------- */
/* torch.nn.functional.batch_norm. training: normalise with the batch mean and
 * biased variance, and update running_mean/running_var (unbiased variance)
 * with `momentum` in place; eval: normalise with the running statistics.
 * weight/bias (C) may be NULL (affine=False). running_* are (C), not graded. */
sg_tensor *sg_batchnorm2d(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                          sg_tensor *running_mean, sg_tensor *running_var,
                          bool training, float momentum, float eps);
/* relu(sg_batchnorm2d(...)) as one op, same arguments and the same result
 * (torch: batch_norm followed by relu): one output instead of two, and one
 * pass over it less; the backward masks the upstream gradient by out > 0. */
sg_tensor *sg_batchnorm2d_relu(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                               sg_tensor *running_mean, sg_tensor *running_var, bool training,
                               float momentum, float eps);
/* Over the last dimension D: x (..., D), weight/bias (D) or NULL.
 * torch.nn.functional.layer_norm(x, (D,), weight, bias, eps) */
sg_tensor *sg_layernorm(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias, float eps);
/* Per position, over dim 1 of x (N, C) or (N, C, H, W):
 * x / max(||x||_2 over dim 1, eps). torch.nn.functional.normalize(x, p=2, dim=1, eps) */
sg_tensor *sg_normalize(sg_ctx *ctx, sg_tensor *x, float eps);
/* torch.nn.functional.cosine_similarity(a, b, dim=1, eps): (N, C) -> (N) or
 * (N, C, H, W) -> (N, H, W); a and b of the same shape. As torch 1.13:
 * sum_c (a_c / max(||a||, eps)) (b_c / max(||b||, eps)), the clamp not
 * differentiated (see src/cpu/normalize_math.h). */
sg_tensor *sg_cosine_similarity(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, float eps);
/* Per position, over dim 1: (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)
 * (unbiased std, torch's default); x (N, C) or (N, C, H, W), C >= 2. A position
 * whose channels are all equal gives NaN, as in PyTorch. */
sg_tensor *sg_standardize(sg_ctx *ctx, sg_tensor *x);

/* ---- activations and element-wise -------------------------------------------- */
sg_tensor *sg_relu(sg_ctx *ctx, sg_tensor *x);
/* Exact GELU, 0.5 x (1 + erf(x / sqrt 2)): torch's approximate='none'. */
sg_tensor *sg_gelu(sg_ctx *ctx, sg_tensor *x);
sg_tensor *sg_add(sg_ctx *ctx, sg_tensor *a, sg_tensor *b);   /* same shape */
sg_tensor *sg_sub(sg_ctx *ctx, sg_tensor *a, sg_tensor *b);   /* same shape */
sg_tensor *sg_mul(sg_ctx *ctx, sg_tensor *a, sg_tensor *b);   /* same shape */
sg_tensor *sg_scale(sg_ctx *ctx, sg_tensor *x, float s);
/* Dropout2d in training: zero whole channels (n, c) with probability p and
 * scale the rest by 1/(1-p). Channel (n, c) is kept iff
 * sg_rng_uniform of stream `stream` at draw index n*C + c is >= p, so the mask is
 * a function of (seed, stream) alone. torch.nn.functional.dropout2d semantics. */
sg_tensor *sg_dropout2d(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream);

/* ---- resizing ---------------------------------------------------------------- */
/* torch.nn.functional.interpolate(x, size=(oh, ow), mode='bilinear', align_corners) */
sg_tensor *sg_resize_bilinear(sg_ctx *ctx, sg_tensor *x, int oh, int ow, bool align_corners);
/* mode='nearest' (PyTorch's legacy floor rule), float tensors, differentiable. */
sg_tensor *sg_resize_nearest(sg_ctx *ctx, sg_tensor *x, int oh, int ow);
/* The same nearest rule for label maps: SG_I32 (N, H, W) -> (N, oh, ow). No gradient. */
sg_tensor *sg_resize_nearest_labels(sg_ctx *ctx, const sg_tensor *labels, int oh, int ow);

/* ---- layout ------------------------------------------------------------------ */
/* Concatenate along dim (0 = batch, 1 = channels); other dims must match. torch.cat */
sg_tensor *sg_concat(sg_ctx *ctx, sg_tensor *const *xs, int n, int dim);
/* x.narrow(dim, start, length), copied; gradient flows back into the slice. */
sg_tensor *sg_narrow(sg_ctx *ctx, sg_tensor *x, int dim, int start, int length);
/* torch.reshape: same elements in the same order, new shape (one size may be
 * -1, inferred); the gradient flows back. The result is a view: it shares
 * x's memory (nothing is copied), its gradient is its own buffer. */
sg_tensor *sg_reshape(sg_ctx *ctx, sg_tensor *x, int ndim, const int *shape);
/* x.permute(perm).contiguous() for 2..4-D float tensors: out.shape[i] = x.shape[perm[i]]. */
sg_tensor *sg_permute(sg_ctx *ctx, sg_tensor *x, const int *perm);
/* torch.index_select(x, 0, idx): rows idx[0..n) (a HOST int array, copied; repeats allowed)
 * of float x (M, ...) -> (n, ...); the backward adds each output row's gradient into its
 * source row (in output-row order, the same on every backend). */
sg_tensor *sg_index_select(sg_ctx *ctx, sg_tensor *x, const int *idx, int n);

/* ---- softmax and reductions ---------------------------------------------------- */
/* Over dimension dim (channels of NCHW: dim = 1; last dim of a matrix: dim = 1). */
sg_tensor *sg_softmax(sg_ctx *ctx, sg_tensor *x, int dim);
sg_tensor *sg_log_softmax(sg_ctx *ctx, sg_tensor *x, int dim);
sg_tensor *sg_sum(sg_ctx *ctx, sg_tensor *x);    /* -> scalar (1 element), double accumulation */
sg_tensor *sg_mean(sg_ctx *ctx, sg_tensor *x);   /* -> scalar */

/* ---- linear algebra ------------------------------------------------------------ */
/* x (..., in), w (out, in), b (out) or NULL -> (..., out). torch.nn.functional.linear */
sg_tensor *sg_linear(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b);
/* (B, M, K) x (B, K, N) -> (B, M, N), or 2-D (M, K) x (K, N); trans_a/trans_b
 * take the stored operand as its transpose. torch.matmul / torch.bmm */
sg_tensor *sg_matmul(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, bool trans_a, bool trans_b);

/* ---- losses -------------------------------------------------------------------- */
typedef enum sg_reduction {
    SG_REDUCE_NONE = 0,    /* per-element (per-pixel) map */
    SG_REDUCE_MEAN = 1,
    SG_REDUCE_SUM = 2,
    SG_REDUCE_BATCHMEAN = 3 /* sum / N: only for sg_kl_div, as torch */
} sg_reduction;

/* logits (N, K, H, W), target SG_I32 (N, H, W) with values in [0, K) or
 * ignore_index; weight (N, H, W) per-pixel weights or NULL.
 * NONE -> (N, H, W) map of w_p * ce_p, 0 at ignored pixels;
 * SUM  -> sum_p w_p ce_p;
 * MEAN -> sum_p w_p ce_p / #(non-ignored pixels) (torch's mean when weight is NULL).
 * A target outside [0, K) that is not ignore_index aborts naming the pixel.
 * torch.nn.functional.cross_entropy(..., ignore_index, reduction) */
sg_tensor *sg_cross_entropy(sg_ctx *ctx, sg_tensor *logits, const sg_tensor *target,
                            sg_tensor *weight, int ignore_index, sg_reduction red);
/* OHEM cross-entropy, TorchSemiSeg's ProbOhemCrossEntropy2d as UniMatch uses
 * it on Cityscapes (LiheYoung/UniMatch@0324f3d:util/ohem.py): the pixels
 * whose softmax probability of their class is <= max(thresh, the min_kept-th
 * smallest such probability) keep their target, the others are ignored, and
 * the result is the mean CE over the kept ones. min_kept = 0, or more than
 * the non-ignored pixels, gives the plain mean CE (its kept mask is applied
 * only when 0 < min_kept <= #valid). The selection is not differentiated
 * (the gradient is the CE's on the kept pixels). Shapes as sg_cross_entropy. */
sg_tensor *sg_ohem_cross_entropy(sg_ctx *ctx, sg_tensor *logits, const sg_tensor *target,
                                 int ignore_index, float thresh, long min_kept);
/* torch.nn.functional.mse_loss(a, b, reduction): NONE/MEAN/SUM. */
sg_tensor *sg_mse_loss(sg_ctx *ctx, sg_tensor *a, sg_tensor *b, sg_reduction red);
/* torch.nn.functional.kl_div(log_input, target, reduction, log_target=False):
 * target * (log target - log_input), 0 where target == 0. All reductions. */
sg_tensor *sg_kl_div(sg_ctx *ctx, sg_tensor *log_input, sg_tensor *target, sg_reduction red);
/* Per-pixel entropy of probabilities over channels: p (N, C, H, W) ->
 * (N, 1, H, W), -sum_c p log(p + eps) (U2PL uses eps = 1e-10). */
sg_tensor *sg_entropy(sg_ctx *ctx, sg_tensor *p, float eps);

/* ---- transformer ops (op_transformer.c) ------------------------------------------ */
/* Layer norm over dim 1 of x (N, C, ...), weight/bias (C) or NULL:
 * F.layer_norm(x.movedim(1, -1), (C,), weight, bias, eps).movedim(-1, 1),
 * the channels of NCHW (SegFormer's stage norms in NCHW, ConvNeXt's
 * LayerNorm2d) without the permutes. */
sg_tensor *sg_layernorm_channels(sg_ctx *ctx, sg_tensor *x, sg_tensor *weight, sg_tensor *bias,
                                 float eps);
/* Multi-head scaled dot-product attention, softmax over the keys:
 * head h (channels [h D, (h+1) D), D = C / heads) of the output is
 * softmax(scale Q_h K_h^T) V_h. Tokens: q (B, N, C), k = v shape (B, M, C)
 * -> (B, N, C); or channels-first: q (B, C, H, W), k = v shape (B, C, h, w)
 * -> (B, C, H, W), positions as tokens. SegFormer's efficient
 * self-attention is this op with k, v from the spatially reduced tokens. */
sg_tensor *sg_attention(sg_ctx *ctx, sg_tensor *q, sg_tensor *k, sg_tensor *v, int heads,
                        float scale);
/* Stochastic depth (timm DropPath) in training: sample n of x (N, ...) is
 * zeroed with probability p, else scaled by 1/(1-p); kept iff draw n of
 * sg_rng (seed, stream) is >= p. */
sg_tensor *sg_drop_path(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream);
/* Dropout in training (F.dropout): element i zeroed with probability p, else
 * scaled by 1/(1-p); kept iff draw i of sg_rng (seed, stream) is >= p. */
sg_tensor *sg_dropout(sg_ctx *ctx, sg_tensor *x, float p, uint64_t seed, uint64_t stream);

#endif
