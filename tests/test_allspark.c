/*
 * test_allspark.c: one AllSpark training iteration (allspark_loss() of
 * experiments/allspark/allspark_loss.c on the core's sg_allspark_net, then
 * backward and the trainer's two-group SGD step) against
 * tests/ref/gen_allspark.py, a PyTorch restatement of
 * xmed-lab/AllSpark@9da63e2:train_allspark.py on the network of
 * model/model_helper.py (model/backbone/mit.py, model/semseg/allspark.py).
 *
 * The network: gen_mit.py's tiny MiT (embed dims 8/12/16/20, depths
 * 1/2/1/1, drop_path_rate 0.3) and SegFormer head (E = 16, K = 5,
 * Dropout2d 0.1), the AllSpark module on c4 (C = 20, 2 heads, dropout 0.1),
 * random weights loaded strictly by name from
 * tests/data/allspark_tiny.safetensors. The batch: 2 labeled crops (their
 * strong view img_s1 and masks) and 2 unlabeled crops with padding, all
 * 66 x 66 (c4 3 x 3: N = 9 tokens, the released patch_num for a 66 crop).
 * Cases, from the same weights and BN statistics:
 * - batch: keys/values from the unlabeled half, memory pointers chosen so
 *   that the enqueue wraps around two class rings;
 * - memory: after warm-up, keys/values from the memory (batch's memory and
 *   pointers after its step), another dropout key.
 * Checked, each a TAP line, on the reference CPU path and on oneDNN when
 * built with it: the eval pass's logits and pseudo-labels (exactly), loss_x,
 * loss_u (padding included, as released) and loss, every parameter's
 * gradient, every parameter after the SGD step, the BN running statistics,
 * the memory and its pointers after the step. Also: the network's config
 * line round trip and its parse errors, the eval path on an input of
 * another c4 size, and a training step on one aborting.
 *
 * The same for the second network (sg_allspark_net of kind
 * SG_ALLSPARK_DEEPLAB: the suite's DeepLabV3+ with the module between c4
 * and the ASPP), against gen_allspark.py's main_deeplab
 * (tests/data/allspark_deeplab.bin, allspark_deeplab_tiny.safetensors): a
 * ResNet-18 of widths 2/4/4/8 (torchvision stem, OS 8), ASPP 4 at rates
 * 1/2/3, reduce 2, decoder 4, K = 5, the module on c4 (C = 8, 2 heads,
 * dropout 0.1, its four dropouts at streams 1..4), crops of 17 x 17 (c4
 * 3 x 3, N = 9); every gradient and buffer in the batch case, the module's
 * gradients and parameters after the step in both. Also its config line
 * ("arch=allspark_deeplab ...", the token counts of the VOC and demo
 * networks) and parse errors, and an unknown network kind aborting.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allspark/allspark_loss.h"
#include "expect_abort.h"
#include "fixture.h"
#include "semi_check.h"
#include "tap.h"

#define GEN "tests/ref/gen_allspark.py"

/* ---- tolerances --------------------------------------------------------------------------
 * The reference is float64 on the float32 weights and inputs; what remains
 * is semiseg's float32 rounding through the ~90 ops of MiT, the module and
 * the head. The argmaxes cannot differ: the generator keeps every
 * pseudo-label's top-two logit gap and every channel's top-two grouping
 * cosine gap >= 1e-3, ~100x the errors below (the logits reach 5.5), so the
 * pseudo-labels, the channel groups and the pointers compare exactly.
 * Tensors are compared against their largest magnitude (atol = tol *
 * max|ref|), as test_mit.c and test_allspark_module.c do: a network's
 * rounding scales with the tensor, not each element. Worst cases observed,
 * reference path (oneDNN), as a fraction of that scale; the bounds sit
 * 10-30x above:
 *   EVAL_TOL   eval logits                  1.3e-6 (1.0e-6)
 *   GRAD_TOL   gradients                    7.3e-6 (1.8e-5, block1.0.attn.q)
 *   GRAD_ATOL  on top, absolute: linear_c*.proj.bias feed the head's BN,
 *              so their true gradient is 0 (1e-16 in float64) and float32
 *              leaves 4e-9 (4.5e-8) of cancelling sums; the other gradients
 *              are 1e-2..1, so the floor hides nothing (test_mit.c's)
 *   BN_TOL     running statistics           6.6e-8 (6.6e-8)
 *   MEM_TOL    the memory: Z_u maps after   2.2e-6 (1.3e-6)
 *              the whole encoder, LayerNorm'd
 * TERM_TOL (loss terms, relative to max(1, |ref|): 2e-7 seen), STEP_TOL and
 * VALUE_RTOL (the update after - before as a fraction of the tensor's
 * largest update, plus 4 ulps of the value: 3e-4 of the update seen, all of
 * it the float32 rounding of the stored value) and FAST_FACTOR (oneDNN's
 * other summation order, on every bound) are semi_check.h's. A wrong eps,
 * a missed mask, a swapped head or a memory read before the enqueue moves
 * values by 1e-3..1 of their scale. */
