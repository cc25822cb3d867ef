/*
 * test_ctt.c: one iteration of cross teacher training
 * (experiments/ctt/ctt_loss.c, experiments/libsgmethods.a) against
 * tests/ref/gen_ctt.py, a PyTorch re-implementation of
 * 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py on the tiny DeepLabV3+
 * of tests/test_semi.c: the two students' supervised and cross-teacher
 * terms and uniform weights (ClassMix masks and blur from the same Philox
 * draws), every parameter and BN statistic of both students after their
 * SGD steps (one backward of loss_L + loss_R against the released two
 * separate backwards), both teachers after the EMA update of their
 * parameters (ctt_teacher_update; their BN statistics their own) and the
 * bank pass, and both memory banks after add_to_memory_bank (partly filled
 * banks: appends and FIFO drops); then, with both banks full, the high- and
 * low-level contrastive terms of both students (contr_self_loss,
 * contr_net_loss) and both students after the SGD step; on the reference
 * CPU path and on oneDNN when built with it. Also the admission count,
 * the full-bank switch, and which state the teachers' start and update
 * touch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctt/ctt_loss.h"
#include "fixture.h"
#include "semi_check.h"
#include "tap.h"

static const sg_backend *g_be;

#define GEN "tests/ref/gen_ctt.py"

/* ---- tolerances (as tests/test_semi.c; the same tiny network and batch size) ----------
 * The fixture is PyTorch in float64 rounded to float32, with every threshold
 * >= 5e-5 from the values it splits and argmaxes and sorted candidate logits
 * >= 2e-5 apart, so masks, pseudo-labels, lambda and the admitted pixels are
 * identical: what remains is float32 rounding.
 * TERM_TOL: loss terms of size ~1 over ~900 pixels (test_semi: 1.6e-7 seen).
 * STEP_TOL, BUF_TOL, VALUE_RTOL: test_semi.c's (updates as a fraction of the
 *   largest reference update of each tensor: a gradient comparison).
 * BANK_TOL: bank rows are unit-norm teacher features through the whole
 *   network (test_model.c: 1e-5 of the largest activation). */
/* TERM_TOL, STEP_TOL, BUF_TOL, VALUE_RTOL and FAST_FACTOR: semi_check.h's. */
#define BANK_TOL 1e-5

typedef struct {
    sg_deeplab_config cfg;
    uint64_t seed[4];         /* L, R, teacher L, teacher R */
    float lr, head_mult, wd;
    int warm;
    uint64_t run_seed;
    long it;
} setup_;

static setup_ setup_from_(const sg_fixture *fx)
{
    size_t n;
    const double *c = sg_fixture_doubles(fx, "config", &n);
    SG_CHECK(n == 25, "config has %zu entries, expected 25 (regenerate with %s)", n, GEN);
    setup_ s = {0};
    semi_check_deeplab_config(&s.cfg, c);
    for (int i = 0; i < 4; i++) s.seed[i] = (uint64_t)c[15 + i];
    s.lr = (float)c[19];
    s.head_mult = (float)c[20];
    s.wd = (float)c[21];
    s.warm = (int)c[22];
    s.run_seed = (uint64_t)c[23];
    s.it = (long)c[24];
    return s;
}

static void make_(sg_deeplab *m, const setup_ *s, uint64_t seed, const sg_batch *lab, const sg_batch *unl,
                  sg_ctx *ctx)
{
    sg_deeplab_init(m, &s->cfg, seed);
    semi_check_warm(ctx, m, s->warm, lab->img, unl->img);
}

