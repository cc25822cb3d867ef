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

/* images/s of `epochs` epochs through a loader, or -1 with err set */
static double run_loader_(files *f, sg_loader_kind kind, int workers, int epochs, sg_err *err)
{
    sg_loader_config cfg;
    sg_loader_config_default(&cfg, kind, BATCH, CROP, 1);
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
            for (int kind = 0; kind < 2 && rc == 0; kind++) {
                double r1 = run_loader_(&f, (sg_loader_kind)kind, 1, epochs, &err);
                double r2 = r1 < 0 ? -1 : run_loader_(&f, (sg_loader_kind)kind, 2, epochs, &err);
                if (r2 < 0) {
                    rc = -1;
                    break;
                }
                printf("%-34s 1 worker  %8.1f img/s  ratio %.2f\n", names[kind], r1, r1 / ref);
                printf("%-34s 2 workers %8.1f img/s  ratio %.2f  (x%.2f over 1 worker)\n", names[kind], r2,
                       r2 / ref, r2 / r1);
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
