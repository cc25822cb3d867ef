/*
 * bench_train.c: the C side of `make bench` (bench/run_bench.sh runs it
 * interleaved with bench/bench_train.py, the PyTorch reference on the same
 * model, input and thread count).
 *
 *   bench/bench_train --workload fwd|a|b|mit --threads T [--steps S] [--warmup W]
 *                     [--path fast|reference] [--model small|voc] [--device D]
 *
 * Model `small` (make bench, against PyTorch): DeepLabV3+ on ResNet-18
 * (torchvision stem) with widths 32-64-128-256, output stride 16, ASPP 128
 * channels at 6/12/18, reduce 48, decoder 128, 21 classes; input
 * 8 x 3 x 128 x 128. Model `voc` (make bench-gpu): UniMatch's VOC model,
 * DeepLabV3+ on ResNet-101 (deep stem), OS 16, ASPP 256, decoder 256, 21
 * classes, input 8 x 3 x 321 x 321. --device cuda[:N] runs on a GPU (inputs
 * and model on the device; each timed step ends with a device synchronise).
 * Workloads (as bench_train.py):
 *   fwd  forward only, train-mode BN, nothing recorded;
 *   a    forward + cross-entropy (ignore 255) + backward + SGD step;
 *   b    one UniMatch iteration (LiheYoung/UniMatch@0324f3d:unimatch.py) through the code the
 *        unimatch trainer runs (unimatch_loss): eval-mode forward of
 *        the mix source's weak views without recording, CutMix of the strong
 *        views, forward of labeled+weak with the feature perturbation, forward
 *        of the two strong views, the four losses, one backward, one step;
 *   mit  workload a on SegFormer instead of DeepLabV3+ (model small only):
 *        MiT-B0 encoder and all-MLP head E = 256 (sg_segformer_config_preset
 *        (0, 21), mit.h: NVlabs/SegFormer@65fa8cf mit_b0 + SegFormerHead),
 *        same input, targets and optimizer; a train-mode forward with
 *        drop-path (0.1) and the head's Dropout2d (0.1) on, their noise keyed
 *        by the step number, CE (ignore 255), backward, SGD step. The
 *        PyTorch side runs tests/ref/segformer.py, the model
 *        tests/ref/gen_mit.py checks the C one against (tests/test_mit.c).
 * Prints one line: `c <workload> threads=T median_s=.. img_per_s=.. rss_mb=..
 * gflops=..` (median step time after warm-up, peak RSS of the process, and
 * a FLOP rate, 2 per multiply-add: for fwd, a and b the nominal convolution
 * FLOPs, x3 for a step with backward, per sg_deeplab_cost (those of direct
 * convolutions: where the fast path runs Winograd, which needs fewer
 * multiplications, the rate is an effective one); for mit, with no
 * cost model for it, the FLOPs the context counted over the timed steps
 * (sg_ctx.flops: the convolutions, 1x1 ones for the Linears, and the
 * attention products, forward and each gradient; not the norms and
 * elementwise ops), over their time); on a GPU also `peak_gflops=` (the
 * device's FP32 FMA peak from its properties) and `device_mb=` (device memory in use
 * after the timed steps: the arena holds the peak of a step). On the CPU,
 * bench/run_bench.sh divides gflops by the FP32 FMA peak that
 * bench/bench_fma_peak measures at the same thread count.
 */
#include "config.h"
#include "semiseg.h"
#ifdef SG_HAVE_CUDA
#include "semiseg/cuda.h"
#endif
#include "unimatch/unimatch_loss.h"   /* experiments/libsgmethods.a */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The backend the bench runs on: the default CPU one, or --path's. */
static const sg_backend *g_be;

#define B 8
#define K 21
static int S = 128; /* crop side: 128 (small) or 321 (voc) */
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

typedef struct {
    sg_deeplab model;        /* fwd, a, b */
    sg_segformer mit;        /* mit */
    sg_param_set *params;    /* the one of the two that runs */
    uint64_t iter;           /* steps run so far: keys mit's noise */
    sg_sgd opt;
    sg_ctx ctx;
    sg_tensor *x, *y, *u_w, *u_s1, *u_s2, *m_w, *m_s1, *m_s2, *ign, *box1, *box2;
} bench;