/* Bank s after the update: sizes exactly, rows (oldest first) to BANK_TOL. */
static void check_bank_(const sg_fixture *fx, const sg_class_queue *q, const char *tag, double f)
{
    char key[64];
    snprintf(key, sizeof key, "bank.%s.size", tag);
    const double *size = sg_fixture_doubles(fx, key, NULL);
    snprintf(key, sizeof key, "bank.%s.rows", tag);
    size_t n;
    const double *rows = sg_fixture_doubles(fx, key, &n);
    const int K = q->n_classes, D = q->dim, cap = q->capacity[0];
    int ok = (size_t)K * cap * D == n;
    float *got = sg_xmalloc((size_t)cap * D * sizeof *got);
    double worst = 0.0;
    for (int c = 0; ok && c < K; c++) {
        const int m = sg_class_queue_size(q, c);
        if (m != (int)size[c]) {
            tap_diag("bank %s class %d: %d rows, PyTorch %d", tag, c, m, (int)size[c]);
            ok = 0;
            break;
        }
        sg_class_queue_read(q, c, 0, m, got);
        for (int i = 0; i < m * D; i++) worst = fmax(worst, fabs(got[i] - rows[(size_t)c * cap * D + i]));
    }
    free(got);
    tap_ok(ok && worst <= BANK_TOL * f, "bank %s %s: sizes and rows (oldest first) match, max error %.2g", tag,
           g_be->name, worst);
}

static void test_iteration_(const sg_fixture *fx, const setup_ *s, const sg_batch *lab, const sg_batch *unl,
                            double f)
{
    const double *hp = sg_fixture_doubles(fx, "hp", NULL);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_deeplab net[4];
    for (int i = 0; i < 4; i++) make_(&net[i], s, s->seed[i], lab, unl, &ctx);
    float **before[4];
    for (int i = 0; i < 4; i++) before[i] = semi_check_snapshot(&net[i].params);
    const int K = s->cfg.num_classes, D = s->cfg.decoder_channels, cap = (int)hp[6];
    sg_param_set bank_set;
    sg_param_set_init(&bank_set);
    sg_class_queue bank[2];
    int caps[SG_CLASS_QUEUE_MAX];
    for (int c = 0; c < K; c++) caps[c] = cap;
    const double *init_size = sg_fixture_doubles(fx, "bank.init_size", NULL);
    for (int b = 0; b < 2; b++) {
        sg_class_queue_init(&bank[b], &bank_set, b ? "r." : "l.", K, caps, D);
        size_t n;
        const double *rows = sg_fixture_doubles(fx, b ? "bank.r.init" : "bank.l.init", &n);
        float *r = sg_xmalloc((size_t)cap * D * sizeof *r);
        for (int c = 0; c < K; c++) {
            for (int i = 0; i < cap * D; i++) r[i] = (float)rows[(size_t)c * cap * D + i];
            sg_class_queue_push(&bank[b], c, r, (int)init_size[c]);
        }
        free(r);
    }
    const ctt_nets nets = {.student = {&net[0], &net[1]}, .teacher = {&net[2], &net[3]}, .bank = {&bank[0], &bank[1]}};
    tap_ok(!ctt_banks_full(&nets), "partly filled banks: the contrastive terms wait");
    const ctt_params p = {.conf_uniform = (float)hp[0], .weight_u = (float)hp[1], .blur = true,
                          .blur_thresh = 1.0f - (float)hp[2], .sigma_min = (float)hp[3], .sigma_max = (float)hp[4],
                          .teacher_train_bn = true, .contr_high = true, .contr_low = true};
    sg_rng rng[2];
    for (int i = 0; i < 2; i++) sg_rng_init(&rng[i], s->run_seed, sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)s->it, i));
    ctt_terms t;
    sg_tensor *loss = ctt_loss(&ctx, &nets, lab, unl, &p, rng, NULL, &t);
    size_t nt;
    const double *ref = sg_fixture_doubles(fx, "terms", &nt);
    const double got[9] = {t.loss, t.loss_s[0], t.loss_s[1], t.x[0], t.x[1], t.u[0], t.u[1], t.lambda[0], t.lambda[1]};
    static const char *names[9] = {"loss", "loss_l", "loss_r", "x_l", "x_r", "u_l", "u_r", "lambda_l", "lambda_r"};
    int ok = nt == 9 && !t.contr;
    for (int i = 0; ok && i < 9; i++)
        if (fabs(got[i] - ref[i]) > TERM_TOL * fmax(1.0, fabs(ref[i]))) {
            tap_diag("%s = %.9g, PyTorch %.9g", names[i], got[i], ref[i]);
            ok = 0;
        }
    tap_ok(ok, "ctt %s: both students' terms and uniform weights match PyTorch", g_be->name);
    sg_backward(&ctx, loss);
    semi_check_sgd_step(&net[0].params, s->lr, s->head_mult, s->wd);
    semi_check_sgd_step(&net[1].params, s->lr, s->head_mult, s->wd);
    const float d = sg_semi_ema_decay(s->it, (float)hp[5]);
    ctt_teacher_update(&net[2], &net[0], d, true);
    ctt_teacher_update(&net[3], &net[1], d, true);
    const int n_add = ctt_bank_admit_count(cap, (int)hp[7], lab->n);
    tap_ok(n_add == (int)hp[8], "admission count %d (PyTorch %d)", n_add, (int)hp[8]);
    for (int b = 0; b < 2; b++) ctt_bank_update(&ctx, &net[2 + b], &bank[b], lab, n_add, (float)hp[9], true);
    char what[96];
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "ctt %s: student %s after the SGD step", g_be->name, i ? "R" : "L");
        semi_check_set(fx, i ? "r" : "l", false, &net[i].params, before[i], f, what);
        snprintf(what, sizeof what, "ctt %s: teacher %s after the EMA update and the bank pass", g_be->name,
                 i ? "R" : "L");
        semi_check_set(fx, i ? "r" : "l", true, &net[2 + i].params, before[2 + i], f, what);
        check_bank_(fx, &bank[i], i ? "r" : "l", f);
    }
    for (int i = 0; i < 4; i++) {
        semi_check_snapshot_free(before[i], net[i].params.n_params);
        sg_deeplab_free(&net[i]);
    }
    sg_param_set_free(&bank_set);
    sg_ctx_free(&ctx);
}

