/*
 * test_mit.c: the MiT encoder and the SegFormer head (mit.h) against
 * PyTorch (tests/ref/gen_mit.py -> tests/data/mit.bin and
 * tests/data/segformer_tiny.safetensors, mit_imagenet_tiny.safetensors):
 * - a tiny SegFormer loads the PyTorch state_dict strictly by name (the
 *   released names), then one training-mode pass (BN batch statistics,
 *   drop-path and Dropout2d masks from Philox) matches the logits, c1..c4,
 *   the fused feature, the CE loss, every parameter gradient and the BN
 *   running statistics; an eval-mode pass matches the logits;
 * - SegFormer's ImageNet-style encoder file (no prefix, classifier head.*)
 *   loads through sg_pretrained_load_mit into the backbone only; a file with
 *   a missing and an unknown name fails naming both, leaving the set as it was;
 * - MiT-B0's parameter count equals PyTorch's, the init draws have the
 *   released moments, bad configurations and calls abort.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expect_abort.h"
#include "fixture.h"
#include "semiseg/checkpoint.h"
#include "semiseg/mit.h"
#include "tap.h"

#define GEN "tests/ref/gen_mit.py"

/* Tolerances, as test_model.c's: the reference is float64, so the error
 * is semiseg's float32 rounding through ~70 ops; compared with the largest
 * magnitude of each tensor (atol = TOL * max|ref|), since a network's
 * rounding scales with the tensor, not each element. Worst cases observed,
 * as a fraction of the tensor's maximum (PyTorch float32 itself, against
 * the same float64 reference, in brackets):
 *   logits, features, c1..c4   1.0e-5
 *   gradients                  2.5e-4 (2.1e-4), block3.0.attn.q.bias: two
 *                              keys per softmax and 8 queries, so its sum
 *                              cancels
 *   running statistics         1.0e-6
 * The bounds sit 4-100x above; a wrong eps moves the logits by ~1e-3 of
 * their maximum, a dropped mask or a swapped k/v by O(1). */
#define OUT_TOL 1e-4
#define LOSS_RTOL 1e-5
#define GRAD_TOL 1e-3
#define BUF_TOL 1e-4
/* Biases that feed a batch-statistics normalisation (the head's linear_c*
 * biases before linear_fuse's BN, norm4's bias before them) have a zero
 * true gradient (1e-17 in float64); float32 leaves ~4e-8 of cancelling
 * sums there, so gradients also get 1e-6 absolute (the other gradients
 * here are 1e-3..1). */
#define GRAD_ATOL 1e-6

static char dir[256];
/* The backend the parity passes run on. */
static const sg_backend *g_be;

/* got vs the record with atol = floor + tol * max|ref|. */
static int close_scaled_floor_(const sg_fixture *fx, const char *key, const float *got, size_t n,
                               double tol, double floor)
{
    size_t m;
    const double *ref = sg_fixture_doubles(fx, key, &m);
    double scale = 0.0;
    for (size_t i = 0; i < m; i++) scale = fmax(scale, fabs(ref[i]));
    return sg_check_close(fx, key, got, n, floor + tol * scale, 0.0);
}

static int close_scaled_(const sg_fixture *fx, const char *key, const float *got, size_t n,
                         double tol)
{
    return close_scaled_floor_(fx, key, got, n, tol, 0.0);
}

/* Loads the whole PyTorch state_dict by name, strictly. */
static int load_full_(sg_segformer *m, sg_err *err)
{
    return sg_fixture_load_weights(&m->params, "segformer_tiny.safetensors", err);
}

