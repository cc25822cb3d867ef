/*
 * test_dssn.c: DSSN (experiments/dssn/dssn_loss.c) and the core pieces it
 * added: class-aware relative selection (sg_class_relative_mask,
 * include/semiseg/class_select.h), the second feature-perturbed copy of
 * sg_deeplab_forward and its masks (sg_semi_fp2).
 *
 * Against tests/ref/gen_dssn.py -> tests/data/dssn.bin:
 * - sg_class_relative_mask on random logits against voc/util/utils.py's
 *   get_adaptive_binary_mask (the released 0.92 / 0.96, and 0.7 / 0.8),
 *   pixel for pixel, including an image where no class reaches the gate;
 * - one DSSN iteration on a fixed batch (fixed boxes, Philox dropout masks
 *   for both perturbed copies), two variants: "voc" (voc/DSSN.py after the
 *   first iteration: class-relative selection, Siamese weight inside the
 *   1/2, teacher in train mode, EMA keep 0.996 over parameters and BN
 *   statistics) and "city" (city/DSSN.py in its first epochs: fixed
 *   threshold, Siamese weight outside, strong terms left out, teacher in
 *   eval mode, keep 0): every loss term, the mask ratio, every parameter and
 *   BN statistic of the student after the SGD step and of the teacher after
 *   its EMA update; on the reference CPU path and on oneDNN when built.
 * Also: sg_semi_fp2's streams, the misuse aborts of the selection.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dssn/dssn_loss.h"
#include "expect_abort.h"
#include "fixture.h"
#include "semi_check.h"
#include "semiseg/class_select.h"
#include "semiseg/semi.h"
#include "tap.h"

#define GEN "tests/ref/gen_dssn.py"

static const sg_backend *g_be;

/* ---- tolerances ----------------------------------------------------------------------
 * As tests/test_semi.c (same model, batch layout and float64 fixture): the
 * thresholds sit >= 5e-5 from every probability they are compared with and
 * argmax margins exceed 2e-5, so no selection or pseudo-label can differ.
 * TERM_TOL: loss terms of size ~1 (float32 sums with double accumulation);
 *   observed up to 1.3e-6 relative (an unsupervised CE on the oneDNN path),
 *   the Siamese MSEs (per-pixel std over 4 classes) below that.
 * RATIO_TOL: a ratio of pixel counts.
 * STEP_TOL, BUF_TOL, VALUE_RTOL: test_semi.c's (a gradient comparison as a
 *   fraction of the largest update of each tensor; BN statistics as a
 *   fraction of the tensor's maximum; 4 float32 ulps of the value).
 * The teacher is compared like the student (fraction of its largest
 *   change): with keep 0.996 its change is 0.4 % of the student's distance,
 *   so a wrong keep, a missed buffer blend or the teacher's BN updates in
 *   the wrong mode move it by far more than the tolerance. */
/* The values (TERM_TOL, RATIO_TOL, STEP_TOL, BUF_TOL, VALUE_RTOL and
 * FAST_FACTOR, oneDNN's other summation order) are semi_check.h's. */

typedef struct {
    sg_deeplab_config cfg;
    uint64_t seed_s, seed_t;
    float lr, head_mult, wd, fp_p, cls_scale;
    long fp_it;
    int warm;
} setup_;

static setup_ setup_from_(const sg_fixture *fx)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "config", &n);
    SG_CHECK(n == 24, "config has %zu entries, expected 24 (regenerate with %s)", n, GEN);
    setup_ s = {0};
    semi_check_deeplab_config(&s.cfg, c);
    s.seed_s = (uint64_t)c[15];
    s.seed_t = (uint64_t)c[16];
    s.lr = (float)c[17];
    s.head_mult = (float)c[18];
    s.wd = (float)c[19];
    s.fp_p = (float)c[20];
    s.fp_it = (long)c[21];
    s.warm = (int)c[22];
    s.cls_scale = (float)c[23];
    return s;
}

/* The fixture's make(): build from a seed, classifier x cls_scale, then
 * WARM train-mode passes on cat(x, uw) without gradient. */
