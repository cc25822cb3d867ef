/*
 * allspark.h: the AllSpark module (Wang, Zhang, Li, Li, "AllSpark: Reborn
 * Labeled Features from Unlabeled in Transformer for Semi-Supervised
 * Semantic Segmentation", CVPR 2024), as released in
 * xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py (AllSpark,
 * CrossAttnMem): a bottleneck on the deepest feature map of a batch of B
 * labeled then B unlabeled images that rebuilds each labeled feature from
 * unlabeled channels, with a class-wise Semantic Memory of channel maps.
 *
 * x (2B, Cin, h, w), N = h w tokens, C channels, H heads, K classes:
 *   en = GELU(map_in(x))                          1x1 conv Cin -> C with bias
 *   Z = LayerNorm_C(en) (eps 1e-6); Z_l, Z_u = its two halves
 *   training: Channel Semantic Grouping and enqueue (below), before reading
 *   unlabeled: per head h, A = Q_h^T K_h (C x C, summed over the N tokens),
 *     Q = q_u(Z_u), K = k_u(Z_u), V = v_u(Z_u) (Linear C -> H C, no bias,
 *     head h = outputs [h C, (h+1) C)); P = dropout(softmax_rows(psi(A)))
 *     with psi = InstanceNorm (per map, biased variance, eps 1e-5, no
 *     affine) instead of a 1/sqrt(d) scale; O_h = P V_h^T (C x N); the heads
 *     merged with channel c of head h at c H + h (the released
 *     permute(0, 3, 2, 1)); out_u = dropout(Linear H C -> C)
 *   labeled: Q = q_l2u(Z_l), every one of its H C channels a query; the key
 *     and value channels are those of k_l2u(S), v_l2u(S) over all samples of
 *     the source S pooled (S = the memory's K class slots when use_memory,
 *     else the unlabeled images of the labeled image's group of pool_size
 *     in Z_u); A = Q^T K_pool (H C x S H C) per labeled image, psi over
 *     the whole map, softmax over keys, dropout, O = P V_pool^T;
 *     out_l2u = dropout(Linear H C -> C)
 *   y = GELU(map_out(LayerNorm_C(cat(out_l2u, out_u) + en)))  (eps 1e-6)
 * Evaluation: x is duplicated into both halves, no grouping, no memory, no
 * dropout, and the labeled half is returned (the released eval path).
 *
 * Semantic Memory: kv_queue (K, C, N), a ring of C channel maps per class,
 * and queue_ptr (K). Grouping (training only, not differentiated): the
 * class logits of the same unlabeled images are resized to (h, w)
 * (bilinear, align_corners=False), each class map and each channel map of
 * Z_u is L2-normalised over its N positions (F.normalize, eps 1e-12), and
 * channel c of sample b goes to the class of largest cosine (first on
 * ties). Then per sample in order, per class in increasing order, the
 * class's channel maps (channel order) are written at its pointer with
 * wrap-around, and the pointer advances by their number modulo C.
 *
 * Parameters and buffers are registered in a set under the released names
 * (map_in.0.weight, map_in.0.bias, attn_norm.*, attn.q_u.weight, ...,
 * attn.out_l2u.weight, encoder_norm.*, map_out.0.*; buffers
 * attn.queue_ptr, attn.kv_queue) with the released init: Linear
 * xavier_uniform, the convs PyTorch's default, LayerNorm 1 / 0, kv_queue
 * N(0, 1), pointers 0 (from sg_rng stream (SG_RNG_INIT, 0, index)).
 *
 * Covered by tests/test_allspark_module.c (PyTorch parity of a training
 * step without and with the memory, wrap-around included: outputs, every
 * gradient, the memory and pointers after the enqueue; eval mode; misuse).
 */
#ifndef SEMISEG_ALLSPARK_H
#define SEMISEG_ALLSPARK_H

#include "semiseg/mit.h"

typedef struct sg_allspark_config {
    int in_channels;          /* channel_num: the encoder feature's channels */
    int channels;             /* embedding_channels = channel_num_out: C (512 on MiT-B5) */
    int heads;                /* num_heads: 2 */
    int classes;              /* K */
    int tokens;               /* N = h w of the feature (patch_num; (crop / 32 + 1)^2 on MiT) */
    float dropout;            /* attention and projection dropout: 0.1 */
    /* Keys and values from the batch (not the memory) pool the unlabeled
     * images of consecutive groups of pool_size, labeled image i reading
     * its group's (i / pool_size): the released code runs the module on
     * each GPU's own batch (DDP, 2 + 2 images per GPU). 0: the whole batch;
     * a batch smaller than pool_size is one group (validation at batch 1). */
    int pool_size;
} sg_allspark_config;