static void test_parity(const sg_fixture *fx)
{
    sg_segformer_config cfg = sg_fixture_segformer_config(fx);
    sg_segformer m;
    sg_segformer_init(&m, &cfg, 99);
    sg_err err = {{0}};
    int rc = load_full_(&m, &err);
    tap_ok(rc == 0, "tiny SegFormer loads PyTorch's state_dict strictly by the released names%s%s",
           rc ? ": " : "", rc ? err.msg : "");

    sg_tensor *x = sg_fixture_tensor(fx, "x", false);
    sg_tensor *labels = sg_fixture_tensor(fx, "labels", false);
    size_t n;
    const double *misc = sg_fixture_doubles(fx, "cfg.misc", &n);
    const sg_mit_noise noise = {.seed = (uint64_t)misc[5],
                                .a = (uint64_t)sg_fixture_scalar(fx, "cfg.a")};
    sg_ctx ctx;
    sg_ctx_init_on(&ctx, g_be);
    sg_segformer_out out;
    sg_segformer_forward(&ctx, &m, x, &noise, &out);
    tap_ok(close_scaled_(fx, "train.logits", out.logits->data, sg_numel(out.logits), OUT_TOL),
           "%s: training-mode logits (drop-path, Dropout2d, BN batch statistics) match PyTorch",
           g_be->name);
    int ok = close_scaled_(fx, "train.feature", out.feature->data, sg_numel(out.feature), OUT_TOL);
    for (int s = 0; s < 4; s++) {
        char key[32];
        snprintf(key, sizeof key, "train.c%d", s + 1);
        ok &= close_scaled_(fx, key, out.feats[s]->data, sg_numel(out.feats[s]), OUT_TOL);
    }
    tap_ok(ok, "%s: c1..c4 and the fused decoder feature match PyTorch", g_be->name);
    sg_tensor *loss = sg_cross_entropy(&ctx, out.logits, labels, NULL, 255, SG_REDUCE_MEAN);
    const double want = sg_fixture_scalar(fx, "train.loss");
    tap_ok(fabs(loss->data[0] - want) <= LOSS_RTOL * fabs(want), "CE loss %.7f matches PyTorch's %.7f",
           (double)loss->data[0], want);
    sg_backward(&ctx, loss);
    int bad = 0;
    for (int i = 0; i < m.params.n_params; i++) {
        const sg_param *p = &m.params.params[i];
        char key[SG_PARAM_NAME_LEN + 8];
        snprintf(key, sizeof key, "grad.%s", p->name);
        if (!close_scaled_floor_(fx, key, p->t->grad, sg_numel(p->t), GRAD_TOL, GRAD_ATOL)) bad++;
    }
    tap_ok(bad == 0, "%s: all %d parameter gradients match PyTorch (%d off)", g_be->name,
           m.params.n_params, bad);
    tap_ok(close_scaled_(fx, "train.running_mean", m.fuse.mean->data, sg_numel(m.fuse.mean), BUF_TOL) &&
               close_scaled_(fx, "train.running_var", m.fuse.var->data, sg_numel(m.fuse.var), BUF_TOL),
           "linear_fuse BN running statistics after the pass match PyTorch");
    sg_ctx_free(&ctx);

    /* Eval mode from the loaded weights: running statistics, no drop-path or dropout. */
    rc = load_full_(&m, &err);
    m.training = false;
    sg_ctx_init_on(&ctx, g_be);
    sg_ctx_set_grad(&ctx, false);
    sg_segformer_forward(&ctx, &m, x, NULL, &out);
    tap_ok(rc == 0 && close_scaled_(fx, "eval.logits", out.logits->data, sg_numel(out.logits), OUT_TOL),
           "%s: eval-mode logits match PyTorch", g_be->name);
    sg_ctx_free(&ctx);
    sg_tensor_free(x);
    sg_tensor_free(labels);
    sg_segformer_free(&m);
}

/* Every backbone entry of a equals b's bit for bit; the head entries of a
 * are unchanged from `before`. */
static int backbone_equal_(const sg_segformer *a, const sg_segformer *b)
{
    int same = 1;
    for (int i = 0; i < a->params.n_params; i++) {
        const sg_param *p = &a->params.params[i], *q = &b->params.params[i];
        if (strncmp(p->name, "backbone.", 9) == 0)
            same &= memcmp(p->t->data, q->t->data, sg_numel(p->t) * sizeof(float)) == 0;
    }
    return same;
}

