/*
 * test_semi.c: the semi-supervised building blocks (include/semiseg/semi.h)
 * and the methods' compositions built from them
 * (experiments/<method>/<method>_loss.c, experiments/libsgmethods.a).
 *
 * - PyTorch parity (tests/ref/gen_semi.py -> tests/data/semi.bin): one
 *   iteration of FixMatch (CutMix partner = the batch roll), UniMatch (partner
 *   = a second batch with eval-mode pseudo-labels, feature perturbation with
 *   Philox dropout masks), Mean Teacher (EMA with the warm-start decay,
 *   buffers copied) and CutMix-Seg (strong-coloured student copy, scalar
 *   confidence, EMA of buffers) on one fixed batch with fixed boxes: every
 *   loss term, the mask ratio, every parameter and BN statistic after the
 *   SGD step and the teacher after its EMA update; on the reference CPU path
 *   and on the oneDNN path when built with it;
 * - the primitives on hand-made inputs: pseudo-labels, pasting, rolling,
 *   the masked CE's normalisation, the schedules, the CutMix-Seg masks;
 * - misuse aborts (pasting a tensor that requires a gradient, mismatched
 *   shapes, a method's step on a batch without a part it reads, as the
 *   loader gives when the method's unlabeled_views leaves that part out).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cutmixseg/cutmixseg_loss.h"
#include "expect_abort.h"
#include "fixmatch/fixmatch_loss.h"
#include "fixture.h"
#include "meanteacher/meanteacher_loss.h"
#include "semi_check.h"
#include "semiseg/semi.h"
#include "tap.h"
#include "unimatch/unimatch_loss.h"

#include "../src/cpu/channel_math.h"
#include "../src/cpu/semi_kernels.h"

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

#define GEN "tests/ref/gen_semi.py"

/* ---- tolerances ---------------------------------------------------------------------
 * TERM_TOL, RATIO_TOL, STEP_TOL, BUF_TOL, VALUE_RTOL and FAST_FACTOR: the
 * shared values of semi_check.h, whose reasons are this test's (observed
 * here: loss terms 1.6e-7 relative, updates 2e-4 of their largest, in the
 * CutMix-Seg BN biases). A wrong loss weight (w_fp 0.25 vs 0.5) or EMA decay
 * moves every tensor. The teacher is compared like the step (fraction of
 * its largest change). */

typedef struct {
    sg_deeplab_config cfg;
    uint64_t seed_s, seed_t;
    float lr, head_mult, wd, fp_p;
    long fp_it;
    int warm;
} setup_;

static setup_ setup_from_(const sg_fixture *fx)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "config", &n);
    SG_CHECK(n == 23, "config has %zu entries, expected 23 (regenerate with %s)", n, GEN);
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
    return s;
}

/* Build from a seed, then WARM train-mode passes on cat(x, uw) without
 * gradient, as the fixture's make(). */
static void make_(sg_deeplab *m, const setup_ *s, uint64_t seed, const semi_check_inputs *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, seed);
    semi_check_warm(ctx, m, s->warm, in->lab.img, in->unl.img);
}

static void check_terms_(const sg_fixture *fx, const char *method, const sg_semi_terms *t,
                         const char *path)
{
    char key[64];
    snprintf(key, sizeof key, "%s.terms", method);
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    if (!tap_ok((int)n == t->n + 1, "%s %s: %d terms + mask ratio (fixture %zu)", method, path, t->n, n))
        return;
    int ok = 1;
    for (int i = 0; i < t->n; i++) ok &= semi_check_term(method, t->name[i], t->value[i], ref[i]);
    tap_ok(ok, "%s %s: loss terms match PyTorch", method, path);
    const bool ratio_ok =
        isnan(ref[t->n]) ? isnan(t->mask_ratio) : fabs(t->mask_ratio - ref[t->n]) <= RATIO_TOL;
    tap_ok(ratio_ok, "%s %s: mask ratio %.6f (PyTorch %.6f)", method, path, t->mask_ratio, ref[t->n]);
}

/* ---- parity: one iteration per method ------------------------------------------------- */
typedef enum { FIXMATCH, UNIMATCH, MEANTEACHER, CUTMIXSEG } method_;
static const char *method_names_[] = {"fixmatch", "unimatch", "meanteacher", "cutmixseg"};

