/*
 * augment.h: the UniMatch-family data augmentation on 8-bit images (sg_image,
 * HWC uint8), the mixing masks (CutMix boxes, ClassMix) and ImageNet
 * normalisation to float CHW.
 *
 * Reference: LiheYoung/UniMatch@0324f3d:dataset/semi.py and
 * dataset/transform.py (weak view; strong view; obtain_cutmix_box),
 * Britefury/cutmix-semisup-seg@c073d7b:mask_gen.py (CutMix-Seg box mask),
 * ClassMix (Olsson et al., WACV 2021; as in
 * 1181110317/SSL_CTT@33d7e3c:utils/transformmasks.py). UniMatch
 * runs its augmentation on PIL images, so every pixel operation here follows
 * Pillow 9.4 / torchvision 0.14 arithmetic to the bit:
 *   resize      Pillow Image.resize BILINEAR (libImaging/Resample.c: separable,
 *               horizontal pass first into an 8-bit temporary, support scaled
 *               by the factor when downscaling, 22-bit fixed-point weights)
 *               and NEAREST (Geometry.c ImagingScaleAffine)
 *   colour      torchvision ColorJitter on PIL: ImageEnhance.Brightness /
 *               Contrast / Color (Image.blend), adjust_hue (PIL HSV round
 *               trip, uint8 hue shift); RandomGrayscale (PIL "L" conversion)
 *   blur        Pillow GaussianBlur(radius = sigma): three extended box blurs
 *               (libImaging/BoxBlur.c)
 *   normalise   torchvision ToTensor + Normalize in float32
 *   intensity   DSSN's random-intensity chain (kunzhan/DSSN@efaee86:
 *               voc/dataset/transform.py strong_img_aug): ImageOps.autocontrast
 *               / equalize / posterize / solarize (per-channel tables),
 *               ImageEnhance.Sharpness (3x3 SMOOTH filter, Image.blend), and
 *               the colour ops and blur above
 * Checked against Pillow/torchvision outputs with fixed parameters in
 * tests/test_augment.c (fixture tests/data/augment.bin from
 * tests/ref/gen_augment.py) and, for the intensity chain, tests/test_intensity.c
 * (tests/data/intensity.bin from tests/ref/gen_intensity.py).
 *
 * Randomness: every draw comes from the sg_rng the caller passes (the loader
 * keys it by (seed, SG_RNG_AUGMENT, epoch, sample)). Each step draws only what
 * it uses, in this order (draws are sg_rng_uniform unless noted):
 *   weak   1 long side: sg_rng_below(hi - lo + 1) + lo, lo = int(scale_min L),
 *            hi = int(scale_max L), L = max(h, w)
 *          2 crop corner: x = sg_rng_below(W - crop + 1), then
 *            y = sg_rng_below(H - crop + 1) (W, H after padding)
 *          3 flip: u < flip_p
 *   strong (per view; s1 completely before s2)
 *          4 jitter: u < jitter_p; only when applied: the order of the four
 *            ops (Fisher-Yates: for i = 3..1, j = sg_rng_below(i + 1)), then
 *            brightness, contrast, saturation, hue factors (4 uniforms)
 *          5 grayscale: u < gray_p
 *          6 blur: u < blur_p; only when applied: sigma
 *          6b random-intensity chain, only when intensity_ops > 0: the count
 *            (sg_rng_below(intensity_ops) + 1 when intensity_random_num), the
 *            op ids (sg_rng_below(11) each), then per op in order: blur sigma
 *            U(0.1, 2.0); contrast / brightness / color / sharpness factor
 *            0.95 - 0.9 u; posterize bits 8 - max(1, ceil(4 u)); solarize
 *            threshold 256 - max(1, ceil(255 u)); hue v = 0.5 u, then -v if
 *            u' < 0.5; identity, autocontrast, equalize nothing
 *          7 CutMix box (sg_cutmix_box): u > p means no box; else the area,
 *            then per attempt: ratio, x = sg_rng_below(S), y = sg_rng_below(S)
 */
#ifndef SEMISEG_AUGMENT_H
#define SEMISEG_AUGMENT_H

#include "semiseg/base.h"
#include "semiseg/image.h"
#include "semiseg/rng.h"

/* ---- configuration ---------------------------------------------------------- */

/* Weak geometric augmentation (UniMatch dataset/semi.py: resize, crop, hflip). */
typedef struct sg_weak_config {
    int crop;               /* side of the square crop (VOC 321 or 513, Cityscapes 801) */
    double scale_min;       /* long side drawn in [int(scale_min L), int(scale_max L)] */
    double scale_max;
    int image_fill;         /* padding value of the image (before normalisation) */
    int label_fill;         /* padding value of a labeled mask (the ignore index) */
    int unlabeled_fill;     /* padding sentinel of an unlabeled mask */
    float flip_p;           /* probability of a horizontal flip */
} sg_weak_config;

/* Strong photometric augmentation (UniMatch dataset/semi.py: jitter, grayscale,
 * blur), per strong view. */