static void test_pretrained(const sg_fixture *fx)
{
    sg_segformer_config cfg = sg_fixture_segformer_config(fx);
    sg_segformer ref, m, fresh;
    sg_segformer_init(&ref, &cfg, 99);
    sg_err err = {{0}};
    load_full_(&ref, &err);
    sg_segformer_init(&m, &cfg, 5);
    sg_segformer_init(&fresh, &cfg, 5);
    char path[512];
    sg_fixture_path(path, sizeof path, "mit_imagenet_tiny.safetensors");
    int rc = sg_pretrained_load_mit(&m.params, "backbone.", path, &err);
    int head_same = 1;
    for (int i = 0; i < m.params.n_params; i++) {
        const sg_param *p = &m.params.params[i], *q = &fresh.params.params[i];
        if (strncmp(p->name, "decode_head.", 12) == 0)
            head_same &= memcmp(p->t->data, q->t->data, sg_numel(p->t) * sizeof(float)) == 0;
    }
    tap_ok(rc == 0 && backbone_equal_(&m, &ref) && head_same,
           "ImageNet-style MiT file (patch_embed1.proj.weight ..., classifier head.* skipped) "
           "loads into the backbone only%s%s", rc ? ": " : "", rc ? err.msg : "");

    /* The same file less one entry, plus an unknown one. */
    sg_st_writer w;
    sg_st_writer_init(&w);
    char names[512][SG_PARAM_NAME_LEN];
    int n = 0;
    for (int i = 0; i < ref.params.n_params; i++) {
        const sg_param *p = &ref.params.params[i];
        if (strncmp(p->name, "backbone.", 9) != 0 ||
            strcmp(p->name, "backbone.block2.1.attn.kv.weight") == 0)
            continue;
        SG_CHECK(n < 512, "too many entries");
        snprintf(names[n], sizeof names[n], "%s", p->name + 9);
        sg_st_add_tensor(&w, names[n++], p->t);
    }
    sg_st_add_tensor(&w, "block2.1.attn.qkv.weight", ref.params.params[0].t);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad_mit.safetensors", dir);
    SG_CHECK(sg_st_write(&w, bad, &err) == 0, "%s", err.msg);
    sg_st_writer_free(&w);
    sg_segformer_free(&m);
    sg_segformer_init(&m, &cfg, 5);
    rc = sg_pretrained_load_mit(&m.params, "backbone.", bad, &err);
    tap_ok(rc != 0 && strstr(err.msg, "block2.1.attn.kv.weight") &&
               strstr(err.msg, "block2.1.attn.qkv.weight") && backbone_equal_(&m, &fresh),
           "a MiT file missing one name and carrying an unknown one is refused naming both, the "
           "set unchanged: %s", err.msg);
    unlink(bad);
    sg_segformer_free(&ref);
    sg_segformer_free(&m);
    sg_segformer_free(&fresh);
}

/* ---- structure, init, misuse ---------------------------------------------------------------- */
static void test_b0(const sg_fixture *fx)
{
    sg_segformer_config cfg = sg_segformer_config_preset(0, 19);
    sg_segformer m;
    sg_segformer_init(&m, &cfg, 3);
    size_t backbone = 0;
    for (int i = 0; i < m.params.n_params; i++)
        if (strncmp(m.params.params[i].name, "backbone.", 9) == 0)
            backbone += sg_numel(m.params.params[i].t);
    const double want = sg_fixture_scalar(fx, "count.b0");
    tap_ok((double)backbone == want, "MiT-B0 has %zu parameters, PyTorch's mit_b0 %.0f", backbone,
           want);
    /* Moments of the init over the whole encoder: Linear weights N(0, 0.02^2),
     * the depthwise convs N(0, 2/9), LayerNorm weights 1, biases 0. */
    double s_lin = 0, ss_lin = 0, ss_dw = 0;
    size_t n_lin = 0, n_dw = 0;
    int consts_ok = 1;
    for (int i = 0; i < m.params.n_params; i++) {
        const sg_param *p = &m.params.params[i];
        if (strncmp(p->name, "backbone.", 9) != 0) continue;
        const size_t k = sg_numel(p->t);
        const bool lin = strstr(p->name, ".weight") && p->t->ndim == 2;
        const bool dw = strstr(p->name, "dwconv.weight") != NULL;
        for (size_t e = 0; e < k; e++) {
            const double v = p->t->data[e];
            if (lin) s_lin += v, ss_lin += v * v, n_lin++;
            if (dw) ss_dw += v * v, n_dw++;
        }
        if (p->t->ndim == 1)
            for (size_t e = 0; e < k; e++)
                consts_ok &= p->t->data[e] == (strstr(p->name, "norm") && strstr(p->name, ".weight") ? 1.0f : 0.0f);
    }
    const double sd_lin = sqrt(ss_lin / n_lin), sd_dw = sqrt(ss_dw / n_dw);
    tap_ok(fabs(s_lin / n_lin) < 1e-4 && fabs(sd_lin - 0.02) < 2e-4 &&
               fabs(sd_dw - sqrt(2.0 / 9.0)) < 0.01 * sqrt(2.0 / 9.0) && consts_ok,
           "MiT-B0 init: Linear std %.5f (0.02), depthwise std %.4f (%.4f), norms 1/0, biases 0",
           sd_lin, sd_dw, sqrt(2.0 / 9.0));
    sg_segformer_free(&m);
    const int depths[6][4] = {{2, 2, 2, 2}, {2, 2, 2, 2}, {3, 4, 6, 3},
                              {3, 4, 18, 3}, {3, 8, 27, 3}, {3, 6, 40, 3}};
    int presets_ok = 1;
    for (int v = 0; v < 6; v++) {
        sg_segformer_config c = sg_segformer_config_preset(v, 21);
        for (int s = 0; s < 4; s++) presets_ok &= c.backbone.depths[s] == depths[v][s];
        presets_ok &= c.backbone.embed_dims[3] == (v == 0 ? 256 : 512) &&
                      c.embed_dim == (v <= 1 ? 256 : 768) && c.backbone.num_heads[2] == 5 &&
                      c.backbone.sr_ratios[0] == 8 && c.backbone.drop_path_rate == 0.1f;
    }
    tap_ok(presets_ok, "MiT-B0..B5 presets: depths, widths, heads, sr ratios, head width as released");
}

