/*
 * region.h: class regions of a label map and their softmax-weighted
 * prototypes, the building blocks of UCCL's class-aware knowledge
 * regulation (YUKEKEJAN/UCCL@804ce93:UCCL.py, calculate_region):
 *   regions      per image n and class k, R(n, k) = the pixels with
 *                label == k that are members (e.g. not ignored); only the
 *                non-empty ones are kept, ordered by image, then class
 *   weights      per region, the softmax over its pixels of the class-k
 *                channel of a score map (logits):
 *                  w_p = exp(s[n, k, p]) / sum_{q in R(n, k)} exp(s[n, k, q])
 *   prototypes   per region, g = sum_{p in R} w_p f[n, :, p]  (count, C)
 *   map          every member pixel carries its region's prototype, every
 *                other pixel a row of a fill matrix (its own feature, or
 *                whatever the caller passes): (N, C, H, W)
 * Weights, prototypes and the map are differentiable (in the scores and
 * the features): they are composed of the ops of ops.h (index_select,
 * softmax, matmul, concat, reshape, permute), one small group per region.
 * The grouping itself (labels, membership) is host logic on int32 maps
 * read with sg_tensor_read; the region tables live in ctx's host arena
 * (valid until the next sg_ctx_reset).
 *
 * Covered by tests/test_region.c (values and gradients against
 * tests/ref/gen_region.py's torch re-implementation of calculate_region,
 * tests/data/region.bin; hand-made groupings).
 */
#ifndef SEMISEG_REGION_H
#define SEMISEG_REGION_H

#include "semiseg/ops.h"

typedef struct sg_regions {
    int n, h, w, n_classes;
    int count;                /* non-empty regions */
    int *image, *cls;         /* (count): image and class of each region */
    int *start;               /* (count + 1): region r's pixels are pix[start[r] .. start[r + 1]) */
    int *pix;                 /* pixel indices y * w + x within the image, ascending per region */
    int *owner;               /* (n * h * w): the region of each pixel, -1 for non-members */
} sg_regions;

/* Groups label (N, H, W) int32 in [0, K) (any device) by image and class;
 * member (N, H, W) int32, nonzero = member, or NULL (every pixel). */
void sg_regions_build(sg_ctx *ctx, sg_regions *r, const sg_tensor *label, const sg_tensor *member,
                      int n_classes);

/* scores (N, K, H, W) float -> (M, 1), M = the member pixels: for each
 * region in order, the softmax over its pixels of its class channel. */
sg_tensor *sg_region_softmax(sg_ctx *ctx, sg_tensor *scores, const sg_regions *r);

/* feat (N, C, H, W), weights (M, 1) from sg_region_softmax ->
 * prototypes (count, C); NULL when there is no region. */
sg_tensor *sg_region_prototypes(sg_ctx *ctx, sg_tensor *feat, sg_tensor *weights, const sg_regions *r);

/* (N, C, H, W) -> (N H W, C): row n H W + y W + x holds pixel (n, y, x)'s
 * feature (x.permute(0, 2, 3, 1).reshape(-1, C)). */
sg_tensor *sg_region_pixel_rows(sg_ctx *ctx, sg_tensor *feat);

/* (N, C, H, W): protos[owner] at member pixels, row p of fill (N H W, C) at
 * every other pixel p (fill = sg_region_pixel_rows(feat): its own feature).
 * protos may be NULL when count = 0. */
sg_tensor *sg_region_prototype_map(sg_ctx *ctx, sg_tensor *protos, sg_tensor *fill, const sg_regions *r);

#endif
