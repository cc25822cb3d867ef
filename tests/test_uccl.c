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
#include "semi_check.h"
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
/* The values (TERM_TOL, RATIO_TOL, STEP_TOL, BUF_TOL, VALUE_RTOL and
 * FAST_FACTOR, oneDNN's other summation order: test_model.c saw up to 3x)
 * are semi_check.h's. */

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
    semi_check_deeplab_config(&s.cfg, c);
    s.seed = (uint64_t)c[15];
    s.lr = (float)c[16];
    s.head_mult = (float)c[17];
    s.wd = (float)c[18];
    s.fp_p = (float)c[19];
    s.fp_it = (long)c[20];
    s.warm = (int)c[21];
    return s;
}

/* Build, then WARM train-mode passes on cat(x, uw) without gradient, as
 * the fixture's make(). */
static void make_(sg_deeplab *m, const setup_ *s, const semi_check_inputs *in, sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, s->seed);
    semi_check_warm(ctx, m, s->warm, in->lab.img, in->unl.img);
}

/* Not semi_check_term: this one fails a NaN term (the shared one, as
 * test_semi.c's loop, lets a NaN pass). */
static int close_term_(const char *what, const char *name, double got, double ref)
{
    if (fabs(got - ref) <= TERM_TOL * fmax(1.0, fabs(ref))) return 1;
    tap_diag("%s %s = %.9g, PyTorch %.9g", what, name, got, ref);
    return 0;
}

static void test_variant(const sg_fixture *fx, const setup_ *s, const semi_check_inputs *in, const char *v, double f)
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
    float **before = semi_check_snapshot(&m.params);
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
    semi_check_sgd_step(&m.params, s->lr, s->head_mult, s->wd);
    char step[128];
    snprintf(step, sizeof step, "%s: weights after the SGD step", what);
    semi_check_set(fx, v, false, &m.params, before, f, step);
    semi_check_snapshot_free(before, m.params.n_params);
    sg_deeplab_free(&m);
    sg_ctx_free(&ctx);
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("uccl.bin", GEN);
    const setup_ s = setup_from_(fx);
    semi_check_inputs in;
    semi_check_inputs_load(&in, fx);
    const sg_backend *paths[2] = {sg_backend_cpu_reference(), sg_backend_cpu_dnnl()};
    for (int b = 0; b < 2; b++) {
        if (!paths[b]) continue;
        g_be = paths[b];
        test_variant(fx, &s, &in, "uccl", b ? FAST_FACTOR : 1.0);
        test_variant(fx, &s, &in, "alt", b ? FAST_FACTOR : 1.0);
    }
    semi_check_inputs_free(&in);
    sg_fixture_close(fx);
    return tap_done();
}