typedef struct sg_allspark {
    sg_allspark_config cfg;
    sg_tensor *map_in_w, *map_in_b;       /* (C, Cin, 1, 1), (C) */
    sg_tensor *attn_norm_w, *attn_norm_b;
    sg_tensor *q_u, *k_u, *v_u;           /* (H C, C) */
    sg_tensor *q_l2u, *k_l2u, *v_l2u;     /* (H C, C) */
    sg_tensor *out_u, *out_l2u;           /* (C, H C) */
    sg_tensor *enc_norm_w, *enc_norm_b;
    sg_tensor *map_out_w, *map_out_b;     /* (C, C, 1, 1), (C) */
    sg_tensor *queue_ptr;                 /* buffer (K), float-valued integers */
    sg_tensor *kv_queue;                  /* buffer (K, C, N) */
} sg_allspark;

/* Registers the module in b->set under `prefix` (e.g. "allspark."). */
void sg_allspark_build(sg_allspark *m, const sg_allspark_config *cfg, sg_builder *b,
                       const char *prefix);

/* The dropout draws of a training forward: four streams of `seed`. */
typedef struct sg_allspark_noise {
    uint64_t seed;
    uint64_t attn_u, proj_u, attn_l2u, proj_l2u;
} sg_allspark_noise;

/* training: x (2B, Cin, h, w) with h w = cfg.tokens, labeled first;
 * group_logits (B, K, H, W) the unlabeled images' class logits for the
 * grouping (required: the memory is always filled in training), noise for
 * the dropouts, use_memory: keys/values from the memory (after warm-up).
 * Returns (2B, C, h, w). Evaluation (training false): x (B, Cin, h, w) of any size,
 * the rest ignored; returns (B, C, h, w). */
sg_tensor *sg_allspark_forward(sg_ctx *ctx, sg_allspark *m, sg_tensor *x, bool training,
                               sg_tensor *group_logits, bool use_memory,
                               const sg_allspark_noise *noise);

/* ---- the networks: the module on c4 of an encoder ------------------------------------ */
/* Two kinds, one interface (sg_allspark_net_*), so that the trainer's step
 * (experiments/allspark/allspark_loss.c) runs on either.
 *
 * SG_ALLSPARK_SEGFORMER, the released network
 * (xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py SemiDecoder and
 * model/model_helper.py): MiT encoder, the module on c4 (C = c4's channels
 * in and out, H heads, N = the tokens of c4 at the training crop: ceil(crop /
 * 32)^2 as MiT's padded patch embeddings give; the released (crop // 32 +
 * 1)^2 is the same for a crop not divisible by 32, and fails otherwise),
 * then the SegFormer head on (c1, c2, c3, module(c4)). Parameters in one
 * set: "backbone." (group 0), "decode_head." and "allspark." (group 1, the
 * released decoder's lr_multi group). Noise keyed as sg_mit_noise
 * (drop-path of block j stream 1 + j, the head's Dropout2d stream 0) with
 * the module's four dropouts at streams 1 + blocks + 0..3.
 *
 * SG_ALLSPARK_DEEPLAB (allspark_deeplab.c): the suite's DeepLabV3+
 * (sg_deeplab: its ResNet, ASPP, decoder and classifier under their names)
 * with the unchanged module between the encoder's c4 (layer4) and the ASPP,
 * as wangshanwen001/Awesome-semi-supervised-semantic-segmentation-code@8d62173:
 * nets/deeplabv3_plus_allspark.py inserts it (self.allspark before
 * self.aspp): C = c4's channels in and out, N = h4 w4 of c4 at the training
 * crop (sg_allspark_deeplab_tokens). Not a network the AllSpark paper
 * trains. The module's parameters join the DeepLabV3+'s set under
 * "allspark." in group 1, the head's. No drop-path or head dropout: the
 * module's four dropouts at streams 1 + 0..3 (the SegFormer's numbering
 * with no blocks).
 *
 * Covered by tests/test_allspark.c (one training iteration of each kind
 * against PyTorch, the eval path, the config lines). */
