/*
 * test_uccl.c: one UCCL iteration (experiments/uccl/uccl_loss.c) against
 * PyTorch (tests/ref/gen_uccl.py -> tests/data/uccl.bin, a re-implementation
 * of the step of YUKEKEJAN/UCCL@804ce93:UCCL.py) on a fixed batch with
 * fixed boxes and a second (mix-source) batch: UniMatch's four terms, SBU
 * and CKR of each view, the weighted SBU and CKR terms, the total, the mask
 * ratio, then every parameter and BN statistic after the SGD step. Two
 * variants: the released code (BN-only passes, SBU softmax over all
 * pixels, CKR weights keeping the weak logits' gradient, ignored pixels
 * filled from the unpermuted reshape of the features) and every quirk
 * switch flipped but ignore_resize (at crop 21 the bilinear and nearest
 * stride-4 maps agree). On the reference CPU path and on oneDNN when built
 * with it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tap.h"
#include "uccl/uccl_loss.h"

#define GEN "tests/ref/gen_uccl.py"

/* ---- tolerances (as tests/test_semi.c, whose reasoning holds here) -----------
 * The threshold sits >= 5e-5 from every confidence the step compares
 * with it and every argmax has a margin >= 2e-5, so no pseudo-label,
 * uncertain set or region can differ: what remains is float32 rounding.
 * TERM_TOL: loss terms of size ~1e-3..1, relative to max(1, |ref|): sums
 *   over <= 900 pixels in float32; a per-image or per-class normalisation
 *   error moves SBU by O(10%) (its terms are ~0.7, so 1e-5 resolves it);
 *   observed at most 5e-7 (CKR of view 2), 2e-7 for SBU.
 * STEP_TOL: the update of each parameter against the reference update,
 *   as a fraction of the largest update of that tensor (a gradient
 *   comparison; test_model.c bounds gradients at 1e-3 of their maximum).
 *   A missing gradient path (the CKR weights' into the weak pass) moves the
 *   backbone's updates by more.
 * BUF_TOL: BN running statistics, fraction of the tensor's maximum.
 * VALUE_RTOL: 4 float32 ulps of the value itself. */
#define TERM_TOL 1e-5
#define RATIO_TOL 1e-6
#define STEP_TOL 1e-3
#define BUF_TOL 1e-3
#define VALUE_RTOL 4.8e-7
/* oneDNN sums convolutions in another order (test_model.c: up to 3x). */
#define FAST_FACTOR 2.0

static const sg_backend *g_be;

typedef struct {
    sg_deeplab_config cfg;
    uint64_t seed;
    float lr, head_mult, wd, fp_p;
    long fp_it;
    int warm;
} setup_;

static setup_ setup_from_(const sg_fixture *fx)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "config", &n);
    SG_CHECK(n == 22, "config has %zu entries, expected 22 (regenerate with %s)", n, GEN);
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
    s.seed = (uint64_t)c[15];
    s.lr = (float)c[16];
    s.head_mult = (float)c[17];
    s.wd = (float)c[18];
    s.fp_p = (float)c[19];
    s.fp_it = (long)c[20];
    s.warm = (int)c[21];
    return s;
}

typedef struct {
    sg_batch lab, unl, mix;
    sg_tensor *all[12];
} inputs_;

static void inputs_load_(inputs_ *in, const sg_fixture *fx)
{
    static const char *names[12] = {"x", "y", "uw", "us1", "us2", "ign", "box1", "box2", "mw", "ms1", "ms2", "mign"};
    for (int i = 0; i < 12; i++) in->all[i] = sg_fixture_tensor(fx, names[i], false);
    sg_tensor **t = in->all;
    in->lab = (sg_batch){.n = t[0]->shape[0], .img = t[0], .mask = t[1]};
    in->unl = (sg_batch){.n = t[2]->shape[0], .img = t[2], .img_s1 = t[3], .img_s2 = t[4],
                         .ignore = t[5], .box1 = t[6], .box2 = t[7]};
    in->mix = (sg_batch){.n = t[8]->shape[0], .img = t[8], .img_s1 = t[9], .img_s2 = t[10], .ignore = t[11]};
}

/* Build, then WARM train-mode passes on cat(x, uw) without gradient, as
 * the fixture's make(). */
static void make_(sg_deeplab *m, const setup_ *s, const inputs_ *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, s->seed);
    bool was = sg_ctx_set_grad(ctx, false);
    for (int i = 0; i < s->warm; i++) {
        sg_deeplab_out o;
        sg_deeplab_forward(ctx, m, sg_concat(ctx, (sg_tensor *const[]){in->lab.img, in->unl.img}, 2, 0), NULL, &o);
        sg_ctx_reset(ctx);
    }
    sg_ctx_set_grad(ctx, was);
}

/* got vs the record with atol = tol * max|ref - before| (before NULL: max|ref|). */
static int close_delta_(const sg_fixture *fx, const char *key, const float *got, const float *before, size_t n,
                        double tol)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    if (m != n) return tap_ok(0, "%s: %zu elements, fixture has %zu", key, n, m);
    double scale = 0.0;
    for (size_t i = 0; i < m; i++) scale = fmax(scale, fabs(ref[i] - (before ? before[i] : 0.0)));
    return sg_check_close(fx, key, got, n, tol * scale, VALUE_RTOL);
}

static int close_term_(const char *what, const char *name, double got, double ref)
{
    if (fabs(got - ref) <= TERM_TOL * fmax(1.0, fabs(ref))) return 1;
    tap_diag("%s %s = %.9g, PyTorch %.9g", what, name, got, ref);
    return 0;
}

