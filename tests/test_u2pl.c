/*
 * test_u2pl.c: U2PL (experiments/u2pl/u2pl_loss.c, u2pl_contra.c) and the
 * core pieces it added: the representation head (proj_head.h), numpy's
 * percentile and U2PL's CutMix box (semi.h "U2PL").
 *
 * PyTorch parity (tests/ref/gen_u2pl.py -> tests/data/u2pl.bin), on the
 * reference CPU path and on the oneDNN path when built with it:
 * - one iteration of train_semi.py (epoch >= sup_only_epoch) on a tiny
 *   DeepLabV3+ with its representation head, a fixed batch, CutMix boxes and
 *   anchor / negative indices drawn from the same sg_rng streams on both
 *   sides, queues pre-filled with keys: every loss term and the kept-pixel
 *   ratio, every weight and BN statistic of the student (network and head)
 *   after the SGD step, the teacher after its update (u2pl_teacher_start /
 *   _update: parameters only, its BN statistics its own), and every queue
 *   after the update; once with the released code's quirks (the default,
 *   L_c's gradient / 4 as the all-reduce over 4 GPUs, after sup_only_epoch:
 *   the EMA with k = iter - iters_per_epoch * sup_only_epoch) and once with
 *   all quirk switches on "paper" (no division, in epoch sup_only_epoch: the
 *   teacher takes the student's parameters before and after the step);
 * - one supervised-only iteration (epoch < sup_only_epoch): L_sup, the
 *   student after the SGD step (its head by weight decay alone), the
 *   teacher's parameters untouched and its BN statistics moved by its
 *   train-mode pass;
 * - the head alone (train mode with dropout masks, eval mode, statistics);
 * - sg_semi_percentile against numpy.percentile, sg_semi_u2pl_box against
 *   the script's draws.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "semi_check.h"
#include "semiseg/class_queue.h"
#include "semiseg/proj_head.h"
#include "semiseg/semi.h"
#include "tap.h"
#include "u2pl/u2pl_loss.h"

#define GEN "tests/ref/gen_u2pl.py"

/* ---- tolerances ---------------------------------------------------------------------
 * As tests/test_semi.c's (same tiny model, same float64-vs-float32 setting):
 * the script keeps every threshold (entropy percentiles, delta_p, delta_n)
 * >= 5e-5 from the values it splits, class rankings 1e-4 apart relatively and
 * pseudo-labels 2e-5 apart, so no mask, rank or label differs and what remains
 * is float32 rounding.
 * TERM_TOL: loss terms of size ~1-10 from sums over ~900 pixels or a few
 *   hundred cosine logits; relative.
 * RATIO_TOL: a ratio of pixel counts.
 * STEP_TOL: each parameter's SGD update against the reference update, as a
 *   fraction of that tensor's largest reference update (a gradient
 *   comparison; test_model.c bounds gradients at 1e-3 of their maximum).
 *   A wrong weight (w_c 0.1, L_c's gradient not divided by 4), temperature
 *   or sampled anchor moves the representation head's update by far more.
 *   The teacher after its update is compared the same way, as a change from
 *   its values before the update (the EMA with the wrong k, or the copy
 *   epoch without the copy, is off by a sizeable fraction of it); the
 *   supervised-only head's update is weight decay alone, lr x 10 x 1e-4 =
 *   1e-5 of each value: about 20 times VALUE_RTOL, so a missing decay step
 *   shows.
 * Copies are exact: the teacher's parameters at the start of the copy
 *   epoch, and before sup_only_epoch, are compared bit for bit.
 * BUF_TOL: BN running statistics, fraction of the tensor's maximum.
 * VALUE_RTOL: 4 float32 ulps of the value itself on top (test_semi.c).
 * HEAD_TOL: the head's output, relative to its largest value.
 * QUEUE_TOL: queue rows are teacher features (a no-grad forward and the
 *   head), compared relative to their largest magnitude. */
/* TERM_TOL, RATIO_TOL, STEP_TOL, BUF_TOL, VALUE_RTOL and FAST_FACTOR (oneDNN
 * sums convolutions in another order): semi_check.h's. */
#define HEAD_TOL 1e-5
#define QUEUE_TOL 1e-5

static const sg_backend *g_be;