/* Scenario c: the networks of seeds + c.hp[5] and both banks full of random
 * unit rows, so the contrastive terms run (weights 0.3 high, 0.7 low): every
 * term of both students, both students after the SGD step; the anchors in
 * chunks of `chunk` (the whole class at once when larger). The terms go to
 * got[7] and the students' updates (after - before the step, per parameter)
 * to delta[2] (freed by the caller). scratch: the chunks' context
 * (ctt_nets.scratch; NULL: one per term). */
static void test_contrast_(const sg_fixture *fx, const setup_ *s, const sg_batch *lab, const sg_batch *unl, double f,
                           int chunk, sg_ctx *scratch, double got[7], float **delta[2])
{
    const double *hp = sg_fixture_doubles(fx, "hp", NULL), *chp = sg_fixture_doubles(fx, "c.hp", NULL);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_deeplab net[4];
    for (int i = 0; i < 4; i++) make_(&net[i], s, s->seed[i] + (uint64_t)chp[5], lab, unl, &ctx);
    float **before[2] = {semi_check_snapshot(&net[0].params), semi_check_snapshot(&net[1].params)};
    const int K = s->cfg.num_classes, D = s->cfg.decoder_channels, cap = (int)hp[6];
    sg_param_set bank_set;
    sg_param_set_init(&bank_set);
    sg_class_queue bank[2];
    int caps[SG_CLASS_QUEUE_MAX];
    for (int c = 0; c < K; c++) caps[c] = cap;
    for (int b = 0; b < 2; b++) {
        sg_class_queue_init(&bank[b], &bank_set, b ? "r." : "l.", K, caps, D);
        const double *rows = sg_fixture_doubles(fx, b ? "c.bank.r" : "c.bank.l", NULL);
        float *r = sg_xmalloc((size_t)cap * D * sizeof *r);
        for (int c = 0; c < K; c++) {
            for (int i = 0; i < cap * D; i++) r[i] = (float)rows[(size_t)c * cap * D + i];
            sg_class_queue_push(&bank[b], c, r, cap);
        }
        free(r);
    }
    const ctt_nets nets = {.student = {&net[0], &net[1]},
                           .teacher = {&net[2], &net[3]},
                           .bank = {&bank[0], &bank[1]},
                           .scratch = scratch};
    const ctt_params p = {.conf_uniform = (float)hp[0], .weight_u = (float)hp[1], .blur = true,
                          .blur_thresh = 1.0f - (float)hp[2], .sigma_min = (float)hp[3], .sigma_max = (float)hp[4],
                          .teacher_train_bn = true, .contr_high = true, .contr_low = true, .gamma = (float)chp[0],
                          .weight_high = (float)chp[1], .weight_low = (float)chp[2], .tau_high = (float)chp[3],
                          .tau_low = (float)chp[4], .contr_chunk = chunk};
    sg_rng rng[2];
    for (int i = 0; i < 2; i++) sg_rng_init(&rng[i], s->run_seed, sg_rng_stream(SG_RNG_DROPOUT, (uint64_t)s->it, i));
    ctt_terms t;
    sg_tensor *loss = ctt_loss(&ctx, &nets, lab, unl, &p, rng, NULL, &t);
    size_t nt;
    const double *ref = sg_fixture_doubles(fx, "c.terms", &nt);
    const double terms[7] = {t.loss, t.loss_s[0], t.loss_s[1], t.high[0], t.high[1], t.low[0], t.low[1]};
    memcpy(got, terms, sizeof terms);
    static const char *names[7] = {"loss", "loss_l", "loss_r", "high_l", "high_r", "low_l", "low_r"};
    int ok = nt == 7 && t.contr;
    for (int i = 0; ok && i < 7; i++)
        if (fabs(got[i] - ref[i]) > TERM_TOL * fmax(1.0, fabs(ref[i]))) {
            tap_diag("%s = %.9g, PyTorch %.9g", names[i], got[i], ref[i]);
            ok = 0;
        }
    tap_ok(ok, "ctt %s, full banks, chunks of %d anchors: both contrastive terms of both students match PyTorch",
           g_be->name, chunk);
    sg_backward(&ctx, loss);
    char what[96];
    for (int i = 0; i < 2; i++) {
        semi_check_sgd_step(&net[i].params, s->lr, s->head_mult, s->wd);
        snprintf(what, sizeof what, "ctt %s, full banks, chunks of %d: student %s after the SGD step", g_be->name,
                 chunk, i ? "R" : "L");
        semi_check_set(fx, i ? "c.r" : "c.l", false, &net[i].params, before[i], f, what);
        delta[i] = semi_check_snapshot(&net[i].params);
        for (int j = 0; j < net[i].params.n_params; j++)
            for (size_t e = 0; e < sg_numel(net[i].params.params[j].t); e++) delta[i][j][e] -= before[i][j][e];
        semi_check_snapshot_free(before[i], net[i].params.n_params);
    }
    for (int i = 0; i < 4; i++) sg_deeplab_free(&net[i]);
    sg_param_set_free(&bank_set);
    sg_ctx_free(&ctx);
}

