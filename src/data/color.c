/*
 * color.c: the photometric ops of the strong augmentation (augment.h), in
 * place on HWC uint8 images, reproducing Pillow 9.4 / torchvision 0.14 on PIL
 * images bit for bit:
 *   brightness / contrast / saturation  ImageEnhance.{Brightness,Contrast,Color}
 *       = Image.blend(degenerate, img, factor) (libImaging/Blend.c, float alpha)
 *   hue        torchvision F_pil.adjust_hue: RGB -> HSV (Convert.c rgb2hsv),
 *              H += uint8(factor * 255) with wrap-around, HSV -> RGB (hsv2rgb)
 *   grayscale  Image.convert("L"): (19595 R + 38470 G + 7471 B + 2^15) >> 16,
 *              i.e. ITU-R 601 (0.299, 0.587, 0.114) in 16-bit fixed point, rounded
 *   blur       ImageFilter.GaussianBlur(radius): three extended box blurs per
 *              axis (libImaging/BoxBlur.c, Gwosdek et al., SSVM 2011)
 *   DSSN's random-intensity ops (kunzhan/DSSN@efaee86:voc/dataset/transform.py):
 *   autocontrast / equalize / posterize / solarize  ImageOps (per-channel
 *              lookup tables from the histograms, Python integer arithmetic)
 *   sharpness  ImageEnhance.Sharpness = Image.blend(image.filter(SMOOTH), img, f)
 *              (libImaging/Filter.c ImagingFilter3x3, float sums, rounded)
 * Pillow computes in float (single) where its C source declares float, and in
 * double where it uses double literals; the types below follow it, which is
 * what makes the results identical (a compiler flag that fuses multiply-adds,
 * e.g. -mfma with -ffp-contract=fast, may move rare pixels by one level).
 * Covered by tests/test_augment.c against tests/data/augment.bin and
 * tests/test_intensity.c against tests/data/intensity.bin.
 */
#include "semiseg/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_rgb_(const sg_image *img, const char *fn)
{
    SG_CHECK(img && img->data && img->c == 3, "%s: need an RGB (c = 3) image", fn);
}

/* Image.blend(a, b, alpha) with a constant first image: out = a + alpha (b - a)
 * in float; truncated when 0 <= alpha <= 1, clipped to 0..255 otherwise. */
static inline uint8_t blend_(int a, int b, float alpha)
{
    float d = alpha * (float)(b - a);
    float t = (float)a + d;
    if (t <= 0.0f) return 0;
    if (t >= 255.0f) return 255;
    return (uint8_t)t;
}

static inline int luma_(const uint8_t *p)
{
    return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
}

void sg_aug_brightness(sg_image *img, float factor)
{
    check_rgb_(img, "sg_aug_brightness");
    if (factor == 1.0f) return; /* Image.blend returns a copy */
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend_(0, v, factor);
    size_t n = (size_t)img->h * img->w * 3;
    for (size_t i = 0; i < n; i++) img->data[i] = lut[img->data[i]];
}

void sg_aug_contrast(sg_image *img, float factor)
{
    check_rgb_(img, "sg_aug_contrast");
    size_t hw = (size_t)img->h * img->w;
    /* ImageStat mean of the "L" image (from its histogram), rounded with int(m + 0.5) */
    uint64_t sum = 0;
    for (size_t i = 0; i < hw; i++) sum += (uint64_t)luma_(img->data + 3 * i);
    int mean = (int)((double)sum / (double)hw + 0.5);
    if (factor == 1.0f) return;
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend_(mean, v, factor);
    for (size_t i = 0; i < 3 * hw; i++) img->data[i] = lut[img->data[i]];
}

void sg_aug_saturation(sg_image *img, float factor)
{
    check_rgb_(img, "sg_aug_saturation");
    if (factor == 1.0f) return;
    size_t hw = (size_t)img->h * img->w;
    for (size_t i = 0; i < hw; i++) {
        uint8_t *p = img->data + 3 * i;
        int l = luma_(p);
        for (int c = 0; c < 3; c++) p[c] = blend_(l, p[c], factor);
    }
}

