/*
 * mit.h: the Mix Transformer encoders MiT-B0..B5 and SegFormer's all-MLP
 * head (Xie et al., "SegFormer: Simple and Efficient Design for Semantic
 * Segmentation with Transformers", NeurIPS 2021), as released in
 * NVlabs/SegFormer@65fa8cf (mmseg/models/backbones/mix_transformer.py,
 * mmseg/models/decode_heads/segformer_head.py) and copied by AllSpark
 * (xmed-lab/AllSpark@9da63e2:model/backbone/mit.py, model/semseg/allspark.py).
 *
 * Architecture, per stage s = 1..4: an overlapping patch embedding (conv
 * 7x7 stride 4 padding 3 for s = 1, 3x3 stride 2 padding 1 after, then
 * LayerNorm eps 1e-5), depths[s] blocks, and a LayerNorm (eps 1e-6) whose
 * output is c_s (strides 4, 8, 16, 32; output size ceil of the input over
 * the stride, as the padded convs give). A block is
 *   x = x + drop_path(attn(norm1(x))),  x = x + drop_path(mlp(norm2(x)))
 * with norm1/norm2 LayerNorm eps 1e-6; attn the efficient self-attention:
 * q = Linear(x), the keys and values from the map reduced by a conv of
 * kernel = stride = sr_ratio and a LayerNorm (eps 1e-5) when sr_ratio > 1,
 * kv = Linear(C -> 2C) (k = its first C outputs, v the last C), multi-head
 * softmax(q k^T / sqrt(C / heads)) v, then Linear proj; mlp = Linear(C ->
 * 4C), depthwise 3x3 conv (with bias), GELU, Linear(4C -> C). Attention and
 * MLP dropout rates are 0 in every released variant and are not modelled;
 * the stochastic-depth rate of block j (counted over all stages) is
 * drop_path_rate * j / (sum(depths) - 1) (torch.linspace).
 *
 * Layout: everything runs in NCHW. A Linear over the channels of a
 * (B, C, H, W) map is a 1x1 convolution whose weight is the Linear's (O, I)
 * weight viewed as (O, I, 1, 1) (the same memory and gradient buffer, no
 * copy); LayerNorm over tokens is sg_layernorm_channels; the attention runs
 * on the channels-first maps (sg_attention). PyTorch's permutes are not
 * needed, and results equal the token-layout code up to float rounding.
 *
 * The head: each c_i -> Linear(C_i -> E) (linear_c{i}.proj), c2..c4 resized
 * to c1's size (bilinear, align_corners=False), concatenated as [c4, c3,
 * c2, c1], linear_fuse = 1x1 conv (no bias) + BatchNorm + ReLU, Dropout2d
 * (0.1) in training, linear_pred = 1x1 conv (with bias) to K classes, and
 * the logits resized to the input (bilinear, align_corners=False).
 *
 * Names are the released state_dicts': the encoder under "backbone."
 * (patch_embed1.proj.weight, block1.0.attn.kv.weight, block1.0.attn.sr.weight,
 * block1.0.mlp.dwconv.dwconv.weight, norm1.weight, ...), the head under
 * "decode_head." (linear_c4.proj.weight, linear_fuse.conv.weight,
 * linear_fuse.bn.running_mean, linear_pred.bias), registered in PyTorch's
 * order. Group 0 = backbone, group 1 = head.
 *
 * Initialisation follows the released code in distribution: MiT Linear
 * weights trunc_normal(std 0.02) (truncated at +-2, i.e. +-100 std: a plain
 * normal here), Linear and conv biases 0, LayerNorm 1 / 0, MiT convs
 * N(0, 2 / fan_out) with fan_out = k k C_out / groups; the head keeps
 * PyTorch's defaults (Linear and linear_pred: U(+-1/sqrt(fan_in)), weight
 * and bias) except linear_fuse's conv, which mmcv's ConvModule initialises
 * as kaiming_normal(fan_out, relu), and its BN (1 / 0). Draws come from
 * sg_rng stream sg_rng_stream(SG_RNG_INIT, 0, i) for parameter index i.
 *
 * Covered by tests/test_mit.c (PyTorch parity of logits and every gradient
 * of a tiny SegFormer in training mode, drop-path and dropout included, from
 * tests/ref/gen_mit.py; released-name loading of the whole model and of an
 * ImageNet-style backbone file; init moments; misuse).
 */