/* Scenario c whole (every class's anchors in one chunk) and in chunks of
 * CHUNK_SMALL anchors (1 to 39 anchors per class and term in this batch:
 * one to six chunks, short last ones): both against PyTorch, and against
 * each other.
 * Chunks change only the order of float32 sums: the terms agree to
 * CHUNK_TOL relative, the SGD updates to CHUNK_TOL of the largest update
 * of each tensor. */
#define CHUNK_SMALL 7
#define CHUNK_TOL 1e-5
static void test_chunks_(const sg_fixture *fx, const setup_ *s, const sg_batch *lab, const sg_batch *unl, double f)
{
    double whole[7], part[7];
    float **w_whole[2], **w_part[2];
    test_contrast_(fx, s, lab, unl, f, 1 << 20, NULL, whole, w_whole);
    test_contrast_(fx, s, lab, unl, f, CHUNK_SMALL, NULL, part, w_part);
    double worst = 0.0;
    for (int i = 0; i < 7; i++) worst = fmax(worst, fabs(whole[i] - part[i]) / fmax(1.0, fabs(whole[i])));
    tap_ok(worst <= CHUNK_TOL, "ctt %s: terms in chunks of %d = whole (max relative difference %.2g)", g_be->name,
           CHUNK_SMALL, worst);
    sg_deeplab m;
    sg_deeplab_init(&m, &s->cfg, 1);
    /* The trainer's scratch context, kept across steps: twice through the
     * same one (its memory holds the first pass's values) gives the bits of a
     * context per term. */
    sg_ctx scratch;
    sg_ctx_init_on(&scratch, g_be);
    bool same = true;
    for (int pass = 0; pass < 2; pass++) {
        double kept[7];
        float **w_kept[2];
        test_contrast_(fx, s, lab, unl, f, CHUNK_SMALL, &scratch, kept, w_kept);
        /* used (its FLOPs counted), and reset after use */
        same &= !memcmp(kept, part, sizeof kept) && scratch.flops > 0 && scratch.n_nodes == 0;
        for (int st = 0; st < 2; st++) {
            for (int i = 0; i < m.params.n_params; i++)
                same &= !memcmp(w_kept[st][i], w_part[st][i], sg_numel(m.params.params[i].t) * sizeof(float));
            semi_check_snapshot_free(w_kept[st], m.params.n_params);
        }
    }
    sg_ctx_free(&scratch);
    tap_ok(same, "ctt %s: a scratch context kept across steps gives the terms and updates of one per term, bit for bit",
           g_be->name);
    int bad = 0;
    for (int st = 0; st < 2; st++) {
        for (int i = 0; i < m.params.n_params; i++) {
            double scale = 0.0, diff = 0.0;
            for (size_t j = 0; j < sg_numel(m.params.params[i].t); j++) {
                scale = fmax(scale, fabs(w_whole[st][i][j]));
                diff = fmax(diff, fabs((double)w_whole[st][i][j] - w_part[st][i][j]));
            }
            bad += diff > CHUNK_TOL * scale;
        }
        semi_check_snapshot_free(w_whole[st], m.params.n_params);
        semi_check_snapshot_free(w_part[st], m.params.n_params);
    }
    sg_deeplab_free(&m);
    tap_ok(bad == 0, "ctt %s: both students' SGD updates, chunks of %d = whole (%d tensors off)", g_be->name,
           CHUNK_SMALL, bad);
}