static void test_method(const sg_fixture *fx, const setup_ *s, semi_check_inputs *in, sg_tensor *cmmask,
                        method_ which, double f)
{
    const char *name = method_names_[which];
    const char *path = g_be->name;
    char key[64];
    snprintf(key, sizeof key, "%s.hp", name);
    const double *hp = sg_fixture_doubles(fx, key, NULL);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_deeplab m, t;
    const bool has_teacher = which == MEANTEACHER || which == CUTMIXSEG;
    make_(&m, s, s->seed_s, in, &ctx);
    if (has_teacher) make_(&t, s, s->seed_t, in, &ctx);
    float **before = semi_check_snapshot(&m.params);
    float **tbefore = has_teacher ? semi_check_snapshot(&t.params) : NULL;

    sg_semi_terms terms;
    sg_tensor *loss = NULL;
    float decay = 0.0f;
    bool ema_buffers = false;
    switch (which) {
    case FIXMATCH: {
        fixmatch_params p = {.conf_thresh = (float)hp[0]};
        loss = fixmatch_loss(&ctx, &m, &in->lab, &in->unl, NULL, &p, NULL, &terms);
        break;
    }
    case UNIMATCH: {
        unimatch_params p = {.conf_thresh = (float)hp[0], .weight_s = (float)hp[1],
                             .weight_fp = (float)hp[2]};
        sg_deeplab_fp fp = sg_semi_fp(s->fp_p, s->seed_s, s->fp_it);
        loss = unimatch_loss(&ctx, &m, &in->lab, &in->unl, &in->mix, &p, &fp, NULL, &terms);
        break;
    }
    case MEANTEACHER: {
        meanteacher_params p = {.cons_weight = (float)hp[0], .rampup_iters = (long)hp[1]};
        const long it = (long)hp[2];
        loss = meanteacher_loss(&ctx, &m, &t, &in->lab, &in->unl, &p, it, NULL, &terms);
        decay = sg_semi_ema_decay(it, (float)hp[3]);
        ema_buffers = hp[4] != 0;
        break;
    }
    case CUTMIXSEG: {
        cutmixseg_params p = {.cons_weight = (float)hp[0], .conf_thresh = (float)hp[1],
                              .conf_per_pixel = hp[2] != 0, .strong_colour = hp[3] != 0};
        loss = cutmixseg_loss(&ctx, &m, &t, &in->lab, &in->unl, NULL, cmmask, &p, NULL, &terms);
        decay = (float)hp[4];   /* CM: a fixed decay, no warm-start formula */
        ema_buffers = hp[5] != 0;
        break;
    }
    }
    check_terms_(fx, name, &terms, path);
    sg_backward(&ctx, loss);
    semi_check_sgd_step(&m.params, s->lr, s->head_mult, s->wd);
    if (has_teacher) sg_ema_update(&t.params, &m.params, decay, ema_buffers);
    char what[96];
    snprintf(what, sizeof what, "%s %s: weights after the SGD step", name, path);
    semi_check_set(fx, name, false, &m.params, before, f, what);
    if (has_teacher) {
        snprintf(what, sizeof what, "%s %s: teacher after the EMA update", name, path);
        semi_check_set(fx, name, true, &t.params, tbefore, f, what);
        semi_check_snapshot_free(tbefore, t.params.n_params);
        sg_deeplab_free(&t);
    }
    semi_check_snapshot_free(before, m.params.n_params);
    sg_deeplab_free(&m);
    sg_ctx_free(&ctx);
}

/* ---- primitives ------------------------------------------------------------------------ */
static sg_tensor *new_i32_(sg_ctx *ctx, int n, int h, int w, const int32_t *v)
{
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){n, h, w});
    memcpy(t->i32, v, sg_numel(t) * sizeof(int32_t));
    return t;
}

