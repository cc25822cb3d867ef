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
 *   shapes).
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
#include "semiseg/semi.h"
#include "tap.h"
#include "unimatch/unimatch_loss.h"

/* The backend this test runs its contexts on (the default CPU one unless a
 * test switches). */
static const sg_backend *g_be;

#define GEN "tests/ref/gen_semi.py"

/* ---- tolerances ---------------------------------------------------------------------
 * The fixture is PyTorch in float64 rounded to float32, and the thresholds
 * were chosen >= 5e-5 from every confidence (argmax margins >= 2e-5), so no
 * pseudo-label or mask can differ: what remains is float32 rounding.
 * TERM_TOL: loss terms of size ~1, summed over ~900 pixels in float32 with
 *   double accumulation; observed 1.6e-7 relative.
 * RATIO_TOL: ratios of pixel counts; PyTorch divides in float32 (6e-8 rel).
 * STEP_TOL: the SGD update of each parameter (after - init) against the
 *   reference update, as a fraction of the largest reference update of that
 *   tensor: this is a gradient comparison, and test_model.c bounds gradients
 *   at 1e-3 of their maximum. Observed here 2e-4 (CutMix-Seg BN biases
 *   deep in the network, whose gradients are small cancelling sums).
 *   A wrong loss weight (w_fp 0.25 vs 0.5) or EMA decay moves every tensor.
 * BUF_TOL: BN running statistics after WARM + the step's passes, fraction of
 *   the tensor's maximum, as test_model.c's BUF_TOL.
 * The teacher is compared like the step (fraction of its largest change).
 * VALUE_RTOL: on top, 4 float32 ulps of the value itself: a BN weight of
 *   ~1 that moved by 2e-5 has an update scale of 2e-5 but its stored value
 *   is only exact to 6e-8 (half an ulp), and the C blends in float32. */
#define TERM_TOL 1e-5
#define RATIO_TOL 1e-6
#define STEP_TOL 1e-3
#define BUF_TOL 1e-3
#define VALUE_RTOL 4.8e-7
/* oneDNN sums convolutions in another order: test_model.c observed up to
 * 3x the reference path's error. */
#define FAST_FACTOR 2.0

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
    s.cfg.backbone.depth = (int)c[0];
    for (int i = 0; i < 4; i++) s.cfg.backbone.widths[i] = (int)c[1 + i];
    s.cfg.backbone.stem = c[5] != 0 ? SG_STEM_DEEP : SG_STEM_TORCHVISION;
    s.cfg.backbone.output_stride = (int)c[6];
    s.cfg.backbone.multi_grid = c[7] != 0;
    s.cfg.aspp_channels = (int)c[8];
    for (int i = 0; i < 3; i++) s.cfg.aspp_rates[i] = (int)c[9 + i];
    s.cfg.reduce_channels = (int)c[12];
    s.cfg.decoder_channels = (int)c[13];
    s.cfg.num_classes = (int)c[14];
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

typedef struct {
    sg_batch lab, unl, mix;
    sg_tensor *cmmask;
    sg_tensor *all[13];
} inputs_;

static void inputs_load_(inputs_ *in, const sg_fixture *fx)
{
    static const char *names[13] = {"x",   "y",    "uw", "us1", "us2", "ign",   "box1",
                                    "box2", "mw", "ms1", "ms2", "mign", "cmmask"};
    for (int i = 0; i < 13; i++) in->all[i] = sg_fixture_tensor(fx, names[i], false);
    sg_tensor **t = in->all;
    in->lab = (sg_batch){.n = t[0]->shape[0], .img = t[0], .mask = t[1]};
    in->unl = (sg_batch){.n = t[2]->shape[0], .img = t[2], .img_s1 = t[3], .img_s2 = t[4],
                         .ignore = t[5], .box1 = t[6], .box2 = t[7]};
    in->mix = (sg_batch){.n = t[8]->shape[0], .img = t[8], .img_s1 = t[9], .img_s2 = t[10],
                         .ignore = t[11]};
    in->cmmask = t[12];
}

static void inputs_free_(inputs_ *in)
{
    for (int i = 0; i < 13; i++) sg_tensor_free(in->all[i]);
}

/* Build from a seed, then WARM train-mode passes on cat(x, uw) without
 * gradient, as the fixture's make(). */
static void make_(sg_deeplab *m, const setup_ *s, uint64_t seed, const inputs_ *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, seed);
    bool was = sg_ctx_set_grad(ctx, false);
    for (int i = 0; i < s->warm; i++) {
        sg_deeplab_out o;
        sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){in->lab.img, in->unl.img}, 2, 0),
                           NULL, &o);
        sg_ctx_reset(ctx);
    }
    sg_ctx_set_grad(ctx, was);
}

/* A copy of every parameter's values (the updates are after - before). */
static float **snapshot_(const sg_param_set *ps)
{
    float **v = sg_xmalloc((size_t)ps->n_params * sizeof *v);
    for (int i = 0; i < ps->n_params; i++) {
        size_t n = sg_numel(ps->params[i].t);
        v[i] = sg_xmalloc(n * sizeof(float));
        memcpy(v[i], ps->params[i].t->data, n * sizeof(float));
    }
    return v;
}