#define EVAL_TOL 2e-5
#define GRAD_TOL 2e-4
#define GRAD_ATOL 1e-6
#define BN_TOL 1e-6
#define MEM_TOL 3e-5
/* The DeepLabV3+ network (allspark_deeplab.bin: a ResNet-18 of widths
 * 2/4/4/8 at OS 8 on 17 x 17 crops, c4 3 x 3), worst seen, reference path
 * (oneDNN), as a fraction of the tensor's scale:
 *   eval logits 9.2e-7 (9.8e-7), the memory 9.3e-7 (6.1e-7), the update
 *   6.6e-5 (6.6e-5): the SegFormer's bounds above, 15x and more above;
 *   GRAD_TOL_DL  gradients 4.0e-5 (1.7e-5, backbone.layer1.1.bn1.weight:
 *                its gradient, 4.5e-3 at most, comes back through the
 *                module, the ASPP and 16 train-mode BNs over 4 images of
 *                few positions each)
 *   BN_TOL_DL    running statistics 5.5e-7 (4.1e-7, head.b4.gap.2.running_var:
 *                the ASPP's image-pooling BN takes the variance of one
 *                value per image, 4 per channel, which cancels, as
 *                tests/ref/gen_model.py notes)
 * The two bounds sit 12x and 18x above. */
#define GRAD_TOL_DL 5e-4
#define BN_TOL_DL 1e-5

static const sg_backend *g_be;

/* A network's fixture: its configuration, the weights file, the dropouts'
 * seed, the SGD step's settings, the name its TAP lines start with and
 * its gradient and BN tolerances. */
typedef struct {
    sg_allspark_net_config cfg;
    const char *weights, *label;
    uint64_t seed;
    float lr, lr_multi, wd;
    double grad_tol, bn_tol;
} setup_;

static setup_ setup_segformer_(const sg_fixture *fx)
{
    size_t n;
    const double *m = sg_fixture_doubles(fx, "cfg.misc", &n), *as = sg_fixture_doubles(fx, "cfg.allspark", &n),
                 *st = sg_fixture_doubles(fx, "cfg.step", &n);
    /* variant only names the encoder in the config line; the backbone is the fixture's. */
    return (setup_){.cfg = {.variant = 0, .seg = sg_fixture_segformer_config(fx), .heads = (int)as[0],
                            .dropout = (float)as[1], .tokens = (int)as[2]},
                    .weights = "allspark_tiny.safetensors", .label = "allspark",
                    .seed = (uint64_t)m[5], .lr = (float)st[0], .lr_multi = (float)st[1], .wd = (float)st[2],
                    .grad_tol = GRAD_TOL, .bn_tol = BN_TOL};
}

/* cfg.deeplab: depth, widths 1..4, stem, OS, multi_grid, ASPP channels,
 * rates 1..3, reduce, decoder, classes (gen_allspark.py main_deeplab). */
