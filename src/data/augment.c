/*
 * augment.c: configuration, geometric augmentation (Pillow resize, pad, crop,
 * flip), the weak and strong pipelines and ImageNet normalisation (augment.h).
 *
 * Layout: sg_image is HWC uint8. Normalised output is float32 (3, H, W).
 * Reference: LiheYoung/UniMatch@0324f3d:dataset/transform.py and dataset/semi.py
 * on PIL images; the resize arithmetic is Pillow 9.4's libImaging/Resample.c
 * (bilinear) and Geometry.c ImagingScaleAffine (nearest), reproduced so that
 * outputs match Pillow bit for bit. Covered by tests/test_augment.c.
 */
#include "semiseg/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------ */

void sg_augment_config_unimatch(sg_augment_config *cfg, int crop)
{
    SG_CHECK(crop >= 1, "sg_augment_config_unimatch: crop %d < 1", crop);
    memset(cfg, 0, sizeof *cfg);
    /* dataset/semi.py: resize(img, mask, (0.5, 2.0)); crop fills 0 / 255 / 254; hflip(p=0.5) */
    cfg->weak = (sg_weak_config){.crop = crop, .scale_min = 0.5, .scale_max = 2.0, .image_fill = 0,
                                 .label_fill = 255, .unlabeled_fill = 254, .flip_p = 0.5f};
    /* dataset/semi.py: p 0.8 ColorJitter(0.5, 0.5, 0.5, 0.25), RandomGrayscale(0.2),
     * blur(p=0.5) with sigma ~ U(0.1, 2.0) */
    cfg->strong = (sg_strong_config){.jitter_p = 0.8f, .brightness = 0.5f, .contrast = 0.5f,
                                     .saturation = 0.5f, .hue = 0.25f, .gray_p = 0.2f, .blur_p = 0.5f,
                                     .blur_sigma_min = 0.1f, .blur_sigma_max = 2.0f};
    /* obtain_cutmix_box(p=0.5, size_min=0.02, size_max=0.4, ratio_1=0.3, ratio_2=1/0.3) */
    cfg->cutmix = (sg_cutmix_config){.p = 0.5f, .area_min = 0.02, .area_max = 0.4, .ratio_min = 0.3,
                                     .ratio_max = 1.0 / 0.3};
    /* torchvision's ImageNet statistics, as UniMatch's normalize() */
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(cfg->mean, mean, sizeof mean);
    memcpy(cfg->std, std, sizeof std);
}

void sg_cutmix_seg_config_default(sg_cutmix_seg_config *cfg)
{
    /* CutMix-Seg run scripts: mask_prop_range 0.5 (a single value) */
    cfg->prop_min = 0.5;
    cfg->prop_max = 0.5;
}

static int prob_ok_(double p) { return p >= 0.0 && p <= 1.0; }

