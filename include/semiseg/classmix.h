/*
 * classmix.h: ClassMix on a batch of tensors and the strong transform the
 * ClassMix code applies after mixing (Olsson et al., "ClassMix:
 * Segmentation-Based Data Augmentation for Semi-Supervised Learning", WACV
 * 2021, as cross teacher training uses it:
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py ema_loss,
 * utils/transformmasks.py generate_class_mask, utils/transformsgpu.py mix and
 * gaussian_blur).
 *
 *   sg_semi_classmix        per image i: the classes present in the argmax of
 *                           the teacher's probabilities p_i, half of them
 *                           (floor(n/2), sg_classmix_mask) chosen at random;
 *                           M_i = 1 on their pixels. Mixed image
 *                           M_i x_i + (1 - M_i) x_{(i+1) mod N}; the
 *                           probabilities are mixed with the same masks and
 *                           give the pseudo-label (argmax) and confidence (max)
 *   sg_semi_gaussian_blur   kornia 0.3 GaussianBlur2d as transformsgpu.py
 *                           calls it: kernel side ~10 % of H and W made odd,
 *                           reflect border
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

/* kornia.filters.GaussianBlur2d(kernel_size=(ky, kx), sigma=(sigma, sigma))
 * with border_type 'reflect' (kornia 0.3.0, the version SSL_CTT pins), each
 * channel on its own: k = floor(ceil(0.1 L) - 0.5 + ceil(0.1 L) % 2), i.e.
 * ceil(0.1 L) made odd by taking one off, for L = H (ky) and W (kx); weights
 * exp(-(j - k/2)^2 / (2 sigma^2)) normalised to sum 1. Computed on the host
 * as two 1-D passes (rows, then columns) of the separable kernel kornia
 * applies as one 2-D outer-product kernel: equal up to float32 rounding
 * (k / 2 < L for every L, as the reflect padding needs). sigma > 0. */
sg_tensor *sg_semi_gaussian_blur(sg_ctx *ctx, sg_tensor *img, float sigma);

/* The kernel side of sg_semi_gaussian_blur for a side of L pixels. */
int sg_semi_blur_kernel_size(int side);

#endif
