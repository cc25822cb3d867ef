/*
 * test_augment.c: augmentation (augment.h) against Pillow 9.4 / torchvision
 * 0.14 outputs with fixed parameters (tests/data/augment.bin from
 * tests/ref/gen_augment.py), and the random draws (weak, strong, CutMix boxes,
 * ClassMix) against their specified ranges and rates.
 *
 * Tolerances: every 8-bit output is compared EXACTLY (max |diff| = 0): the C
 * code follows Pillow's integer and float arithmetic step by step, so any
 * difference is a bug. Normalised floats are compared bitwise: torch computes
 * v / 255, - mean, / std as three correctly rounded float32 operations, and so
 * does the C code.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "semiseg/augment.h"
#include "tap.h"

static const char *GEN = "tests/ref/gen_augment.py";

/* A fixture record (h, w, c) of uint8 values stored as int32 -> sg_image. */
static void load_img_(const sg_fixture *f, const char *key, sg_image *img)
{
    sg_tensor *t = sg_fixture_tensor(f, key, false);
    SG_CHECK(t->ndim == 3 && t->dtype == SG_I32, "%s: expected an (h, w, c) int32 record", key);
    sg_image_alloc(img, t->shape[0], t->shape[1], t->shape[2]);
    for (size_t i = 0; i < sg_numel(t); i++) img->data[i] = (uint8_t)t->i32[i];
    sg_tensor_free(t);
}

/* Exact comparison; prints the first mismatch. */
static int same_img_(const sg_image *got, const sg_image *want, const char *what)
{
    if (got->h != want->h || got->w != want->w || got->c != want->c) {
        tap_diag("%s: size %dx%dx%d, want %dx%dx%d", what, got->h, got->w, got->c, want->h, want->w, want->c);
        return 0;
    }
    size_t n = (size_t)got->h * got->w * got->c, bad = 0, first = 0;
    int maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)got->data[i] - (int)want->data[i]);
        if (d && !bad++) first = i;
        if (d > maxd) maxd = d;
    }
    if (bad)
        tap_diag("%s: %zu of %zu values differ (max %d); first at %zu: got %d want %d", what, bad, n, maxd, first,
                 got->data[first], want->data[first]);
    return bad == 0;
}

static float scalar_(const sg_fixture *f, const char *key) { return (float)sg_fixture_scalar(f, key); }

static void copy_img_(sg_image *dst, const sg_image *src)
{
    sg_image_alloc(dst, src->h, src->w, src->c);
    memcpy(dst->data, src->data, (size_t)src->h * src->w * src->c);
}

typedef void (*color_fn)(sg_image *, float);

