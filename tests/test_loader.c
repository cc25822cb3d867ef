/*
 * test_loader.c: the prefetching loader (loader.h) on an in-memory source.
 *
 * Checks that batches are bitwise identical for 1, 2 and 3 workers and any
 * prefetch depth, that each sample is exactly what the documented keys give
 * when recomputed with the augment.h functions, the epoch structure (shuffle,
 * repetition to epoch_len, drop_last, resume, a second loader sharing the
 * order of another via order_id), the unlabeled outputs (ignore
 * mask, CutMix boxes), that a loader asked for some of the unlabeled parts
 * (views) leaves the others NULL and builds its parts byte for byte as one
 * asked for all, error propagation from a corrupt sample with the file
 * named, config errors and an early shutdown. Comparisons are exact: nothing
 * here is approximate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semiseg/loader.h"
#include "tap.h"

enum { N_SRC = 13, CROP = 24 };

typedef struct mem_src {
    int bad;   /* index whose load fails, -1 for none */
} mem_src;

static uint8_t px_(int index, int y, int x, int c) { return (uint8_t)((index * 131 + y * 17 + x * 29 + c * 71 + (x * y) % 13) & 255); }

/* Sizes straddle the crop (24): some samples need padding, some cropping. */
static int mem_load_(void *ctx, int index, sg_image *img, sg_image *mask, sg_err *err)
{
    mem_src *m = ctx;
    if (index == m->bad) return sg_err_set(err, "/data/voc/JPEGImages/bad_%03d.jpg: truncated JPEG", index);
    int h = 12 + (index * 7) % 23, w = 14 + (index * 5) % 27;
    sg_image_alloc(img, h, w, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) img->data[((size_t)y * w + x) * 3 + c] = px_(index, y, x, c);
    if (mask) {
        sg_image_alloc(mask, h, w, 1);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) mask->data[(size_t)y * w + x] = (uint8_t)((x / 4 + y / 5 + index) % 21);
        mask->data[0] = 255;
    }
    return 0;
}

/* All batches' bytes, concatenated, so runs can be compared with memcmp. */
typedef struct blob {
    uint8_t *p;
    size_t n, cap;
} blob;

static void put_(blob *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        SG_CHECK(b->p, "out of memory");
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* A batch tensor's bytes (its first dimension is the batch's n). */
static size_t nbytes_(const sg_tensor *t) { return sg_numel(t) * sg_dtype_size(t->dtype); }

static void put_batch_(blob *o, const sg_batch *b)
{
    int hdr[3] = {b->n, b->epoch, b->index};
    put_(o, hdr, sizeof hdr);
    put_(o, b->ids, (size_t)b->n * sizeof *b->ids);
    const sg_tensor *ts[] = {b->img, b->mask, b->img_s1, b->img_s2, b->ignore, b->box1, b->box2};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
        if (ts[k]) put_(o, ts[k]->data, nbytes_(ts[k]));
    if (b->boxes1) put_(o, b->boxes1, (size_t)b->n * sizeof(sg_box));
    if (b->boxes2) put_(o, b->boxes2, (size_t)b->n * sizeof(sg_box));
}

static sg_source source_(mem_src *m) { return (sg_source){.ctx = m, .n = N_SRC, .load = mem_load_}; }

static void config_(sg_loader_config *cfg, sg_loader_kind kind, int workers, int prefetch)
{
    sg_loader_config_default(cfg, kind, 4, CROP, 1234);
    cfg->n_workers = workers;
    cfg->prefetch = prefetch;
}

/* Runs n_batches; returns 0 and fills out, or -1 with err. */
static int run_(const sg_loader_config *cfg, mem_src *m, int n_batches, blob *out, sg_err *err)
{
    sg_source src = source_(m);
    sg_loader *l = sg_loader_open(&src, cfg, err);
    if (!l) return -1;
    int rc = 0;
    for (int i = 0; i < n_batches && rc == 0; i++) {
        const sg_batch *b;
        rc = sg_loader_next(l, &b, err);
        if (rc == 0 && out) put_batch_(out, b);
    }
    sg_loader_close(l);
    return rc;
}