static setup_ setup_deeplab_(const sg_fixture *fx)
{
    size_t n;
    const double *d = sg_fixture_doubles(fx, "cfg.deeplab", &n), *as = sg_fixture_doubles(fx, "cfg.allspark", &n),
                 *st = sg_fixture_doubles(fx, "cfg.step", &n);
    sg_deeplab_config dc = {.backbone = {.depth = (int)d[0],
                                         .widths = {(int)d[1], (int)d[2], (int)d[3], (int)d[4]},
                                         .stem = d[5] != 0.0 ? SG_STEM_DEEP : SG_STEM_TORCHVISION,
                                         .output_stride = (int)d[6],
                                         .multi_grid = d[7] != 0.0},
                            .aspp_channels = (int)d[8],
                            .aspp_rates = {(int)d[9], (int)d[10], (int)d[11]},
                            .reduce_channels = (int)d[12],
                            .decoder_channels = (int)d[13],
                            .num_classes = (int)d[14]};
    return (setup_){.cfg = {.arch = SG_ALLSPARK_DEEPLAB, .deeplab = dc, .heads = (int)as[0],
                            .dropout = (float)as[1], .tokens = (int)as[2]},
                    .weights = "allspark_deeplab_tiny.safetensors", .label = "allspark deeplab",
                    .seed = (uint64_t)sg_fixture_scalar(fx, "cfg.seed"), .lr = (float)st[0],
                    .lr_multi = (float)st[1], .wd = (float)st[2], .grad_tol = GRAD_TOL_DL, .bn_tol = BN_TOL_DL};
}

static int classes_(const setup_ *s)
{
    return s->cfg.arch == SG_ALLSPARK_DEEPLAB ? s->cfg.deeplab.num_classes : s->cfg.seg.num_classes;
}

static int load_(sg_allspark_net *m, const setup_ *s, sg_err *err)
{
    return sg_fixture_load_weights(sg_allspark_net_params(m), s->weights, err);
}

static void copy_in_(const sg_fixture *fx, const char *key, sg_tensor *dst)
{
    sg_tensor *t = sg_fixture_tensor(fx, key, false);
    SG_CHECK(sg_numel(t) == sg_numel(dst), "%s: %zu elements, want %zu", key, sg_numel(t), sg_numel(dst));
    memcpy(dst->data, t->data, sg_numel(t) * sizeof(float));
    sg_tensor_free(t);
}

/* Many tensors against their records, one TAP line: each element passes
 * when |got - ref| <= tol * scale + floor + rtol |ref|, scale = max|ref -
 * base| (base NULL: max|ref|); `used` is the largest |got - ref| over its
 * bound, reported so that a log shows how close a run came. */
typedef struct {
    int n, bad;
    double used;
} tally_;

static void tally_add_(tally_ *t, const sg_fixture *fx, const char *key, const float *got, const float *base,
                       size_t n, double tol, double floor, double rtol)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    t->n++;
    if (m != n) {
        tap_diag("%s: %zu elements, fixture has %zu", key, n, m);
        t->bad++;
        return;
    }
    double scale = 0.0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i] - (base ? base[i] : 0.0)));
    const double atol = tol * scale + floor;
    for (size_t i = 0; i < n; i++) {
        const double bound = atol + rtol * fabs(ref[i]);
        if (bound > 0.0) t->used = fmax(t->used, fabs(got[i] - ref[i]) / bound);
    }
    t->bad += !sg_check_close(fx, key, got, n, atol, rtol);
}

static double term_(const sg_semi_terms *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->name[i], name) == 0) return t->value[i];
    return NAN;
}

