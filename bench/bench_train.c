/*
 * bench_train.c: the C side of `make bench` (bench/run_bench.sh runs it
 * interleaved with bench/bench_train.py, the PyTorch reference on the same
 * model, input and thread count).
 *
 *   bench/bench_train --workload fwd|a|b --threads T [--steps S] [--warmup W]
 *                     [--path fast|reference]
 *
 * Model: DeepLabV3+ on ResNet-18 (torchvision stem) with widths 32-64-128-256,
 * output stride 16, ASPP 128 channels at 6/12/18, reduce 48, decoder 128,
 * 21 classes; input 8 x 3 x 128 x 128. Workloads (as bench_train.py):
 *   fwd  forward only, train-mode BN, nothing recorded;
 *   a    forward + cross-entropy (ignore 255) + backward + SGD step;
 *   b    one UniMatch iteration (spec-a section 4.3): eval-mode forward of the
 *        mix source's weak views without recording, CutMix of the strong
 *        views, forward of labeled+weak with the feature perturbation, forward
 *        of the two strong views, the four losses, one backward, one step.
 * Prints one line: `c <workload> threads=T median_s=.. img_per_s=.. rss_mb=..
 * gflops=..` (median step time after warm-up, peak RSS of the process, and
 * the nominal convolution FLOP rate: 2 x multiply-adds, x3 for a step with
 * backward, per sg_deeplab_cost).
 */
