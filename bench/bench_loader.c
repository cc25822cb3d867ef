/*
 * bench_loader.c: loader throughput at VOC size (loader.h, augment.h).
 *
 * Writes synthetic 500x375 JPEGs (quality 90, textured so the codec has real
 * work) and gray PNG label masks to a temp dir with sg_jpeg_write and
 * sg_png_write, then measures in the same run:
 *   reference  JPEG decode alone (sg_image_read), one thread
 *   labeled    decode (JPEG + PNG mask) + weak augmentation + normalisation
 *              (UniMatch train_l)
 *   unlabeled  decode + weak + two strong views + CutMix boxes (train_u)
 * for 1 and 2 workers, crop 321, batch 8, prefetch 4. Each line reports
 * images/s and its ratio to the decode-only rate, so the numbers compare
 * across machines; the 2-worker lines also give the speed-up over 1 worker.
 * Then, since a loader builds only the unlabeled parts its method reads
 * (loader.h, views; run.h, unlabeled_views):
 *   views      unlabeled images/s for each set of parts a trainer asks for
 *              (and the labeled loader with AllSpark's strong view)
 *   per step   for each trainer at its experiments/<method>/voc.conf, the
 *              images each of its loaders makes per training step, and the
 *              CPU seconds they take at the 1-worker rates: the loaders keep
 *              up while that, spread over the cores their workers get, stays
 *              below the step's own time (bench_train, a run's result.json)
 * The per-step table restates the trainers' unlabeled_views, batch sizes and
 * mix sources; DSSN and AllSpark train at crop 513 on VOC, measured here at
 * 321 like the others.
 *
 * Loader rates are steady-state: timed from the first batch's arrival.
 * Usage: bench_loader [n_images (default 48)] [epochs (default 2)]
 * Not part of `make check`; timings mean nothing while other jobs load the CPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "semiseg/image.h"
#include "semiseg/loader.h"

enum { IMG_W = 500, IMG_H = 375, CROP = 321, BATCH = 8, PREFETCH = 4, QUALITY = 90 };

typedef struct files {
    int n;
    char (*path)[512];     /* JPEG images */
    char (*mask)[512];     /* PNG label masks (gray) */
} files;

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int load_(void *ctx, int index, sg_image *img, sg_image *mask, sg_err *err)
{
    files *f = ctx;
    if (sg_image_read(f->path[index], img, err) != 0) return -1;
    /* unlabeled loaders run with unlabeled_mask = false, as the padding marks
     * are all they would use */
    return mask ? sg_mask_read(f->mask[index], mask, err) : 0;
}

/* Smooth colour gradients, a few discs (also drawn into the mask as classes
 * 1..4) and per-pixel noise. */
static void synth_(sg_image *img, sg_image *mask, int k)
{
    sg_rng r;
    sg_rng_init(&r, 2024, sg_rng_stream(SG_RNG_TEST, 9, (uint64_t)k));
    float base[3], dx[3], dy[3];
    for (int c = 0; c < 3; c++) {
        base[c] = 255 * sg_rng_uniform(&r);
        dx[c] = (sg_rng_uniform(&r) - 0.5f) * 0.8f;
        dy[c] = (sg_rng_uniform(&r) - 0.5f) * 0.8f;
    }
    int cx[4], cy[4], rad[4];
    for (int d = 0; d < 4; d++) {
        cx[d] = (int)sg_rng_below(&r, IMG_W);
        cy[d] = (int)sg_rng_below(&r, IMG_H);
        rad[d] = 20 + (int)sg_rng_below(&r, 80);
    }
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            int inside = 0;
            mask->data[(size_t)y * IMG_W + x] = 0;
            for (int d = 0; d < 4; d++)
                if ((x - cx[d]) * (x - cx[d]) + (y - cy[d]) * (y - cy[d]) < rad[d] * rad[d]) {
                    inside++;
                    mask->data[(size_t)y * IMG_W + x] = (uint8_t)(d + 1);
                }
            for (int c = 0; c < 3; c++) {
                float v = base[c] + dx[c] * x + dy[c] * y + (inside ? 90.0f * (c + 1) : 0) +
                          24.0f * (sg_rng_uniform(&r) - 0.5f);
                v = v - 256.0f * (int)(v / 256.0f);
                img->data[((size_t)y * IMG_W + x) * 3 + c] = (uint8_t)(v < 0 ? v + 256 : v);
            }
        }
}

/* images/s of `epochs` epochs through a loader building `views` (unlabeled)
 * or, with labeled_strong, AllSpark's strong view (labeled); -1 with err set */