static void test_primitives(void)
{
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    /* Logits (2, 3, 1, 2): pixel-wise argmax 2, 0 | 1, 1 (tie 1 = 1 > 0: first maximum wins). */
    sg_tensor *z = sg_tensor_new4(&ctx, 2, 3, 1, 2);
    const float zv[12] = {0, 3, 1, 0, 5, 0, /* n = 0: classes x pixels */
                          0, 0, 2, 1, 2, 1};
    memcpy(z->data, zv, sizeof zv);
    sg_tensor *ign = new_i32_(&ctx, 2, 1, 2, (const int32_t[]){0, 0, 255, 0});
    sg_pseudo p;
    sg_semi_pseudo_label(&ctx, z, ign, &p);
    tap_ok(p.label->i32[0] == 2 && p.label->i32[1] == 0 && p.label->i32[2] == 1 && p.label->i32[3] == 1,
           "pseudo-label: argmax per pixel, the first of tied maxima");
    const double e = exp(1.0), c0 = exp(5.0) / (1 + e + exp(5.0)), c3 = e / (1 + 2 * e);
    tap_ok(fabs(p.conf->data[0] - c0) < 1e-6 && fabs(p.conf->data[3] - c3) < 1e-6,
           "pseudo-label: confidence = max softmax (%.6f, %.6f)", (double)p.conf->data[0],
           (double)p.conf->data[3]);
    /* Non-padding pixels 0, 1, 3 with conf 0.98, 0.91, 0.42: two of three >= 0.48. */
    tap_ok(fabs(sg_semi_mask_ratio(&p, 0.48f) - 2.0 / 3.0) < 1e-12, "mask ratio counts non-padding pixels");

    /* Masked CE: sum over confident non-padding / #non-padding (3), not / #confident. */
    sg_tensor *lm = sg_semi_masked_ce(&ctx, z, &p, 0.48f);
    const double ce0 = log(1 + e + exp(5.0)) - 5.0, ce1 = log(exp(3.0) + 2) - 3.0;
    tap_ok(fabs(lm->data[0] - (ce0 + ce1) / 3.0) < 1e-6,
           "masked CE divides by the non-padding count (%.6f vs %.6f)", (double)lm->data[0],
           (ce0 + ce1) / 3.0);
    sg_tensor *all_pad = new_i32_(&ctx, 2, 1, 2, (const int32_t[]){255, 255, 255, 255});
    sg_pseudo pp = p;
    pp.ignore = all_pad;
    tap_ok(isnan(sg_semi_masked_ce(&ctx, z, &pp, 0.0f)->data[0]),
           "masked CE over padding only is NaN (as PyTorch)");

    /* Paste and roll on (2, 3, 1, 2) and (2, 1, 2). */
    sg_tensor *a = sg_tensor_new4(&ctx, 2, 3, 1, 2), *b = sg_tensor_new4(&ctx, 2, 3, 1, 2);
    for (int i = 0; i < 12; i++) {
        a->data[i] = (float)i;
        b->data[i] = (float)(100 + i);
    }
    sg_tensor *box = new_i32_(&ctx, 2, 1, 2, (const int32_t[]){1, 0, 0, 1});
    sg_tensor *pa = sg_semi_paste(&ctx, a, b, box);
    int ok = 1;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 2; i++) {
                const int k = (n * 3 + c) * 2 + i;
                ok &= pa->data[k] == (box->i32[n * 2 + i] ? b->data[k] : a->data[k]);
            }
    tap_ok(ok, "paste: every channel takes b inside the box, a outside");
    sg_tensor *pl = sg_semi_paste(&ctx, ign, all_pad, box);
    tap_ok(pl->i32[0] == 255 && pl->i32[1] == 0 && pl->i32[2] == 255 && pl->i32[3] == 255,
           "paste: int32 maps");
    sg_tensor *r = sg_semi_roll(&ctx, a, 1);
    tap_ok(r->data[0] == 6 && r->data[11] == 5 && sg_semi_roll(&ctx, a, -1)->data[0] == 6 &&
               sg_semi_roll(&ctx, a, 2)->data[0] == 0,
           "roll: out[i] = x[(i + shift) mod N]");
    sg_tensor *v = sg_semi_valid(&ctx, ign);
    tap_ok(v->data[0] == 1 && v->data[2] == 0, "valid = ignore != 255");

    /* Schedules. */
    tap_ok(sg_semi_ema_decay(0, 0.99f) == 0.0f && sg_semi_ema_decay(1, 0.99f) == 0.5f &&
               sg_semi_ema_decay(3, 0.99f) == 0.75f && sg_semi_ema_decay(1000, 0.99f) == 0.99f,
           "EMA decay min(1 - 1/(it+1), alpha): 0, 0.5, 0.75, then alpha");
    tap_ok(sg_semi_rampup(5, 0) == 1.0 && fabs(sg_semi_rampup(0, 10) - exp(-5.0)) < 1e-15 &&
               sg_semi_rampup(10, 10) == 1.0 && sg_semi_rampup(50, 10) == 1.0 &&
               fabs(sg_semi_rampup(5, 10) - exp(-1.25)) < 1e-15,
           "sigmoid ramp-up exp(-5 (1 - t/T)^2), clipped, 1 without ramp");
    sg_deeplab_fp fp = sg_semi_fp(0.5f, 9, 7);
    tap_ok(fp.stream_c1 == sg_rng_stream(SG_RNG_DROPOUT, 7, 0) &&
               fp.stream_c4 == sg_rng_stream(SG_RNG_DROPOUT, 7, 1) && fp.seed == 9,
           "feature perturbation streams (dropout, iteration, 0/1)");

    /* CutMix-Seg masks: one box of area ~1/2 per sample, the draws of sg_cutmix_seg_box. */
    sg_cutmix_seg_config cc;
    sg_cutmix_seg_config_default(&cc);
    sg_rng rng, rng2;
    sg_rng_init(&rng, 3, sg_rng_stream(SG_RNG_TEST, 0, 0));
    rng2 = rng;
    sg_tensor *mm = sg_semi_cutmix_seg_masks(&ctx, 2, 16, 20, &cc, &rng);
    ok = 1;
    for (int n = 0; n < 2; n++) {
        sg_box bx;
        sg_cutmix_seg_box(&bx, 16, 20, &cc, &rng2);
        int32_t ref[320];
        sg_box_mask(ref, 16, 20, &bx);
        ok &= memcmp(ref, mm->i32 + n * 320, sizeof ref) == 0;
        ok &= bx.h * bx.w > 120 && bx.h * bx.w < 200;
    }
    tap_ok(ok, "CutMix-Seg masks: one box per sample, area about 1/2");

    /* CutMix-Seg consistency on a hand case: p_s = uniform over 2 classes,
     * teacher probs (1, 0) confident at one of 2 pixels. */
    sg_tensor *zs = sg_tensor_new4(&ctx, 1, 2, 1, 2);
    memset(zs->data, 0, 4 * sizeof(float));
    sg_tensor *pt = sg_tensor_new4(&ctx, 1, 2, 1, 2);
    const float ptv[4] = {1.0f, 0.6f, 0.0f, 0.4f};
    memcpy(pt->data, ptv, sizeof ptv);
    sg_tensor *val = sg_tensor_new(&ctx, SG_F32, 3, (const int[]){1, 1, 2});
    val->data[0] = val->data[1] = 1.0f;
    double conf;
    sg_tensor *lc = sg_semi_cutmixseg_cons(&ctx, zs, pt, val, 0.97f, false, &conf);
    /* sum_c (.)^2: pixel 0 = 0.25 + 0.25, pixel 1 = 0.01 + 0.01; factor 1/2; mean over 2 px. */
    tap_ok(conf == 0.5 && fabs(lc->data[0] - (0.5 + 0.02) * 0.5 / 2) < 1e-7,
           "CutMix-Seg consistency: scalar confidence factor");
    lc = sg_semi_cutmixseg_cons(&ctx, zs, pt, val, 0.97f, true, NULL);
    tap_ok(fabs(lc->data[0] - 0.5 / 2) < 1e-7, "CutMix-Seg consistency: per-pixel confidence");
    sg_ctx_free(&ctx);
}

