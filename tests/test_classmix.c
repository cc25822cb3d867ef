/*
 * test_classmix.c: ClassMix on a batch and the Gaussian blur of its strong
 * transform (include/semiseg/classmix.h) against tests/ref/gen_classmix.py,
 * the released functions of 1181110317/SSL_CTT@33d7e3c restated in torch
 * (generate_class_mask, transformsgpu.mix, kornia 0.3.0 GaussianBlur2d):
 * masks (the class choices from the same Philox draws), mixed images,
 * pseudo-labels and confidences of the mixed probabilities exactly; the
 * blur (sg_semi_gaussian_blur, a core primitive of semi.h, tested here with
 * the transform it belongs to) of two batches to float32 rounding, and
 * bitwise the same with 1 and 2 threads; the kernel sizes of the crops the
 * configurations use; misuse aborts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "semiseg/classmix.h"
#include "tap.h"

#define GEN "tests/ref/gen_classmix.py"

/* The blur: kornia applies one 2-D kernel of float32 products summed in
 * float32, here two 1-D passes with double accumulation and the rows pass
 * rounded to float32; values of size ~1 through <= 63 taps whose weights
 * sum to 1: a few float32 ulps. */
#define BLUR_TOL 2e-6

static int same_i32_(const sg_fixture *fx, const char *key, const sg_tensor *t)
{
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    if (n != sg_numel(t)) return 0;
    int32_t *v = malloc(n * sizeof *v);
    sg_tensor_read(t, v);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= v[i] == (int32_t)ref[i];
    free(v);
    return ok;
}

static int same_f32_(const sg_fixture *fx, const char *key, const sg_tensor *t, double tol)
{
    size_t n = sg_numel(t);
    float *v = malloc(n * sizeof *v);
    sg_tensor_read(t, v);
    int ok = sg_check_close(fx, key, v, n, tol, 0);
    free(v);
    return ok;
}

static void test_classmix_(const sg_fixture *fx)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *probs = sg_fixture_tensor(fx, "cm.probs", false), *img = sg_fixture_tensor(fx, "cm.img", false);
    const double *sd = sg_fixture_doubles(fx, "cm.seed", NULL);
    sg_rng rng;
    sg_rng_init(&rng, (uint64_t)sd[0], (uint64_t)sd[1]);
    sg_classmix cm;
    sg_semi_classmix(&ctx, probs, img, &rng, &cm);
    tap_ok(same_i32_(fx, "cm.mask", cm.mask), "ClassMix masks: half of each image's argmax classes (Philox draws)");
    tap_ok(same_f32_(fx, "cm.mixed", cm.img, 0), "mixed images: M x_i + (1 - M) x_(i+1), exactly");
    tap_ok(same_i32_(fx, "cm.label", cm.pseudo.label), "pseudo-labels = argmax of the mixed probabilities");
    tap_ok(same_f32_(fx, "cm.conf", cm.pseudo.conf, 0), "confidences = max of the mixed probabilities, exactly");
    tap_ok(cm.pseudo.ignore == NULL, "no ignore map: every mixed pixel carries a pseudo-label");
    sg_tensor_free(probs);
    sg_tensor_free(img);
    sg_ctx_free(&ctx);
}

/* sg_semi_gaussian_blur of fixture record <key>.img with <key>.sigma. */
static sg_tensor *blur_of_(sg_ctx *ctx, const sg_fixture *fx, const char *key)
{
    char k[32];
    snprintf(k, sizeof k, "%s.img", key);
    sg_tensor *img = sg_fixture_tensor(fx, k, false), *in = sg_tensor_like(ctx, img);
    memcpy(in->data, img->data, sg_numel(img) * sizeof(float));
    sg_tensor_free(img);
    snprintf(k, sizeof k, "%s.sigma", key);
    return sg_semi_gaussian_blur(ctx, in, (float)sg_fixture_scalar(fx, k));
}

static void test_blur_(const sg_fixture *fx)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    tap_ok(same_f32_(fx, "blur.out", blur_of_(&ctx, fx, "blur"), BLUR_TOL),
           "blur of a 24 x 45 batch = kornia GaussianBlur2d (3 x 5, reflect)");
    tap_ok(same_f32_(fx, "blur2.out", blur_of_(&ctx, fx, "blur2"), BLUR_TOL),
           "blur of an 85 x 75 image = kornia GaussianBlur2d (9 x 7, reflect)");
    /* Each plane is one thread's: the same bits for any thread count. */
    const int threads = sg_get_num_threads();
    sg_set_num_threads(1);
    sg_tensor *one = blur_of_(&ctx, fx, "blur");
    sg_set_num_threads(2);
    sg_tensor *two = blur_of_(&ctx, fx, "blur");
    sg_set_num_threads(threads);
    tap_ok(memcmp(one->data, two->data, sg_numel(one) * sizeof(float)) == 0,
           "blur of 6 planes: 1 and 2 threads give the same bits");
    sg_ctx_free(&ctx);
    /* ceil(0.1 L), odd: the crops of the configurations */
    const int side[7] = {21, 24, 256, 321, 512, 801, 1024}, k[7] = {3, 3, 25, 33, 51, 81, 103};
    int ok = 1;
    for (int i = 0; i < 7; i++) ok &= sg_semi_blur_kernel_size(side[i]) == k[i];
    tap_ok(ok, "kernel sides 3 3 25 33 51 81 103 for 21 24 256 321 512 801 1024 pixels");
}

static void grad_probs_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *p = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, 4, 4}, true);
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){2, 3, 4, 4}, false);
    sg_rng r;
    sg_rng_init(&r, 1, 2);
    sg_classmix cm;
    sg_semi_classmix(&ctx, p, x, &r, &cm);
}

static void bad_sigma_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = sg_tensor_alloc(SG_F32, 4, (const int[]){1, 1, 30, 30}, false);
    sg_semi_gaussian_blur(&ctx, x, 0.0f);
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("classmix.bin", GEN);
    test_classmix_(fx);
    test_blur_(fx);
    sg_fixture_close(fx);
    tap_ok(sg_expect_abort(grad_probs_, NULL, (const char *const[]){"sg_semi_classmix", "without gradient"}, 2),
           "probabilities that require a gradient abort");
    tap_ok(sg_expect_abort(bad_sigma_, NULL, (const char *const[]){"sg_semi_gaussian_blur", "sigma"}, 2),
           "sigma 0 aborts");
    return tap_done();
}