static void make_(sg_deeplab *m, const setup_ *s, uint64_t seed, const semi_check_inputs *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, seed);
    for (size_t i = 0; i < sg_numel(m->cls_w); i++) m->cls_w->data[i] *= s->cls_scale;
    for (size_t i = 0; i < sg_numel(m->cls_b); i++) m->cls_b->data[i] *= s->cls_scale;
    semi_check_warm(ctx, m, s->warm, in->lab.img, in->unl.img);
}

/* ---- one iteration ------------------------------------------------------------------- */
static void test_iteration(const sg_fixture *fx, const setup_ *s, semi_check_inputs *in, const char *variant, double f)
{
    char key[64];
    snprintf(key, sizeof key, "%s.hp", variant);
    size_t nhp;
    const double *hp = sg_fixture_doubles(fx, key, &nhp);
    SG_CHECK(nhp == 11, "%s has %zu entries, expected 11 (regenerate with %s)", key, nhp, GEN);
    const dssn_params p = {.select = hp[0] != 0 ? DSSN_SELECT_FIXED : DSSN_SELECT_CLASS_RELATIVE,
                           .gate = (float)hp[1],
                           .factor = (float)hp[2],
                           .conf_thresh = (float)hp[3],
                           .weight_s = (float)hp[4],
                           .weight_fp = (float)hp[5],
                           .weight_siamese = (float)hp[6],
                           .siamese_inside = hp[7] != 0,
                           .drop_strong = hp[8] != 0,
                           .teacher_train_bn = hp[9] != 0};
    const float keep = (float)hp[10];
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_deeplab m, t;
    make_(&m, s, s->seed_s, in, &ctx);
    make_(&t, s, s->seed_t, in, &ctx);
    float **before = semi_check_snapshot(&m.params), **tbefore = semi_check_snapshot(&t.params);

    const sg_deeplab_fp fp = sg_semi_fp2(s->fp_p, s->seed_s, s->fp_it);
    sg_semi_terms terms;
    sg_tensor *loss = dssn_loss(&ctx, &m, &t, &in->lab, &in->unl, &in->mix, &p, &fp, NULL, &terms);

    snprintf(key, sizeof key, "%s.terms", variant);
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    if (tap_ok((int)n == terms.n + 1, "%s %s: %d terms + mask ratio (fixture %zu)", variant, g_be->name,
               terms.n, n)) {
        int ok = 1;
        for (int i = 0; i < terms.n; i++) ok &= semi_check_term(variant, terms.name[i], terms.value[i], ref[i]);
        tap_ok(ok, "%s %s: the 8 loss terms match PyTorch (loss %.6f)", variant, g_be->name, terms.value[0]);
        tap_ok(fabs(terms.mask_ratio - ref[terms.n]) <= RATIO_TOL, "%s %s: mask ratio %.6f (PyTorch %.6f)",
               variant, g_be->name, terms.mask_ratio, ref[terms.n]);
    }
    sg_backward(&ctx, loss);
    semi_check_sgd_step(&m.params, s->lr, s->head_mult, s->wd);
    sg_ema_update(&t.params, &m.params, keep, true);
    char what[96];
    snprintf(what, sizeof what, "%s %s: student after the SGD step", variant, g_be->name);
    semi_check_set(fx, variant, false, &m.params, before, f, what);
    snprintf(what, sizeof what, "%s %s: teacher after the EMA update (keep %g)", variant, g_be->name,
             (double)keep);
    semi_check_set(fx, variant, true, &t.params, tbefore, f, what);
    semi_check_snapshot_free(before, m.params.n_params);
    semi_check_snapshot_free(tbefore, t.params.n_params);
    sg_deeplab_free(&t);
    sg_deeplab_free(&m);
    sg_ctx_free(&ctx);
}

