/*
 * test_intensity.c: DSSN's random-intensity chain of the strong view
 * (include/semiseg/augment.h: sg_aug_autocontrast, sg_aug_equalize,
 * sg_aug_posterize, sg_aug_solarize, sg_aug_sharpness, and the chain's draws
 * and application in sg_aug_strong_draw / sg_aug_strong_apply).
 *
 * Against tests/ref/gen_intensity.py -> tests/data/intensity.bin (Pillow 9.4,
 * the op bodies of kunzhan/DSSN@efaee86:voc/dataset/transform.py), exactly:
 * every op on full-range, low-contrast, few-level and 2 x 5 images, and five
 * chains that mix them with the existing jitter ops, the blur and the hue
 * shift. The draws: counts, op frequencies and parameter ranges of the
 * released distributions, no draw at all when the chain is off (so the
 * UniMatch pipeline's streams are unchanged), and reproducibility.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "semiseg/augment.h"
#include "tap.h"

static const char *GEN = "tests/ref/gen_intensity.py";

static void load_img_(const sg_fixture *f, const char *key, sg_image *img)
{
    sg_tensor *t = sg_fixture_tensor(f, key, false);
    SG_CHECK(t->ndim == 3 && t->dtype == SG_I32, "%s: expected an (h, w, c) int32 record", key);
    sg_image_alloc(img, t->shape[0], t->shape[1], t->shape[2]);
    for (size_t i = 0; i < sg_numel(t); i++) img->data[i] = (uint8_t)t->i32[i];
    sg_tensor_free(t);
}

/* got == the record `key`, exactly; a TAP line. */
static void check_img_(const sg_fixture *f, const char *key, const sg_image *got, const char *what)
{
    sg_image want = {0};
    load_img_(f, key, &want);
    size_t n = (size_t)want.h * want.w * want.c, bad = 0, first = 0;
    int ok = got->h == want.h && got->w == want.w && got->c == want.c;
    for (size_t i = 0; ok && i < n; i++)
        if (got->data[i] != want.data[i] && !bad++) first = i;
    if (ok && bad)
        tap_diag("%s: %zu of %zu values differ; first at %zu: got %d want %d", what, bad, n, first,
                 got->data[first], want.data[first]);
    tap_ok(ok && !bad, "%s matches Pillow", what);
    sg_image_free(&want);
}

static void input_(const sg_fixture *f, const char *k, sg_image *img)
{
    char key[32];
    snprintf(key, sizeof key, "img.%s", k);
    load_img_(f, key, img);
}

static void test_ops_(const sg_fixture *f)
{
    const char *imgs[4] = {"a", "b", "c", "t"};
    char key[64], what[96];
    sg_image img = {0};
    for (int i = 0; i < 4; i++) {
        input_(f, imgs[i], &img);
        sg_aug_autocontrast(&img);
        snprintf(key, sizeof key, "autocontrast.%s", imgs[i]);
        snprintf(what, sizeof what, "ImageOps.autocontrast of image %s", imgs[i]);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
        input_(f, imgs[i], &img);
        sg_aug_equalize(&img);
        snprintf(key, sizeof key, "equalize.%s", imgs[i]);
        snprintf(what, sizeof what, "ImageOps.equalize of image %s", imgs[i]);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
    }
    for (int bits = 4; bits <= 7; bits++) {
        input_(f, "a", &img);
        sg_aug_posterize(&img, bits);
        snprintf(key, sizeof key, "posterize.%d.a", bits);
        snprintf(what, sizeof what, "ImageOps.posterize(%d)", bits);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
    }
    const int thr[4] = {1, 100, 200, 255};
    for (int i = 0; i < 4; i++) {
        input_(f, "a", &img);
        sg_aug_solarize(&img, thr[i]);
        snprintf(key, sizeof key, "solarize.%d.a", thr[i]);
        snprintf(what, sizeof what, "ImageOps.solarize(%d)", thr[i]);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "sharpness.%d.f", i);
        const float fac = (float)sg_fixture_scalar(f, key);
        input_(f, "a", &img);
        sg_aug_sharpness(&img, fac);
        snprintf(key, sizeof key, "sharpness.%d.out", i);
        snprintf(what, sizeof what, "ImageEnhance.Sharpness(%g)", (double)fac);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
    }
    input_(f, "t", &img);
    sg_aug_sharpness(&img, 0.3f);
    check_img_(f, "sharpness.t.out", &img, "ImageEnhance.Sharpness of a 2 x 5 image (no interior: unchanged)");
    sg_image_free(&img);
}