typedef struct sg_strong_config {
    float jitter_p;         /* probability of ColorJitter */
    float brightness;       /* factor ~ U[max(0, 1 - v), 1 + v] (torchvision _check_input) */
    float contrast;
    float saturation;
    float hue;              /* shift ~ U[-v, v], fraction of the hue circle, v <= 0.5 */
    float gray_p;           /* probability of RandomGrayscale */
    float blur_p;           /* probability of the Gaussian blur */
    float blur_sigma_min;   /* sigma ~ U(min, max), Pillow radius = sigma */
    float blur_sigma_max;
    /* DSSN's random-intensity chain after the blur (kunzhan/DSSN@efaee86:
     * voc/dataset/transform.py strong_img_aug): up to intensity_ops ops
     * (0: none, the UniMatch pipeline), a uniform count in 1..intensity_ops
     * when intensity_random_num, else exactly intensity_ops. */
    int intensity_ops;
    bool intensity_random_num;
} sg_strong_config;

/* UniMatch's CutMix box (obtain_cutmix_box, dataset/transform.py). */
typedef struct sg_cutmix_config {
    float p;                /* probability of a box (else the mask is empty) */
    double area_min;        /* box area ~ U(area_min, area_max) * S^2 */
    double area_max;
    double ratio_min;       /* aspect ratio h/w ~ U(ratio_min, ratio_max) */
    double ratio_max;
} sg_cutmix_config;

/* CutMix-Seg's box (BoxMaskGenerator with prop_by_area, random_aspect_ratio,
 * within_bounds, invert, one box; CutMix-Seg mask_gen.py). */
typedef struct sg_cutmix_seg_config {
    double prop_min;        /* area fraction ~ U(prop_min, prop_max) */
    double prop_max;
} sg_cutmix_seg_config;

typedef struct sg_augment_config {
    sg_weak_config weak;
    sg_strong_config strong;
    sg_cutmix_config cutmix;
    float mean[3];          /* normalisation, on values scaled to [0, 1] */
    float std[3];
} sg_augment_config;

/* The UniMatch values (dataset/semi.py) for a given crop side: scale
 * 0.5-2.0, fills 0/255/254, flip 0.5, jitter 0.8 x (0.5, 0.5, 0.5, 0.25),
 * gray 0.2, blur 0.5 with sigma 0.1-2.0, box 0.5 with area 0.02-0.4 and ratio
 * 0.3-1/0.3, ImageNet mean/std. */
void sg_augment_config_unimatch(sg_augment_config *cfg, int crop);
/* CutMix-Seg's default: one box of area fraction 0.5 (CM mask_prop_range 0.5). */
void sg_cutmix_seg_config_default(sg_cutmix_seg_config *cfg);
/* Checks ranges (probabilities in [0, 1], min <= max, fills in 0..255, ...);
 * returns -1 with a message naming the bad field. For configs read from files. */
int sg_augment_config_check(const sg_augment_config *cfg, sg_err *err);

/* ---- geometric primitives (augment.c) ------------------------------------- */
/* Functions with an `out` image (re)allocate it: `out` must be zeroed or hold
 * an image (its data is freed). `out` must not alias `in`. */

/* Pillow BILINEAR resize (antialiased when downscaling) to h x w, c = 1 or 3. */
void sg_aug_resize_bilinear(sg_image *out, const sg_image *in, int h, int w);
/* Pillow NEAREST resize (labels): source = floor((i + 0.5) * in / out). */
void sg_aug_resize_nearest(sg_image *out, const sg_image *in, int h, int w);
/* Pad at the right and bottom to at least h x w with `fill` (ImageOps.expand);
 * sides already long enough are kept. */
void sg_aug_pad(sg_image *out, const sg_image *in, int h, int w, int fill);
/* The window [y, y+h) x [x, x+w), which must lie inside `in`. */
void sg_aug_crop(sg_image *out, const sg_image *in, int y, int x, int h, int w);
/* Horizontal flip in place. */
void sg_aug_hflip(sg_image *img);
/* ToTensor + Normalize: out[c][y][x] = (v / 255 - mean[c]) / std[c] in
 * float32 as torch computes it. img: c = 3; out: (3, h, w). */
void sg_aug_normalize(float *out, const sg_image *img, const float mean[3], const float std[3]);