/* ---- misuse ------------------------------------------------------------------------------ */
static void paste_grad_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *a = sg_tensor_alloc(SG_F32, 4, (const int[]){1, 1, 2, 2}, true);
    sg_tensor *b = sg_tensor_new4(&ctx, 1, 1, 2, 2);
    sg_tensor *box = sg_tensor_new(&ctx, SG_I32, 3, (const int[]){1, 2, 2});
    memset(box->i32, 0, 4 * sizeof(int32_t));
    sg_semi_paste(&ctx, a, b, box);
}

static void paste_shape_(void *arg)
{
    (void)arg;
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_tensor *a = sg_tensor_new4(&ctx, 1, 1, 2, 2), *b = sg_tensor_new4(&ctx, 1, 1, 2, 2);
    sg_tensor *box = sg_tensor_new(&ctx, SG_I32, 3, (const int[]){1, 3, 2});
    sg_semi_paste(&ctx, a, b, box);
}

/* Batches of 1 with only the always-built parts (img, ignore): what the
 * loader gives a method with unlabeled_views = SG_VIEWS_WEAK. The step
 * checks its batches before it reads a network, hence the NULLs. */
static sg_tensor *g_part;

static void mt_without_s1_(void *arg)
{
    (void)arg;
    sg_batch lab = {.n = 1, .img = g_part, .mask = g_part}, unl = {.n = 1, .img = g_part, .ignore = g_part};
    sg_semi_terms terms;
    meanteacher_loss(NULL, NULL, NULL, &lab, &unl, NULL, 0, NULL, &terms);
}