int sg_augment_config_check(const sg_augment_config *cfg, sg_err *err)
{
    const sg_weak_config *w = &cfg->weak;
    const sg_strong_config *s = &cfg->strong;
    const sg_cutmix_config *c = &cfg->cutmix;
    if (w->crop < 1) return sg_err_set(err, "augment: crop %d must be >= 1", w->crop);
    if (!(w->scale_min > 0.0 && w->scale_min <= w->scale_max))
        return sg_err_set(err, "augment: scale range [%g, %g] must satisfy 0 < min <= max", w->scale_min,
                          w->scale_max);
    if (w->image_fill < 0 || w->image_fill > 255 || w->label_fill < 0 || w->label_fill > 255 ||
        w->unlabeled_fill < 0 || w->unlabeled_fill > 255)
        return sg_err_set(err, "augment: fill values %d/%d/%d must be in 0..255", w->image_fill,
                          w->label_fill, w->unlabeled_fill);
    if (!prob_ok_(w->flip_p) || !prob_ok_(s->jitter_p) || !prob_ok_(s->gray_p) || !prob_ok_(s->blur_p) ||
        !prob_ok_(c->p))
        return sg_err_set(err, "augment: probabilities (flip %g, jitter %g, gray %g, blur %g, cutmix %g) "
                               "must be in [0, 1]",
                          w->flip_p, s->jitter_p, s->gray_p, s->blur_p, c->p);
    if (!(s->brightness >= 0 && s->contrast >= 0 && s->saturation >= 0))
        return sg_err_set(err, "augment: jitter strengths must be >= 0");
    if (!(s->hue >= 0 && s->hue <= 0.5f))
        return sg_err_set(err, "augment: hue %g must be in [0, 0.5] (torchvision)", s->hue);
    if (s->intensity_ops < 0 || s->intensity_ops > SG_INTENSITY_MAX)
        return sg_err_set(err, "augment: intensity_ops %d outside 0..%d", s->intensity_ops, SG_INTENSITY_MAX);
    if (!(s->blur_sigma_min >= 0 && s->blur_sigma_min <= s->blur_sigma_max))
        return sg_err_set(err, "augment: blur sigma range [%g, %g] invalid", s->blur_sigma_min,
                          s->blur_sigma_max);
    if (!(c->area_min > 0 && c->area_min <= c->area_max && c->area_max < 1))
        return sg_err_set(err, "augment: cutmix area range [%g, %g] must lie in (0, 1)", c->area_min,
                          c->area_max);
    /* a box of area fraction a fits the square only for ratios in [a, 1/a] */
    if (!(c->ratio_min > 0 && c->ratio_min <= c->ratio_max && c->ratio_min < 1 / c->area_max &&
          c->ratio_max > c->area_max))
        return sg_err_set(err, "augment: cutmix ratio range [%g, %g] invalid for area up to %g", c->ratio_min,
                          c->ratio_max, c->area_max);
    for (int i = 0; i < 3; i++)
        if (!(cfg->std[i] > 0)) return sg_err_set(err, "augment: std[%d] = %g must be > 0", i, cfg->std[i]);
    return 0;
}

/* ---- image buffers -------------------------------------------------------------- */

static void image_reset_(sg_image *out, int h, int w, int c)
{
    if (out->data && out->h == h && out->w == w && out->c == c) return;
    free(out->data);
    out->data = NULL;
    sg_image_alloc(out, h, w, c);
}

/* ---- Pillow bilinear resize --------------------------------------------------- */

/* Pillow keeps 22 fractional bits so that 255 * sum(weights) and the 0.5
 * rounding term fit in a signed 32-bit accumulator (32 - 8 - 2). */
#define PIL_PRECISION_BITS 22

typedef struct pil_coeffs {
    int ksize;        /* taps per output pixel (Pillow's maximum) */
    int *bounds;      /* (out, 2): first input index, number of taps */
    int32_t *k;       /* (out, ksize) fixed-point weights */
} pil_coeffs;