void sg_aug_grayscale(sg_image *img)
{
    check_rgb_(img, "sg_aug_grayscale");
    size_t hw = (size_t)img->h * img->w;
    for (size_t i = 0; i < hw; i++) {
        uint8_t *p = img->data + 3 * i;
        p[0] = p[1] = p[2] = (uint8_t)luma_(p);
    }
}

static inline int clip8i_(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* Convert.c rgb2hsv_row (follows Python's colorsys). */
static void rgb2hsv_(uint8_t hsv[3], const uint8_t *p)
{
    uint8_t r = p[0], g = p[1], b = p[2];
    uint8_t maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    uint8_t minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    hsv[2] = maxc;
    if (minc == maxc) {
        hsv[0] = hsv[1] = 0;
        return;
    }
    float cr = (float)(maxc - minc);
    float s = cr / (float)maxc;
    float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
    float h;
    if (r == maxc) h = bc - gc;
    else if (g == maxc) h = (float)(2.0 + rc - bc);
    else h = (float)(4.0 + gc - rc);
    /* fmod(h / 6.0 + 1.0, 1.0): h is in [-1, 5], so the argument is in
     * [5/6, 11/6] and subtracting 1 above 1 is exact (Sterbenz): same bits */
    double hx = h / 6.0 + 1.0;
    h = (float)(hx >= 1.0 ? hx - 1.0 : hx);
    hsv[0] = (uint8_t)clip8i_((int)(h * 255.0));
    hsv[1] = (uint8_t)clip8i_((int)(s * 255.0));
}

/* round() (half away from zero) for 0 <= x < 2^31, without a libm call:
 * x - trunc(x) is exact, so the comparison decides as round() does. */
static inline int round_pos_(double x)
{
    int t = (int)x;
    return t + (x - t >= 0.5);
}

/* Convert.c hsv2rgb. */
static void hsv2rgb_(uint8_t *p, uint8_t h, uint8_t s, uint8_t v)
{
    if (s == 0) {
        p[0] = p[1] = p[2] = v;
        return;
    }
    double h6 = (float)h * 6.0 / 255.0;
    int i = (int)h6; /* floor: h6 >= 0 */
    float f = (float)(h6 - (float)i);
    float fs = (float)((float)s / 255.0);
    /* fs * f is a float product, as in Pillow (both operands are float) */
    uint8_t up = (uint8_t)clip8i_(round_pos_((float)v * (1.0 - fs)));
    uint8_t uq = (uint8_t)clip8i_(round_pos_((float)v * (1.0 - fs * f)));
    uint8_t ut = (uint8_t)clip8i_(round_pos_((float)v * (1.0 - fs * (1.0 - f))));
    switch (i % 6) {
    case 0: p[0] = v; p[1] = ut; p[2] = up; break;
    case 1: p[0] = uq; p[1] = v; p[2] = up; break;
    case 2: p[0] = up; p[1] = v; p[2] = ut; break;
    case 3: p[0] = up; p[1] = uq; p[2] = v; break;
    case 4: p[0] = ut; p[1] = up; p[2] = v; break;
    default: p[0] = v; p[1] = up; p[2] = uq; break;
    }
}

void sg_aug_hue(sg_image *img, float factor)
{
    check_rgb_(img, "sg_aug_hue");
    SG_CHECK(factor >= -0.5f && factor <= 0.5f, "sg_aug_hue: factor %g not in [-0.5, 0.5]", factor);
    /* np.uint8(hue_factor * 255): the double is truncated toward zero and a
     * negative value wraps modulo 256 (e.g. -63.75 -> 193) */
    int shift = ((int)((double)factor * 255.0)) & 255;
    size_t hw = (size_t)img->h * img->w;
    /* The round trip is lossy even for shift 0, as in torchvision. */
    for (size_t i = 0; i < hw; i++) {
        uint8_t *p = img->data + 3 * i, hsv[3];
        rgb2hsv_(hsv, p);
        hsv2rgb_(p, (uint8_t)((hsv[0] + shift) & 255), hsv[1], hsv[2]);
    }
}

/* ---- Gaussian blur as Pillow: extended box blurs --------------------------- */

/* _gaussian_blur_radius: the extended-box radius whose `passes` repetitions
 * have variance radius^2 (Gwosdek et al. eqs. 7, 11, 14). */
static float box_radius_(float sigma, int passes)
{
    float sigma2 = sigma * sigma / passes;
    float L = (float)sqrt(12.0 * sigma2 + 1.0);
    float l = (float)floor((L - 1.0) / 2.0);
    float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
}

typedef struct box_line_ {
    int radius;        /* integer part of the box radius */
    uint32_t ww, fw;   /* 24-bit fixed-point weights of the inner taps and the two fractional ends */
    int edge_a, edge_b;
} box_line_;

/* One extended box blur along a line of n positions (ImagingLineBoxBlur8/32),
 * each position holding `lanes` independent bytes: lanes = c blurs one row,
 * lanes = w c blurs every column of an image at once (Pillow transposes and
 * blurs rows instead; per-line arithmetic is identical, so are the bytes).
 * `in` and `out` are distinct; edge pixels are repeated. acc (lanes) is
 * scratch. Unsigned wrap-around in the running sum is intended (it cancels),
 * as in Pillow. */
static void box_blur_lines_(uint8_t *out, const uint8_t *in, int n, size_t lanes, const box_line_ *b,
                            uint32_t *acc)
{
    const int lastx = n - 1, r = b->radius, ea = b->edge_a, eb = b->edge_b;
    const uint32_t ww = b->ww, fw = b->fw;
#define ROW(i) (in + (size_t)(i) * lanes)
    /* sum for the virtual pixel -1: the first pixel r + 1 times, then 0..r-1,
     * clamped at the last pixel when r exceeds the line */
    for (size_t k = 0; k < lanes; k++) acc[k] = (uint32_t)in[k] * (uint32_t)(r + 1);
    for (int x = 0; x < ea - 1; x++)
        for (size_t k = 0; k < lanes; k++) acc[k] += ROW(x)[k];
    for (size_t k = 0; k < lanes; k++) acc[k] += (uint32_t)ROW(lastx)[k] * (uint32_t)(r - ea + 1);
    for (int x = 0; x <= lastx; x++) {
        /* the pixel leaving the box, the one entering it, and the two
         * fractional ends (ADD_FAR), by the same case split as Pillow */
        int sub, add, left, right;
        if (ea <= eb) {
            if (x < ea) sub = 0, add = x + r, left = 0, right = x + r + 1;
            else if (x < eb) sub = x - r - 1, add = x + r, left = x - r - 1, right = x + r + 1;
            else sub = x - r - 1, add = lastx, left = x - r - 1, right = lastx;
        } else {
            if (x < eb) sub = 0, add = x + r, left = 0, right = x + r + 1;
            else if (x < ea) sub = 0, add = lastx, left = 0, right = lastx;
            else sub = x - r - 1, add = lastx, left = x - r - 1, right = lastx;
        }
        const uint8_t *ps = ROW(sub), *pa = ROW(add), *pl = ROW(left), *pr = ROW(right);
        uint8_t *o = out + (size_t)x * lanes;
        for (size_t k = 0; k < lanes; k++) {
            acc[k] += (uint32_t)(pa[k] - ps[k]);
            uint32_t bulk = acc[k] * ww + (uint32_t)(pl[k] + pr[k]) * fw;
            o[k] = (uint8_t)((bulk + (1u << 23)) >> 24);
        }
    }
#undef ROW
}

static void box_line_init_(box_line_ *b, float radius, int n)
{
    b->radius = (int)radius;
    /* (UINT32)(1 << 24) / (floatRadius * 2 + 1): a float division, truncated */
    b->ww = (uint32_t)((float)(1u << 24) / (radius * 2 + 1));
    b->fw = ((1u << 24) - (uint32_t)(b->radius * 2 + 1) * b->ww) / 2;
    b->edge_a = b->radius + 1 < n ? b->radius + 1 : n;
    b->edge_b = n - b->radius - 1 > 0 ? n - b->radius - 1 : 0;
}

void sg_aug_gaussian_blur(sg_image *img, float sigma)
{
    SG_CHECK(img && img->data && (img->c == 1 || img->c == 3), "sg_aug_gaussian_blur: need c = 1 or 3");
    SG_CHECK(sigma >= 0.0f, "sg_aug_gaussian_blur: radius %g < 0", sigma);
    if (sigma == 0.0f) return; /* ImageFilter returns a copy */
    /* ImagingGaussianBlur: 3 passes per axis, rows first */
    const int passes = 3;
    float radius = box_radius_(sigma, passes);
    if (radius == 0.0f) return;
    const int h = img->h, w = img->w, c = img->c;
    const size_t row = (size_t)w * c, total = (size_t)h * row;
    uint8_t *tmp = sg_xmalloc(total);
    uint32_t *acc = sg_xmalloc(row * sizeof *acc);
    box_line_ bh, bv;
    box_line_init_(&bh, radius, w);
    box_line_init_(&bv, radius, h);
    /* an odd number of passes between img and tmp ends in tmp */
    for (int y = 0; y < h; y++) {
        uint8_t *a = img->data + (size_t)y * row, *b = tmp + (size_t)y * row;
        for (int p = 0; p < passes; p++) {
            if (p % 2 == 0) box_blur_lines_(b, a, w, (size_t)c, &bh, acc);
            else box_blur_lines_(a, b, w, (size_t)c, &bh, acc);
        }
    }
    for (int p = 0; p < passes; p++) {
        if (p % 2 == 0) box_blur_lines_(img->data, tmp, h, row, &bv, acc);
        else box_blur_lines_(tmp, img->data, h, row, &bv, acc);
    }
    free(tmp);
    free(acc);
}

/* ---- DSSN's random-intensity ops (kunzhan/DSSN@efaee86:voc/dataset/transform.py
 * img_aug_*): Pillow 9.4's ImageOps and ImageEnhance.Sharpness ---------------------- */

/* image.point(lut) with one 256-entry table per channel (ImageOps._lut). */
static void apply_luts_(sg_image *img, const uint8_t lut[3][256])
{
    const size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->data + 3 * i;
        for (int c = 0; c < 3; c++) p[c] = lut[c][p[c]];
    }
}

/* image.histogram(): one 256-bin histogram per channel. */
static void histogram_(const sg_image *img, long h[3][256])
{
    memset(h, 0, 3 * 256 * sizeof(long));
    const size_t n = (size_t)img->h * img->w;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) h[c][img->data[3 * i + c]]++;
}