static void test_determinism_(sg_loader_kind kind, const char *what)
{
    mem_src m = {.bad = -1};
    sg_err err;
    blob ref = {0};
    sg_loader_config cfg;
    config_(&cfg, kind, 1, 1);
    /* 13 samples, batch 4, drop_last: 3 batches per epoch; 8 batches span 3 epochs */
    int rc = run_(&cfg, &m, 8, &ref, &err);
    tap_ok(rc == 0 && ref.n > 0, "%s: 8 batches with 1 worker", what);
    const int setups[][2] = {{2, 1}, {2, 2}, {3, 1}, {3, 3}, {3, 6}};
    for (int s = 0; s < 5; s++) {
        blob got = {0};
        config_(&cfg, kind, setups[s][0], setups[s][1]);
        rc = run_(&cfg, &m, 8, &got, &err);
        tap_ok(rc == 0 && got.n == ref.n && memcmp(got.p, ref.p, ref.n) == 0,
               "%s: %d workers, prefetch %d give the same bytes as 1 worker", what, setups[s][0], setups[s][1]);
        free(got.p);
    }
    free(ref.p);
}

/* The documented keys, recomputed with the augment.h functions. */
static void test_recompute_(void)
{
    mem_src m = {.bad = -1};
    sg_source src = source_(&m);
    sg_err err;
    const size_t hw = (size_t)CROP * CROP;
    for (int kind = 0; kind < 2; kind++) {
        sg_loader_config cfg;
        config_(&cfg, (sg_loader_kind)kind, 2, 2);
        sg_loader *l = sg_loader_open(&src, &cfg, &err);
        const sg_batch *b = NULL;
        for (int i = 0; i < 5; i++) sg_loader_next(l, &b, &err); /* epoch 1, batch 1 */
        int ok = b->epoch == 1 && b->index == 1 && b->n == 4;
        int padded = 0;
        float *want = sg_xmalloc(3 * hw * sizeof *want);
        for (int i = 0; i < b->n; i++) {
            int pos = b->index * 4 + i, index = b->ids[i];
            sg_image img = {0}, mask = {0}, wi = {0}, wm = {0}, s = {0};
            mem_load_(&m, index, &img, &mask, &err);
            sg_rng r;
            sg_rng_init(&r, cfg.seed, sg_rng_stream(SG_RNG_AUGMENT, (uint64_t)cfg.id << 16 | 1, (uint64_t)pos));
            sg_weak_params wp;
            sg_aug_weak_draw(&wp, &cfg.aug.weak, img.h, img.w, &r);
            int fill = kind == SG_LOADER_LABELED ? 255 : 254;
            sg_aug_weak_apply(&wi, &wm, &img, &mask, &wp, &cfg.aug.weak, fill);
            sg_aug_normalize(want, &wi, cfg.aug.mean, cfg.aug.std);
            ok &= memcmp(want, b->img->data + i * 3 * hw, 3 * hw * sizeof(float)) == 0;
            if (kind == SG_LOADER_LABELED) {
                for (size_t k = 0; k < hw; k++) ok &= b->mask->i32[i * hw + k] == wm.data[k];
            } else {
                const sg_tensor *views[2] = {b->img_s1, b->img_s2}, *boxes[2] = {b->box1, b->box2};
                const sg_box *rects[2] = {b->boxes1, b->boxes2};
                for (int v = 0; v < 2; v++) {
                    sg_strong_params sp;
                    sg_aug_strong_draw(&sp, &cfg.aug.strong, &r);
                    sg_image_alloc(&s, CROP, CROP, 3);
                    memcpy(s.data, wi.data, 3 * hw);
                    sg_aug_strong_apply(&s, &sp);
                    sg_aug_normalize(want, &s, cfg.aug.mean, cfg.aug.std);
                    ok &= memcmp(want, views[v]->data + i * 3 * hw, 3 * hw * sizeof(float)) == 0;
                    sg_image_free(&s);
                    sg_box bx;
                    sg_cutmix_box(&bx, CROP, &cfg.aug.cutmix, &r);
                    ok &= memcmp(&bx, &rects[v][i], sizeof bx) == 0;
                    for (int y = 0; y < CROP; y++)
                        for (int x = 0; x < CROP; x++)
                            ok &= boxes[v]->i32[i * hw + y * CROP + x] ==
                                  (y >= bx.y && y < bx.y + bx.h && x >= bx.x && x < bx.x + bx.w);
                }
                for (size_t k = 0; k < hw; k++) {
                    ok &= b->ignore->i32[i * hw + k] == (wm.data[k] == 254 ? 255 : 0);
                    padded += wm.data[k] == 254;
                }
            }
            sg_image_free(&img);
            sg_image_free(&mask);
            sg_image_free(&wi);
            sg_image_free(&wm);
        }
        free(want);
        tap_ok(ok, "%s: every sample equals its recomputation from (seed, id, epoch, position)",
               kind == SG_LOADER_LABELED ? "labeled" : "unlabeled");
        if (kind == SG_LOADER_UNLABELED)
            tap_ok(padded > 0, "unlabeled: padding pixels (%d) are marked 255 in the ignore mask", padded);
        sg_loader_close(l);
    }
}