/* The released counts: VOC 212 labels, batch 10 -> 10; Cityscapes 372,
 * batch 2 -> 2; 50 labels, batch 2 -> int(10.24) = 10. A full bank pair
 * switches the contrastive terms on; one short class keeps them off. */
static void test_bank_rules_(void)
{
    tap_ok(ctt_bank_admit_count(256, 212, 10) == 10 && ctt_bank_admit_count(256, 372, 2) == 2 &&
               ctt_bank_admit_count(256, 50, 2) == 10,
           "admission count max(int(2 * 256 / labeled), batch)");
    sg_param_set set;
    sg_param_set_init(&set);
    sg_class_queue q[2];
    const int cap[3] = {2, 2, 2};
    sg_class_queue_init(&q[0], &set, "l.", 3, cap, 4);
    sg_class_queue_init(&q[1], &set, "r.", 3, cap, 4);
    const float rows[8] = {0};
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 3; c++) sg_class_queue_push(&q[b], c, rows, b == 1 && c == 2 ? 1 : 2);
    ctt_nets nets = {.bank = {&q[0], &q[1]}};
    const bool short_one = ctt_banks_full(&nets);
    sg_class_queue_push(&q[1], 2, rows, 1);
    tap_ok(!short_one && ctt_banks_full(&nets), "the contrastive terms start once every class of both banks is full");
    sg_param_set_free(&set);
}