/* ---- colour primitives (color.c), in place, c = 3 -------------------------- */
void sg_aug_brightness(sg_image *img, float factor);   /* ImageEnhance.Brightness */
void sg_aug_contrast(sg_image *img, float factor);     /* ImageEnhance.Contrast */
void sg_aug_saturation(sg_image *img, float factor);   /* ImageEnhance.Color */
void sg_aug_hue(sg_image *img, float factor);          /* torchvision F_pil.adjust_hue, |f| <= 0.5 */
void sg_aug_grayscale(sg_image *img);                  /* PIL "L", replicated to 3 channels */
/* Pillow GaussianBlur(radius); c = 1 or 3; radius >= 0 (0: unchanged). */
void sg_aug_gaussian_blur(sg_image *img, float radius);
/* DSSN's random-intensity ops (Pillow 9.4; voc/dataset/transform.py img_aug_*): */
void sg_aug_autocontrast(sg_image *img);               /* ImageOps.autocontrast, cutoff 0 */
void sg_aug_equalize(sg_image *img);                   /* ImageOps.equalize */
void sg_aug_posterize(sg_image *img, int bits);        /* ImageOps.posterize, 1..8 bits kept */
void sg_aug_solarize(sg_image *img, int threshold);    /* ImageOps.solarize: v >= threshold -> 255 - v */
void sg_aug_sharpness(sg_image *img, float factor);    /* ImageEnhance.Sharpness (SMOOTH filter, blend) */

/* ---- drawn parameters and the pipelines ------------------------------------ */

typedef struct sg_weak_params {
    int h, w;               /* size after the rescale */
    int y, x;               /* crop corner in the padded image */
    int flip;               /* 1: flipped */
} sg_weak_params;

/* ColorJitter op ids, in torchvision's numbering. */
enum { SG_JITTER_BRIGHTNESS = 0, SG_JITTER_CONTRAST = 1, SG_JITTER_SATURATION = 2, SG_JITTER_HUE = 3 };

/* The random-intensity ops (get_augment_list(flag_using_wide=False)), drawn
 * with replacement. */
enum {
    SG_INTENSITY_IDENTITY = 0, SG_INTENSITY_AUTOCONTRAST, SG_INTENSITY_EQUALIZE, SG_INTENSITY_BLUR,
    SG_INTENSITY_CONTRAST, SG_INTENSITY_BRIGHTNESS, SG_INTENSITY_COLOR, SG_INTENSITY_SHARPNESS,
    SG_INTENSITY_POSTERIZE, SG_INTENSITY_SOLARIZE, SG_INTENSITY_HUE, SG_INTENSITY_N_OPS
};
#define SG_INTENSITY_MAX 11   /* strong_img_aug: 1 <= num_augs <= 11 */

typedef struct sg_strong_params {
    int jitter;             /* 1: ColorJitter applied */
    int order[4];           /* op ids in application order */
    float brightness, contrast, saturation, hue;
    int gray;               /* 1: RandomGrayscale applied */
    int blur;               /* 1: blur applied */
    float sigma;
    int n_intensity;        /* random-intensity ops applied after the blur */
    int intensity_op[SG_INTENSITY_MAX];   /* SG_INTENSITY_* */
    float intensity_v[SG_INTENSITY_MAX];  /* sigma, factor, hue shift, bits or threshold */
} sg_strong_params;

/* A box [y, y+h) x [x, x+w); h = w = 0 is the empty box. */
typedef struct sg_box {
    int y, x, h, w;
} sg_box;

/* Draws 1-3 for an image of h x w (see the draw order above). */
void sg_aug_weak_draw(sg_weak_params *p, const sg_weak_config *cfg, int h, int w, sg_rng *rng);
/* Rescale (image bilinear, mask nearest), pad (image image_fill, mask
 * mask_fill), crop, flip. mask may be NULL (img_out only); otherwise it has
 * c = 1 and the image's size. */
void sg_aug_weak_apply(sg_image *img_out, sg_image *mask_out, const sg_image *img, const sg_image *mask,
                       const sg_weak_params *p, const sg_weak_config *cfg, int mask_fill);

/* Draws 4-6b for one strong view. */
void sg_aug_strong_draw(sg_strong_params *p, const sg_strong_config *cfg, sg_rng *rng);
/* Jitter (ops in p->order), grayscale, blur, the random-intensity ops, in
 * place on a c = 3 image. */
void sg_aug_strong_apply(sg_image *img, const sg_strong_params *p);

/* ---- mixing masks (mix.c) ------------------------------------------------- */

/* UniMatch's CutMix box for a square crop of side `side` (draw 7). */
void sg_cutmix_box(sg_box *box, int side, const sg_cutmix_config *cfg, sg_rng *rng);
/* CutMix-Seg's box for an h x w mask: area fraction a ~ U(prop range), then
 * y_frac = exp(u ln a), x_frac = a / y_frac, size = round(frac * side) (half
 * to even, as numpy), corner = round((side - size) * u), y before x. */
void sg_cutmix_seg_box(sg_box *box, int h, int w, const sg_cutmix_seg_config *cfg, sg_rng *rng);
/* mask (h, w) = 1 inside the box, 0 outside. */
void sg_box_mask(int32_t *mask, int h, int w, const sg_box *box);
/* ClassMix (Olsson et al., WACV 2021): of the classes present in pred (h, w; values in
 * [0, n_classes), others are skipped), choose floor(n/2) without replacement
 * (partial Fisher-Yates with sg_rng_below); mask = 1 where pred is a chosen
 * class, else 0. Returns the number of classes chosen. */
int sg_classmix_mask(int32_t *mask, const int32_t *pred, int h, int w, int n_classes, sg_rng *rng);

#endif