void sg_aug_autocontrast(sg_image *img)
{
    check_rgb_(img, "sg_aug_autocontrast");
    long h[3][256];
    uint8_t lut[3][256];
    histogram_(img, h);
    for (int c = 0; c < 3; c++) {
        /* the lowest and highest levels present; cutoff 0, no ignore */
        int lo = 0, hi = 255;
        while (lo < 255 && !h[c][lo]) lo++;
        while (hi > 0 && !h[c][hi]) hi--;
        if (hi <= lo) {
            for (int v = 0; v < 256; v++) lut[c][v] = (uint8_t)v;
            continue;
        }
        /* scale = 255.0 / (hi - lo); offset = -lo * scale; int(ix * scale + offset), clipped (doubles) */
        const double scale = 255.0 / (hi - lo), offset = -lo * scale;
        for (int v = 0; v < 256; v++) {
            const int x = (int)(v * scale + offset);
            lut[c][v] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
        }
    }
    apply_luts_(img, (const uint8_t(*)[256])lut);
}

void sg_aug_equalize(sg_image *img)
{
    check_rgb_(img, "sg_aug_equalize");
    long h[3][256];
    uint8_t lut[3][256];
    histogram_(img, h);
    for (int c = 0; c < 3; c++) {
        /* histo = the non-zero bins; step = (sum(histo) - histo[-1]) // 255 */
        long total = 0, last = 0;
        int nonzero = 0;
        for (int v = 0; v < 256; v++)
            if (h[c][v]) {
                total += h[c][v];
                last = h[c][v];
                nonzero++;
            }
        const long step = nonzero <= 1 ? 0 : (total - last) / 255;
        if (!step) {
            for (int v = 0; v < 256; v++) lut[c][v] = (uint8_t)v;
            continue;
        }
        /* n = step // 2; lut[i] = n // step; n += h[i] (point() clips to 255) */
        long n = step / 2;
        for (int v = 0; v < 256; v++) {
            const long x = n / step;
            lut[c][v] = (uint8_t)(x > 255 ? 255 : x);
            n += h[c][v];
        }
    }
    apply_luts_(img, (const uint8_t(*)[256])lut);
}