typedef struct {
    sg_deeplab_config cfg;
    uint64_t seed_s, seed_t, seed_rs, seed_rt, run_seed;
    long it;
    float lr, head_mult, wd;
    int warm, rep;
    u2pl_params hp;
    long epoch, epochs, ipe;
    float ema_decay;
    float cls_gain, cls1_shift;
    int cap[4];
    long sup_only_epoch[3];   /* of the scenarios code, paper, sup */
    int world[2];             /* contra_world_size of code, paper */
} setup_;

enum { CODE, PAPER, SUP };
static const char *const scenario_[] = {"code", "paper", "sup"};

static setup_ setup_from_(const sg_fixture *fx)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "config", &n);
    SG_CHECK(n == 51, "config has %zu entries, expected 51 (regenerate with %s)", n, GEN);
    setup_ s = {0};
    semi_check_deeplab_config(&s.cfg, c);
    s.seed_s = (uint64_t)c[15];
    s.seed_t = (uint64_t)c[16];
    s.seed_rs = (uint64_t)c[17];
    s.seed_rt = (uint64_t)c[18];
    s.run_seed = (uint64_t)c[19];
    s.it = (long)c[20];
    s.lr = (float)c[21];
    s.head_mult = (float)c[22];
    s.wd = (float)c[23];
    s.warm = (int)c[24];
    s.rep = (int)c[25];
    s.hp = (u2pl_params){.drop_percent = (float)c[26], .weight_u = 1, .cutmix = true, .contrastive = true,
                         .weight_c = 1, .contra_world_size = 1, .negative_high_entropy = true,
                         .low_entropy_threshold = (float)c[27],
                         .temperature = (float)c[28], .rep_dropout = (float)c[29], .low_rank = (int)c[30],
                         .high_rank = (int)c[31], .delta_p = (float)c[32], .delta_n = (float)c[33],
                         .num_queries = (int)c[34], .num_negatives = (int)c[35]};
    s.epoch = (long)c[36];
    s.epochs = (long)c[37];
    s.ipe = (long)c[38];
    s.ema_decay = (float)c[39];
    s.cls_gain = (float)c[40];
    s.cls1_shift = (float)c[41];
    for (int i = 0; i < 4; i++) s.cap[i] = (int)c[42 + i];
    for (int i = 0; i < 3; i++) s.sup_only_epoch[i] = (long)c[46 + i];
    for (int i = 0; i < 2; i++) s.world[i] = (int)c[49 + i];
    return s;
}

static uint64_t stream_(const setup_ *s, unsigned call)
{
    return sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)s->it, call);
}

/* A network and its head, as the script's make(): Philox weights, the
 * classifier times CLS_GAIN and class 1's bias lowered by CLS1_SHIFT, WARM
 * train-mode passes on cat(x, uw). */
typedef struct {
    sg_deeplab m;
    sg_param_set rset;
    sg_proj_head head;
} net_;

static void make_(net_ *n, const setup_ *s, uint64_t seed, uint64_t rseed, sg_tensor *x, sg_tensor *uw, sg_ctx *ctx)
{
    sg_deeplab_init(&n->m, &s->cfg, seed);
    for (size_t i = 0; i < sg_numel(n->m.cls_w); i++) n->m.cls_w->data[i] *= s->cls_gain;
    for (size_t i = 0; i < sg_numel(n->m.cls_b); i++) n->m.cls_b->data[i] *= s->cls_gain;
    n->m.cls_b->data[1] -= s->cls1_shift;
    sg_param_set_init(&n->rset);
    sg_builder b = {.set = &n->rset, .seed = rseed, .group = 1, .conv_init = SG_INIT_TORCH_DEFAULT};
    sg_proj_head_build(&n->head, &b, "rep.", s->cfg.reduce_channels + s->cfg.aspp_channels, s->rep, s->rep);
    sg_param_set_move(&n->m.params, g_be);
    sg_param_set_move(&n->rset, g_be);
    const bool was = sg_ctx_set_grad(ctx, false);
    n->m.training = true;
    for (int i = 0; i < s->warm; i++) {
        sg_deeplab_out o;
        sg_deeplab_forward(ctx, &n->m, sg_concat(ctx, (sg_tensor *const[]){x, uw}, 2, 0), NULL, &o);
        sg_proj_head_forward(ctx, &n->head, o.decoder_in, true, 0.0f, 0, (const uint64_t[]){0, 0});
        sg_ctx_reset(ctx);
    }
    sg_ctx_set_grad(ctx, was);
}