static void test_variant(const sg_fixture *fx, const setup_ *s, const inputs_ *in, const char *v, double f)
{
    char key[256], what[96];
    snprintf(what, sizeof what, "%s %s", v, g_be->name);
    snprintf(key, sizeof key, "%s.hp", v);
    const double *hp = sg_fixture_doubles(fx, key, NULL);
    const uccl_params p = {.um = {.conf_thresh = (float)hp[0], .weight_s = (float)hp[1], .weight_fp = (float)hp[2]},
                           .weight_sbu = (float)hp[3],
                           .weight_ckr = (float)hp[4],
                           .bn_passes = hp[5] != 0,
                           .ignore_bilinear = true,
                           .sbu_softmax_all = hp[6] != 0,
                           .ckr_weight_grad = hp[7] != 0,
                           .ckr_fill_reshaped = hp[8] != 0};
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_deeplab m;
    make_(&m, s, in, &ctx);
    const sg_param_set *ps = &m.params;
    float **before = sg_xmalloc((size_t)ps->n_params * sizeof *before);
    for (int i = 0; i < ps->n_params; i++) {
        const size_t n = sg_numel(ps->params[i].t);
        before[i] = sg_xmalloc(n * sizeof(float));
        memcpy(before[i], ps->params[i].t->data, n * sizeof(float));
    }
    const sg_deeplab_fp fp = sg_semi_fp(s->fp_p, s->seed, s->fp_it);
    sg_semi_terms t;
    uccl_detail d;
    sg_tensor *loss = uccl_loss(&ctx, &m, &in->lab, &in->unl, &in->mix, &p, &fp, NULL, &t, &d);

    snprintf(key, sizeof key, "%s.terms", v);
    size_t n;
    const double *ref = sg_fixture_doubles(fx, key, &n);
    if (tap_ok((int)n == t.n + 1 && t.n == 7, "%s: %d terms + mask ratio (fixture %zu)", what, t.n, n)) {
        static const char *const names[7] = {"loss", "loss_x", "loss_s1", "loss_s2", "loss_fp", "loss_sbu", "loss_ckr"};
        int names_ok = 1, um_ok = 1;
        for (int i = 0; i < 7; i++) names_ok &= !strcmp(t.name[i], names[i]);
        tap_ok(names_ok, "%s: terms named loss, loss_x, loss_s1, loss_s2, loss_fp, loss_sbu, loss_ckr", what);
        for (int i = 1; i < 5; i++) um_ok &= close_term_(what, t.name[i], t.value[i], ref[i]);
        tap_ok(um_ok, "%s: UniMatch's four terms match PyTorch", what);
        snprintf(key, sizeof key, "%s.detail", v);
        const double *dr = sg_fixture_doubles(fx, key, NULL);
        tap_ok(close_term_(what, "sbu_1", d.sbu[0], dr[0]) & close_term_(what, "sbu_2", d.sbu[1], dr[1]),
               "%s: SBU of each view matches PyTorch", what);
        tap_ok(close_term_(what, "ckr_1", d.ckr[0], dr[2]) & close_term_(what, "ckr_2", d.ckr[1], dr[3]),
               "%s: CKR of each view matches PyTorch", what);
        tap_ok(close_term_(what, "loss_sbu", t.value[5], ref[5]) & close_term_(what, "loss_ckr", t.value[6], ref[6]),
               "%s: weighted SBU and CKR terms match PyTorch", what);
        tap_ok(close_term_(what, "loss", t.value[0], ref[0]), "%s: the total matches PyTorch", what);
        tap_ok(fabs(t.mask_ratio - ref[7]) <= RATIO_TOL, "%s: mask ratio %.6f (PyTorch %.6f)", what, t.mask_ratio,
               ref[7]);
    }
    sg_backward(&ctx, loss);
    sg_sgd opt;
    sg_sgd_init(&opt, &m.params, 2, 0.9f, s->wd);
    opt.groups[1].lr_mult = s->head_mult;
    sg_sgd_step(&opt, &m.params, s->lr);
    sg_sgd_free(&opt);
    int bad = 0;
    for (int i = 0; i < ps->n_params; i++) {
        snprintf(key, sizeof key, "%s.param.%s", v, ps->params[i].name);
        bad += !close_delta_(fx, key, ps->params[i].t->data, before[i], sg_numel(ps->params[i].t), STEP_TOL * f);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        snprintf(key, sizeof key, "%s.buf.%s", v, ps->buffers[i].name);
        bad += !close_delta_(fx, key, ps->buffers[i].t->data, NULL, sg_numel(ps->buffers[i].t), BUF_TOL * f);
    }
    tap_ok(bad == 0, "%s: weights after the SGD step: %d parameters and %d buffers match (%d off)", what,
           ps->n_params, ps->n_buffers, bad);
    for (int i = 0; i < ps->n_params; i++) free(before[i]);
    free(before);
    sg_deeplab_free(&m);
    sg_ctx_free(&ctx);
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("uccl.bin", GEN);
    const setup_ s = setup_from_(fx);
    inputs_ in;
    inputs_load_(&in, fx);
    const sg_backend *paths[2] = {sg_backend_cpu_reference(), sg_backend_cpu_dnnl()};
    for (int b = 0; b < 2; b++) {
        if (!paths[b]) continue;
        g_be = paths[b];
        test_variant(fx, &s, &in, "uccl", b ? FAST_FACTOR : 1.0);
        test_variant(fx, &s, &in, "alt", b ? FAST_FACTOR : 1.0);
    }
    for (int i = 0; i < 12; i++) sg_tensor_free(in.all[i]);
    sg_fixture_close(fx);
    return tap_done();
}