static void um_mix_without_s2_(void *arg)
{
    (void)arg;
    sg_batch lab = {.n = 1, .img = g_part, .mask = g_part};
    sg_batch unl = {.n = 1, .img = g_part, .ignore = g_part, .img_s1 = g_part, .img_s2 = g_part, .box1 = g_part,
                    .box2 = g_part};
    sg_batch mix = {.n = 1, .img = g_part, .ignore = g_part, .img_s1 = g_part};
    sg_semi_terms terms;
    unimatch_loss(NULL, NULL, &lab, &unl, &mix, NULL, NULL, NULL, &terms);
}

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(paste_grad_, NULL, (const char *const[]){"sg_semi_paste", "gradient"}, 2),
           "pasting a tensor that requires a gradient aborts");
    tap_ok(sg_expect_abort(paste_shape_, NULL, (const char *const[]){"sg_semi_paste", "[1, 3, 2]"}, 2),
           "a box of the wrong size aborts naming its shape");
    g_part = sg_tensor_alloc(SG_F32, 4, (const int[]){1, 3, 2, 2}, false);
    tap_ok(sg_expect_abort(mt_without_s1_, NULL,
                           (const char *const[]){"meanteacher_loss", "unlabeled batch has no img_s1", "SG_VIEW_S1"}, 3),
           "Mean Teacher's step without the strong view s1 aborts naming the missing view bit");
    tap_ok(sg_expect_abort(um_mix_without_s2_, NULL,
                           (const char *const[]){"unimatch_loss", "mix batch has no img_s2", "SG_VIEW_S2"}, 3),
           "UniMatch's step on a mix batch without s2 aborts naming the missing view bit");
    sg_tensor_free(g_part);
}

/* The CPU pseudo-label kernel, which runs tiles of 64 pixels with a running
 * maximum, against sg_argmax_first pixel by pixel (the first of tied maxima;
 * a NaN never wins, also in channel 0): 70 pixels (a tile and a tail), ties
 * and NaNs planted, labels and confidences equal. */
static void test_pseudo_label_kernel(void)
{
    enum { N = 2, K = 5, HW = 70 };
    static float z[N * K * HW], pr[N * K * HW], conf[N * HW];
    static int32_t label[N * HW];
    uint64_t st = 99;
    for (int i = 0; i < N * K * HW; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        z[i] = (float)((st >> 40) % 7); /* few values: many ties */
        pr[i] = (float)((st >> 20) % 1000) / 1000.0f;
    }
    z[3] = NAN;                     /* pixel 3, channel 0 */
    z[2 * HW + 10] = NAN;           /* pixel 10, channel 2 */
    pr[(size_t)K * HW + 65] = NAN;  /* image 1, pixel 65 (the tail), channel 0 */
    sg_pseudo_label_cpu(label, conf, z, pr, N, K, HW);
    int ok = 1;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < HW; i++) {
            const float *zp = z + (size_t)n * K * HW + i, *pp = pr + (size_t)n * K * HW + i;
            const float want = pp[(size_t)sg_argmax_first(pp, K, HW) * HW];
            const float got = conf[n * HW + i];
            ok &= label[n * HW + i] == sg_argmax_first(zp, K, HW) &&
                  (got == want || (isnan(got) && isnan(want)));
        }
    tap_ok(ok, "pseudo-label kernel: first maximum per pixel with ties and NaNs, tile and tail");
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    test_pseudo_label_kernel();
    test_primitives();
    test_misuse();
    sg_fixture *fx = sg_fixture_open("semi.bin", GEN);
    setup_ s = setup_from_(fx);
    semi_check_inputs in;
    semi_check_inputs_load(&in, fx);
    sg_tensor *cmmask = sg_fixture_tensor(fx, "cmmask", false);
    g_be = sg_backend_cpu_reference();
    for (int i = 0; i < 4; i++) test_method(fx, &s, &in, cmmask, (method_)i, 1.0);
    if ((sg_backend_cpu_dnnl() != NULL)) {
        g_be = sg_backend_cpu_dnnl();
        for (int i = 0; i < 4; i++) test_method(fx, &s, &in, cmmask, (method_)i, FAST_FACTOR);
    }
    sg_tensor_free(cmmask);
    semi_check_inputs_free(&in);
    sg_fixture_close(fx);
    return tap_done();
}