static void snapshot_free_(float **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* got vs the record with atol = tol * max|ref - before| (before NULL: max|ref|). */
static int close_delta_(const sg_fixture *fx, const char *key, const float *got, const float *before,
                        size_t n, double tol)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    if (m != n) return tap_ok(0, "%s: %zu elements, fixture has %zu", key, n, m);
    double scale = 0.0;
    for (size_t i = 0; i < m; i++) scale = fmax(scale, fabs(ref[i] - (before ? before[i] : 0.0)));
    return sg_check_close(fx, key, got, n, tol * scale, VALUE_RTOL);
}

/* Every parameter (as an update from `before`) and buffer of a set against
 * <prefix>.param.* / .buf.* (or <prefix>.teacher.* for both); one TAP line. */
static void check_set_(const sg_fixture *fx, const char *prefix, bool teacher, const sg_param_set *ps,
                       float **before, double f, const char *what)
{
    int bad = 0;
    char key[256];
    for (int i = 0; i < ps->n_params; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", prefix, teacher ? "teacher" : "param", ps->params[i].name);
        bad += !close_delta_(fx, key, ps->params[i].t->data, before[i], sg_numel(ps->params[i].t),
                             STEP_TOL * f);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", prefix, teacher ? "teacher" : "buf", ps->buffers[i].name);
        bad += !close_delta_(fx, key, ps->buffers[i].t->data, NULL, sg_numel(ps->buffers[i].t),
                             BUF_TOL * f);
    }
    tap_ok(bad == 0, "%s: %d parameters and %d buffers match (%d off)", what, ps->n_params,
           ps->n_buffers, bad);
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
    for (int i = 0; i < t->n; i++) {
        if (fabs(t->value[i] - ref[i]) > TERM_TOL * fmax(1.0, fabs(ref[i]))) {
            tap_diag("%s %s = %.9g, PyTorch %.9g", method, t->name[i], t->value[i], ref[i]);
            ok = 0;
        }
    }
    tap_ok(ok, "%s %s: loss terms match PyTorch", method, path);
    const bool ratio_ok =
        isnan(ref[t->n]) ? isnan(t->mask_ratio) : fabs(t->mask_ratio - ref[t->n]) <= RATIO_TOL;
    tap_ok(ratio_ok, "%s %s: mask ratio %.6f (PyTorch %.6f)", method, path, t->mask_ratio, ref[t->n]);
}

static void sgd_step_(sg_deeplab *m, const setup_ *s)
{
    sg_sgd opt;
    sg_sgd_init(&opt, &m->params, 2, 0.9f, s->wd);
    opt.groups[1].lr_mult = s->head_mult;
    sg_sgd_step(&opt, &m->params, s->lr);
    sg_sgd_free(&opt);
}

/* ---- parity: one iteration per method ------------------------------------------------- */
typedef enum { FIXMATCH, UNIMATCH, MEANTEACHER, CUTMIXSEG } method_;
static const char *method_names_[] = {"fixmatch", "unimatch", "meanteacher", "cutmixseg"};

static void test_method(const sg_fixture *fx, const setup_ *s, inputs_ *in, method_ which, double f)
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
    float **before = snapshot_(&m.params);
    float **tbefore = has_teacher ? snapshot_(&t.params) : NULL;

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
        loss = cutmixseg_loss(&ctx, &m, &t, &in->lab, &in->unl, NULL, in->cmmask, &p, NULL, &terms);
        decay = (float)hp[4];   /* CM: a fixed decay, no warm-start formula */
        ema_buffers = hp[5] != 0;
        break;
    }
    }
    check_terms_(fx, name, &terms, path);
    sg_backward(&ctx, loss);
    sgd_step_(&m, s);
    if (has_teacher) sg_ema_update(&t.params, &m.params, decay, ema_buffers);
    char what[96];
    snprintf(what, sizeof what, "%s %s: weights after the SGD step", name, path);
    check_set_(fx, name, false, &m.params, before, f, what);
    if (has_teacher) {
        snprintf(what, sizeof what, "%s %s: teacher after the EMA update", name, path);
        check_set_(fx, name, true, &t.params, tbefore, f, what);
        snapshot_free_(tbefore, t.params.n_params);
        sg_deeplab_free(&t);
    }
    snapshot_free_(before, m.params.n_params);
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

static void test_misuse(void)
{
    tap_ok(sg_expect_abort(paste_grad_, NULL, (const char *const[]){"sg_semi_paste", "gradient"}, 2),
           "pasting a tensor that requires a gradient aborts");
    tap_ok(sg_expect_abort(paste_shape_, NULL, (const char *const[]){"sg_semi_paste", "[1, 3, 2]"}, 2),
           "a box of the wrong size aborts naming its shape");
}

int main(void)
{
    g_be = sg_backend_cpu_default();
    test_primitives();
    test_misuse();
    sg_fixture *fx = sg_fixture_open("semi.bin", GEN);
    setup_ s = setup_from_(fx);
    inputs_ in;
    inputs_load_(&in, fx);
    g_be = sg_backend_cpu_reference();
    for (int i = 0; i < 4; i++) test_method(fx, &s, &in, (method_)i, 1.0);
    if ((sg_backend_cpu_dnnl() != NULL)) {
        g_be = sg_backend_cpu_dnnl();
        for (int i = 0; i < 4; i++) test_method(fx, &s, &in, (method_)i, FAST_FACTOR);
    }
    inputs_free_(&in);
    sg_fixture_close(fx);
    return tap_done();
}