static double bilinear_filter_(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Resample.c precompute_coeffs + normalize_coeffs_8bpc for the box [0, in),
 * for the outputs [first, first + count) of out_size. Each output's taps
 * depend only on its own index, so a window is exact. */
static void pil_coeffs_(pil_coeffs *c, int in_size, int out_size, int first, int count)
{
    const double support_1 = 1.0; /* the bilinear (triangle) filter's support */
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support_1 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = sg_xmalloc((size_t)ksize * sizeof *w);
    c->ksize = ksize;
    c->bounds = sg_xmalloc((size_t)count * 2 * sizeof *c->bounds);
    c->k = sg_xcalloc((size_t)count * ksize, sizeof *c->k);
    for (int o = 0; o < count; o++) {
        int xx = first + o;
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bilinear_filter_((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            /* round half away from zero into fixed point, as normalize_coeffs_8bpc */
            c->k[(size_t)o * ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS) : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        c->bounds[2 * o] = xmin;
        c->bounds[2 * o + 1] = xmax;
    }
    free(w);
}

static void pil_coeffs_free_(pil_coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

static inline uint8_t pil_clip8_(int32_t v)
{
    /* arithmetic shift, then clamp: Pillow's clip8 lookup table */
    int32_t s = v >> PIL_PRECISION_BITS;
    return (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
}

/* Rows [y0, y0 + wh) and columns [x0, x0 + ww) of the Pillow BILINEAR resize
 * of `in` to h x w, written to dst (row stride `stride` bytes). Computing only
 * the window the crop keeps is exact (every output pixel is independent) and
 * saves most of the work when upscaling before a crop. */
static void resize_bilinear_window_(uint8_t *dst, size_t stride, const sg_image *in, int h, int w, int y0, int x0,
                                    int wh, int ww)
{
    const int c = in->c;
    const bool need_h = w != in->w, need_v = h != in->h;
    pil_coeffs ch = {0}, cv = {0};
    if (need_h) pil_coeffs_(&ch, in->w, w, x0, ww);
    /* source rows feeding the window: all of them for the vertical pass, else the window's */
    int ybox_first = y0, ybox_last = y0 + wh;
    if (need_v) {
        pil_coeffs_(&cv, in->h, h, y0, wh);
        ybox_first = cv.bounds[0];
        ybox_last = cv.bounds[2 * wh - 2] + cv.bounds[2 * wh - 1];
    }
    /* Horizontal pass first into an 8-bit temporary (Pillow rounds and clips
     * between the passes), over the rows the vertical pass reads. */
    const uint8_t *src = in->data + (size_t)ybox_first * in->w * c + (need_h ? 0 : (size_t)x0 * c);
    size_t src_stride = (size_t)in->w * c;
    uint8_t *tmp = NULL;
    if (need_h) {
        tmp = sg_xmalloc((size_t)(ybox_last - ybox_first) * ww * c);
        for (int yy = 0; yy < ybox_last - ybox_first; yy++) {
            const uint8_t *row = in->data + (size_t)(yy + ybox_first) * in->w * c;
            uint8_t *o = tmp + (size_t)yy * ww * c;
            for (int xx = 0; xx < ww; xx++) {
                int xmin = ch.bounds[2 * xx], xn = ch.bounds[2 * xx + 1];
                const int32_t *k = ch.k + (size_t)xx * ch.ksize;
                for (int ci = 0; ci < c; ci++) {
                    int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                    for (int x = 0; x < xn; x++) ss += row[(size_t)(x + xmin) * c + ci] * k[x];
                    o[(size_t)xx * c + ci] = pil_clip8_(ss);
                }
            }
        }
        src = tmp;
        src_stride = (size_t)ww * c;
    }
    const size_t row_bytes = (size_t)ww * c;
    if (need_v) {
        for (int yy = 0; yy < wh; yy++) {
            int ymin = cv.bounds[2 * yy] - ybox_first, yn = cv.bounds[2 * yy + 1];
            const int32_t *k = cv.k + (size_t)yy * cv.ksize;
            uint8_t *o = dst + (size_t)yy * stride;
            for (size_t i = 0; i < row_bytes; i++) {
                int32_t ss = 1 << (PIL_PRECISION_BITS - 1);
                for (int y = 0; y < yn; y++) ss += src[(size_t)(y + ymin) * src_stride + i] * k[y];
                o[i] = pil_clip8_(ss);
            }
        }
    } else {
        for (int yy = 0; yy < wh; yy++) memcpy(dst + (size_t)yy * stride, src + (size_t)yy * src_stride, row_bytes);
    }
    free(tmp);
    pil_coeffs_free_(&ch);
    pil_coeffs_free_(&cv);
}

void sg_aug_resize_bilinear(sg_image *out, const sg_image *in, int h, int w)
{
    SG_CHECK(in && in->data && (in->c == 1 || in->c == 3), "sg_aug_resize_bilinear: need a c = 1 or 3 image");
    SG_CHECK(h >= 1 && w >= 1, "sg_aug_resize_bilinear: bad size %dx%d", h, w);
    SG_CHECK(out != in, "sg_aug_resize_bilinear: out aliases in");
    image_reset_(out, h, w, in->c);
    /* an unchanged size is a plain copy, as Pillow's resize returns */
    resize_bilinear_window_(out->data, (size_t)w * in->c, in, h, w, 0, 0, h, w);
}

/* ---- Pillow nearest resize ------------------------------------------------------- */

/* ImagingScaleAffine: the source coordinate starts at 0.5 * step and is
 * advanced by repeated addition (not multiplication), so the rounding of the
 * running sum is reproduced as is. */
static void nearest_index_(int *idx, int in_size, int out_size)
{
    double step = (double)in_size / out_size;
    double v = step * 0.5;
    for (int i = 0; i < out_size; i++) {
        int s = v < 0.0 ? -1 : (int)v;
        idx[i] = s < 0 ? 0 : s >= in_size ? in_size - 1 : s;
        v += step;
    }
}

/* Rows [y0, y0 + wh), columns [x0, x0 + ww) of the NEAREST resize to h x w. */
static void resize_nearest_window_(uint8_t *dst, size_t stride, const sg_image *in, int h, int w, int y0, int x0,
                                   int wh, int ww)
{
    const int c = in->c;
    int *xi = sg_xmalloc((size_t)w * sizeof *xi), *yi = sg_xmalloc((size_t)h * sizeof *yi);
    nearest_index_(xi, in->w, w);
    nearest_index_(yi, in->h, h);
    for (int y = 0; y < wh; y++) {
        const uint8_t *row = in->data + (size_t)yi[y0 + y] * in->w * c;
        uint8_t *o = dst + (size_t)y * stride;
        for (int x = 0; x < ww; x++)
            for (int ci = 0; ci < c; ci++) o[(size_t)x * c + ci] = row[(size_t)xi[x0 + x] * c + ci];
    }
    free(xi);
    free(yi);
}

void sg_aug_resize_nearest(sg_image *out, const sg_image *in, int h, int w)
{
    SG_CHECK(in && in->data && in->c >= 1, "sg_aug_resize_nearest: empty input");
    SG_CHECK(h >= 1 && w >= 1, "sg_aug_resize_nearest: bad size %dx%d", h, w);
    SG_CHECK(out != in, "sg_aug_resize_nearest: out aliases in");
    image_reset_(out, h, w, in->c);
    resize_nearest_window_(out->data, (size_t)w * in->c, in, h, w, 0, 0, h, w);
}

/* ---- pad, crop, flip, normalise ----------------------------------------------- */

void sg_aug_pad(sg_image *out, const sg_image *in, int h, int w, int fill)
{
    SG_CHECK(in && in->data, "sg_aug_pad: empty input");
    SG_CHECK(fill >= 0 && fill <= 255, "sg_aug_pad: fill %d not in 0..255", fill);
    SG_CHECK(out != in, "sg_aug_pad: out aliases in");
    int oh = in->h > h ? in->h : h, ow = in->w > w ? in->w : w, c = in->c;
    image_reset_(out, oh, ow, c);
    memset(out->data, fill, (size_t)oh * ow * c);
    for (int y = 0; y < in->h; y++)
        memcpy(out->data + (size_t)y * ow * c, in->data + (size_t)y * in->w * c, (size_t)in->w * c);
}

void sg_aug_crop(sg_image *out, const sg_image *in, int y, int x, int h, int w)
{
    SG_CHECK(in && in->data, "sg_aug_crop: empty input");
    SG_CHECK(y >= 0 && x >= 0 && h >= 1 && w >= 1 && y + h <= in->h && x + w <= in->w,
             "sg_aug_crop: window %d,%d %dx%d outside the %dx%d image", y, x, h, w, in->h, in->w);
    SG_CHECK(out != in, "sg_aug_crop: out aliases in");
    int c = in->c;
    image_reset_(out, h, w, c);
    for (int r = 0; r < h; r++)
        memcpy(out->data + (size_t)r * w * c, in->data + ((size_t)(y + r) * in->w + x) * c, (size_t)w * c);
}

void sg_aug_hflip(sg_image *img)
{
    SG_CHECK(img && img->data, "sg_aug_hflip: empty image");
    int c = img->c;
    for (int y = 0; y < img->h; y++) {
        uint8_t *row = img->data + (size_t)y * img->w * c;
        for (int a = 0, b = img->w - 1; a < b; a++, b--)
            for (int ci = 0; ci < c; ci++) {
                uint8_t t = row[(size_t)a * c + ci];
                row[(size_t)a * c + ci] = row[(size_t)b * c + ci];
                row[(size_t)b * c + ci] = t;
            }
    }
}

void sg_aug_normalize(float *out, const sg_image *img, const float mean[3], const float std[3])
{
    SG_CHECK(img && img->data && img->c == 3, "sg_aug_normalize: need an RGB image");
    const size_t hw = (size_t)img->h * img->w;
    for (int c = 0; c < 3; c++) {
        /* to_tensor divides by 255 in float32, Normalize subtracts then divides:
         * three correctly rounded float32 operations, so a table per level is exact */
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean[c]) / std[c];
        float *o = out + c * hw;
        for (size_t i = 0; i < hw; i++) o[i] = lut[img->data[i * 3 + c]];
    }
}

/* ---- weak pipeline ---------------------------------------------------------------- */

void sg_aug_weak_draw(sg_weak_params *p, const sg_weak_config *cfg, int h, int w, sg_rng *rng)
{
    SG_CHECK(h >= 1 && w >= 1, "sg_aug_weak_draw: bad size %dx%d", h, w);
    /* transform.py resize(): random.randint(int(L * 0.5), int(L * 2.0)), both ends
     * included; the short side is int(short * long_new / L + 0.5) */
    int L = h > w ? h : w;
    int lo = (int)(L * cfg->scale_min), hi = (int)(L * cfg->scale_max);
    SG_CHECK(lo >= 1 && hi >= lo, "sg_aug_weak_draw: long side range [%d, %d] of a %dx%d image", lo, hi, h, w);
    int long_side = lo + (int)sg_rng_below(rng, (uint32_t)(hi - lo + 1));
    if (h > w) {
        p->h = long_side;
        p->w = (int)(1.0 * w * long_side / h + 0.5);
    } else {
        p->w = long_side;
        p->h = (int)(1.0 * h * long_side / w + 0.5);
    }
    if (p->h < 1) p->h = 1;
    if (p->w < 1) p->w = 1;
    /* crop(): x = randint(0, W - crop), then y = randint(0, H - crop) */
    int ph = p->h > cfg->crop ? p->h : cfg->crop, pw = p->w > cfg->crop ? p->w : cfg->crop;
    p->x = (int)sg_rng_below(rng, (uint32_t)(pw - cfg->crop + 1));
    p->y = (int)sg_rng_below(rng, (uint32_t)(ph - cfg->crop + 1));
    /* hflip(): random.random() < p */
    p->flip = sg_rng_uniform(rng) < cfg->flip_p;
}

void sg_aug_weak_apply(sg_image *img_out, sg_image *mask_out, const sg_image *img, const sg_image *mask,
                       const sg_weak_params *p, const sg_weak_config *cfg, int mask_fill)
{
    SG_CHECK(img && img->data && img->c == 3, "sg_aug_weak_apply: need an RGB image");
    SG_CHECK(!mask || (mask->c == 1 && mask->h == img->h && mask->w == img->w && mask_out),
             "sg_aug_weak_apply: mask must be c = 1, %dx%d like the image, with an output", img->h, img->w);
    const int S = cfg->crop;
    SG_CHECK(p->h >= 1 && p->w >= 1 && p->y >= 0 && p->x >= 0 && p->y <= (p->h > S ? p->h : S) - S &&
                 p->x <= (p->w > S ? p->w : S) - S,
             "sg_aug_weak_apply: crop %d at %d,%d does not fit a %dx%d resize", S, p->y, p->x, p->h, p->w);
    /* resize -> pad right/bottom -> crop, computed as: fill the crop, then
     * resize only the part of the rescaled image the crop keeps */
    int wh = p->h - p->y < S ? p->h - p->y : S, ww = p->w - p->x < S ? p->w - p->x : S;
    image_reset_(img_out, S, S, 3);
    memset(img_out->data, cfg->image_fill, (size_t)S * S * 3);
    resize_bilinear_window_(img_out->data, (size_t)S * 3, img, p->h, p->w, p->y, p->x, wh, ww);
    if (p->flip) sg_aug_hflip(img_out);
    if (mask) {
        image_reset_(mask_out, S, S, 1);
        memset(mask_out->data, mask_fill, (size_t)S * S);
        resize_nearest_window_(mask_out->data, (size_t)S, mask, p->h, p->w, p->y, p->x, wh, ww);
        if (p->flip) sg_aug_hflip(mask_out);
    }
}

/* ---- strong pipeline --------------------------------------------------------------- */

static float uniform_range_(sg_rng *rng, float lo, float hi) { return lo + (hi - lo) * sg_rng_uniform(rng); }

/* DSSN's strong_img_aug (kunzhan/DSSN@efaee86:voc/dataset/transform.py):
 * max_num = np.random.randint(1, high=n + 1) (or n); ops = random.choices(
 * augment_list, k=max_num); each op then draws its own parameter. */
static void intensity_draw_(sg_strong_params *p, const sg_strong_config *cfg, sg_rng *rng)
{
    p->n_intensity = cfg->intensity_random_num ? (int)sg_rng_below(rng, (uint32_t)cfg->intensity_ops) + 1
                                               : cfg->intensity_ops;
    for (int i = 0; i < p->n_intensity; i++)
        p->intensity_op[i] = (int)sg_rng_below(rng, SG_INTENSITY_N_OPS);
    for (int i = 0; i < p->n_intensity; i++) {
        float v = 0.0f;
        switch (p->intensity_op[i]) {
        case SG_INTENSITY_BLUR: v = uniform_range_(rng, 0.1f, 2.0f); break;   /* np.random.uniform(0.1, 2.0) */
        case SG_INTENSITY_CONTRAST:
        case SG_INTENSITY_BRIGHTNESS:
        case SG_INTENSITY_COLOR:
        case SG_INTENSITY_SHARPNESS:
            /* v = max_v - (max_v - min_v) * random.random(), scale [0.05, 0.95] */
            v = 0.95f - 0.9f * sg_rng_uniform(rng);
            break;
        case SG_INTENSITY_POSTERIZE:
            /* v = max(1, ceil((8 - 4) * random.random())); bits = 8 - v */
            v = (float)(8 - (int)fmax(1.0, ceil(4.0 * sg_rng_uniform(rng))));
            break;
        case SG_INTENSITY_SOLARIZE:
            /* v = max(1, ceil((256 - 1) * random.random())); threshold = 256 - v */
            v = (float)(256 - (int)fmax(1.0, ceil(255.0 * sg_rng_uniform(rng))));
            break;
        case SG_INTENSITY_HUE:
            /* v = 0.5 * random.random(); hue_factor = -v if np.random.random() < 0.5 else v */
            v = 0.5f * sg_rng_uniform(rng);
            if (sg_rng_uniform(rng) < 0.5f) v = -v;
            break;
        default: break;   /* identity, autocontrast, equalize */
        }
        p->intensity_v[i] = v;
    }
}

static void intensity_apply_(sg_image *img, int op, float v)
{
    switch (op) {
    case SG_INTENSITY_IDENTITY: break;
    case SG_INTENSITY_AUTOCONTRAST: sg_aug_autocontrast(img); break;
    case SG_INTENSITY_EQUALIZE: sg_aug_equalize(img); break;
    case SG_INTENSITY_BLUR: sg_aug_gaussian_blur(img, v); break;
    case SG_INTENSITY_CONTRAST: sg_aug_contrast(img, v); break;
    case SG_INTENSITY_BRIGHTNESS: sg_aug_brightness(img, v); break;
    case SG_INTENSITY_COLOR: sg_aug_saturation(img, v); break;
    case SG_INTENSITY_SHARPNESS: sg_aug_sharpness(img, v); break;
    case SG_INTENSITY_POSTERIZE: sg_aug_posterize(img, (int)v); break;
    case SG_INTENSITY_SOLARIZE: sg_aug_solarize(img, (int)v); break;
    case SG_INTENSITY_HUE: sg_aug_hue(img, v); break;
    default: SG_CHECK(0, "sg_aug_strong_apply: bad random-intensity op %d", op);
    }
}

void sg_aug_strong_draw(sg_strong_params *p, const sg_strong_config *cfg, sg_rng *rng)
{
    memset(p, 0, sizeof *p);
    p->brightness = p->contrast = p->saturation = 1.0f;
    p->jitter = sg_rng_uniform(rng) < cfg->jitter_p;
    if (p->jitter) {
        /* torchvision ColorJitter.get_params: a permutation of the four ops,
         * then the four factors */
        for (int i = 0; i < 4; i++) p->order[i] = i;
        for (int i = 3; i > 0; i--) {
            int j = (int)sg_rng_below(rng, (uint32_t)(i + 1));
            int t = p->order[i];
            p->order[i] = p->order[j];
            p->order[j] = t;
        }
        p->brightness = uniform_range_(rng, fmaxf(0.0f, 1.0f - cfg->brightness), 1.0f + cfg->brightness);
        p->contrast = uniform_range_(rng, fmaxf(0.0f, 1.0f - cfg->contrast), 1.0f + cfg->contrast);
        p->saturation = uniform_range_(rng, fmaxf(0.0f, 1.0f - cfg->saturation), 1.0f + cfg->saturation);
        p->hue = uniform_range_(rng, -cfg->hue, cfg->hue);
    }
    p->gray = sg_rng_uniform(rng) < cfg->gray_p;
    p->blur = sg_rng_uniform(rng) < cfg->blur_p;
    if (p->blur) p->sigma = uniform_range_(rng, cfg->blur_sigma_min, cfg->blur_sigma_max);
    if (cfg->intensity_ops > 0) intensity_draw_(p, cfg, rng);
}

void sg_aug_strong_apply(sg_image *img, const sg_strong_params *p)
{
    SG_CHECK(img && img->data && img->c == 3, "sg_aug_strong_apply: need an RGB image");
    if (p->jitter) {
        for (int i = 0; i < 4; i++) {
            switch (p->order[i]) {
            case SG_JITTER_BRIGHTNESS: sg_aug_brightness(img, p->brightness); break;
            case SG_JITTER_CONTRAST: sg_aug_contrast(img, p->contrast); break;
            case SG_JITTER_SATURATION: sg_aug_saturation(img, p->saturation); break;
            case SG_JITTER_HUE: sg_aug_hue(img, p->hue); break;
            default: SG_CHECK(0, "sg_aug_strong_apply: bad jitter op %d", p->order[i]);
            }
        }
    }
    if (p->gray) sg_aug_grayscale(img);
    if (p->blur) sg_aug_gaussian_blur(img, p->sigma);
    for (int i = 0; i < p->n_intensity; i++) intensity_apply_(img, p->intensity_op[i], p->intensity_v[i]);
}