/* After a step, so that its time includes the device's work. */
static void sync_(const bench *b) { b->ctx.be->synchronize(); }

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
    sg_param_zero_grad(b->params);
    sg_backward(&b->ctx, loss);
    sg_sgd_step(&b->opt, b->params, 0.001f);
    sg_ctx_reset(&b->ctx);
}

static void step_a_(bench *b)
{
    b->model.training = true;
    sg_deeplab_out out;
    sg_deeplab_forward(&b->ctx, &b->model, b->x, NULL, &out);
    optimizer_step_(b, sg_cross_entropy(&b->ctx, out.logits, b->y, NULL, 255, SG_REDUCE_MEAN));
}

/* Workload a on MiT-B0 SegFormer: drop-path and Dropout2d draw from
 * (seed 1, a = the step number). */
static void step_mit_(bench *b)
{
    b->mit.training = true;
    const sg_mit_noise noise = {.seed = 1, .a = b->iter++};
    sg_segformer_out out;
    sg_segformer_forward(&b->ctx, &b->mit, b->x, &noise, &out);
    optimizer_step_(b, sg_cross_entropy(&b->ctx, out.logits, b->y, NULL, 255, SG_REDUCE_MEAN));
}

/* The UniMatch iteration exactly as experiments/unimatch runs it
 * (unimatch_loss, experiments/unimatch/unimatch_loss.c) with a separate
 * mix-source batch, as UniMatch's code has, then one backward and one SGD
 * step. */
static void step_b_(bench *b)
{
    sg_batch lab = {.n = B, .img = b->x, .mask = b->y};
    sg_batch unl = {.n = B, .img = b->u_w, .img_s1 = b->u_s1, .img_s2 = b->u_s2, .ignore = b->ign,
                    .box1 = b->box1, .box2 = b->box2};
    sg_batch mix = {.n = B, .img = b->m_w, .img_s1 = b->m_s1, .img_s2 = b->m_s2, .ignore = b->ign};
    const unimatch_params hp = {.conf_thresh = THRESH, .weight_s = 0.25f, .weight_fp = 0.5f};
    sg_deeplab_fp fp = sg_semi_fp(0.5f, 7, 0);
    sg_semi_terms terms;
    optimizer_step_(b, unimatch_loss(&b->ctx, &b->model, &lab, &unl, &mix, &hp, &fp, NULL, &terms));
}

