/*
 * test_region.c: the class-region primitives (include/semiseg/region.h):
 * - PyTorch parity (tests/ref/gen_region.py -> tests/data/region.bin, UCCL's
 *   calculate_region written with boolean masks): the softmax weights,
 *   the prototypes, the prototype map and the gradients of the map with
 *   respect to the scores and the features, with two regions absent (a
 *   class missing from an image, a class whose pixels are all
 *   non-members);
 * - the grouping on a hand-made map: region order, pixel lists, owners,
 *   no region at all (the map is the features);
 * - misuse aborts (a label out of range, scores of the wrong shape).
 */
#include <string.h>

#include "expect_abort.h"
#include "fixture.h"
#include "semiseg/region.h"
#include "tap.h"

#define GEN "tests/ref/gen_region.py"

/* The reference is float64 rounded to float32. Softmax over <= 20 values,
 * sums of <= 20 products of O(1) values in float32: a few ulps of O(1),
 * ~1e-6; a wrong pixel, class or normalisation is off by O(0.1). */
#define VAL_ATOL 2e-6
#define VAL_RTOL 1e-5
/* Gradients: sums over the same few terms, through softmax' Jacobian. */
#define GRAD_ATOL 1e-5
#define GRAD_RTOL 1e-4

static void test_parity(void)
{
    sg_fixture *fx = sg_fixture_open("region.bin", GEN);
    sg_tensor *scores = sg_fixture_tensor(fx, "scores", true);
    sg_tensor *feat = sg_fixture_tensor(fx, "feat", true);
    sg_tensor *label = sg_fixture_tensor(fx, "label", false);
    sg_tensor *member = sg_fixture_tensor(fx, "member", false);
    sg_tensor *g = sg_fixture_tensor(fx, "g", false);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_regions r;
    sg_regions_build(&ctx, &r, label, member, scores->shape[1]);
    tap_ok(r.count == 4, "two of six (image, class) regions are absent: %d regions", r.count);
    sg_tensor *w = sg_region_softmax(&ctx, scores, &r);
    sg_tensor *p = sg_region_prototypes(&ctx, feat, w, &r);
    sg_tensor *map = sg_region_prototype_map(&ctx, p, sg_region_pixel_rows(&ctx, feat), &r);
    tap_ok(sg_check_close(fx, "weights", w->data, sg_numel(w), VAL_ATOL, VAL_RTOL),
           "region softmax weights match PyTorch");
    tap_ok(sg_check_close(fx, "protos", p->data, sg_numel(p), VAL_ATOL, VAL_RTOL),
           "prototypes match PyTorch");
    tap_ok(sg_check_close(fx, "map", map->data, sg_numel(map), VAL_ATOL, VAL_RTOL),
           "prototype map matches PyTorch");
    sg_backward_with(&ctx, map, g->data);
    tap_ok(sg_check_close(fx, "grad_scores", scores->grad, sg_numel(scores), GRAD_ATOL, GRAD_RTOL),
           "gradient of the map w.r.t. the scores matches PyTorch");
    tap_ok(sg_check_close(fx, "grad_feat", feat->grad, sg_numel(feat), GRAD_ATOL, GRAD_RTOL),
           "gradient of the map w.r.t. the features matches PyTorch");
    sg_ctx_free(&ctx);
    sg_tensor *all[] = {scores, feat, label, member, g};
    for (int i = 0; i < 5; i++) sg_tensor_free(all[i]);
    sg_fixture_close(fx);
}

static sg_tensor *ints_(sg_ctx *ctx, int n, int h, int w, const int32_t *v)
{
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, h, w});
    memcpy(t->i32, v, (size_t)n * h * w * sizeof *v);
    return t;
}

static void test_grouping(void)
{
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    /* Two 2 x 3 images, 3 classes; image 1 has no class 0. */
    const int32_t lab[12] = {2, 0, 2, 1, 0, 0, /**/ 1, 1, 2, 2, 1, 2};
    const int32_t mem[12] = {1, 1, 1, 1, 0, 1, /**/ 1, 0, 1, 1, 1, 1};
    sg_regions r;
    sg_regions_build(&ctx, &r, ints_(&ctx, 2, 2, 3, lab), ints_(&ctx, 2, 2, 3, mem), 3);
    const int img[5] = {0, 0, 0, 1, 1}, cls[5] = {0, 1, 2, 1, 2}, start[6] = {0, 2, 3, 5, 7, 10};
    const int pix[10] = {1, 5, 3, 0, 2, 0, 4, 2, 3, 5};
    const int owner[12] = {2, 0, 2, 1, -1, 0, /**/ 3, -1, 4, 4, 3, 4};
    tap_ok(r.count == 5 && !memcmp(r.image, img, sizeof img) && !memcmp(r.cls, cls, sizeof cls) &&
               !memcmp(r.start, start, sizeof start) && !memcmp(r.pix, pix, sizeof pix) &&
               !memcmp(r.owner, owner, sizeof owner),
           "regions in (image, class) order, ascending pixels, owners, non-members -1");
    /* No member at all: no weights, no prototypes, the map is the features. */
    const int32_t none[12] = {0};
    sg_regions_build(&ctx, &r, ints_(&ctx, 2, 2, 3, lab), ints_(&ctx, 2, 2, 3, none), 3);
    sg_tensor *feat = sg_tensor_new4(&ctx, 2, 2, 2, 3);
    for (int i = 0; i < 24; i++) feat->data[i] = (float)i;
    sg_tensor *scores = sg_tensor_new4(&ctx, 2, 3, 2, 3);
    sg_tensor *w = sg_region_softmax(&ctx, scores, &r);
    sg_tensor *map = sg_region_prototype_map(&ctx, sg_region_prototypes(&ctx, feat, w, &r),
                                           sg_region_pixel_rows(&ctx, feat), &r);
    tap_ok(r.count == 0 && w == NULL && !memcmp(map->data, feat->data, 24 * sizeof(float)),
           "no member pixel: no region, the map is the features");
    sg_ctx_free(&ctx);
}

static void bad_label_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    const int32_t lab[4] = {0, 1, 3, 0};
    sg_regions r;
    sg_regions_build(&ctx, &r, ints_(&ctx, 1, 2, 2, lab), NULL, 3);
}

static void bad_scores_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    const int32_t lab[4] = {0, 1, 2, 0};
    sg_regions r;
    sg_regions_build(&ctx, &r, ints_(&ctx, 1, 2, 2, lab), NULL, 3);
    sg_region_softmax(&ctx, sg_tensor_new4(&ctx, 1, 4, 2, 2), &r);
}

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(bad_label_, NULL, (const char *const[]){"sg_regions_build", "label 3"}, 2),
           "a label outside [0, K) aborts naming it");
    tap_ok(sg_expect_abort(bad_scores_, NULL, (const char *const[]){"sg_region_softmax", "[1, 4, 2, 2]"}, 2),
           "scores of the wrong shape abort naming it");
}

int main(void)
{
    test_parity();
    test_grouping();
    test_misuse();
    return tap_done();
}