static void net_free_(net_ *n)
{
    sg_deeplab_free(&n->m);
    sg_param_set_free(&n->rset);
}

/* Host copies of a set's parameters (buffers: its buffers). */
static float **snapshot_of_(const sg_param_set *ps, bool buffers)
{
    const int n_t = buffers ? ps->n_buffers : ps->n_params;
    float **v = sg_xmalloc((size_t)(n_t ? n_t : 1) * sizeof *v);
    for (int i = 0; i < n_t; i++) {
        const sg_tensor *t = buffers ? ps->buffers[i].t : ps->params[i].t;
        v[i] = sg_xmalloc(sg_numel(t) * sizeof(float));
        sg_tensor_read(t, v[i]);
    }
    return v;
}

static float **snapshot_(const sg_param_set *ps)
{
    return snapshot_of_(ps, false);
}

/* Whether a set's parameters (buffers: its buffers) hold exactly the values of v. */
static bool equals_(const sg_param_set *ps, bool buffers, float **v)
{
    float **now = snapshot_of_(ps, buffers);
    const int n_t = buffers ? ps->n_buffers : ps->n_params;
    bool same = true;
    for (int i = 0; i < n_t; i++)
        same &= memcmp(now[i], v[i], sg_numel(buffers ? ps->buffers[i].t : ps->params[i].t) * sizeof(float)) == 0;
    semi_check_snapshot_free(now, n_t);
    return same;
}

/* semi_check_close_delta on a tensor's host copy (the sets live on g_be). */
static int close_delta_(const sg_fixture *fx, const char *key, const sg_tensor *t, const float *before, double tol)
{
    const size_t n = sg_numel(t);
    float *got = sg_xmalloc(n * sizeof *got);
    sg_tensor_read(t, got);
    const int ok = semi_check_close_delta(fx, key, got, before, n, tol);
    free(got);
    return ok;
}

/* Every parameter (as an update from `before`; before NULL: none) and
 * buffer of a set against <mode>.param|buf.<pre><name> (or
 * <mode>.teacher.<pre><name>). Returns the number of tensors off. */
static int check_set_(const sg_fixture *fx, const char *mode, bool teacher, const char *pre, const sg_param_set *ps,
                      float **before, double f)
{
    int bad = 0;
    char key[256];
    for (int i = 0; before && i < ps->n_params; i++) {
        snprintf(key, sizeof key, "%s.%s.%s%s", mode, teacher ? "teacher" : "param", pre, ps->params[i].name);
        bad += !close_delta_(fx, key, ps->params[i].t, before[i], STEP_TOL * f);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        snprintf(key, sizeof key, "%s.%s.%s%s", mode, teacher ? "teacher" : "buf", pre, ps->buffers[i].name);
        bad += !close_delta_(fx, key, ps->buffers[i].t, NULL, BUF_TOL * f);
    }
    return bad;
}

/* The queues' sizes and rows (oldest first, class by class) against a record pair. */
static void check_queue_(const sg_fixture *fx, const char *mode, const sg_class_queue *q, const char *path)
{
    char ks[64], kr[64];
    snprintf(ks, sizeof ks, "%s.queue.sizes", mode);
    snprintf(kr, sizeof kr, "%s.queue.rows", mode);
    size_t n, nr;
    const double *sizes = sg_fixture_doubles(fx, ks, &n);
    const double *rows = sg_fixture_doubles(fx, kr, &nr);
    int ok = (int)n == q->n_classes, total = 0;
    for (int c = 0; ok && c < q->n_classes; c++) {
        ok = sg_class_queue_size(q, c) == (int)sizes[c];
        total += (int)sizes[c];
    }
    if (!tap_ok(ok && (size_t)total * q->dim == nr, "%s %s: queue sizes after the update", mode, path)) return;
    float *got = sg_xmalloc(nr * sizeof *got);
    double scale = 0.0;
    for (size_t i = 0; i < nr; i++) scale = fmax(scale, fabs(rows[i]));
    for (int c = 0, at = 0; c < q->n_classes; c++) {
        sg_class_queue_read(q, c, 0, (int)sizes[c], got + (size_t)at * q->dim);
        at += (int)sizes[c];
    }
    tap_ok(sg_check_close(fx, kr, got, nr, QUEUE_TOL * scale, 0.0), "%s %s: queue rows (oldest first) match",
           mode, path);
    free(got);
}