void sg_aug_posterize(sg_image *img, int bits)
{
    check_rgb_(img, "sg_aug_posterize");
    SG_CHECK(bits >= 1 && bits <= 8, "sg_aug_posterize: bits %d outside 1..8", bits);
    uint8_t lut[3][256];
    const int mask = ~((1 << (8 - bits)) - 1);
    for (int v = 0; v < 256; v++) lut[0][v] = lut[1][v] = lut[2][v] = (uint8_t)(v & mask);
    apply_luts_(img, (const uint8_t(*)[256])lut);
}

void sg_aug_solarize(sg_image *img, int threshold)
{
    check_rgb_(img, "sg_aug_solarize");
    uint8_t lut[3][256];
    for (int v = 0; v < 256; v++) lut[0][v] = lut[1][v] = lut[2][v] = (uint8_t)(v < threshold ? v : 255 - v);
    apply_luts_(img, (const uint8_t(*)[256])lut);
}

/* libImaging/Filter.c clip8: rounded, saturated. */
static inline uint8_t filter_clip8_(float v)
{
    if (v <= 0.0f) return 0;
    if (v >= 255.0f) return 255;
    return (uint8_t)(v + 0.5f);
}

void sg_aug_sharpness(sg_image *img, float factor)
{
    check_rgb_(img, "sg_aug_sharpness");
    const int H = img->h, W = img->w;
    if (H < 3 || W < 3) return; /* ImagingFilter copies images smaller than the kernel */
    /* degenerate = image.filter(ImageFilter.SMOOTH): 3x3 kernel (1 1 1, 1 5 1, 1 1 1),
     * each weight divided by 13 in float (_imaging.c _filter), summed in float row by
     * row from y + 1 to y - 1 (Filter.c ImagingFilter3x3); the border rows and
     * columns are copied. */
    const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
    const size_t row = (size_t)W * 3;
    uint8_t *deg = sg_xmalloc((size_t)H * row);
    memcpy(deg, img->data, (size_t)H * row);
    for (int y = 1; y < H - 1; y++) {
        const uint8_t *up = img->data + (size_t)(y - 1) * row, *mid = up + row, *dn = mid + row;
        for (int x = 1; x < W - 1; x++) {
            for (int c = 0; c < 3; c++) {
                const int i = x * 3 + c;
                float ss = 0.0f;
                ss += (float)dn[i - 3] * k1 + (float)dn[i] * k1 + (float)dn[i + 3] * k1;
                ss += (float)mid[i - 3] * k1 + (float)mid[i] * k5 + (float)mid[i + 3] * k1;
                ss += (float)up[i - 3] * k1 + (float)up[i] * k1 + (float)up[i + 3] * k1;
                deg[(size_t)y * row + i] = filter_clip8_(ss);
            }
        }
    }
    /* ImageEnhance.Sharpness.enhance: Image.blend(degenerate, image, factor) */
    const size_t n = (size_t)H * row;
    for (size_t i = 0; i < n; i++) img->data[i] = blend_(deg[i], img->data[i], factor);
    free(deg);
}
