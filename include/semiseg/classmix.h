/*
 * classmix.h: ClassMix on a batch of tensors (Olsson et al., "ClassMix:
 * Segmentation-Based Data Augmentation for Semi-Supervised Learning", WACV
 * 2021, as cross teacher training uses it:
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py ema_loss,
 * utils/transformmasks.py generate_class_mask, utils/transformsgpu.py mix):
 * per image i, the classes present in the argmax of the teacher's
 * probabilities p_i, half of them (floor(n/2), sg_classmix_mask) chosen at
 * random; M_i = 1 on their pixels. Mixed image M_i x_i + (1 - M_i)
 * x_{(i+1) mod N}; the probabilities are mixed with the same masks and give
 * the pseudo-label (argmax) and confidence (max). The blur of the strong
 * transform that follows the mix is a core primitive,
 * sg_semi_gaussian_blur (semi.h).
 *
 * Shapes: probs (N, K, H, W) float; images (N, C, H, W) float; masks, labels
 * (N, H, W) int32; conf (N, H, W) float. None of this is differentiable: the
 * inputs must not require a gradient. The masks and the mixed
 * probabilities are computed on the host (sg_tensor_read of the
 * probabilities, one argmax per pixel) and uploaded; the images are pasted on
 * the context's device.
 *
 * Implemented in src/run/classmix.c (run layer: it uses the data layer's
 * sg_classmix_mask). Covered by tests/test_classmix.c against
 * tests/ref/gen_classmix.py (the released functions restated in torch, the
 * class draws from the same Philox sequence).
 */
#ifndef SEMISEG_CLASSMIX_H
#define SEMISEG_CLASSMIX_H

#include "semiseg/rng.h"
#include "semiseg/semi.h"

typedef struct sg_classmix {
    sg_tensor *mask;          /* (N, H, W) int32: 1 = image i's own pixel, 0 = image (i+1) mod N's */
    sg_tensor *img;           /* (N, C, H, W) mixed images */
    sg_pseudo pseudo;         /* argmax / max of the mixed probabilities; ignore = NULL */
} sg_classmix;

/* ClassMix of img with masks drawn from the argmax of probs (ties: the first
 * maximum). The class choices of image 0, then 1, ... are drawn from rng
 * (sg_classmix_mask: partial Fisher-Yates with sg_rng_below), the released
 * np.random.choice(n, floor(n/2), replace=False) per image in batch order. */
void sg_semi_classmix(sg_ctx *ctx, sg_tensor *probs, sg_tensor *img, sg_rng *rng, sg_classmix *out);

#endif