static void test_epochs_(void)
{
    mem_src m = {.bad = -1};
    sg_source src = source_(&m);
    sg_err err;
    sg_loader_config cfg;
    config_(&cfg, SG_LOADER_LABELED, 2, 2);
    cfg.epoch_len = 30; /* UniMatch repeats the labeled list to the unlabeled size */
    cfg.drop_last = false;
    sg_loader *l = sg_loader_open(&src, &cfg, &err);
    tap_ok(sg_loader_batches_per_epoch(l) == 8, "30 samples in batches of 4 without drop_last: 8 batches");
    int count[2][N_SRC] = {{0}}, ok = 1, last_n = 0;
    int32_t first_ids[2][4];
    for (int i = 0; i < 16; i++) {
        const sg_batch *b;
        ok &= sg_loader_next(l, &b, &err) == 0;
        ok &= b->epoch == i / 8 && b->index == i % 8;
        for (int k = 0; k < b->n; k++) count[b->epoch][b->ids[k]]++;
        if (b->index == 0) memcpy(first_ids[b->epoch], b->ids, sizeof first_ids[0]);
        if (b->index == 7) last_n = b->n;
    }
    sg_loader_close(l);
    /* 30 = 2 x 13 + 4: indices 0..3 appear three times, the others twice */
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < N_SRC; k++) ok &= count[e][k] == (k < 4 ? 3 : 2);
    tap_ok(ok && last_n == 2, "each epoch holds the list repeated to 30 entries; the last batch has 2");
    tap_ok(memcmp(first_ids[0], first_ids[1], sizeof first_ids[0]) != 0, "epochs are shuffled differently");

    cfg.epoch_len = 0;
    cfg.shuffle = false;
    l = sg_loader_open(&src, &cfg, &err);
    const sg_batch *b;
    ok = 1;
    for (int i = 0; i < 4; i++) {
        sg_loader_next(l, &b, &err);
        for (int k = 0; k < b->n; k++) ok &= b->ids[k] == i * 4 + k;
    }
    tap_ok(ok && b->n == 1, "without shuffle the order is the list order; 13 = 3 x 4 + 1");
    sg_loader_close(l);

    /* resume: start_epoch 2 gives the same batches as epoch 2 of a run from 0 */
    blob a = {0}, c = {0};
    config_(&cfg, SG_LOADER_UNLABELED, 2, 2);
    run_(&cfg, &m, 9, &a, &err);
    cfg.start_epoch = 2;
    run_(&cfg, &m, 3, &c, &err);
    tap_ok(c.n > 0 && a.n == 3 * c.n && memcmp(a.p + 2 * c.n, c.p, c.n) == 0,
           "a loader resumed at epoch 2 reproduces epoch 2");
    /* mid-epoch: (epoch 1, batch 2) continues as batches 5.. of the run from 0 */
    blob d = {0};
    cfg.start_epoch = 1;
    cfg.start_batch = 2;
    run_(&cfg, &m, 4, &d, &err);
    size_t per = c.n / 3;
    tap_ok(d.n == 4 * per && memcmp(a.p + 5 * per, d.p, d.n) == 0,
           "a loader started at epoch 1 batch 2 reproduces batches 5-8 of a run from the start");
    cfg.start_batch = 3;
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "start_batch 3 outside [0, 3)"),
           "start_batch past the epoch is an error: %s", err.msg);
    free(a.p);
    free(c.p);
    free(d.p);
}

