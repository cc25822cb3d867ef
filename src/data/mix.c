/*
 * mix.c: the mixing masks of the semi-supervised methods (augment.h).
 *   sg_cutmix_box      UniMatch obtain_cutmix_box
 *                      (LiheYoung/UniMatch@0324f3d:dataset/transform.py): with
 *                      probability p a box of area U(0.02, 0.4) S^2 and aspect
 *                      ratio U(0.3, 1/0.3), resampled until it fits
 *   sg_cutmix_seg_box  CutMix-Seg BoxMaskGenerator
 *                      (Britefury/cutmix-semisup-seg@c073d7b:mask_gen.py): one
 *                      box of area fraction a, random aspect, always inside
 *   sg_classmix_mask   ClassMix (Olsson et al., WACV 2021;
 *                      1181110317/SSL_CTT@33d7e3c:utils/transformmasks.py):
 *                      half of the classes present
 * Masks are int32 (h, w), 1 = take the mix source (the box / chosen classes).
 * Every draw comes from the caller's sg_rng; draw orders are in augment.h.
 * Covered by tests/test_augment.c (statistics and invariants).
 */
#include "semiseg/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double uniform_range_(sg_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * (double)sg_rng_uniform(rng);
}

void sg_cutmix_box(sg_box *box, int side, const sg_cutmix_config *cfg, sg_rng *rng)
{
    SG_CHECK(side >= 1, "sg_cutmix_box: side %d < 1", side);
    /* A box of area fraction a fits only for ratios in [a, 1/a]: the ratio
     * range must overlap that window for every a, or the loop below never ends. */
    SG_CHECK(cfg->area_min > 0 && cfg->area_min <= cfg->area_max && cfg->area_max < 1 && cfg->ratio_min > 0 &&
                 cfg->ratio_min <= cfg->ratio_max && cfg->ratio_min < 1 / cfg->area_max &&
                 cfg->ratio_max > cfg->area_max,
             "sg_cutmix_box: bad area [%g, %g] or ratio [%g, %g]", cfg->area_min, cfg->area_max, cfg->ratio_min,
             cfg->ratio_max);
    memset(box, 0, sizeof *box);
    /* `if random.random() > p: return mask` */
    if (sg_rng_uniform(rng) > cfg->p) return;
    double area = uniform_range_(rng, cfg->area_min, cfg->area_max) * side * side;
    /* Rejection loop as UniMatch; each attempt fits with a probability bounded
     * away from 0 (checked above), so it ends. */
    for (;;) {
        double ratio = uniform_range_(rng, cfg->ratio_min, cfg->ratio_max);
        int w = (int)sqrt(area / ratio), h = (int)sqrt(area * ratio);
        int x = (int)sg_rng_below(rng, (uint32_t)side), y = (int)sg_rng_below(rng, (uint32_t)side);
        if (x + w <= side && y + h <= side) {
            *box = (sg_box){.y = y, .x = x, .h = h, .w = w};
            return;
        }
    }
}

void sg_cutmix_seg_box(sg_box *box, int h, int w, const sg_cutmix_seg_config *cfg, sg_rng *rng)
{
    SG_CHECK(h >= 1 && w >= 1, "sg_cutmix_seg_box: bad size %dx%d", h, w);
    SG_CHECK(cfg->prop_min >= 0 && cfg->prop_min <= cfg->prop_max && cfg->prop_max <= 1,
             "sg_cutmix_seg_box: bad area range [%g, %g]", cfg->prop_min, cfg->prop_max);
    double a = uniform_range_(rng, cfg->prop_min, cfg->prop_max);
    double u = sg_rng_uniform(rng);
    double yf = 0.0, xf = 0.0;
    if (a > 0.0) { /* mask_gen.py zeroes both fractions when the area is 0 */
        yf = exp(u * log(a));
        xf = a / yf;
    }
    /* np.round rounds half to even, as rint in the default rounding mode */
    int bh = (int)rint(yf * h), bw = (int)rint(xf * w);
    int y = (int)rint((h - bh) * (double)sg_rng_uniform(rng));
    int x = (int)rint((w - bw) * (double)sg_rng_uniform(rng));
    *box = (sg_box){.y = y, .x = x, .h = bh, .w = bw};
}

void sg_box_mask(int32_t *mask, int h, int w, const sg_box *box)
{
    SG_CHECK(box->y >= 0 && box->x >= 0 && box->h >= 0 && box->w >= 0 && box->y + box->h <= h &&
                 box->x + box->w <= w,
             "sg_box_mask: box %d,%d %dx%d outside %dx%d", box->y, box->x, box->h, box->w, h, w);
    memset(mask, 0, (size_t)h * w * sizeof *mask);
    for (int y = box->y; y < box->y + box->h; y++)
        for (int x = box->x; x < box->x + box->w; x++) mask[(size_t)y * w + x] = 1;
}

int sg_classmix_mask(int32_t *mask, const int32_t *pred, int h, int w, int n_classes, sg_rng *rng)
{
    SG_CHECK(n_classes >= 1, "sg_classmix_mask: n_classes %d < 1", n_classes);
    size_t n = (size_t)h * w;
    uint8_t *chosen = sg_xcalloc((size_t)n_classes, 1);
    int *present = sg_xmalloc((size_t)n_classes * sizeof *present);
    for (size_t i = 0; i < n; i++)
        if (pred[i] >= 0 && pred[i] < n_classes) chosen[pred[i]] = 1;
    /* classes in increasing order, as torch.unique */
    int np_ = 0;
    for (int k = 0; k < n_classes; k++)
        if (chosen[k]) present[np_++] = k;
    memset(chosen, 0, (size_t)n_classes);
    int take = np_ / 2;
    /* partial Fisher-Yates: the first `take` entries become a uniform draw
     * without replacement (np.random.choice(n, n/2, replace=False)) */
    for (int i = 0; i < take; i++) {
        int j = i + (int)sg_rng_below(rng, (uint32_t)(np_ - i));
        int t = present[i];
        present[i] = present[j];
        present[j] = t;
        chosen[present[i]] = 1;
    }
    for (size_t i = 0; i < n; i++) mask[i] = pred[i] >= 0 && pred[i] < n_classes && chosen[pred[i]];
    free(chosen);
    free(present);
    return take;
}