/* The eval pass allspark_loss starts with, run on its own: logits and argmax. */
static void check_eval_(const sg_fixture *fx, const setup_ *s, sg_ctx *ctx, sg_allspark_net *net, sg_tensor *u,
                        double f)
{
    *sg_allspark_net_training(net) = false;
    const bool was = sg_ctx_set_grad(ctx, false);
    sg_tensor *logits = sg_allspark_net_forward(ctx, net, u, NULL, false, NULL);
    tally_ t = {0};
    tally_add_(&t, fx, "eval.logits", logits->data, NULL, sg_numel(logits), EVAL_TOL * f, 0.0, 0.0);
    tap_ok(t.bad == 0,
           "%s %s: eval-mode logits of the unlabeled crops match PyTorch (worst at %.2g of the bound)", s->label,
           g_be->name, t.used);
    sg_pseudo pl;
    sg_semi_pseudo_label(ctx, logits, NULL, &pl);
    size_t n;
    const double *want = sg_fixture_doubles(fx, "eval.pseudo", &n);
    int32_t *got = sg_xmalloc(sg_numel(pl.label) * sizeof *got);
    sg_tensor_read(pl.label, got);
    size_t diff = n == sg_numel(pl.label) ? 0 : n + 1;
    for (size_t i = 0; diff <= n && i < n; i++) diff += got[i] != (int32_t)want[i];
    free(got);
    tap_ok(diff == 0, "%s %s: pseudo-labels equal PyTorch's argmax (%zu of %zu pixels differ)", s->label,
           g_be->name, diff, n);
    sg_ctx_set_grad(ctx, was);
    *sg_allspark_net_training(net) = true;
    sg_ctx_reset(ctx);
}

/* One case: the step of the trainer (allspark.c's as_step_ and the run
 * driver's SGD) from the loaded weights and the case's memory. */