static double run_loader_(files *f, sg_loader_kind kind, unsigned views, bool labeled_strong, int workers,
                          int epochs, sg_err *err)
{
    sg_loader_config cfg;
    sg_loader_config_default(&cfg, kind, BATCH, CROP, 1);
    cfg.views = views;
    cfg.labeled_strong = labeled_strong;
    cfg.n_workers = workers;
    cfg.prefetch = PREFETCH;
    cfg.unlabeled_mask = false;
    sg_source src = {.ctx = f, .n = f->n, .load = load_};
    sg_loader *l = sg_loader_open(&src, &cfg, err);
    if (!l) return -1;
    /* steady state: the clock starts when the first batch arrives, so the
     * start-up (threads, first touch of the batch buffers) is left out */
    int n = sg_loader_batches_per_epoch(l) * epochs, images = 0;
    double t0 = 0;
    for (int i = 0; i < n; i++) {
        const sg_batch *b;
        if (sg_loader_next(l, &b, err) != 0) {
            sg_loader_close(l);
            return -1;
        }
        if (i == 0) t0 = now_();
        else images += b->n;
    }
    double dt = now_() - t0;
    sg_loader_close(l);
    return images / dt;
}

/* The sets of unlabeled parts the trainers ask for, cheapest first; the
 * strong views without boxes are a mix batch's (run.h). */
static const struct {
    const char *name;
    unsigned views;
} view_sets_[] = {
    {"weak", SG_VIEWS_WEAK},
    {"weak+s1", SG_VIEW_S1},
    {"weak+s1+box1", SG_VIEW_S1 | SG_VIEW_BOX1},
    {"weak+s1+s2", SG_VIEWS_STRONG},
    {"weak+s1+box1+s2+box2", SG_VIEWS_ALL},
};
enum { N_VIEW_SETS = sizeof view_sets_ / sizeof view_sets_[0] };

/* One training step of each trainer at experiments/<method>/voc.conf: the
 * images of its labeled, unlabeled and mix loaders and the parts they
 * build (the trainer's unlabeled_views; the mix batch gets its strong views). */
static const struct {
    const char *method;
    int n_lab;
    bool lab_strong;
    int n_unl;
    unsigned unl_views;
    int n_mix;
    unsigned mix_views;
    const char *note;
} steps_[] = {
    {"supervised", 16, false, 0, 0, 0, 0, "batch 16"},
    {"meanteacher", 8, false, 8, SG_VIEW_S1, 0, 0, ""},
    {"cutmixseg", 8, false, 8, SG_VIEWS_WEAK, 8, SG_VIEWS_WEAK, "mix_source batch"},
    {"fixmatch", 8, false, 8, SG_VIEW_S1 | SG_VIEW_BOX1, 8, SG_VIEW_S1, "mix_source same"},
    {"unimatch", 8, false, 8, SG_VIEWS_ALL, 8, SG_VIEWS_STRONG, "mix_source same"},
    {"u2pl", 8, false, 8, SG_VIEWS_WEAK, 0, 0, ""},
    {"ctt", 8, false, 8, SG_VIEWS_WEAK, 0, 0, ""},
    {"dssn", 8, false, 8, SG_VIEWS_ALL, 8, SG_VIEWS_STRONG, "mix_source same; crop 513 on VOC"},
    {"uccl", 8, false, 8, SG_VIEWS_ALL, 8, SG_VIEWS_STRONG, "mix_source same"},
    {"allspark", 8, true, 8, SG_VIEWS_WEAK, 0, 0, "labeled strong view; crop 513 on VOC"},
};

static int view_set_(unsigned views)
{
    for (int k = 0; k < N_VIEW_SETS; k++)
        if (view_sets_[k].views == views) return k;
    fprintf(stderr, "bench_loader: views 0x%x is not in view_sets_\n", views);
    abort();
}

/* "8 weak+s1", or "-" for no loader */
static const char *images_(char *buf, size_t len, int n, const char *what)
{
    if (n == 0) snprintf(buf, len, "-");
    else snprintf(buf, len, "%d %s", n, what);
    return buf;
}

/* The view-set lines and the per-step table. lab: labeled images/s at 1
 * worker (weak, and with the strong view). Returns 0, or -1 with err set. */