/* order_id: a second unlabeled loader keyed by the first's id for its order
 * draws the same samples batch by batch across epochs, augmented under its
 * own id (UniMatch's loader_u_mix); without order_id its order is its own. */
static void test_order_id_(void)
{
    mem_src m = {.bad = -1};
    sg_source src = source_(&m);
    sg_err err;
    sg_loader_config cu, cm;
    config_(&cu, SG_LOADER_UNLABELED, 2, 2);
    config_(&cm, SG_LOADER_UNLABELED, 2, 2);
    cm.id = 2;
    cm.order_id = (int)cu.id;
    sg_loader *lu = sg_loader_open(&src, &cu, &err), *lm = sg_loader_open(&src, &cm, &err);
    int same_ids = 1, same_views = 1;
    for (int i = 0; i < 7; i++) {
        const sg_batch *bu, *bm;
        sg_loader_next(lu, &bu, &err);
        sg_loader_next(lm, &bm, &err);
        same_ids &= bu->n == bm->n && memcmp(bu->ids, bm->ids, (size_t)bu->n * sizeof *bu->ids) == 0;
        same_views &= memcmp(bu->img->data, bm->img->data, sg_numel(bu->img) * sizeof(float)) == 0;
    }
    sg_loader_close(lu);
    sg_loader_close(lm);
    tap_ok(same_ids, "order_id = the unlabeled loader's id: the same samples in 7 batches over 3 epochs");
    tap_ok(!same_views, "... augmented differently (own id)");

    cm.order_id = -1;
    lu = sg_loader_open(&src, &cu, &err);
    lm = sg_loader_open(&src, &cm, &err);
    const sg_batch *bu, *bm;
    sg_loader_next(lu, &bu, &err);
    sg_loader_next(lm, &bm, &err);
    tap_ok(memcmp(bu->ids, bm->ids, (size_t)bu->n * sizeof *bu->ids) != 0, "order_id -1: the loader's own order");
    sg_loader_close(lu);
    sg_loader_close(lm);
    cm.order_id = 256;
    tap_ok(sg_loader_open(&src, &cm, &err) == NULL && strstr(err.msg, "order_id 256"), "order_id 256 is an error");
}

/* A part the loader was not asked for is NULL; one it was is the same
 * bytes as the part of a loader asked for everything (the default). */
static bool part_same_(const sg_tensor *got, const sg_tensor *all, bool asked)
{
    if (!asked) return got == NULL;
    return got && nbytes_(got) == nbytes_(all) && memcmp(got->data, all->data, nbytes_(all)) == 0;
}

static bool rects_same_(const sg_box *got, const sg_box *all, int n, bool asked)
{
    if (!asked) return got == NULL;
    return got && memcmp(got, all, (size_t)n * sizeof *got) == 0;
}

/* views: every subset of the optional unlabeled parts, suffixes of the draw
 * order (s1, box1, s2, box2) or not, over 5 batches (two epochs). */
static void test_views_(void)
{
    mem_src m = {.bad = -1};
    sg_source src = source_(&m);
    sg_err err;
    sg_loader_config cfg;
    for (unsigned views = SG_VIEWS_WEAK; views < SG_VIEWS_ALL; views++) {
        config_(&cfg, SG_LOADER_UNLABELED, 2, 2);
        sg_loader *all = sg_loader_open(&src, &cfg, &err);
        cfg.views = views;
        sg_loader *some = sg_loader_open(&src, &cfg, &err);
        bool ok = all && some;
        for (int i = 0; i < 5 && ok; i++) {
            const sg_batch *a, *b;
            ok = sg_loader_next(all, &a, &err) == 0 && sg_loader_next(some, &b, &err) == 0 && a->n == b->n &&
                 memcmp(a->ids, b->ids, (size_t)a->n * sizeof *a->ids) == 0 && part_same_(b->img, a->img, true) &&
                 part_same_(b->ignore, a->ignore, true) && part_same_(b->img_s1, a->img_s1, views & SG_VIEW_S1) &&
                 part_same_(b->box1, a->box1, views & SG_VIEW_BOX1) &&
                 rects_same_(b->boxes1, a->boxes1, a->n, views & SG_VIEW_BOX1) &&
                 part_same_(b->img_s2, a->img_s2, views & SG_VIEW_S2) &&
                 part_same_(b->box2, a->box2, views & SG_VIEW_BOX2) &&
                 rects_same_(b->boxes2, a->boxes2, a->n, views & SG_VIEW_BOX2) && !b->mask;
        }
        sg_loader_close(all);
        sg_loader_close(some);
        tap_ok(ok, "views 0x%x: the parts asked for are the bytes of a loader that builds all, the others NULL",
               views);
    }
    config_(&cfg, SG_LOADER_UNLABELED, 1, 1);
    cfg.views = SG_VIEWS_ALL + 1;
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "views 0x10"),
           "a views bit outside SG_VIEWS_ALL is an error: %s", err.msg);
}