/* ---- one iteration ---------------------------------------------------------------------- */
/* The fixed batch and the two networks as the script builds them ("paper"
 * swaps the networks' seeds, see the script's STUDENT_SEEDS). */
typedef struct {
    sg_ctx ctx;
    sg_tensor *x, *y, *uw;
    net_ st, te;
} world_;

static void world_init_(world_ *w, const sg_fixture *fx, const setup_ *s, int sc)
{
    const bool swap = sc == PAPER;
    sg_ctx_init_on(&w->ctx, g_be);
    w->x = sg_fixture_tensor(fx, "x", false);
    w->y = sg_fixture_tensor(fx, "y", false);
    w->uw = sg_fixture_tensor(fx, "uw", false);
    sg_tensor_move(w->x, g_be);
    sg_tensor_move(w->y, g_be);
    sg_tensor_move(w->uw, g_be);
    make_(&w->st, s, swap ? s->seed_t : s->seed_s, swap ? s->seed_rt : s->seed_rs, w->x, w->uw, &w->ctx);
    make_(&w->te, s, swap ? s->seed_s : s->seed_t, swap ? s->seed_rs : s->seed_rt, w->x, w->uw, &w->ctx);
}

static void world_free_(world_ *w)
{
    net_free_(&w->st);
    net_free_(&w->te);
    sg_tensor_free(w->x);
    sg_tensor_free(w->y);
    sg_tensor_free(w->uw);
    sg_ctx_free(&w->ctx);
}

/* The script's draws for iteration IT. */
static void draws_(const setup_ *s, sg_rng *mix, sg_rng *sample, u2pl_draws *d)
{
    sg_rng_init(mix, s->run_seed, stream_(s, 0));
    sg_rng_init(sample, s->run_seed, stream_(s, 1));
    *d = (u2pl_draws){.mix = mix, .sample = sample, .seed = s->run_seed,
                      .drop_s = {stream_(s, 2), stream_(s, 3)}, .drop_t = {stream_(s, 4), stream_(s, 5)}};
}

/* train_semi.py's teacher schedule around a step, for both pairs of sets. */
static void teacher_start_(world_ *w, const setup_ *s, long sup_only_epoch)
{
    u2pl_teacher_start(&w->te.m.params, &w->st.m.params, s->epoch, sup_only_epoch);
    u2pl_teacher_start(&w->te.rset, &w->st.rset, s->epoch, sup_only_epoch);
}

static void teacher_update_(world_ *w, const setup_ *s, long sup_only_epoch)
{
    u2pl_teacher_update(&w->te.m.params, &w->st.m.params, s->it, s->ipe, s->epoch, sup_only_epoch, s->ema_decay);
    u2pl_teacher_update(&w->te.rset, &w->st.rset, s->it, s->ipe, s->epoch, sup_only_epoch, s->ema_decay);
}

/* The loss terms against <mode>.terms (n_ref = 5: the kept ratio last; 4:
 * none, the ratio must be NaN). */
static void check_terms_(const sg_fixture *fx, const char *mode, const sg_semi_terms *terms)
{
    char key[64];
    snprintf(key, sizeof key, "%s.terms", mode);
    size_t nt;
    const double *ref = sg_fixture_doubles(fx, key, &nt);
    const char *path = g_be->name;
    if (!tap_ok(terms->n == 4 && (nt == 4 || nt == 5), "%s %s: 4 terms", mode, path)) return;
    int ok = 1;
    for (int i = 0; i < terms->n; i++) ok &= semi_check_term(mode, terms->name[i], terms->value[i], ref[i]);
    tap_ok(ok, "%s %s: loss, loss_x, loss_u, loss_c match PyTorch (%.6f %.6f %.6f %.6f)", mode, path,
           terms->value[0], terms->value[1], terms->value[2], terms->value[3]);
    if (nt == 5)
        tap_ok(fabs(terms->mask_ratio - ref[4]) <= RATIO_TOL, "%s %s: kept ratio %.6f (PyTorch %.6f)", mode, path,
               terms->mask_ratio, ref[4]);
    else
        tap_ok(isnan(terms->mask_ratio), "%s %s: no kept ratio", mode, path);
}

/* One semi-supervised iteration: sc = CODE (after sup_only_epoch: the EMA
 * teacher) or PAPER (in sup_only_epoch: the teacher takes the student's
 * parameters). */