static void test_case_(const sg_fixture *fx, const setup_ *s, const char *name, const sg_batch *lab,
                       const sg_batch *unl, double f)
{
    char key[SG_PARAM_NAME_LEN + 32];
    sg_allspark_net net;
    sg_allspark_net_init(&net, &s->cfg, 7);
    sg_err err = {{0}};
    const int rc = load_(&net, s, &err);
    tap_ok(rc == 0, "%s %s %s: the tiny network loads PyTorch's state_dict strictly by name%s%s", s->label,
           g_be->name, name, rc ? ": " : "", rc ? err.msg : "");
    snprintf(key, sizeof key, "%s.mem0", name);
    copy_in_(fx, key, net.mod.kv_queue);
    snprintf(key, sizeof key, "%s.ptr0", name);
    copy_in_(fx, key, net.mod.queue_ptr);
    sg_param_set *ps = sg_allspark_net_params(&net);
    float **before = semi_check_snapshot(ps);
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    snprintf(key, sizeof key, "%s.use_memory", name);
    const bool use_memory = sg_fixture_scalar(fx, key) != 0.0;
    /* The memory case's eval pass is the same one (weights, BN statistics, crops). */
    if (!use_memory) check_eval_(fx, s, &ctx, &net, unl->img, f);

    snprintf(key, sizeof key, "%s.a", name);
    const sg_mit_noise noise = {.seed = s->seed, .a = (uint64_t)sg_fixture_scalar(fx, key)};
    const allspark_params hp = {.use_memory = use_memory, .ignore_padding = false};
    sg_semi_terms terms;
    sg_tensor *loss = allspark_loss(&ctx, &net, lab, unl, &hp, &noise, NULL, &terms);
    snprintf(key, sizeof key, "%s.terms", name);
    size_t nt;
    const double *ref = sg_fixture_doubles(fx, key, &nt);
    SG_CHECK(nt == 3, "%s has %zu entries (regenerate with %s)", key, nt, GEN);
    static const char *const term_names[3] = {"loss_x", "loss_u", "loss"};
    static const int term_at[3] = {1, 2, 0}; /* the record: loss, loss_x, loss_u */
    for (int i = 0; i < 3; i++) {
        const double got = term_(&terms, term_names[i]), want = ref[term_at[i]];
        tap_ok(fabs(got - want) <= TERM_TOL * f * fmax(1.0, fabs(want)), "%s %s %s: %s = %.7f, PyTorch %.7f",
               s->label, g_be->name, name, term_names[i], got, want);
    }

    sg_backward(&ctx, loss);
    /* The cases' records leave some parameters out (the generator says which and why). */
    tally_ grad = {0}, step = {0};
    for (int i = 0; i < ps->n_params; i++) {
        const sg_param *p = &ps->params[i];
        snprintf(key, sizeof key, "%s.grad.%s", name, p->name);
        if (!sg_fixture_has(fx, key)) continue;
        tally_add_(&grad, fx, key, p->t->grad, NULL, sg_numel(p->t), s->grad_tol * f, GRAD_ATOL * f, 0.0);
    }
    tap_ok(grad.bad == 0 && grad.n > 0,
           "%s %s %s: %d parameter gradients match PyTorch (%d off, worst at %.2g of the bound)", s->label,
           g_be->name, name, grad.n, grad.bad, grad.used);
    semi_check_sgd_step(ps, s->lr, s->lr_multi, s->wd);
    for (int i = 0; i < ps->n_params; i++) {
        const sg_param *p = &ps->params[i];
        snprintf(key, sizeof key, "%s.param.%s", name, p->name);
        if (!sg_fixture_has(fx, key)) continue;
        tally_add_(&step, fx, key, p->t->data, before[i], sg_numel(p->t), STEP_TOL * f, 0.0, VALUE_RTOL);
    }
    tap_ok(step.bad == 0 && step.n > 0,
           "%s %s %s: %d parameters after the SGD step (backbone lr, the rest lr x lr_multi) match PyTorch "
           "(%d off, worst at %.2g of the bound)", s->label, g_be->name, name, step.n, step.bad, step.used);

    tally_ bn = {0}, mem = {0};
    int ptr_ok = 0;
    for (int i = 0; i < ps->n_buffers; i++) {
        const sg_param *b = &ps->buffers[i];
        snprintf(key, sizeof key, "%s.buf.%s", name, b->name);
        if (b->t == net.mod.queue_ptr)
            ptr_ok = sg_check_close(fx, key, b->t->data, sg_numel(b->t), 0.0, 0.0);
        else
            tally_add_(b->t == net.mod.kv_queue ? &mem : &bn, fx, key, b->t->data, NULL, sg_numel(b->t),
                       (b->t == net.mod.kv_queue ? MEM_TOL : s->bn_tol) * f, 0.0, 0.0);
    }
    /* Every buffer but the memory and its pointers is a BN running statistic. */
    tap_ok(bn.bad == 0 && bn.n == ps->n_buffers - 2,
           "%s %s %s: all %d BN running statistics after the step match PyTorch (worst at %.2g of the bound)",
           s->label, g_be->name, name, bn.n, bn.used);
    tap_ok(mem.bad == 0 && mem.n == 1,
           "%s %s %s: the memory (kv_queue) after the enqueue matches PyTorch's (worst at %.2g of the bound)",
           s->label, g_be->name, name, mem.used);
    tap_ok(ptr_ok, "%s %s %s: queue_ptr after the enqueue equals PyTorch's", s->label, g_be->name, name);

    semi_check_snapshot_free(before, ps->n_params);
    sg_ctx_free(&ctx);
    sg_allspark_net_free(&net);
}

/* ---- the config line ------------------------------------------------------------------------ */