static int views_report_(files *f, int epochs, const double lab[2], double ref, sg_err *err)
{
    double unl[N_VIEW_SETS];
    printf("unlabeled views (sg_method.unlabeled_views):\n");
    for (int k = 0; k < N_VIEW_SETS; k++) {
        unl[k] = run_loader_(f, SG_LOADER_UNLABELED, view_sets_[k].views, false, 1, epochs, err);
        double r2 = unl[k] < 0 ? -1 : run_loader_(f, SG_LOADER_UNLABELED, view_sets_[k].views, false, 2, epochs, err);
        if (r2 < 0) return -1;
        printf("  %-22s 1 worker %8.1f img/s  ratio %.2f   2 workers %8.1f img/s\n", view_sets_[k].name, unl[k],
               unl[k] / ref, r2);
    }
    printf("  %-22s 1 worker %8.1f img/s  ratio %.2f   (labeled, AllSpark)\n", "weak+s1 labeled", lab[1],
           lab[1] / ref);
    printf("one step at experiments/<method>/voc.conf: images per loader, and the loaders' CPU seconds per step\n"
           "at the 1-worker rates above (to compare with the step's own time):\n");
    printf("  %-12s %-18s %-26s %-16s %8s\n", "method", "labeled", "unlabeled", "mix", "CPU s");
    for (size_t m = 0; m < sizeof steps_ / sizeof steps_[0]; m++) {
        int u = view_set_(steps_[m].unl_views), x = view_set_(steps_[m].mix_views);
        double s = steps_[m].n_lab / lab[steps_[m].lab_strong] + steps_[m].n_unl / unl[u] + steps_[m].n_mix / unl[x];
        char lb[32], ub[48], mb[48];
        printf("  %-12s %-18s %-26s %-16s %8.3f%s%s\n", steps_[m].method,
               images_(lb, sizeof lb, steps_[m].n_lab, steps_[m].lab_strong ? "weak+s1" : "weak"),
               images_(ub, sizeof ub, steps_[m].n_unl, view_sets_[u].name),
               images_(mb, sizeof mb, steps_[m].n_mix, view_sets_[x].name), s, steps_[m].note[0] ? "  " : "",
               steps_[m].note);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 48, epochs = argc > 2 ? atoi(argv[2]) : 2;
    if (n < 2 * BATCH || epochs < 1) {
        fprintf(stderr, "usage: bench_loader [n_images >= %d] [epochs >= 1]\n", 2 * BATCH);
        return 2;
    }
    char dir[256];
    snprintf(dir, sizeof dir, "%s/semiseg-bench-loader.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_loader: mkdtemp");
        return 1;
    }
    files f = {.n = n, .path = calloc((size_t)n, sizeof *f.path), .mask = calloc((size_t)n, sizeof *f.mask)};
    sg_image img = {0}, mask = {0};
    sg_image_alloc(&img, IMG_H, IMG_W, 3);
    sg_image_alloc(&mask, IMG_H, IMG_W, 1);
    sg_err err;
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        snprintf(f.path[k], sizeof f.path[k], "%s/%04d.jpg", dir, k);
        snprintf(f.mask[k], sizeof f.mask[k], "%s/%04d.png", dir, k);
        synth_(&img, &mask, k);
        rc = sg_jpeg_write(f.path[k], &img, QUALITY, &err);
        if (rc == 0) rc = sg_png_write(f.mask[k], &mask, NULL, &err);
    }
    sg_image_free(&img);
    sg_image_free(&mask);
    if (rc == 0) {
        /* decode-only reference: the same files, `epochs` passes, one thread */
        double t0 = now_();
        for (int e = 0; e < epochs && rc == 0; e++)
            for (int k = 0; k < n && rc == 0; k++) {
                sg_image d = {0};
                rc = sg_image_read(f.path[k], &d, &err);
                sg_image_free(&d);
            }
        double ref = (double)n * epochs / (now_() - t0);
        if (rc == 0) {
            printf("bench_loader: %d JPEGs %dx%d q%d -> crop %d, batch %d, prefetch %d, %ld CPUs online\n", n, IMG_W,
                   IMG_H, QUALITY, CROP, BATCH, PREFETCH, sysconf(_SC_NPROCESSORS_ONLN));
            printf("%-44s %8.1f img/s  ratio 1.00\n", "decode only (reference, 1 thread)", ref);
            const char *names[2] = {"labeled   (decode+weak)", "unlabeled (decode+weak+2 strong)"};
            double lab[2] = {0, 0};
            for (int kind = 0; kind < 2 && rc == 0; kind++) {
                double r1 = run_loader_(&f, (sg_loader_kind)kind, SG_VIEWS_ALL, false, 1, epochs, &err);
                double r2 = r1 < 0 ? -1 : run_loader_(&f, (sg_loader_kind)kind, SG_VIEWS_ALL, false, 2, epochs, &err);
                if (r2 < 0) {
                    rc = -1;
                    break;
                }
                if (kind == SG_LOADER_LABELED) lab[0] = r1;
                printf("%-34s 1 worker  %8.1f img/s  ratio %.2f\n", names[kind], r1, r1 / ref);
                printf("%-34s 2 workers %8.1f img/s  ratio %.2f  (x%.2f over 1 worker)\n", names[kind], r2,
                       r2 / ref, r2 / r1);
            }
            if (rc == 0) {
                lab[1] = run_loader_(&f, SG_LOADER_LABELED, SG_VIEWS_WEAK, true, 1, epochs, &err);
                if (lab[1] < 0 || views_report_(&f, epochs, lab, ref, &err) != 0) rc = -1;
            }
        }
    }
    if (rc != 0) fprintf(stderr, "bench_loader: %s\n", err.msg);
    for (int k = 0; k < n; k++) {
        unlink(f.path[k]);
        unlink(f.mask[k]);
    }
    rmdir(dir);
    free(f.path);
    free(f.mask);
    return rc == 0 ? 0 : 1;
}