static void test_step(const sg_fixture *fx, const setup_ *s, int sc, double f)
{
    const char *mode = scenario_[sc], *path = g_be->name;
    const bool paper = sc == PAPER;
    world_ w;
    world_init_(&w, fx, s, sc);
    /* The queues, pre-filled as the script's. */
    sg_param_set qset;
    sg_param_set_init(&qset);
    sg_class_queue q;
    sg_class_queue_init(&q, &qset, "queue.", s->cfg.num_classes, s->cap, s->rep);
    sg_param_set_move(&qset, g_be);
    size_t n0;
    const double *sizes0 = sg_fixture_doubles(fx, "queue0.sizes", &n0);
    const double *rows0 = sg_fixture_doubles(fx, "queue0.rows", NULL);
    for (int c = 0, at = 0; c < (int)n0; c++) {
        const int k = (int)sizes0[c];
        float *r = sg_xmalloc((size_t)(k ? k : 1) * s->rep * sizeof *r);
        for (size_t i = 0; i < (size_t)k * s->rep; i++) r[i] = (float)rows0[(size_t)at * s->rep + i];
        if (k) sg_class_queue_push(&q, c, r, k);
        at += k;
        free(r);
    }
    float **tb = snapshot_of_(&w.te.m.params, true), **trb = snapshot_of_(&w.te.rset, true);
    teacher_start_(&w, s, s->sup_only_epoch[sc]);
    if (paper) {
        float **sm = snapshot_(&w.st.m.params), **sr = snapshot_(&w.st.rset);
        tap_ok(equals_(&w.te.m.params, false, sm) && equals_(&w.te.rset, false, sr) &&
                   equals_(&w.te.m.params, true, tb) && equals_(&w.te.rset, true, trb),
               "%s %s: in epoch sup_only_epoch the teacher starts with the student's parameters and its own "
               "BN statistics",
               mode, path);
        semi_check_snapshot_free(sm, w.st.m.params.n_params);
        semi_check_snapshot_free(sr, w.st.rset.n_params);
    }
    semi_check_snapshot_free(tb, w.te.m.params.n_buffers);
    semi_check_snapshot_free(trb, w.te.rset.n_buffers);
    float **bm = snapshot_(&w.st.m.params), **br = snapshot_(&w.st.rset);
    float **tm = snapshot_(&w.te.m.params), **tr = snapshot_(&w.te.rset);

    u2pl_params hp = s->hp;
    hp.unsup_norm = paper ? U2PL_NORM_PAPER : U2PL_NORM_CODE;
    hp.quirk_onehot = hp.quirk_negative_mask = hp.quirk_class_index = !paper;
    hp.contra_world_size = s->world[sc];
    sg_rng mix, sample;
    u2pl_draws d;
    draws_(s, &mix, &sample, &d);
    const u2pl_nets nets = {&w.st.m, &w.te.m, &w.st.head, &w.te.head};
    sg_batch lab = {.n = w.x->shape[0], .img = w.x, .mask = w.y}, unl = {.n = w.uw->shape[0], .img = w.uw};
    sg_semi_terms terms;
    sg_tensor *loss = u2pl_loss(&w.ctx, &nets, &q, &lab, &unl, &hp, (double)s->epoch / (double)s->epochs, false,
                                &d, NULL, &terms);
    check_terms_(fx, mode, &terms);
    check_queue_(fx, mode, &q, path);

    sg_backward(&w.ctx, loss);
    semi_check_sgd_step(&w.st.m.params, s->lr, s->head_mult, s->wd);
    /* the head is in group 1, as the trainer builds it */
    semi_check_sgd_step(&w.st.rset, s->lr, s->head_mult, s->wd);
    teacher_update_(&w, s, s->sup_only_epoch[sc]);
    int bad = check_set_(fx, mode, false, "", &w.st.m.params, bm, f) +
              check_set_(fx, mode, false, "", &w.st.rset, br, f);
    tap_ok(bad == 0, "%s %s: student network and head after the SGD step (%d tensors off)", mode, path, bad);
    bad = check_set_(fx, mode, true, "", &w.te.m.params, tm, f) + check_set_(fx, mode, true, "", &w.te.rset, tr, f);
    tap_ok(bad == 0, "%s %s: teacher after %s, its own BN statistics (%d off)", mode, path,
           paper ? "the copy epoch's update" : "the parameter-only EMA", bad);

    semi_check_snapshot_free(bm, w.st.m.params.n_params);
    semi_check_snapshot_free(br, w.st.rset.n_params);
    semi_check_snapshot_free(tm, w.te.m.params.n_params);
    semi_check_snapshot_free(tr, w.te.rset.n_params);
    sg_param_set_free(&qset);
    world_free_(&w);
}