#include "semiseg.h"
#include "semiseg/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define B 8
#define S 128
#define K 21
#define THRESH 0.95f

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double_(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sg_tensor *images_(uint64_t stream)
{
    sg_tensor *t = sg_tensor_alloc(SG_F32, 4, (const int[]){B, 3, S, S}, false);
    sg_rng r;
    sg_rng_init(&r, 1, sg_rng_stream(SG_RNG_TEST, 9, stream));
    sg_rng_fill_normal(&r, t->data, sg_numel(t), 0.0f, 1.0f);
    return t;
}

/* A (B, S, S) int map: value `inside` in rows [r0, r1) x cols [c0, c1), else `outside`. */
static sg_tensor *rect_map_(int r0, int r1, int c0, int c1, int inside, int outside)
{
    sg_tensor *t = sg_tensor_alloc(SG_I32, 3, (const int[]){B, S, S}, false);
    for (int n = 0; n < B; n++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                t->i32[((size_t)n * S + y) * S + x] =
                    (y >= r0 && y < r1 && x >= c0 && x < c1) ? inside : outside;
    return t;
}

/* Per pixel of logits (N, K, H, W): softmax confidence and argmax. */
static void confidence_(const sg_tensor *logits, float *conf, int32_t *label)
{
    int N = logits->shape[0], C = logits->shape[1];
    size_t HW = (size_t)logits->shape[2] * logits->shape[3];
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (size_t p = 0; p < HW; p++) {
            const float *l = logits->data + (size_t)n * C * HW + p;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (l[c * HW] > l[best * HW]) best = c;
            double z = 0.0;
            for (int c = 0; c < C; c++) z += exp((double)(l[c * HW] - l[best * HW]));
            conf[(size_t)n * HW + p] = (float)(1.0 / z);
            label[(size_t)n * HW + p] = best;
        }
}

typedef struct {
    sg_deeplab model;
    sg_sgd opt;
    sg_ctx ctx;
    sg_tensor *x, *y, *u_w, *u_s1, *u_s2, *m_w, *m_s1, *m_s2, *ign, *box1, *box2;
} bench;

static void step_fwd_(bench *b)
{
    b->model.training = true;
    bool prev = sg_ctx_set_grad(&b->ctx, false);
    sg_deeplab_out out;
    sg_deeplab_forward(&b->ctx, &b->model, b->x, NULL, &out);
    sg_ctx_set_grad(&b->ctx, prev);
    sg_ctx_reset(&b->ctx);
}

static void optimizer_step_(bench *b, sg_tensor *loss)
{
    sg_param_zero_grad(&b->model.params);
    sg_backward(&b->ctx, loss);
    sg_sgd_step(&b->opt, &b->model.params, 0.001f);
    sg_ctx_reset(&b->ctx);
}

static void step_a_(bench *b)
{
    b->model.training = true;
    sg_deeplab_out out;
    sg_deeplab_forward(&b->ctx, &b->model, b->x, NULL, &out);
    optimizer_step_(b, sg_cross_entropy(&b->ctx, out.logits, b->y, NULL, 255, SG_REDUCE_MEAN));
}

/* sum_p ce_p [conf_p >= tau][ign_p != 255] / #[ign_p != 255] (UniMatch's L_s / L_fp). */
static sg_tensor *unsup_loss_(sg_ctx *ctx, sg_tensor *logits, const int32_t *label, const float *conf,
                              const int32_t *ign)
{
    size_t n = (size_t)B * S * S, valid = 0;
    sg_tensor *t = sg_tensor_new(ctx, SG_I32, 3, (const int[]){B, S, S});
    sg_tensor *w = sg_tensor_new(ctx, SG_F32, 3, (const int[]){B, S, S});
    for (size_t i = 0; i < n; i++) {
        t->i32[i] = label[i];
        w->data[i] = (conf[i] >= THRESH && ign[i] != 255) ? 1.0f : 0.0f;
        valid += ign[i] != 255;
    }
    sg_tensor *sum = sg_cross_entropy(ctx, logits, t, w, -1, SG_REDUCE_SUM);
    return sg_scale(ctx, sum, 1.0f / (float)(valid ? valid : 1));
}

static void step_b_(bench *b)
{
    sg_ctx *ctx = &b->ctx;
    size_t HW = (size_t)S * S, n = (size_t)B * HW;
    float *conf_mix = sg_arena_alloc(&ctx->arena, n * sizeof(float));
    int32_t *mask_mix = sg_arena_alloc(&ctx->arena, n * sizeof(int32_t));

    /* 1. Mix source: eval-mode BN, nothing recorded; its activations are
     * given back as soon as the pseudo-labels exist (PyTorch frees them too). */
    b->model.training = false;
    bool prev = sg_ctx_set_grad(ctx, false);
    sg_arena_mark mark = sg_arena_get_mark(&ctx->arena);
    sg_deeplab_out mix;
    sg_deeplab_forward(ctx, &b->model, b->m_w, NULL, &mix);
    sg_ctx_set_grad(ctx, prev);
    confidence_(mix.logits, conf_mix, mask_mix);
    sg_arena_release(&ctx->arena, mark);

    /* 2. CutMix the strong views inside the boxes (all channels). */
    sg_tensor *s1 = sg_tensor_like(ctx, b->u_s1), *s2 = sg_tensor_like(ctx, b->u_s2);
    for (int i = 0; i < B; i++)
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < HW; p++) {
                size_t k = ((size_t)i * 3 + c) * HW + p, m = (size_t)i * HW + p;
                s1->data[k] = b->box1->i32[m] ? b->m_s1->data[k] : b->u_s1->data[k];
                s2->data[k] = b->box2->i32[m] ? b->m_s2->data[k] : b->u_s2->data[k];
            }

    /* 3. Labeled + weak with the feature perturbation, in train mode. */
    b->model.training = true;
    sg_tensor *xw = sg_concat(ctx, (sg_tensor *const[]){b->x, b->u_w}, 2, 0);
    sg_deeplab_fp fp = {0.5f, 7, sg_rng_stream(SG_RNG_DROPOUT, 0, 0), sg_rng_stream(SG_RNG_DROPOUT, 0, 1)};
    sg_deeplab_out o;
    sg_deeplab_forward(ctx, &b->model, xw, &fp, &o);
    sg_tensor *pred_x = sg_narrow(ctx, o.logits, 0, 0, B);
    sg_tensor *pred_w = sg_narrow(ctx, o.logits, 0, B, B);
    sg_tensor *pred_fp = sg_narrow(ctx, o.logits_fp, 0, B, B);

    /* 4. The two strong views in one forward. */
    sg_deeplab_out os;
    sg_deeplab_forward(ctx, &b->model, sg_concat(ctx, (sg_tensor *const[]){s1, s2}, 2, 0), NULL, &os);
    sg_tensor *pred_s1 = sg_narrow(ctx, os.logits, 0, 0, B);
    sg_tensor *pred_s2 = sg_narrow(ctx, os.logits, 0, B, B);

    /* 5. Pseudo-labels of the weak view, pasted with the mix source's in the boxes. */
    float *conf_w = sg_arena_alloc(&ctx->arena, n * sizeof(float));
    int32_t *mask_w = sg_arena_alloc(&ctx->arena, n * sizeof(int32_t));
    confidence_(pred_w, conf_w, mask_w);
    float *c1 = sg_arena_alloc(&ctx->arena, n * sizeof(float)), *c2 = sg_arena_alloc(&ctx->arena, n * sizeof(float));
    int32_t *m1 = sg_arena_alloc(&ctx->arena, n * 4), *m2 = sg_arena_alloc(&ctx->arena, n * 4);
    int32_t *i1 = sg_arena_alloc(&ctx->arena, n * 4), *i2 = sg_arena_alloc(&ctx->arena, n * 4);
    for (size_t p = 0; p < n; p++) {
        bool in1 = b->box1->i32[p], in2 = b->box2->i32[p];
        m1[p] = in1 ? mask_mix[p] : mask_w[p];
        c1[p] = in1 ? conf_mix[p] : conf_w[p];
        i1[p] = b->ign->i32[p];
        m2[p] = in2 ? mask_mix[p] : mask_w[p];
        c2[p] = in2 ? conf_mix[p] : conf_w[p];
        i2[p] = b->ign->i32[p];
    }

    /* 6-8. L = (L_x + 0.25 L_s1 + 0.25 L_s2 + 0.5 L_fp) / 2. */
    sg_tensor *lx = sg_cross_entropy(ctx, pred_x, b->y, NULL, 255, SG_REDUCE_MEAN);
    sg_tensor *l1 = unsup_loss_(ctx, pred_s1, m1, c1, i1);
    sg_tensor *l2 = unsup_loss_(ctx, pred_s2, m2, c2, i2);
    sg_tensor *lfp = unsup_loss_(ctx, pred_fp, mask_w, conf_w, b->ign->i32);
    sg_tensor *loss = sg_add(ctx, lx, sg_add(ctx, sg_scale(ctx, sg_add(ctx, l1, l2), 0.25f), sg_scale(ctx, lfp, 0.5f)));
    optimizer_step_(b, sg_scale(ctx, loss, 0.5f));
}

int main(int argc, char **argv)
{
    const char *workload = NULL, *path = NULL;
    int threads = 0, steps = 10, warmup = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--workload")) workload = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--path")) path = argv[i + 1];
        else {
            fprintf(stderr, "bench_train: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!workload || (strcmp(workload, "fwd") && strcmp(workload, "a") && strcmp(workload, "b")) ||
        threads < 1 || steps < 1 || warmup < 0 || (argc % 2) != 1) {
        fprintf(stderr, "usage: bench_train --workload fwd|a|b --threads T [--steps S] [--warmup W] "
                        "[--path fast|reference]\n");
        return 2;
    }
    sg_set_num_threads(threads);
    if (path) {
        if (strcmp(path, "fast") && strcmp(path, "reference")) {
            fprintf(stderr, "bench_train: --path must be fast or reference\n");
            return 2;
        }
        sg_set_cpu_path(strcmp(path, "fast") ? SG_CPU_REFERENCE : SG_CPU_FAST);
    }

    sg_deeplab_config cfg = sg_deeplab_config_default(18, K);
    cfg.backbone.stem = SG_STEM_TORCHVISION;
    memcpy(cfg.backbone.widths, (int[]){32, 64, 128, 256}, sizeof cfg.backbone.widths);
    cfg.backbone.output_stride = 16;
    cfg.aspp_channels = 128;
    cfg.reduce_channels = 48;
    cfg.decoder_channels = 128;

    bench b;
    sg_deeplab_init(&b.model, &cfg, 1);
    sg_sgd_init(&b.opt, &b.model.params, 2, 0.9f, 1e-4f);
    b.opt.groups[1].lr_mult = 10.0f;
    sg_ctx_init(&b.ctx);
    b.x = images_(0);
    b.u_w = images_(1);
    b.u_s1 = images_(2);
    b.u_s2 = images_(3);
    b.m_w = images_(4);
    b.m_s1 = images_(5);
    b.m_s2 = images_(6);
    b.y = rect_map_(0, 8, 0, S, 255, 0);
    sg_rng r;
    sg_rng_init(&r, 2, 0);
    for (size_t i = 0; i < sg_numel(b.y); i++)
        if (b.y->i32[i] != 255) b.y->i32[i] = (int32_t)sg_rng_below(&r, K);
    b.ign = rect_map_(S - 8, S, 0, S, 255, 0);
    b.box1 = rect_map_(20, 80, 30, 90, 1, 0);
    b.box2 = rect_map_(50, 110, 10, 60, 1, 0);

    void (*step)(bench *) = !strcmp(workload, "fwd") ? step_fwd_ : !strcmp(workload, "a") ? step_a_ : step_b_;
    sg_model_cost cost = sg_deeplab_cost(&cfg, S, S);
    double fwd_macs = cost.macs_backbone + cost.macs_head;
    /* Nominal multiply-adds per step: forward = 1x, forward+backward = 3x. */
    double macs = !strcmp(workload, "fwd") ? B * fwd_macs
                  : !strcmp(workload, "a") ? 3.0 * B * fwd_macs
                  : B * fwd_macs + 3.0 * (2 * B * cost.macs_backbone + 4 * B * cost.macs_head) +
                        3.0 * 2 * B * fwd_macs;
    int images = !strcmp(workload, "b") ? 5 * B : B;

    for (int i = 0; i < warmup; i++) step(&b);
    double *times = sg_xmalloc((size_t)steps * sizeof(double));
    for (int i = 0; i < steps; i++) {
        double t0 = now_();
        step(&b);
        times[i] = now_() - t0;
    }
    qsort(times, (size_t)steps, sizeof(double), cmp_double_);
    double med = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("c %s threads=%d median_s=%.5f img_per_s=%.2f rss_mb=%.1f gflops=%.1f path=%s\n", workload,
           threads, med, images / med, ru.ru_maxrss / 1024.0, 2.0 * macs / med / 1e9,
           sg_get_cpu_path() == SG_CPU_FAST ? "fast" : "reference");

    free(times);
    sg_tensor *owned[] = {b.x, b.y, b.u_w, b.u_s1, b.u_s2, b.m_w, b.m_s1, b.m_s2, b.ign, b.box1, b.box2};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) sg_tensor_free(owned[i]);
    sg_ctx_free(&b.ctx);
    sg_sgd_free(&b.opt);
    sg_deeplab_free(&b.model);
    return 0;
}