#ifndef SEMISEG_MIT_H
#define SEMISEG_MIT_H

#include "semiseg/model.h"

/* nn.Linear over the channels of x (N, I, H, W) -> (N, O, H, W), with a
 * long-lived (O, I) weight and an (O) bias or NULL: a 1x1 convolution on
 * the weight's own memory and gradient (see above). */
sg_tensor *sg_linear_channels(sg_ctx *ctx, sg_tensor *x, sg_tensor *w, sg_tensor *b);

typedef struct sg_mit_config {
    int embed_dims[4];        /* B0: 32, 64, 160, 256; B1..B5: 64, 128, 320, 512 */
    int num_heads[4];         /* 1, 2, 5, 8 */
    int depths[4];            /* B0/B1 2,2,2,2; B2 3,4,6,3; B3 3,4,18,3; B4 3,8,27,3; B5 3,6,40,3 */
    int sr_ratios[4];         /* 8, 4, 2, 1 */
    int mlp_ratio;            /* 4 */
    float drop_path_rate;     /* 0.1 in every released variant */
} sg_mit_config;

/* The released MiT-B<variant>, variant 0..5 (aborts otherwise). */
sg_mit_config sg_mit_config_preset(int variant);
/* Aborts naming the field on a bad configuration. */
void sg_mit_config_check(const sg_mit_config *cfg);

typedef struct sg_mit_block {
    sg_tensor *norm1_w, *norm1_b;
    sg_tensor *q_w, *q_b;         /* (C, C), (C) */
    sg_tensor *kv_w, *kv_b;       /* (2C, C), (2C) */
    sg_tensor *proj_w, *proj_b;
    sg_tensor *sr_w, *sr_b;       /* (C, C, sr, sr); NULL when sr_ratio = 1 */
    sg_tensor *srn_w, *srn_b;     /* attn.norm */
    sg_tensor *norm2_w, *norm2_b;
    sg_tensor *fc1_w, *fc1_b;     /* (hidden, C) */
    sg_tensor *dw_w, *dw_b;       /* (hidden, 1, 3, 3) */
    sg_tensor *fc2_w, *fc2_b;     /* (C, hidden) */
    float drop_path;              /* this block's stochastic-depth rate */
} sg_mit_block;

typedef struct sg_mit {
    sg_mit_config cfg;
    sg_tensor *pe_w[4], *pe_b[4];       /* patch_embed{s}.proj */
    sg_tensor *pe_nw[4], *pe_nb[4];     /* patch_embed{s}.norm */
    sg_mit_block *blocks[4];
    sg_tensor *norm_w[4], *norm_b[4];   /* norm{s} */
    int channels[4];
} sg_mit;

/* Registers the encoder under `prefix` (e.g. "backbone.") through b. */
void sg_mit_build(sg_mit *net, const sg_mit_config *cfg, sg_builder *b, const char *prefix);
void sg_mit_free(sg_mit *net);

/* The random draws of a training forward: drop-path of block j (over all
 * stages) uses sg_rng_stream(SG_RNG_DROPOUT, a, 1 + j), the head's
 * Dropout2d sg_rng_stream(SG_RNG_DROPOUT, a, 0), all with `seed`; `a`
 * (< 2^24) keys the call, e.g. the iteration. */
typedef struct sg_mit_noise {
    uint64_t seed;
    uint64_t a;
} sg_mit_noise;