typedef enum sg_allspark_arch {
    SG_ALLSPARK_SEGFORMER = 0,    /* the released network; config line "arch=allspark ..." */
    SG_ALLSPARK_DEEPLAB = 1       /* "arch=allspark_deeplab ..." */
} sg_allspark_arch;

typedef struct sg_allspark_net_config {
    sg_allspark_arch arch;
    int variant;              /* SEGFORMER: MiT-B<variant>, seg.backbone its preset (drop_path_rate may differ) */
    sg_segformer_config seg;  /* SEGFORMER */
    sg_deeplab_config deeplab; /* DEEPLAB */
    int heads;                /* num_heads: 2 */
    float dropout;            /* attention_dropout_rate: 0.1 */
    int tokens;               /* N */
    int pool_size;            /* sg_allspark_config.pool_size: 2, the released per-GPU batch */
} sg_allspark_net_config;

typedef struct sg_allspark_net {
    sg_allspark_arch arch;
    sg_segformer seg;         /* SEGFORMER: seg.params holds every parameter and buffer */
    sg_deeplab deeplab;       /* DEEPLAB: deeplab.params likewise */
    sg_allspark mod;
} sg_allspark_net;

/* tokens = ceil(crop / 32)^2 (the c4 size of a square crop on MiT). */
int sg_allspark_tokens(int crop);
/* tokens = h4 w4, the c4 size of the DeepLabV3+'s ResNet on a square crop. */
int sg_allspark_deeplab_tokens(const sg_deeplab_config *cfg, int crop);
void sg_allspark_net_init(sg_allspark_net *m, const sg_allspark_net_config *cfg, uint64_t seed);
void sg_allspark_net_free(sg_allspark_net *m);
/* The set of every parameter and buffer, and the mode flag (true: training,
 * the BN batch statistics, dropouts, grouping and memory; false: evaluation). */
sg_param_set *sg_allspark_net_params(sg_allspark_net *m);
bool *sg_allspark_net_training(sg_allspark_net *m);

/* x (2B, 3, S, S), labeled then unlabeled, in training mode:
 * group_logits (B, K, H, W) of the unlabeled half from an eval-mode pass,
 * use_memory after the warm-up, noise keyed as above. In evaluation: x (B,
 * 3, H, W), the duplicated-input path; group_logits, use_memory, noise
 * ignored. Returns the logits at the input size. */
sg_tensor *sg_allspark_net_forward(sg_ctx *ctx, sg_allspark_net *m, sg_tensor *x,
                                   sg_tensor *group_logits, bool use_memory,
                                   const sg_mit_noise *noise);
/* The evaluation forward as a logits callback (metrics.h sg_eval_image):
 * net is an sg_allspark_net in evaluation mode. */
sg_tensor *sg_allspark_net_eval_logits(sg_ctx *ctx, void *net, sg_tensor *image);

/* The architecture as one line for checkpoint metadata (sg-eval rebuilds
 * the network from it). SEGFORMER: "arch=allspark mit=V embed_dim=E
 * classes=K heads=H tokens=N" (MiT-B<V>'s preset); DEEPLAB:
 * "arch=allspark_deeplab <the words of sg_deeplab_config_format> heads=H
 * tokens=N". parse reads either back (dropouts 0.1, pool_size 0:
 * evaluation at batch 1 does not depend on them) (-1 naming the problem).
 * Dropout rates are training settings and not in the line. */
void sg_allspark_net_config_format(const sg_allspark_net_config *cfg, char *buf, size_t len);
int sg_allspark_net_config_parse(const char *line, sg_allspark_net_config *cfg, sg_err *err);

/* The DEEPLAB kind's parts (allspark_deeplab.c), which the sg_allspark_net_*
 * functions above call for it. */
sg_tensor *sg_allspark_deeplab_forward(sg_ctx *ctx, sg_allspark_net *m, sg_tensor *x,
                                       sg_tensor *group_logits, bool use_memory,
                                       const sg_mit_noise *noise);
void sg_allspark_deeplab_config_format(const sg_allspark_net_config *cfg, char *buf, size_t len);
int sg_allspark_deeplab_config_parse(const char *line, sg_allspark_net_config *cfg, sg_err *err);

#endif
