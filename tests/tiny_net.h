/*
 * tiny_net.h: the small segmentation net shared by tests/test_train_tiny.c
 * (20 steps against PyTorch) and tests/test_determinism.c (bitwise repeats):
 * conv3x3(+bias) - BN - ReLU - conv3x3 stride 2 dilation 2 - BN - ReLU -
 * conv1x1(+bias) - bilinear resize to the input size (align_corners) -
 * cross-entropy (ignore 255, mean). Entries are looked up by the names
 * tests/ref/gen_train_tiny.py uses: conv1.*, bn1.*, conv2.weight, bn2.*, cls.*.
 */
#ifndef SEMISEG_TEST_TINY_NET_H
#define SEMISEG_TEST_TINY_NET_H

#include "semiseg.h"

/* A parameter or buffer of the set by name; aborts when absent. */
sg_tensor *tiny_net_entry(sg_param_set *s, const char *name);
/* Training-mode forward pass and loss of images x (N, 3, H, W), labels y (N, H, W). */
sg_tensor *tiny_net_loss(sg_ctx *ctx, sg_param_set *s, sg_tensor *x, const sg_tensor *y);

#endif