/* x (N, 3, H, W) -> c1..c4. noise NULL: no drop-path (evaluation). */
void sg_mit_forward(sg_ctx *ctx, const sg_mit *net, sg_tensor *x, const sg_mit_noise *noise,
                    sg_tensor *feats[4]);

/* ---- SegFormer = MiT + all-MLP head ----------------------------------------------- */
typedef struct sg_segformer_config {
    sg_mit_config backbone;
    int embed_dim;            /* E of the head: 256 (B0, B1), 768 (B2..B5) as released */
    int num_classes;
    float head_dropout;       /* Dropout2d before linear_pred: 0.1 */
} sg_segformer_config;

/* MiT-B<variant> with the released head width. */
sg_segformer_config sg_segformer_config_preset(int variant, int num_classes);

typedef struct sg_segformer {
    sg_segformer_config cfg;
    sg_param_set params;      /* owned: group 0 backbone, group 1 head */
    bool training;            /* BN batch statistics, drop-path and dropout on */
    sg_mit backbone;
    sg_tensor *lin_w[4], *lin_b[4];   /* decode_head.linear_c{i+1}.proj */
    sg_convbn fuse;                   /* decode_head.linear_fuse.conv / .bn */
    sg_tensor *pred_w, *pred_b;       /* decode_head.linear_pred (K, E, 1, 1), (K) */
} sg_segformer;

void sg_segformer_init(sg_segformer *m, const sg_segformer_config *cfg, uint64_t seed);
void sg_segformer_free(sg_segformer *m);

typedef struct sg_segformer_out {
    sg_tensor *logits;        /* (N, K, H, W), resized to the input */
    sg_tensor *feats[4];      /* c1..c4 */
    sg_tensor *feature;       /* (N, E, H/4, W/4): the fused feature before dropout and linear_pred */
} sg_segformer_out;

/* In training mode noise must be given (drop-path and Dropout2d draw from
 * it); in evaluation it is ignored. */
void sg_segformer_forward(sg_ctx *ctx, sg_segformer *m, sg_tensor *x, const sg_mit_noise *noise,
                          sg_segformer_out *out);
/* The head alone on encoder features c1..c4 (e.g. c4 replaced by a module,
 * as AllSpark does), logits resized to height x width; out->feats = feats. */
void sg_segformer_decode(sg_ctx *ctx, sg_segformer *m, sg_tensor *const feats[4], int height,
                         int width, const sg_mit_noise *noise, sg_segformer_out *out);

/* The network in evaluation: logits (1, K, H, W) of image (1, 3, H, W) at the
 * input size, in m's current mode (the driver's and sg-eval's callback). */
sg_tensor *sg_segformer_eval_logits(sg_ctx *ctx, void *m, sg_tensor *image);
/* A checkpoint's "model" line for a plain SegFormer, "arch=segformer mit=V
 * embed_dim=E classes=K" (the released presets otherwise), and its parser
 * (-1 with err naming the word; sg_kv_line_split's rules). */
void sg_segformer_line_format(int variant, const sg_segformer_config *cfg, char *buf, size_t len);
int sg_segformer_line_parse(const char *line, int *variant, sg_segformer_config *cfg, sg_err *err);

/* ImageNet MiT weights as SegFormer releases them (mit_b0.pth .. mit_b5.pth,
 * converted by tools/pth2safetensors.py: patch_embed1.proj.weight, block1.0.
 * attn.q.weight, ..., the classifier head.weight/bias) into the entries of
 * `set` under `prefix` (e.g. "backbone."); a leading "module." or
 * "backbone." in the file is dropped, head.* is skipped. Strict: every
 * backbone entry must be loaded and every other file tensor must map to one
 * of the same shape, else -1 with the missing, unexpected and mis-shaped
 * names in err, and the set unchanged. */
int sg_pretrained_load_mit(sg_param_set *set, const char *prefix, const char *path, sg_err *err);

#endif