int main(int argc, char **argv)
{
    g_be = sg_backend_cpu_default();
    const char *workload = NULL, *path = NULL, *model = "small", *device = "cpu";
    int threads = 0, steps = 10, warmup = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--workload")) workload = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--path")) path = argv[i + 1];
        else if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else {
            fprintf(stderr, "bench_train: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!workload ||
        (strcmp(workload, "fwd") && strcmp(workload, "a") && strcmp(workload, "b") &&
         strcmp(workload, "mit")) ||
        threads < 1 || steps < 1 || warmup < 0 || (argc % 2) != 1) {
        fprintf(stderr, "usage: bench_train --workload fwd|a|b|mit --threads T [--steps S] [--warmup W] "
                        "[--path fast|reference] [--model small|voc] [--device D]\n");
        return 2;
    }
    sg_set_num_threads(threads);
    if (path) {
        if (strcmp(path, "fast") && strcmp(path, "reference")) {
            fprintf(stderr, "bench_train: --path must be fast or reference\n");
            return 2;
        }
        g_be = strcmp(path, "fast") ? sg_backend_cpu_reference() : sg_backend_cpu_dnnl();
    }
    sg_err err;
    sg_device dev;
    if (sg_device_parse(device, &dev, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 2;
    }
    if (dev.type != SG_DEVICE_CPU && !(g_be = sg_backend_cuda(dev.index, &err))) {
        fprintf(stderr, "bench_train: --device %s: %s\n", device, err.msg);
        return 1;
    }
    if (strcmp(model, "small") && strcmp(model, "voc")) {
        fprintf(stderr, "bench_train: --model must be small or voc\n");
        return 2;
    }
    const bool voc = !strcmp(model, "voc"), mit = !strcmp(workload, "mit");
    if (voc && mit) {
        fprintf(stderr, "bench_train: workload mit runs on model small only\n");
        return 2;
    }
    if (voc) S = 321;

    sg_deeplab_config cfg = sg_deeplab_config_default(voc ? 101 : 18, K);
    cfg.backbone.output_stride = 16;
    if (!voc) {
        cfg.backbone.stem = SG_STEM_TORCHVISION;
        memcpy(cfg.backbone.widths, (int[]){32, 64, 128, 256}, sizeof cfg.backbone.widths);
        cfg.aspp_channels = 128;
        cfg.reduce_channels = 48;
        cfg.decoder_channels = 128;
    }

    bench b = {.iter = 0};
    if (mit) {
        const sg_segformer_config mcfg = sg_segformer_config_preset(0, K);
        sg_segformer_init(&b.mit, &mcfg, 1);
        b.params = &b.mit.params;
    } else {
        sg_deeplab_init(&b.model, &cfg, 1);
        b.params = &b.model.params;
    }
    sg_sgd_init(&b.opt, b.params, 2, 0.9f, 1e-4f);
    b.opt.groups[1].lr_mult = 10.0f;
    sg_ctx_init_on(&b.ctx, g_be);
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
    /* Built on the host; moved where the bench runs. */
    sg_param_set_move(b.params, g_be);
    sg_tensor *inputs[] = {b.x, b.y, b.u_w, b.u_s1, b.u_s2, b.m_w, b.m_s1, b.m_s2, b.ign, b.box1, b.box2};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) sg_tensor_move(inputs[i], g_be);

    void (*step)(bench *) = mit                        ? step_mit_
                            : !strcmp(workload, "fwd") ? step_fwd_
                            : !strcmp(workload, "a")   ? step_a_
                                                       : step_b_;
    sg_model_cost cost = sg_deeplab_cost(&cfg, S, S);
    double fwd_macs = cost.macs_backbone + cost.macs_head;
    /* Nominal multiply-adds per step: forward = 1x, forward+backward = 3x. */
    double macs = !strcmp(workload, "fwd") ? B * fwd_macs
                  : !strcmp(workload, "a") ? 3.0 * B * fwd_macs
                  : B * fwd_macs + 3.0 * (2 * B * cost.macs_backbone + 4 * B * cost.macs_head) +
                        3.0 * 2 * B * fwd_macs;
    int images = !strcmp(workload, "b") ? 5 * B : B;

    for (int i = 0; i < warmup; i++) step(&b);
    sync_(&b);
    const double flops0 = b.ctx.flops;
    double *times = sg_xmalloc((size_t)steps * sizeof(double));
    for (int i = 0; i < steps; i++) {
        double t0 = now_();
        step(&b);
        sync_(&b);
        times[i] = now_() - t0;
    }
    qsort(times, (size_t)steps, sizeof(double), cmp_double_);
    double med = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    /* FLOPs of one step: nominal (sg_deeplab_cost) or, for mit, counted. */
    const double step_flops = mit ? (b.ctx.flops - flops0) / steps : 2.0 * macs;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("c %s threads=%d median_s=%.5f img_per_s=%.2f rss_mb=%.1f gflops=%.1f path=%s", workload,
           threads, med, images / med, ru.ru_maxrss / 1024.0, step_flops / med / 1e9,
           g_be->name);
#ifdef SG_HAVE_CUDA
    if (dev.type == SG_DEVICE_CUDA) {
        sg_cuda_props pr;
        sg_cuda_device_props(dev.index, &pr);
        printf(" peak_gflops=%.1f device_mb=%.1f gpu=\"%s\"", sg_cuda_fp32_peak_gflops(&pr),
               (double)sg_cuda_memory_used(dev.index) / (1 << 20), pr.name);
    }
#endif
    printf("\n");

    free(times);
    sg_tensor *owned[] = {b.x, b.y, b.u_w, b.u_s1, b.u_s2, b.m_w, b.m_s1, b.m_s2, b.ign, b.box1, b.box2};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) sg_tensor_free(owned[i]);
    sg_ctx_free(&b.ctx);
    sg_sgd_free(&b.opt);
    if (mit)
        sg_segformer_free(&b.mit);
    else
        sg_deeplab_free(&b.model);
    return 0;
}