/* One supervised-only iteration (epoch < sup_only_epoch). */
static void test_sup(const sg_fixture *fx, const setup_ *s, double f)
{
    const char *mode = scenario_[SUP], *path = g_be->name;
    world_ w;
    world_init_(&w, fx, s, SUP);
    float **bm = snapshot_(&w.st.m.params), **br = snapshot_(&w.st.rset);
    float **tm = snapshot_(&w.te.m.params), **tr = snapshot_(&w.te.rset);
    teacher_start_(&w, s, s->sup_only_epoch[SUP]);
    sg_rng mix, sample;
    u2pl_draws d;
    draws_(s, &mix, &sample, &d);
    const u2pl_nets nets = {&w.st.m, &w.te.m, &w.st.head, &w.te.head};
    sg_batch lab = {.n = w.x->shape[0], .img = w.x, .mask = w.y}, unl = {.n = w.uw->shape[0], .img = w.uw};
    sg_semi_terms terms;
    sg_tensor *loss = u2pl_loss(&w.ctx, &nets, NULL, &lab, &unl, &s->hp, (double)s->epoch / (double)s->epochs,
                                true, &d, NULL, &terms);
    check_terms_(fx, mode, &terms);
    sg_backward(&w.ctx, loss);
    semi_check_sgd_step(&w.st.m.params, s->lr, s->head_mult, s->wd);
    semi_check_sgd_step(&w.st.rset, s->lr, s->head_mult, s->wd);
    teacher_update_(&w, s, s->sup_only_epoch[SUP]);
    int bad = check_set_(fx, mode, false, "", &w.st.m.params, bm, f) +
              check_set_(fx, mode, false, "", &w.st.rset, br, f);
    tap_ok(bad == 0, "%s %s: student network and head (weight decay alone) after the SGD step (%d tensors off)",
           mode, path, bad);
    tap_ok(equals_(&w.te.m.params, false, tm) && equals_(&w.te.rset, false, tr),
           "%s %s: before sup_only_epoch the teacher's parameters are untouched", mode, path);
    bad = check_set_(fx, mode, true, "", &w.te.m.params, NULL, f) + check_set_(fx, mode, true, "", &w.te.rset, NULL, f);
    tap_ok(bad == 0, "%s %s: the teacher's BN statistics after its train-mode pass on x (%d off)", mode, path, bad);
    semi_check_snapshot_free(bm, w.st.m.params.n_params);
    semi_check_snapshot_free(br, w.st.rset.n_params);
    semi_check_snapshot_free(tm, w.te.m.params.n_params);
    semi_check_snapshot_free(tr, w.te.rset.n_params);
    world_free_(&w);
}

/* ---- primitives ------------------------------------------------------------------------- */
static void test_head(const sg_fixture *fx, const setup_ *s)
{
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_param_set set;
    sg_param_set_init(&set);
    sg_proj_head h;
    sg_builder b = {.set = &set, .seed = s->seed_rs, .group = 0, .conv_init = SG_INIT_TORCH_DEFAULT};
    sg_proj_head_build(&h, &b, "", s->cfg.reduce_channels + s->cfg.aspp_channels, s->rep, s->rep);
    tap_ok(set.n_params == 10 && set.n_buffers == 4 && strcmp(set.params[1].name, "0.bias") == 0 &&
               strcmp(set.params[9].name, "8.bias") == 0,
           "head: 10 parameters, 4 buffers, nn.Sequential's names and order");
    sg_param_set_move(&set, g_be);
    sg_tensor *x = sg_fixture_tensor(fx, "head.x", false);
    sg_tensor_move(x, g_be);
    const uint64_t streams[2] = {stream_(s, 2), stream_(s, 3)};
    sg_tensor *yt = sg_proj_head_forward(&ctx, &h, x, true, s->hp.rep_dropout, s->run_seed, streams);
    sg_tensor *ye = sg_proj_head_forward(&ctx, &h, x, false, s->hp.rep_dropout, s->run_seed, streams);
    tap_ok(close_delta_(fx, "head.train", yt, NULL, HEAD_TOL), "head: train mode with Dropout2d masks matches");
    tap_ok(close_delta_(fx, "head.eval", ye, NULL, HEAD_TOL), "head: eval mode matches");
    int bad = 0;
    char key[160];
    for (int i = 0; i < set.n_buffers; i++) {
        snprintf(key, sizeof key, "head.buf.%s", set.buffers[i].name);
        bad += !close_delta_(fx, key, set.buffers[i].t, NULL, BUF_TOL);
    }
    tap_ok(bad == 0, "head: BN running statistics after the train-mode pass");
    sg_tensor_free(x);
    sg_param_set_free(&set);
    sg_ctx_free(&ctx);
}