/* The chains through sg_aug_strong_apply with nothing but the chain set. */
static void test_chains_(const sg_fixture *f)
{
    char key[64], what[96];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "chain.%d.ops", i);
        size_t n;
        const double *ops = sg_fixture_doubles(f, key, &n);
        snprintf(key, sizeof key, "chain.%d.v", i);
        const double *v = sg_fixture_doubles(f, key, NULL);
        sg_strong_params p;
        memset(&p, 0, sizeof p);
        p.n_intensity = (int)n;
        for (size_t k = 0; k < n; k++) {
            p.intensity_op[k] = (int)ops[k];
            p.intensity_v[k] = (float)v[k];
        }
        sg_image img = {0};
        input_(f, "a", &img);
        sg_aug_strong_apply(&img, &p);
        snprintf(key, sizeof key, "chain.%d.out", i);
        snprintf(what, sizeof what, "chain %d (ops %d, %d, %d)", i, (int)ops[0], (int)ops[1], (int)ops[2]);
        check_img_(f, key, &img, what);
        sg_image_free(&img);
    }
}

/* Rates with 20000 draws: a binomial proportion's standard deviation is at
 * most 0.0035; 0.015 is > 4 of them. */
#define RATE_TOL 0.015

static void test_draws_(void)
{
    sg_augment_config cfg;
    sg_augment_config_unimatch(&cfg, 32);
    sg_rng r1, r2;
    sg_rng_init(&r1, 5, sg_rng_stream(SG_RNG_TEST, 1, 0));
    r2 = r1;
    sg_strong_params p;
    sg_aug_strong_draw(&p, &cfg.strong, &r1);
    tap_ok(p.n_intensity == 0, "chain off (UniMatch's configuration): no op");
    /* The chain's draws come after the blur's, so the jitter, grayscale and
     * blur draws of a view do not depend on whether it is on. */
    sg_rng r3 = r2;
    sg_strong_params q;
    cfg.strong.intensity_ops = 3;
    cfg.strong.intensity_random_num = true;
    sg_aug_strong_draw(&q, &cfg.strong, &r3);
    tap_ok(q.jitter == p.jitter && q.gray == p.gray && q.blur == p.blur && q.sigma == p.sigma &&
               q.brightness == p.brightness && q.hue == p.hue,
           "chain on: the UniMatch draws before it are unchanged");

    const int N = 20000;
    int count[4] = {0}, ops[SG_INTENSITY_N_OPS] = {0}, total = 0, ok = 1, neg = 0, hues = 0;
    sg_rng r;
    sg_rng_init(&r, 11, sg_rng_stream(SG_RNG_TEST, 2, 0));
    for (int i = 0; i < N; i++) {
        sg_aug_strong_draw(&q, &cfg.strong, &r);
        ok &= q.n_intensity >= 1 && q.n_intensity <= 3;
        count[q.n_intensity]++;
        for (int k = 0; k < q.n_intensity; k++) {
            const int op = q.intensity_op[k];
            const float v = q.intensity_v[k];
            ops[op]++;
            total++;
            switch (op) {
            case SG_INTENSITY_BLUR: ok &= v >= 0.1f && v <= 2.0f; break;
            case SG_INTENSITY_CONTRAST:
            case SG_INTENSITY_BRIGHTNESS:
            case SG_INTENSITY_COLOR:
            case SG_INTENSITY_SHARPNESS: ok &= v > 0.05f - 1e-6f && v <= 0.95f; break;
            case SG_INTENSITY_POSTERIZE: ok &= v == floorf(v) && v >= 4 && v <= 7; break;
            case SG_INTENSITY_SOLARIZE: ok &= v == floorf(v) && v >= 1 && v <= 255; break;
            case SG_INTENSITY_HUE:
                ok &= fabsf(v) <= 0.5f;
                neg += v < 0;
                hues++;
                break;
            default: ok &= v == 0.0f;
            }
        }
    }
    tap_ok(ok, "chain parameters in the released ranges (sigma 0.1-2, factors 0.05-0.95, bits 4-7, "
               "threshold 1-255, hue |v| <= 0.5)");
    tap_ok(fabs(count[1] / (double)N - 1.0 / 3) < RATE_TOL && fabs(count[2] / (double)N - 1.0 / 3) < RATE_TOL,
           "chain length uniform in 1..3: %.3f %.3f %.3f", count[1] / (double)N, count[2] / (double)N,
           count[3] / (double)N);
    int uni = 1;
    for (int k = 0; k < SG_INTENSITY_N_OPS; k++) uni &= fabs(ops[k] / (double)total - 1.0 / 11) < RATE_TOL;
    tap_ok(uni && fabs(neg / (double)hues - 0.5) < 2 * RATE_TOL,
           "ops drawn uniformly from the 11 with replacement; hue sign 50/50 (%.3f)", neg / (double)hues);
    cfg.strong.intensity_random_num = false;
    sg_aug_strong_draw(&q, &cfg.strong, &r);
    tap_ok(q.n_intensity == 3, "intensity_random_num off: always intensity_ops ops");
    cfg.strong.intensity_ops = 12;
    sg_err err;
    tap_ok(sg_augment_config_check(&cfg, &err) != 0 && strstr(err.msg, "intensity_ops"),
           "intensity_ops 12 is refused naming it");
}

int main(void)
{
    sg_fixture *f = sg_fixture_open("intensity.bin", GEN);
    test_ops_(f);
    test_chains_(f);
    sg_fixture_close(f);
    test_draws_();
    return tap_done();
}