/* ---- class-relative selection ------------------------------------------------------------ */
static void test_select(const sg_fixture *fx, const char *which)
{
    char key[64];
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    snprintf(key, sizeof key, "select.%s.logits", which);
    sg_tensor *z = sg_fixture_tensor(fx, key, false);
    snprintf(key, sizeof key, "select.%s.hp", which);
    const double *hp = sg_fixture_doubles(fx, key, NULL);
    sg_tensor *mask = sg_class_relative_mask(&ctx, z, (float)hp[0], (float)hp[1]);
    snprintf(key, sizeof key, "select.%s.mask", which);
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    int diff = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        diff += mask->data[i] != (float)ref[i];
        kept += ref[i] != 0;
    }
    tap_ok(n == sg_numel(mask) && diff == 0,
           "class-relative selection %s (gate %g, factor %g): %d of %zu pixels kept, %d differ", which,
           hp[0], hp[1], kept, n, diff);
    sg_tensor_free(z);
    sg_ctx_free(&ctx);
}

/* Hand case with the released 0.92 / 0.96, one image, 2 classes, 3 pixels:
 * class 0 probabilities 0.95, 0.93, 0.10 (max 0.95 > 0.92, threshold
 * 0.912: pixels 0 and 1), class 1 0.05, 0.07, 0.90 (max 0.90, not gated:
 * nothing). */
static void test_select_hand(void)
{
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *z = sg_tensor_new4(&ctx, 1, 2, 1, 3);
    const double p0[3] = {0.95, 0.93, 0.10};
    for (int i = 0; i < 3; i++) {
        z->data[i] = (float)log(p0[i]);
        z->data[3 + i] = (float)log(1.0 - p0[i]);
    }
    sg_tensor *m = sg_class_relative_mask(&ctx, z, 0.92f, 0.96f);
    tap_ok(m->data[0] == 1 && m->data[1] == 1 && m->data[2] == 0,
           "class-relative selection: within 4 %% of a gated class's best pixel, nothing of an ungated class");
    sg_ctx_free(&ctx);
}

static void select_low_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *z = sg_tensor_new4(&ctx, 1, 2, 1, 1);
    z->data[0] = z->data[1] = 0;
    sg_class_relative_mask(&ctx, z, 0.6f, 0.8f);
}

static void select_shape_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_class_relative_mask(&ctx, sg_tensor_new(&ctx, SG_F32, 3, (const int[]){1, 2, 3}), 0.92f, 0.96f);
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    test_select_hand();
    tap_ok(sg_expect_abort(select_low_, NULL, (const char *const[]){"sg_class_relative_mask", ">= 0.5"}, 2),
           "gate * factor below 1/2 (two classes could pass) aborts");
    tap_ok(sg_expect_abort(select_shape_, NULL, (const char *const[]){"sg_class_relative_mask", "[1, 2, 3]"},
                           2),
           "selection of a non-4-D tensor aborts naming its shape");
    sg_deeplab_fp fp = sg_semi_fp2(0.5f, 9, 7);
    tap_ok(fp.second && fp.seed == 9 && fp.stream_c1 == sg_rng_stream(SG_RNG_DROPOUT, 7, 0) &&
               fp.stream_c4 == sg_rng_stream(SG_RNG_DROPOUT, 7, 1) &&
               fp.stream2_c1 == sg_rng_stream(SG_RNG_DROPOUT, 7, 2) &&
               fp.stream2_c4 == sg_rng_stream(SG_RNG_DROPOUT, 7, 3) && !sg_semi_fp(0.5f, 9, 7).second,
           "two perturbed copies: streams (dropout, iteration, 0..3); sg_semi_fp keeps one");

    sg_fixture *fx = sg_fixture_open("dssn.bin", GEN);
    test_select(fx, "default");
    test_select(fx, "wide");
    setup_ s = setup_from_(fx);
    semi_check_inputs in;
    semi_check_inputs_load(&in, fx);
    g_be = sg_backend_cpu_reference();
    test_iteration(fx, &s, &in, "voc", 1.0);
    test_iteration(fx, &s, &in, "city", 1.0);
    if (sg_backend_cpu_dnnl() != NULL) {
        g_be = sg_backend_cpu_dnnl();
        test_iteration(fx, &s, &in, "voc", FAST_FACTOR);
        test_iteration(fx, &s, &in, "city", FAST_FACTOR);
    }
    semi_check_inputs_free(&in);
    sg_fixture_close(fx);
    return tap_done();
}
