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
#define TERM_TOL 1e-5
#define RATIO_TOL 1e-6
#define STEP_TOL 1e-3
#define BUF_TOL 1e-3
#define VALUE_RTOL 4.8e-7
/* oneDNN sums convolutions in another order (test_semi.c's factor). */
#define FAST_FACTOR 2.0

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
    s.cls_scale = (float)c[23];
    return s;
}

#define N_INPUTS 12
typedef struct {
    sg_batch lab, unl, mix;
    sg_tensor *all[N_INPUTS];
} inputs_;

static void inputs_load_(inputs_ *in, const sg_fixture *fx)
{
    static const char *names[N_INPUTS] = {"x",    "y",  "uw",  "us1", "us2", "ign",
                                          "box1", "box2", "mw", "ms1", "ms2", "mign"};
    for (int i = 0; i < N_INPUTS; i++) in->all[i] = sg_fixture_tensor(fx, names[i], false);
    sg_tensor **t = in->all;
    in->lab = (sg_batch){.n = t[0]->shape[0], .img = t[0], .mask = t[1]};
    in->unl = (sg_batch){.n = t[2]->shape[0], .img = t[2], .img_s1 = t[3], .img_s2 = t[4],
                         .ignore = t[5], .box1 = t[6], .box2 = t[7]};
    in->mix = (sg_batch){.n = t[8]->shape[0], .img = t[8], .img_s1 = t[9], .img_s2 = t[10],
                         .ignore = t[11]};
}

/* The fixture's make(): build from a seed, classifier x cls_scale, then
 * WARM train-mode passes on cat(x, uw) without gradient. */
static void make_(sg_deeplab *m, const setup_ *s, uint64_t seed, const inputs_ *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, seed);
    for (size_t i = 0; i < sg_numel(m->cls_w); i++) m->cls_w->data[i] *= s->cls_scale;
    for (size_t i = 0; i < sg_numel(m->cls_b); i++) m->cls_b->data[i] *= s->cls_scale;
    bool was = sg_ctx_set_grad(ctx, false);
    for (int i = 0; i < s->warm; i++) {
        sg_deeplab_out o;
        sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){in->lab.img, in->unl.img}, 2, 0),
                           NULL, &o);
        sg_ctx_reset(ctx);
    }
    sg_ctx_set_grad(ctx, was);
}

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
 * <v>.param.* / .buf.* (or <v>.teacher.* for both); one TAP line. */
static void check_set_(const sg_fixture *fx, const char *variant, bool teacher, const sg_param_set *ps,
                       float **before, double f, const char *what)
{
    int bad = 0;
    char key[256];
    for (int i = 0; i < ps->n_params; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", variant, teacher ? "teacher" : "param", ps->params[i].name);
        bad += !close_delta_(fx, key, ps->params[i].t->data, before[i], sg_numel(ps->params[i].t),
                             STEP_TOL * f);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        snprintf(key, sizeof key, "%s.%s.%s", variant, teacher ? "teacher" : "buf", ps->buffers[i].name);
        bad += !close_delta_(fx, key, ps->buffers[i].t->data, NULL, sg_numel(ps->buffers[i].t),
                             BUF_TOL * f);
    }
    tap_ok(bad == 0, "%s: %d parameters and %d buffers match (%d off)", what, ps->n_params,
           ps->n_buffers, bad);
}

/* ---- one iteration ------------------------------------------------------------------- */
static void test_iteration(const sg_fixture *fx, const setup_ *s, inputs_ *in, const char *variant, double f)
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
    float **before = snapshot_(&m.params), **tbefore = snapshot_(&t.params);

    const sg_deeplab_fp fp = sg_semi_fp2(s->fp_p, s->seed_s, s->fp_it);
    sg_semi_terms terms;
    sg_tensor *loss = dssn_loss(&ctx, &m, &t, &in->lab, &in->unl, &in->mix, &p, &fp, NULL, &terms);

    snprintf(key, sizeof key, "%s.terms", variant);
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    if (tap_ok((int)n == terms.n + 1, "%s %s: %d terms + mask ratio (fixture %zu)", variant, g_be->name,
               terms.n, n)) {
        int ok = 1;
        for (int i = 0; i < terms.n; i++) {
            if (fabs(terms.value[i] - ref[i]) > TERM_TOL * fmax(1.0, fabs(ref[i]))) {
                tap_diag("%s %s = %.9g, PyTorch %.9g", variant, terms.name[i], terms.value[i], ref[i]);
                ok = 0;
            }
        }
        tap_ok(ok, "%s %s: the 8 loss terms match PyTorch (loss %.6f)", variant, g_be->name, terms.value[0]);
        tap_ok(fabs(terms.mask_ratio - ref[terms.n]) <= RATIO_TOL, "%s %s: mask ratio %.6f (PyTorch %.6f)",
               variant, g_be->name, terms.mask_ratio, ref[terms.n]);
    }
    sg_backward(&ctx, loss);
    sg_sgd opt;
    sg_sgd_init(&opt, &m.params, 2, 0.9f, s->wd);
    opt.groups[1].lr_mult = s->head_mult;
    sg_sgd_step(&opt, &m.params, s->lr);
    sg_sgd_free(&opt);
    sg_ema_update(&t.params, &m.params, keep, true);
    char what[96];
    snprintf(what, sizeof what, "%s %s: student after the SGD step", variant, g_be->name);
    check_set_(fx, variant, false, &m.params, before, f, what);
    snprintf(what, sizeof what, "%s %s: teacher after the EMA update (keep %g)", variant, g_be->name,
             (double)keep);
    check_set_(fx, variant, true, &t.params, tbefore, f, what);
    snapshot_free_(before, m.params.n_params);
    snapshot_free_(tbefore, t.params.n_params);
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
    inputs_ in;
    inputs_load_(&in, fx);
    g_be = sg_backend_cpu_reference();
    test_iteration(fx, &s, &in, "voc", 1.0);
    test_iteration(fx, &s, &in, "city", 1.0);
    if (sg_backend_cpu_dnnl() != NULL) {
        g_be = sg_backend_cpu_dnnl();
        test_iteration(fx, &s, &in, "voc", FAST_FACTOR);
        test_iteration(fx, &s, &in, "city", FAST_FACTOR);
    }
    for (int i = 0; i < N_INPUTS; i++) sg_tensor_free(in.all[i]);
    sg_fixture_close(fx);
    return tap_done();
}