static void test_errors_(void)
{
    sg_err err, err3;
    sg_loader_config cfg;
    /* find the batch that holds index 6 in epoch 0 (1 worker, shuffled) */
    mem_src ok_src = {.bad = -1};
    sg_source src = source_(&ok_src);
    config_(&cfg, SG_LOADER_UNLABELED, 1, 1);
    sg_loader *l = sg_loader_open(&src, &cfg, &err);
    int bad_batch = -1;
    for (int i = 0; i < 3 && bad_batch < 0; i++) {
        const sg_batch *b;
        sg_loader_next(l, &b, &err);
        for (int k = 0; k < b->n; k++)
            if (b->ids[k] == 6) bad_batch = i;
    }
    sg_loader_close(l);
    tap_ok(bad_batch >= 0, "index 6 is in batch %d of epoch 0", bad_batch);

    mem_src m = {.bad = 6};
    for (int workers = 1; workers <= 3; workers += 2) {
        config_(&cfg, SG_LOADER_UNLABELED, workers, 3);
        src = source_(&m);
        l = sg_loader_open(&src, &cfg, &err);
        int got = -1;
        for (int i = 0; i < 6; i++) {
            const sg_batch *b;
            if (sg_loader_next(l, &b, &err) != 0) {
                got = i;
                break;
            }
        }
        char want[64];
        snprintf(want, sizeof want, "epoch 0 batch %d", bad_batch);
        tap_ok(got == bad_batch && strstr(err.msg, "bad_006.jpg: truncated JPEG") && strstr(err.msg, want),
               "%d worker(s): the corrupt file fails batch %d with its name: %s", workers, got, err.msg);
        const sg_batch *b;
        tap_ok(sg_loader_next(l, &b, &err3) == -1 && strcmp(err3.msg, err.msg) == 0,
               "%d worker(s): later calls keep failing with the same message", workers);
        sg_loader_close(l);
    }

    mem_src none = {.bad = -1};
    src = source_(&none);
    src.n = 0;
    config_(&cfg, SG_LOADER_LABELED, 1, 1);
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "empty"), "an empty source is an error");
    src.n = N_SRC;
    cfg.batch_size = 0;
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "batch_size 0"), "batch_size 0 is an error");
    config_(&cfg, SG_LOADER_LABELED, 1, 1);
    cfg.batch_size = 20;
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "no full batch"),
           "13 samples with batch 20 and drop_last is an error: %s", err.msg);
    config_(&cfg, SG_LOADER_LABELED, 1, 1);
    cfg.aug.strong.blur_p = 2.0f;
    tap_ok(sg_loader_open(&src, &cfg, &err) == NULL && strstr(err.msg, "probabilities"),
           "a bad augmentation config is an error");

    /* shutdown with workers busy and batches pending */
    config_(&cfg, SG_LOADER_UNLABELED, 3, 4);
    l = sg_loader_open(&src, &cfg, &err);
    const sg_batch *b;
    int rc = sg_loader_next(l, &b, &err);
    sg_loader_close(l);
    tap_ok(rc == 0, "closing after one batch with 3 busy workers returns");
}

int main(void)
{
    test_determinism_(SG_LOADER_LABELED, "labeled");
    test_determinism_(SG_LOADER_UNLABELED, "unlabeled");
    test_recompute_();
    test_epochs_();
    test_order_id_();
    test_views_();
    test_errors_();
    return tap_done();
}