static void test_fixtures_(void)
{
    sg_fixture *f = sg_fixture_open("augment.bin", GEN);
    sg_image a = {0}, b = {0}, m = {0}, want = {0}, got = {0};
    char key[64];
    load_img_(f, "img.a", &a);
    load_img_(f, "img.b", &b);
    load_img_(f, "mask.a", &m);

    const char *resize[] = {"half", "odd_down", "to_1x1", "mixed", "same_w", "up2", "up_odd"};
    for (int i = 0; i < 7; i++) {
        size_t n;
        snprintf(key, sizeof key, "resize.%s.size", resize[i]);
        const double *sz = sg_fixture_doubles(f, key, &n);
        snprintf(key, sizeof key, "resize.%s.src", resize[i]);
        const sg_image *src = sg_fixture_scalar(f, key) == 0 ? &a : &b;
        snprintf(key, sizeof key, "resize.%s.out", resize[i]);
        load_img_(f, key, &want);
        sg_aug_resize_bilinear(&got, src, (int)sz[0], (int)sz[1]);
        tap_ok(same_img_(&got, &want, key), "Pillow BILINEAR resize %dx%d -> %dx%d (%s)", src->h, src->w,
               (int)sz[0], (int)sz[1], resize[i]);
        sg_image_free(&want);
    }
    const char *nearest[] = {"down", "up", "odd"};
    for (int i = 0; i < 3; i++) {
        size_t n;
        snprintf(key, sizeof key, "nearest.%s.size", nearest[i]);
        const double *sz = sg_fixture_doubles(f, key, &n);
        snprintf(key, sizeof key, "nearest.%s.out", nearest[i]);
        load_img_(f, key, &want);
        sg_aug_resize_nearest(&got, &m, (int)sz[0], (int)sz[1]);
        tap_ok(same_img_(&got, &want, key), "Pillow NEAREST mask resize -> %dx%d", (int)sz[0], (int)sz[1]);
        sg_image_free(&want);
    }

    struct { const char *name; color_fn fn; int n; } ops[] = {
        {"bright", sg_aug_brightness, 4}, {"contrast", sg_aug_contrast, 4},
        {"sat", sg_aug_saturation, 4},    {"hue", sg_aug_hue, 6}};
    for (int o = 0; o < 4; o++) {
        for (int k = 0; k < ops[o].n; k++) {
            snprintf(key, sizeof key, "%s.%d.f", ops[o].name, k);
            float fac = scalar_(f, key);
            snprintf(key, sizeof key, "%s.%d.out", ops[o].name, k);
            load_img_(f, key, &want);
            sg_image_free(&got);
            copy_img_(&got, &a);
            ops[o].fn(&got, fac);
            tap_ok(same_img_(&got, &want, key), "%s factor %g matches torchvision/Pillow", ops[o].name, fac);
            sg_image_free(&want);
        }
    }
    load_img_(f, "gray.out", &want);
    sg_image_free(&got);
    copy_img_(&got, &a);
    sg_aug_grayscale(&got);
    tap_ok(same_img_(&got, &want, "gray"), "grayscale matches PIL convert(\"L\")");
    sg_image_free(&want);

    for (int k = 0; k < 6; k++) {
        snprintf(key, sizeof key, "blur.%d.sigma", k);
        float s = scalar_(f, key);
        snprintf(key, sizeof key, "blur.%d.out", k);
        load_img_(f, key, &want);
        sg_image_free(&got);
        copy_img_(&got, &a);
        sg_aug_gaussian_blur(&got, s);
        tap_ok(same_img_(&got, &want, key), "GaussianBlur radius %g matches Pillow", s);
        sg_image_free(&want);
    }
    load_img_(f, "blur_l.out", &want);
    sg_image_free(&got);
    copy_img_(&got, &m);
    sg_aug_gaussian_blur(&got, 1.1f);
    tap_ok(same_img_(&got, &want, "blur_l"), "GaussianBlur on a 1-channel image matches Pillow");
    sg_image_free(&want);

    for (int k = 0; k < 2; k++) {
        size_t n;
        snprintf(key, sizeof key, "jitter.%d.order", k);
        const double *ord = sg_fixture_doubles(f, key, &n);
        snprintf(key, sizeof key, "jitter.%d.f", k);
        const double *fs = sg_fixture_doubles(f, key, &n);
        sg_strong_params p = {.jitter = 1, .brightness = (float)fs[0], .contrast = (float)fs[1],
                              .saturation = (float)fs[2], .hue = (float)fs[3]};
        for (int i = 0; i < 4; i++) p.order[i] = (int)ord[i];
        snprintf(key, sizeof key, "jitter.%d.out", k);
        load_img_(f, key, &want);
        sg_image_free(&got);
        copy_img_(&got, &a);
        sg_aug_strong_apply(&got, &p);
        tap_ok(same_img_(&got, &want, key), "ColorJitter order %d%d%d%d matches torchvision", p.order[0],
               p.order[1], p.order[2], p.order[3]);
        sg_image_free(&want);
    }

    for (int k = 0; k < 5; k++) {
        size_t n;
        snprintf(key, sizeof key, "weak.%d.params", k);
        const double *pp = sg_fixture_doubles(f, key, &n);
        sg_weak_params p = {.h = (int)pp[0], .w = (int)pp[1], .y = (int)pp[2], .x = (int)pp[3], .flip = (int)pp[4]};
        sg_augment_config cfg;
        sg_augment_config_unimatch(&cfg, (int)pp[5]);
        sg_image wi = {0}, wm = {0}, gi = {0}, gm = {0};
        snprintf(key, sizeof key, "weak.%d.img", k);
        load_img_(f, key, &wi);
        snprintf(key, sizeof key, "weak.%d.mask", k);
        load_img_(f, key, &wm);
        sg_aug_weak_apply(&gi, &gm, &a, &m, &p, &cfg.weak, (int)pp[6]);
        int ok = same_img_(&gi, &wi, "weak img") & same_img_(&gm, &wm, "weak mask");
        tap_ok(ok, "weak pipeline (resize %dx%d, crop %d at %d,%d, flip %d, fill %d) matches UniMatch", p.h, p.w,
               cfg.weak.crop, p.y, p.x, p.flip, (int)pp[6]);
        sg_image_free(&wi);
        sg_image_free(&wm);
        sg_image_free(&gi);
        sg_image_free(&gm);
    }

    {
        sg_augment_config cfg;
        sg_augment_config_unimatch(&cfg, 16);
        size_t n;
        const double *want_n = sg_fixture_doubles(f, "norm.out", &n);
        float *out = sg_xmalloc(n * sizeof *out);
        sg_aug_normalize(out, &a, cfg.mean, cfg.std);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += out[i] != (float)want_n[i];
        tap_ok(n == (size_t)3 * a.h * a.w && bad == 0, "ImageNet normalisation is bitwise torch's (%zu differ)",
               bad);
        free(out);
    }
    sg_image_free(&got);
    sg_image_free(&a);
    sg_image_free(&b);
    sg_image_free(&m);
    sg_fixture_close(f);
}