static void test_percentile_boxes(const sg_fixture *fx, const setup_ *s)
{
    size_t n, nq;
    const double *v = sg_fixture_doubles(fx, "pct.v", &n);
    const double *q = sg_fixture_doubles(fx, "pct.q", &nq);
    const double *out = sg_fixture_doubles(fx, "pct.out", NULL);
    float *buf = sg_xmalloc(n * sizeof *buf);
    int ok = 1;
    for (size_t k = 0; k < nq; k++) {
        for (size_t i = 0; i < n; i++) buf[i] = (float)v[n - 1 - i];   /* unsorted, reversed */
        const double p = sg_semi_percentile(buf, n, q[k]);
        ok &= sg_semi_percentile_sorted(buf, n, q[k]) == p;   /* buf is sorted now */
        if (fabs(p - out[k]) > 1e-12 * fmax(1.0, fabs(out[k]))) {
            tap_diag("percentile %g: %.17g, numpy %.17g", q[k], p, out[k]);
            ok = 0;
        }
    }
    tap_ok(ok, "sg_semi_percentile (and _sorted) = numpy.percentile (linear) at %zu quantiles", nq);
    float one = 3.5f;
    tap_ok(sg_semi_percentile(&one, 1, 37.0) == 3.5, "percentile of one value");
    free(buf);

    size_t nh, nb;
    const double *hw = sg_fixture_doubles(fx, "boxes.hw", &nh);
    const double *boxes = sg_fixture_doubles(fx, "boxes", &nb);
    sg_rng r;
    sg_rng_init(&r, s->run_seed, sg_rng_stream(SG_RNG_TEST, 7, 0));
    ok = (int)nb == (int)(nh / 2) * 3 * 4;
    for (size_t i = 0; ok && i < nb / 4; i++) {
        const int h = (int)hw[2 * (i / 3)], w = (int)hw[2 * (i / 3) + 1];
        int b[4];
        sg_semi_u2pl_box(&r, h, w, b);
        for (int k = 0; k < 4; k++) ok &= b[k] == (int)boxes[4 * i + k];
        ok &= b[3] > w / 2 && b[3] < w && b[0] + b[2] <= h && b[1] + b[3] <= w;
    }
    tap_ok(ok, "U2PL boxes: the script's draws, width in (w/2, w), inside the image");
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_rng_init(&r, 5, 9);
    sg_rng r2 = r;
    sg_tensor *m = sg_semi_u2pl_boxes(&ctx, 2, 10, 12, &r);
    ok = 1;
    for (int i = 0; i < 2; i++) {
        int b[4], area = 0;
        sg_semi_u2pl_box(&r2, 10, 12, b);
        for (int k = 0; k < 120; k++) area += m->i32[i * 120 + k];
        ok &= area == b[2] * b[3] && m->i32[i * 120 + b[0] * 12 + b[1]] == 1;
    }
    tap_ok(ok, "U2PL box masks: 1 inside each drawn box");
    sg_ctx_free(&ctx);
}

int main(void)
{
    sg_fixture *fx = sg_fixture_open("u2pl.bin", GEN);
    setup_ s = setup_from_(fx);
    g_be = sg_backend_cpu_reference();
    test_percentile_boxes(fx, &s);
    test_head(fx, &s);
    test_step(fx, &s, CODE, 1.0);
    test_step(fx, &s, PAPER, 1.0);
    test_sup(fx, &s, 1.0);
    if (sg_backend_cpu_dnnl() != NULL) {
        g_be = sg_backend_cpu_dnnl();
        test_step(fx, &s, CODE, FAST_FACTOR);
        test_sup(fx, &s, FAST_FACTOR);
    }
    sg_fixture_close(fx);
    return tap_done();
}
