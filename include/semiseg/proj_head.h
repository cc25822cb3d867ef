/*
 * proj_head.h: a projection ("representation") head, the per-pixel
 * embedding U2PL adds to DeepLabV3+ for its contrastive loss
 * (Haochen-Wang409/U2PL@ab3d2be:u2pl/models/decoder.py, dec_deeplabv3_plus
 * self.representation):
 *     conv3x3 (cin -> mid, bias) -> BN -> ReLU -> Dropout2d(p)
 *     conv3x3 (mid -> mid, bias) -> BN -> ReLU -> Dropout2d(p)
 *     conv1x1 (mid -> out, bias)
 * x (N, cin, H, W) -> (N, out, H, W). Parameters are registered under
 * `prefix` with nn.Sequential's indices ("<prefix>0.weight", "0.bias",
 * "1.weight" ... "8.bias"), in PyTorch's order, through a builder (model.h),
 * so each draws from the init stream of its index in the set; convs and
 * biases take b->conv_init (U2PL keeps PyTorch's default for its decoder).
 * Dropout2d is applied in training mode only (nn.Dropout2d), with
 * sg_dropout2d's masks of (seed, stream[0]) and (seed, stream[1]).
 *
 * Implemented in src/core/proj_head.c. Covered by tests/test_u2pl.c (the
 * head's output and, through U2PL's loss, its gradients against
 * tests/ref/gen_u2pl.py).
 */
#ifndef SEMISEG_PROJ_HEAD_H
#define SEMISEG_PROJ_HEAD_H

#include "semiseg/model.h"

typedef struct sg_proj_head {
    int cin, mid, out;
    sg_convbn cb[2];          /* 3x3 conv weights (w) and their BNs; cb[i].w has a bias bias[i] */
    sg_tensor *bias[2];
    sg_tensor *w_out, *b_out; /* the final 1x1 conv */
} sg_proj_head;

/* Adds the head's 10 parameters and 4 buffers to b->set (group b->group). */
void sg_proj_head_build(sg_proj_head *h, sg_builder *b, const char *prefix, int cin, int mid, int out);

/* Forward; training: BN batch statistics (running ones updated) and
 * dropout p (0: none); stream: the two dropout streams (unused when not
 * training or p = 0). */
sg_tensor *sg_proj_head_forward(sg_ctx *ctx, const sg_proj_head *h, sg_tensor *x, bool training, float p,
                                uint64_t seed, const uint64_t stream[2]);

#endif