/* ---- random draws ---------------------------------------------------------------- */

/* Rates are estimated from N draws; with N = 20000 one standard error is at
 * most 0.0036, so 0.02 (over 5 standard errors) never fails by chance while a
 * wrong probability (e.g. 0.5 for 0.8) fails. The stream is fixed anyway. */
#define N_DRAWS 20000
#define RATE_TOL 0.02

static void test_weak_draws_(void)
{
    sg_augment_config cfg;
    sg_augment_config_unimatch(&cfg, 321);
    sg_rng r;
    sg_rng_init(&r, 7, sg_rng_stream(SG_RNG_TEST, 1, 0));
    int flips = 0, ok = 1, lo_seen = 0, hi_seen = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        sg_weak_params p;
        sg_aug_weak_draw(&p, &cfg.weak, 375, 500, &r);
        /* long side in [int(0.5 * 500), int(2.0 * 500)]; short = int(375 * long / 500 + 0.5) */
        ok &= p.w >= 250 && p.w <= 1000 && p.h == (int)(375.0 * p.w / 500 + 0.5);
        int ph = p.h > 321 ? p.h : 321, pw = p.w > 321 ? p.w : 321;
        ok &= p.x >= 0 && p.x <= pw - 321 && p.y >= 0 && p.y <= ph - 321;
        lo_seen |= p.w == 250;
        hi_seen |= p.w == 1000;
        flips += p.flip;
    }
    tap_ok(ok, "weak draws: long side in [250, 1000], aspect kept, crop corner inside");
    tap_ok(lo_seen && hi_seen, "both ends of the long-side range are drawn (randint is inclusive)");
    tap_ok(fabs(flips / (double)N_DRAWS - 0.5) < RATE_TOL, "flip rate %.3f ~ 0.5", flips / (double)N_DRAWS);

    sg_weak_params p1, p2;
    sg_rng_init(&r, 99, sg_rng_stream(SG_RNG_AUGMENT, 3, 17));
    sg_aug_weak_draw(&p1, &cfg.weak, 200, 100, &r);
    sg_rng_init(&r, 99, sg_rng_stream(SG_RNG_AUGMENT, 3, 17));
    sg_aug_weak_draw(&p2, &cfg.weak, 200, 100, &r);
    tap_ok(memcmp(&p1, &p2, sizeof p1) == 0 && p1.h >= 100 && p1.h <= 400, "weak draws are a function of the key");
}

static void test_strong_draws_(void)
{
    sg_augment_config cfg;
    sg_augment_config_unimatch(&cfg, 321);
    sg_rng r;
    sg_rng_init(&r, 11, sg_rng_stream(SG_RNG_TEST, 2, 0));
    int jit = 0, gray = 0, blur = 0, ok = 1, first_op[4] = {0};
    for (int i = 0; i < N_DRAWS; i++) {
        sg_strong_params p;
        sg_aug_strong_draw(&p, &cfg.strong, &r);
        jit += p.jitter;
        gray += p.gray;
        blur += p.blur;
        if (p.jitter) {
            int seen = 0;
            for (int k = 0; k < 4; k++) seen |= 1 << p.order[k];
            ok &= seen == 15;
            ok &= p.brightness >= 0.5f && p.brightness <= 1.5f && p.contrast >= 0.5f && p.contrast <= 1.5f &&
                  p.saturation >= 0.5f && p.saturation <= 1.5f && p.hue >= -0.25f && p.hue <= 0.25f;
            first_op[p.order[0]]++;
        }
        if (p.blur) ok &= p.sigma >= 0.1f && p.sigma <= 2.0f;
    }
    double n = N_DRAWS;
    tap_ok(ok, "jitter order is a permutation; factors and sigma in their ranges");
    tap_ok(fabs(jit / n - 0.8) < RATE_TOL && fabs(gray / n - 0.2) < RATE_TOL && fabs(blur / n - 0.5) < RATE_TOL,
           "rates: jitter %.3f (0.8), gray %.3f (0.2), blur %.3f (0.5)", jit / n, gray / n, blur / n);
    int uniform = 1;
    for (int k = 0; k < 4; k++) uniform &= fabs(first_op[k] / (double)jit - 0.25) < RATE_TOL;
    tap_ok(uniform, "each op comes first a quarter of the time (%d %d %d %d)", first_op[0], first_op[1],
           first_op[2], first_op[3]);

    /* The pipeline on a real image: deterministic given the key, and the
     * identity when nothing is drawn. */
    sg_image img = {0}, c1 = {0}, c2 = {0};
    sg_image_alloc(&img, 40, 50, 3);
    for (size_t i = 0; i < 40 * 50 * 3; i++) img.data[i] = (uint8_t)(i * 37 % 251);
    sg_strong_params none = {.brightness = 1, .contrast = 1, .saturation = 1};
    copy_img_(&c1, &img);
    sg_aug_strong_apply(&c1, &none);
    tap_ok(memcmp(c1.data, img.data, 40 * 50 * 3) == 0, "strong aug with nothing drawn is the identity");
    sg_strong_params p;
    sg_rng_init(&r, 5, sg_rng_stream(SG_RNG_AUGMENT, 1, 2));
    do sg_aug_strong_draw(&p, &cfg.strong, &r); while (!(p.jitter && p.blur));
    sg_aug_strong_apply(&c1, &p);
    copy_img_(&c2, &img);
    sg_aug_strong_apply(&c2, &p);
    tap_ok(memcmp(c1.data, c2.data, 40 * 50 * 3) == 0 && memcmp(c1.data, img.data, 40 * 50 * 3) != 0,
           "strong aug with jitter and blur changes the image, reproducibly");
    sg_image_free(&img);
    sg_image_free(&c1);
    sg_image_free(&c2);
}