/* Every entry of a set (params or buffers) equal to value v, or to the
 * same entry of another set. */
static bool all_equal_(const sg_param *a, const sg_param *b, int n, float v)
{
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sg_numel(a[i].t); j++) {
            const float want = b ? ((const float *)b[i].t->data)[j] : v;
            if (((const float *)a[i].t->data)[j] != want) return false;
        }
    return true;
}

static void fill_(sg_param *a, int n, float v)
{
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sg_numel(a[i].t); j++) ((float *)a[i].t->data)[j] = v;
}

/* create_ema_model and update_ema_variables touch the parameters only: with
 * teacher_train_bn the teacher's BN statistics stay its own; without, they
 * are copied at the start and averaged (0.5 and 0.25 at decay 0.5 give
 * 0.375, exactly). */
static void test_teacher_sets_(const setup_ *s)
{
    sg_deeplab st, te;
    sg_deeplab_init(&st, &s->cfg, 1);
    sg_deeplab_init(&te, &s->cfg, 2);
    sg_param_set *a = &te.params, *b = &st.params;
    fill_(b->buffers, b->n_buffers, 0.5f);
    fill_(a->buffers, a->n_buffers, 0.25f);
    ctt_teacher_start(&te, &st, true);
    tap_ok(all_equal_(a->params, b->params, a->n_params, 0) && all_equal_(a->buffers, NULL, a->n_buffers, 0.25f),
           "teacher start (train-mode BN): the student's parameters, its own BN statistics");
    ctt_teacher_update(&te, &st, 0.5f, true);
    tap_ok(all_equal_(a->params, b->params, a->n_params, 0) && all_equal_(a->buffers, NULL, a->n_buffers, 0.25f),
           "teacher update (train-mode BN): the BN statistics untouched");
    ctt_teacher_update(&te, &st, 0.5f, false);
    tap_ok(all_equal_(a->buffers, NULL, a->n_buffers, 0.375f), "teacher update (running-statistics BN): averaged");
    ctt_teacher_start(&te, &st, false);
    tap_ok(all_equal_(a->buffers, b->buffers, a->n_buffers, 0), "teacher start (running-statistics BN): copied");
    sg_deeplab_free(&st);
    sg_deeplab_free(&te);
}

int main(void)
{
    test_bank_rules_();
    sg_fixture *fx = sg_fixture_open("ctt.bin", GEN);
    setup_ s = setup_from_(fx);
    test_teacher_sets_(&s);
    sg_tensor *x = sg_fixture_tensor(fx, "x", false), *y = sg_fixture_tensor(fx, "y", false),
              *uw = sg_fixture_tensor(fx, "uw", false);
    const sg_batch lab = {.n = x->shape[0], .img = x, .mask = y};
    const sg_batch unl = {.n = uw->shape[0], .img = uw};
    g_be = sg_backend_cpu_reference();
    test_iteration_(fx, &s, &lab, &unl, 1.0);
    test_chunks_(fx, &s, &lab, &unl, 1.0);
    if (sg_backend_cpu_dnnl() != NULL) {
        g_be = sg_backend_cpu_dnnl();
        test_iteration_(fx, &s, &lab, &unl, FAST_FACTOR);
        test_chunks_(fx, &s, &lab, &unl, FAST_FACTOR);
    }
    sg_tensor_free(x);
    sg_tensor_free(y);
    sg_tensor_free(uw);
    sg_fixture_close(fx);
    return tap_done();
}