static void bad_heads_(void *arg)
{
    (void)arg;
    sg_segformer_config c = sg_segformer_config_preset(0, 5);
    c.backbone.num_heads[1] = 3;
    sg_segformer m;
    sg_segformer_init(&m, &c, 1);
}

static void no_noise_(void *arg)
{
    (void)arg;
    sg_segformer_config c = sg_segformer_config_preset(0, 5);
    c.backbone.depths[2] = 1;
    sg_segformer m;
    sg_segformer_init(&m, &c, 1);
    sg_ctx ctx;
    sg_ctx_init(&ctx);
    int xs[4] = {1, 3, 64, 64};
    sg_segformer_out out;
    sg_segformer_forward(&ctx, &m, sg_tensor_new(&ctx, SG_F32, 4, xs), NULL, &out);
}

static void bad_preset_(void *arg)
{
    (void)arg;
    sg_mit_config_preset(6);
}

static void test_misuse(void)
{
    const char *e1[] = {"MiT stage 2", "64 channels", "3 heads"};
    tap_ok(sg_expect_abort(bad_heads_, NULL, e1, 3), "64 channels in 3 heads abort naming the stage");
    const char *e2[] = {"sg_segformer_forward", "noise"};
    tap_ok(sg_expect_abort(no_noise_, NULL, e2, 2), "a training-mode forward without noise aborts");
    const char *e3[] = {"MiT-B6"};
    tap_ok(sg_expect_abort(bad_preset_, NULL, e3, 1), "MiT-B6 is refused");
}

/* The checkpoint line of a plain SegFormer: round trip, refusals. */
static void test_line(void)
{
    sg_segformer_config c = sg_segformer_config_preset(2, 21), p;
    c.embed_dim = 512;
    char line[256], again[256];
    int variant = -1;
    sg_err err = {{0}};
    sg_segformer_line_format(2, &c, line, sizeof line);
    const int rc = sg_segformer_line_parse(line, &variant, &p, &err);
    sg_segformer_line_format(variant, &p, again, sizeof again);
    tap_ok(rc == 0 && variant == 2 && p.embed_dim == 512 && p.num_classes == 21 &&
               memcmp(p.backbone.depths, c.backbone.depths, sizeof c.backbone.depths) == 0 &&
               memcmp(p.backbone.embed_dims, c.backbone.embed_dims, sizeof c.backbone.embed_dims) == 0 &&
               strcmp(line, again) == 0,
           "SegFormer line '%s' parses back to the same network%s%s", line, rc ? ": " : "", rc ? err.msg : "");
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"arch=allspark mit=0 embed_dim=256 classes=7", "'allspark'"},
        {"arch=segformer mit=6 embed_dim=256 classes=7", "'6'"},
        {"arch=segformer mit=0 embed_dim=256", "'classes'"},
        {"arch=segformer mit=0 embed_dim=256 classes=7 heads=2", "'heads'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        tap_ok(sg_segformer_line_parse(bad[i].line, &variant, &p, &err) != 0 && strstr(err.msg, bad[i].want),
               "SegFormer line '%s' is refused: %s", bad[i].line, err.msg);
    }
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/semiseg-mit.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    sg_fixture *fx = sg_fixture_open("mit.bin", GEN);
    g_be = sg_backend_cpu_reference();
    test_parity(fx);
    if (sg_backend_cpu_dnnl()) {
        g_be = sg_backend_cpu_dnnl();
        test_parity(fx);
    }
    test_pretrained(fx);
    test_b0(fx);
    test_misuse();
    test_line();
    sg_fixture_close(fx);
    rmdir(dir);
    return tap_done();
}