static void test_boxes_(void)
{
    sg_augment_config cfg;
    sg_augment_config_unimatch(&cfg, 321);
    sg_rng r;
    sg_rng_init(&r, 3, sg_rng_stream(SG_RNG_TEST, 3, 0));
    const int S = 321;
    int empty = 0, ok = 1;
    double amin = 1, amax = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        sg_box b;
        sg_cutmix_box(&b, S, &cfg.cutmix, &r);
        if (b.h == 0 && b.w == 0) {
            empty++;
            continue;
        }
        ok &= b.x >= 0 && b.y >= 0 && b.x + b.w <= S && b.y + b.h <= S;
        /* w = int(sqrt(A/r)), h = int(sqrt(A r)): h/w within the ratio range up to truncation */
        ok &= b.h >= (int)sqrt(0.02 * S * S * 0.3) - 1 && b.w >= (int)sqrt(0.02 * S * S * 0.3) - 1;
        double a = (double)b.h * b.w / (S * S);
        if (a < amin) amin = a;
        if (a > amax) amax = a;
    }
    tap_ok(ok, "UniMatch CutMix boxes lie inside the crop");
    tap_ok(fabs(empty / (double)N_DRAWS - 0.5) < RATE_TOL, "CutMix box present with p = 0.5 (empty %.3f)",
           empty / (double)N_DRAWS);
    /* truncation of w and h to integers only shrinks the area (by < 2/sqrt(A)) */
    tap_ok(amin >= 0.018 && amin < 0.03 && amax <= 0.4 && amax > 0.37, "box area fraction in [%.4f, %.4f] ~ [0.02, 0.4]",
           amin, amax);

    int32_t *mask = sg_xmalloc(5 * 7 * sizeof *mask);
    sg_box b = {.y = 1, .x = 2, .h = 3, .w = 4};
    sg_box_mask(mask, 5, 7, &b);
    int sum = 0, inside = 1;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) {
            sum += mask[y * 7 + x];
            inside &= mask[y * 7 + x] == (y >= 1 && y < 4 && x >= 2 && x < 6);
        }
    tap_ok(sum == 12 && inside, "sg_box_mask sets exactly the box");
    free(mask);

    sg_cutmix_seg_config sc;
    sg_cutmix_seg_config_default(&sc);
    ok = 1;
    double amean = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        sg_box bb;
        sg_cutmix_seg_box(&bb, 321, 321, &sc, &r);
        ok &= bb.x >= 0 && bb.y >= 0 && bb.x + bb.w <= 321 && bb.y + bb.h <= 321;
        /* y_frac in [0.5, 1], x_frac = 0.5 / y_frac: both sides >= round(0.5 * 321) */
        ok &= bb.h >= 160 && bb.w >= 160;
        amean += (double)bb.h * bb.w / (321.0 * 321.0);
    }
    amean /= N_DRAWS;
    /* rounding each side to an integer moves the area by at most ~1/160 */
    tap_ok(ok && fabs(amean - 0.5) < 0.01, "CutMix-Seg box: inside, sides >= 160, mean area %.4f ~ 0.5", amean);
}