static void test_config_line_(void)
{
    /* MiT-B2 with a non-default head width, the VOC crop's tokens. */
    sg_allspark_net_config c = {.variant = 2, .seg = sg_segformer_config_preset(2, 21), .heads = 4,
                                .dropout = 0.1f, .tokens = sg_allspark_tokens(513)};
    c.seg.embed_dim = 512;
    char line[256], again[256];
    sg_allspark_net_config_format(&c, line, sizeof line);
    sg_allspark_net_config p;
    sg_err err = {{0}};
    const int rc = sg_allspark_net_config_parse(line, &p, &err);
    sg_allspark_net_config_format(&p, again, sizeof again);
    const sg_mit_config *a = &c.seg.backbone, *b = &p.seg.backbone;
    const bool same = rc == 0 && p.variant == 2 && p.seg.embed_dim == 512 && p.seg.num_classes == 21 && p.heads == 4 &&
                      p.tokens == 289 && memcmp(a->embed_dims, b->embed_dims, sizeof a->embed_dims) == 0 &&
                      memcmp(a->num_heads, b->num_heads, sizeof a->num_heads) == 0 &&
                      memcmp(a->depths, b->depths, sizeof a->depths) == 0 &&
                      memcmp(a->sr_ratios, b->sr_ratios, sizeof a->sr_ratios) == 0 && a->mlp_ratio == b->mlp_ratio &&
                      strcmp(line, again) == 0;
    tap_ok(same, "config line '%s' parses back to the same architecture%s%s", line, rc ? ": " : "", rc ? err.msg : "");

    static const struct {
        const char *line, *want[2];
    } bad[] = {
        {"arch=allspark mit=7 embed_dim=256 classes=21 heads=2 tokens=289", {"'7'", "mit"}},
        {"arch=allspark mit=0 embed_dim=256 classes=21 heads=2", {"'tokens'", "missing"}},
        {"arch=allspark mit=0 embed_dim=256 classes=21 heads=2 tokens=289 depth=3", {"unknown key", "'depth'"}},
        {"arch=segformer mit=0 embed_dim=256 classes=21 heads=2 tokens=289", {"'segformer'", "allspark"}},
        {"arch=allspark mit", {"'mit'", "key=value"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        const int r = sg_allspark_net_config_parse(bad[i].line, &p, &err);
        tap_ok(r != 0 && strstr(err.msg, bad[i].want[0]) && strstr(err.msg, bad[i].want[1]),
               "config line '%s' is refused: %s", bad[i].line, err.msg);
    }
}

/* The DeepLabV3+ kind's line: the round trip of a VOC-size network (OS16 at
 * the 513 crop: c4 33 x 33) and the demo's (OS8 at 64: c4 8 x 8), whose
 * token counts come from sg_allspark_deeplab_tokens; then the errors. */
static void test_config_line_deeplab_(void)
{
    sg_allspark_net_config c = {.arch = SG_ALLSPARK_DEEPLAB, .deeplab = sg_deeplab_config_default(101, 21),
                                .heads = 2, .dropout = 0.1f};
    c.tokens = sg_allspark_deeplab_tokens(&c.deeplab, 513);
    sg_deeplab_config demo = sg_deeplab_config_default(18, 7);
    demo.backbone.output_stride = 8;
    const int demo_tokens = sg_allspark_deeplab_tokens(&demo, 64);
    tap_ok(c.tokens == 33 * 33 && demo_tokens == 8 * 8,
           "DeepLabV3+ tokens: %d at crop 513 on OS16 (want 33 x 33), %d at crop 64 on OS8 (want 8 x 8)", c.tokens,
           demo_tokens);
    char line[512], again[512];
    sg_allspark_net_config_format(&c, line, sizeof line);
    sg_allspark_net_config p;
    sg_err err = {{0}};
    const int rc = sg_allspark_net_config_parse(line, &p, &err);
    sg_allspark_net_config_format(&p, again, sizeof again);
    char dl[400], dl_again[400];
    sg_deeplab_config_format(&c.deeplab, dl, sizeof dl);
    sg_deeplab_config_format(&p.deeplab, dl_again, sizeof dl_again);
    const bool same = rc == 0 && p.arch == SG_ALLSPARK_DEEPLAB && p.heads == 2 && p.tokens == 33 * 33 &&
                      strcmp(dl, dl_again) == 0 && strcmp(line, again) == 0 &&
                      strncmp(line, "arch=allspark_deeplab depth=101 ", 32) == 0;
    tap_ok(same, "config line '%s' parses back to the same architecture%s%s", line, rc ? ": " : "", rc ? err.msg : "");

    /* The DeepLabV3+'s words of a tiny network, with the module's around them. */
#define DL_WORDS "depth=18 widths=2,4,4,8 stem=torchvision os=8 multi_grid=0 aspp=4 rates=1,2,3 reduce=2 decoder=4"
    static const struct {
        const char *line, *want[2];
    } bad[] = {
        {"arch=allspark_deeplab " DL_WORDS " classes=5 heads=2", {"'tokens'", "missing"}},
        {"arch=allspark_deeplab " DL_WORDS " heads=2 tokens=9", {"'classes'", "missing"}},
        {"arch=allspark_deeplab " DL_WORDS " classes=5 heads=2 tokens=9 heads=3", {"'heads'", "twice"}},
        {"arch=allspark_deeplab " DL_WORDS " classes=5 heads=0 tokens=9", {"'0'", "heads"}},
        {"arch=allspark_deeplab " DL_WORDS " classes=5 heads=2 tokens=9 mit=0", {"unknown key", "'mit'"}},
        {"arch=allspark_deeplab depth=19 widths=2,4,4,8 stem=torchvision os=8 multi_grid=0 aspp=4 rates=1,2,3 "
         "reduce=2 decoder=4 classes=5 heads=2 tokens=9", {"depth 19", "18, 34, 50 or 101"}},
    };
#undef DL_WORDS
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        const int r = sg_allspark_net_config_parse(bad[i].line, &p, &err);
        tap_ok(r != 0 && strstr(err.msg, bad[i].want[0]) && strstr(err.msg, bad[i].want[1]),
               "config line '%s' is refused: %s", bad[i].line, err.msg);
    }
}

/* ---- other input sizes -------------------------------------------------------------------- */

/* c4's size for an h x w input: MiT's padded stride 32, or the ResNet's. */
static void c4_hw_(const setup_ *s, int h, int w, int *h4, int *w4)
{
    if (s->cfg.arch == SG_ALLSPARK_DEEPLAB) {
        int hw[4][2];
        sg_resnet_cost(&s->cfg.deeplab.backbone, h, w, hw);
        *h4 = hw[3][0], *w4 = hw[3][1];
    } else {
        *h4 = (h + 31) / 32, *w4 = (w + 31) / 32;
    }
}

/* A 40 x 100 input: c4 2 x 4 on MiT (8 tokens against the memory's 9), 5 x
 * 13 on the OS8 ResNet (65 against 9). */
static sg_tensor *odd_input_(sg_ctx *ctx, int n)
{
    sg_tensor *x = sg_tensor_new(ctx, SG_F32, 4, (const int[]){n, 3, 40, 100});
    sg_rng r;
    sg_rng_init(&r, 3, sg_rng_stream(SG_RNG_TEST, 0, 0));
    for (size_t i = 0; i < sg_numel(x); i++) x->data[i] = sg_rng_normal(&r);
    return x;
}

static void test_eval_any_size_(const setup_ *s)
{
    sg_allspark_net net;
    sg_allspark_net_init(&net, &s->cfg, 7);
    sg_err err = {{0}};
    SG_CHECK(load_(&net, s, &err) == 0, "%s", err.msg);
    *sg_allspark_net_training(&net) = false;
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_ctx_set_grad(&ctx, false);
    sg_tensor *y = sg_allspark_net_forward(&ctx, &net, odd_input_(&ctx, 1), NULL, false, NULL);
    bool finite = true;
    for (size_t i = 0; i < sg_numel(y); i++) finite &= isfinite(y->data[i]) != 0;
    int h4, w4;
    c4_hw_(s, 40, 100, &h4, &w4);
    tap_ok(y->ndim == 4 && y->shape[0] == 1 && y->shape[1] == classes_(s) && y->shape[2] == 40 &&
               y->shape[3] == 100 && finite,
           "%s: eval on a 40 x 100 input (c4 %d x %d, not the memory's %d tokens) gives finite logits at the "
           "input size", s->label, h4, w4, s->cfg.tokens);
    sg_ctx_free(&ctx);
    sg_allspark_net_free(&net);
}

/* The trainer's step on such crops: the module's training path refuses them.
 * It runs the encoder first, in a child forked after the parent's OpenMP
 * team exists, which libgomp cannot use there (the child waits for it
 * forever): one thread. */
static void train_odd_size_(void *arg)
{
    const setup_ *s = arg;
    sg_set_num_threads(1);
    sg_allspark_net net;
    sg_allspark_net_init(&net, &s->cfg, 7);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    sg_tensor *x = odd_input_(&ctx, 2);
    sg_tensor *mask = sg_tensor_new(&ctx, SG_I32, 3, (const int[]){2, 40, 100});
    memset(mask->i32, 0, sg_numel(mask) * sizeof(int32_t));
    const sg_batch lab = {.n = 2, .img = x, .img_s1 = x, .mask = mask}, unl = {.n = 2, .img = x};
    const allspark_params hp = {0};
    const sg_mit_noise noise = {.seed = 1, .a = 0};
    sg_semi_terms terms;
    allspark_loss(&ctx, &net, &lab, &unl, &hp, &noise, NULL, &terms);
}

static void test_train_odd_size_(const setup_ *s)
{
    sg_allspark_net net;
    sg_allspark_net_init(&net, &s->cfg, 7);
    const int c4 = net.mod.cfg.in_channels;
    sg_allspark_net_free(&net);
    int h4, w4;
    c4_hw_(s, 40, 100, &h4, &w4);
    char shape[64];
    snprintf(shape, sizeof shape, "[4, %d, %d, %d]", c4, h4, w4);
    char tokens[32];
    snprintf(tokens, sizeof tokens, "%d tokens", s->cfg.tokens);
    const char *want[3] = {"sg_allspark_forward", tokens, shape};
    tap_ok(sg_expect_abort(train_odd_size_, (void *)s, want, 3),
           "%s: a training step on 40 x 100 crops aborts naming the module, its %d tokens and the c4 shape %s",
           s->label, s->cfg.tokens, shape);
}

/* A network kind that is neither aborts at init. */
static void init_bad_arch_(void *arg)
{
    (void)arg;
    sg_allspark_net_config c = {.arch = (sg_allspark_arch)7, .heads = 2, .tokens = 9};
    sg_allspark_net net;
    sg_allspark_net_init(&net, &c, 0);
}

/* One network's cases: the training iteration with keys from the batch and
 * from the memory on each CPU path, then the other input sizes. */
static void test_network_(const char *fixture, setup_ (*setup)(const sg_fixture *))
{
    sg_fixture *fx = sg_fixture_open(fixture, GEN);
    setup_ s = setup(fx);
    sg_tensor *x = sg_fixture_tensor(fx, "x", false), *mask = sg_fixture_tensor(fx, "mask", false),
              *u = sg_fixture_tensor(fx, "u", false);
    /* The padding mask (unused: ignore_padding is off, as released) where the fixture has one. */
    sg_tensor *ign = sg_fixture_has(fx, "ign") ? sg_fixture_tensor(fx, "ign", false) : NULL;
    /* The labeled crop stands for its own strong view (AllSpark trains on img_s1). */
    const sg_batch lab = {.n = x->shape[0], .img = x, .img_s1 = x, .mask = mask};
    const sg_batch unl = {.n = u->shape[0], .img = u, .ignore = ign};
    g_be = sg_backend_cpu_reference();
    test_case_(fx, &s, "batch", &lab, &unl, 1.0);
    test_case_(fx, &s, "memory", &lab, &unl, 1.0);
    if (sg_backend_cpu_dnnl() != NULL) {
        g_be = sg_backend_cpu_dnnl();
        test_case_(fx, &s, "batch", &lab, &unl, FAST_FACTOR);
        test_case_(fx, &s, "memory", &lab, &unl, FAST_FACTOR);
    }
    test_eval_any_size_(&s);
    test_train_odd_size_(&s);
    sg_tensor_free(x);
    sg_tensor_free(mask);
    sg_tensor_free(u);
    if (ign) sg_tensor_free(ign);
    sg_fixture_close(fx);
}

int main(void)
{
    test_config_line_();
    test_config_line_deeplab_();
    test_network_("allspark.bin", setup_segformer_);
    test_network_("allspark_deeplab.bin", setup_deeplab_);
    const char *want[1] = {"neither SegFormer nor DeepLabV3+"};
    tap_ok(sg_expect_abort(init_bad_arch_, NULL, want, 1), "a network kind that is neither aborts at init");
    return tap_done();
}