static void test_classmix_(void)
{
    enum { H = 6, W = 8, K = 10 };
    int32_t pred[H * W], mask[H * W];
    const int present[4] = {0, 3, 5, 7};
    for (int i = 0; i < H * W; i++) pred[i] = present[i % 4];
    sg_rng r;
    sg_rng_init(&r, 21, sg_rng_stream(SG_RNG_TEST, 4, 0));
    int counts[K] = {0}, ok = 1;
    const int trials = 4000;
    for (int t = 0; t < trials; t++) {
        int n = sg_classmix_mask(mask, pred, H, W, K, &r);
        ok &= n == 2;
        int chosen[K] = {0}, n_chosen = 0;
        for (int i = 0; i < H * W; i++)
            if (mask[i]) chosen[pred[i]] = 1;
        for (int k = 0; k < K; k++) {
            n_chosen += chosen[k];
            counts[k] += chosen[k];
        }
        ok &= n_chosen == 2;
        /* a pixel is in the mask exactly when its class is chosen */
        for (int i = 0; i < H * W; i++) ok &= mask[i] == chosen[pred[i]];
    }
    tap_ok(ok, "ClassMix picks floor(4/2) = 2 of the present classes and masks exactly their pixels");
    /* each class is chosen with probability 1/2; 4000 trials: 1 se = 0.008 */
    int fair = counts[1] == 0 && counts[2] == 0;
    for (int k = 0; k < 4; k++) fair &= fabs(counts[present[k]] / (double)trials - 0.5) < 0.04;
    tap_ok(fair, "ClassMix choices are uniform over present classes (%d %d %d %d of %d)", counts[0], counts[3],
           counts[5], counts[7], trials);
    for (int i = 0; i < H * W; i++) pred[i] = 4;
    pred[5] = 255; /* out of range ids (ignore) are never chosen */
    int n = sg_classmix_mask(mask, pred, H, W, K, &r);
    int any = 0;
    for (int i = 0; i < H * W; i++) any |= mask[i];
    tap_ok(n == 0 && !any, "one present class: floor(1/2) = 0 classes, empty mask");
}

static void bad_hue_(void *arg)
{
    sg_image img = {0};
    sg_image_alloc(&img, 2, 2, 3);
    sg_aug_hue(&img, *(float *)arg);
}

static void bad_crop_(void *arg)
{
    (void)arg;
    sg_image img = {0}, out = {0};
    sg_image_alloc(&img, 4, 4, 3);
    sg_aug_crop(&out, &img, 2, 0, 3, 3);
}

static void test_config_(void)
{
    sg_augment_config cfg;
    sg_err err = {{0}};
    sg_augment_config_unimatch(&cfg, 321);
    tap_ok(sg_augment_config_check(&cfg, &err) == 0, "the UniMatch config is valid");
    tap_ok(cfg.weak.label_fill == 255 && cfg.weak.unlabeled_fill == 254 && cfg.strong.jitter_p == 0.8f &&
               cfg.strong.hue == 0.25f && cfg.cutmix.area_max == 0.4,
           "UniMatch values: fills 255/254, jitter p 0.8, hue 0.25, box area up to 0.4");
    sg_augment_config bad = cfg;
    bad.strong.gray_p = 1.5f;
    tap_ok(sg_augment_config_check(&bad, &err) == -1 && strstr(err.msg, "probabilities"),
           "a probability above 1 is rejected: %s", err.msg);
    bad = cfg;
    bad.cutmix.area_max = 1.0;
    tap_ok(sg_augment_config_check(&bad, &err) == -1 && strstr(err.msg, "cutmix area"),
           "a box area that cannot fit (1.0) is rejected: %s", err.msg);
    bad = cfg;
    bad.weak.unlabeled_fill = 300;
    tap_ok(sg_augment_config_check(&bad, &err) == -1 && strstr(err.msg, "fill"), "a fill of 300 is rejected");
    float h = 0.7f;
    tap_ok(sg_expect_abort(bad_hue_, &h, (const char *const[]){"sg_aug_hue", "0.7"}, 2),
           "a hue factor outside [-0.5, 0.5] aborts naming the function");
    tap_ok(sg_expect_abort(bad_crop_, NULL, (const char *const[]){"sg_aug_crop", "outside the 4x4"}, 2),
           "a crop window outside the image aborts");
}

int main(void)
{
    test_fixtures_();
    test_weak_draws_();
    test_strong_draws_();
    test_boxes_();
    test_classmix_();
    test_config_();
    return tap_done();
}
