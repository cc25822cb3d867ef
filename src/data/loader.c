/*
 * loader.c: the prefetching batch loader (loader.h).
 *
 * Threads: n_workers pthreads and a ring of prefetch + 1 batch slots (one is
 * held by the consumer). Batches are numbered globally (seq = batches since
 * start_epoch); a worker claims the lowest unclaimed seq as long as it lies
 * within the ring's window above the oldest batch the consumer has not
 * released, fills slot seq % n_slots without holding the lock, and marks it
 * ready (or failed). The consumer takes slots strictly in seq order. What a
 * batch contains depends only on (seed, id, epoch, position), never on which
 * thread made it or when, so any worker count and prefetch depth give the
 * same bytes. An unlabeled sample takes the draws of all four optional parts
 * (strong views, boxes) and does the pixel work of those in cfg.views only:
 * skipping a draw would shift the draws of every part after it.
 *
 * Reference: UniMatch dataset/semi.py (SemiDataset.__getitem__) and its
 * DataLoader/DistributedSampler use (LiheYoung/UniMatch@0324f3d:unimatch.py, dataset/semi.py). Covered by
 * tests/test_loader.c.
 */
#include "semiseg/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* sg_rng_stream packs the loader id and the epoch into its 24-bit `a` field */
#define LOADER_EPOCH_BITS 16
#define LOADER_MAX_ID 255

typedef enum slot_state { SLOT_FREE = 0, SLOT_BUSY, SLOT_READY, SLOT_FAILED } slot_state;

typedef struct slot {
    int64_t seq;
    slot_state state;
    sg_batch b;
    sg_err err;
} slot;

/* Per-worker scratch: the epoch order cache and reusable images. */
typedef struct worker {
    struct sg_loader *l;
    pthread_t thread;
    int order_epoch;
    int32_t *order;         /* (epoch_len) source indices of order_epoch */
    sg_image img, mask, wi, wm, s;
} worker;

struct sg_loader {
    sg_source src;
    sg_loader_config cfg;
    int epoch_len, bpe, crop;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   /* a slot was released, or stop */
    pthread_cond_t cv_ready;  /* a slot became ready or failed */
    slot *slots;
    int n_slots;
    int64_t next_claim;       /* the next seq a worker will take */
    int64_t next_consume;     /* the next seq the consumer will return */
    bool holding;             /* the consumer holds seq next_consume - 1 */
    bool stop, failed;
    sg_err fail_err;
    worker *workers;
    int n_started;
};

void sg_loader_config_default(sg_loader_config *cfg, sg_loader_kind kind, int batch_size, int crop, uint64_t seed)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->batch_size = batch_size;
    cfg->shuffle = true;
    cfg->drop_last = true;
    cfg->unlabeled_mask = true;
    cfg->views = SG_VIEWS_ALL;
    cfg->seed = seed;
    cfg->id = kind == SG_LOADER_LABELED ? 0 : 1;
    cfg->order_id = -1;
    cfg->n_workers = 2;
    cfg->prefetch = 2;
    sg_augment_config_unimatch(&cfg->aug, crop);
}

int sg_loader_batches_per_epoch(const sg_loader *l) { return l->bpe; }

/* ---- one sample --------------------------------------------------------------- */

static void epoch_order_(worker *w, int epoch)
{
    const sg_loader *l = w->l;
    if (w->order_epoch == epoch) return;
    for (int i = 0; i < l->epoch_len; i++) w->order[i] = i % l->src.n;
    if (l->cfg.shuffle) {
        sg_rng r;
        unsigned order_id = l->cfg.order_id < 0 ? l->cfg.id : (unsigned)l->cfg.order_id;
        sg_rng_init(&r, l->cfg.seed, sg_rng_stream(SG_RNG_DATA_ORDER, order_id, (uint64_t)epoch));
        for (int i = l->epoch_len - 1; i > 0; i--) {
            int j = (int)sg_rng_below(&r, (uint32_t)(i + 1));
            int32_t t = w->order[i];
            w->order[i] = w->order[j];
            w->order[j] = t;
        }
    }
    w->order_epoch = epoch;
}

static void labels_i32_(int32_t *dst, const sg_image *m)
{
    size_t n = (size_t)m->h * m->w;
    for (size_t i = 0; i < n; i++) dst[i] = m->data[i];
}

/* Sample i of `view`: the strong view `sp` of the weak crop w->wi, normalised. */
static void strong_view_(worker *w, sg_tensor *view, int i, const sg_augment_config *aug,
                         const sg_strong_params *sp)
{
    const int S = w->l->crop;
    const size_t hw = (size_t)S * S;
    if (!w->s.data) sg_image_alloc(&w->s, S, S, 3);
    memcpy(w->s.data, w->wi.data, hw * 3);
    sg_aug_strong_apply(&w->s, sp);
    sg_aug_normalize(view->data + (size_t)i * 3 * hw, &w->s, aug->mean, aug->std);
}

/* Loads, augments and writes sample `i` of batch b (source index `index`,
 * position `pos` of `epoch`). */
static int make_sample_(worker *w, sg_batch *b, int i, int epoch, int pos, int index, sg_err *err)
{
    const sg_loader *l = w->l;
    const sg_augment_config *aug = &l->cfg.aug;
    const int S = l->crop;
    const size_t hw = (size_t)S * S;
    const bool labeled = l->cfg.kind == SG_LOADER_LABELED;
    const bool want_mask = labeled || l->cfg.unlabeled_mask;
    sg_image_free(&w->img);
    sg_image_free(&w->mask);
    sg_err e = {{0}};
    if (l->src.load(l->src.ctx, index, &w->img, want_mask ? &w->mask : NULL, &e) != 0) {
        sg_image_free(&w->img);
        sg_image_free(&w->mask);
        return sg_err_set(err, "%s", e.msg[0] ? e.msg : "the source's load failed without a message");
    }
    if (!w->img.data || w->img.c != 3)
        return sg_err_set(err, "source sample %d: expected an RGB image", index);
    if (want_mask && (!w->mask.data || w->mask.c != 1 || w->mask.h != w->img.h || w->mask.w != w->img.w))
        return sg_err_set(err, "source sample %d: mask missing or not %dx%dx1 like its image", index, w->img.h,
                          w->img.w);
    if (!want_mask) sg_image_alloc(&w->mask, w->img.h, w->img.w, 1); /* zeros: only padding is marked */
    int L = w->img.h > w->img.w ? w->img.h : w->img.w;
    if ((int)(L * aug->weak.scale_min) < 1)
        return sg_err_set(err, "source sample %d: a %dx%d image is too small to rescale", index, w->img.h,
                          w->img.w);

    sg_rng r;
    sg_rng_init(&r, l->cfg.seed,
                sg_rng_stream(SG_RNG_AUGMENT, ((uint64_t)l->cfg.id << LOADER_EPOCH_BITS) | (uint64_t)epoch,
                              (uint64_t)pos));
    sg_weak_params wp;
    sg_aug_weak_draw(&wp, &aug->weak, w->img.h, w->img.w, &r);
    int fill = labeled ? aug->weak.label_fill : aug->weak.unlabeled_fill;
    sg_aug_weak_apply(&w->wi, &w->wm, &w->img, &w->mask, &wp, &aug->weak, fill);
    sg_aug_normalize(b->img->data + (size_t)i * 3 * hw, &w->wi, aug->mean, aug->std);
    sg_strong_params sp;
    if (labeled) {
        labels_i32_(b->mask->i32 + (size_t)i * hw, &w->wm);
        if (l->cfg.labeled_strong) {
            sg_aug_strong_draw(&sp, &aug->strong, &r);
            strong_view_(w, b->img_s1, i, aug, &sp);
        }
        return 0;
    }
    /* A part left out of cfg.views has no tensor: it is drawn, not built. */
    sg_tensor *views[2] = {b->img_s1, b->img_s2};
    sg_tensor *boxes[2] = {b->box1, b->box2};
    sg_box *rects[2] = {b->boxes1, b->boxes2};
    for (int v = 0; v < 2; v++) {
        sg_aug_strong_draw(&sp, &aug->strong, &r);
        if (views[v]) strong_view_(w, views[v], i, aug, &sp);
        sg_box box;
        sg_cutmix_box(&box, S, &aug->cutmix, &r);
        if (boxes[v]) {
            rects[v][i] = box;
            sg_box_mask(boxes[v]->i32 + (size_t)i * hw, S, S, &box);
        }
    }
    /* semi.py: ignore_mask[mask == 254] = 255 */
    int32_t *ign = b->ignore->i32 + (size_t)i * hw;
    for (size_t k = 0; k < hw; k++) ign[k] = w->wm.data[k] == aug->weak.unlabeled_fill ? 255 : 0;
    return 0;
}

static int make_batch_(worker *w, slot *s)
{
    sg_loader *l = w->l;
    sg_batch *b = &s->b;
    int epoch = l->cfg.start_epoch + (int)(s->seq / l->bpe);
    int index = (int)(s->seq % l->bpe);
    int first = index * l->cfg.batch_size;
    int n = l->epoch_len - first < l->cfg.batch_size ? l->epoch_len - first : l->cfg.batch_size;
    b->n = n;
    b->epoch = epoch;
    b->index = index;
    sg_tensor *ts[] = {b->img, b->mask, b->img_s1, b->img_s2, b->ignore, b->box1, b->box2};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
        if (ts[k]) ts[k]->shape[0] = n;
    epoch_order_(w, epoch);
    for (int i = 0; i < n; i++) {
        int pos = first + i;
        b->ids[i] = w->order[pos];
        sg_err e;
        if (make_sample_(w, b, i, epoch, pos, w->order[pos], &e) != 0)
            return sg_err_set(&s->err, "loader: epoch %d batch %d sample %d (source index %d): %s", epoch, index,
                              i, w->order[pos], e.msg);
    }
    return 0;
}

/* ---- threads -------------------------------------------------------------------- */

/* The oldest seq the consumer has not released: slots of [base, base + n_slots) are distinct. */
static int64_t window_base_(const sg_loader *l) { return l->next_consume - (l->holding ? 1 : 0); }

static void *worker_main_(void *arg)
{
    worker *w = arg;
    sg_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->failed && l->next_claim >= window_base_(l) + l->n_slots)
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->stop || l->failed) break;
        int64_t seq = l->next_claim++;
        slot *s = &l->slots[seq % l->n_slots];
        s->seq = seq;
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&l->mu);
        int rc = make_batch_(w, s);
        pthread_mutex_lock(&l->mu);
        s->state = rc == 0 ? SLOT_READY : SLOT_FAILED;
        /* batches after a failed one are never returned: stop claiming */
        if (rc != 0) l->failed = true;
        pthread_cond_broadcast(&l->cv_ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int sg_loader_next(sg_loader *l, const sg_batch **batch, sg_err *err)
{
    pthread_mutex_lock(&l->mu);
    if (l->holding) {
        l->slots[(l->next_consume - 1) % l->n_slots].state = SLOT_FREE;
        l->holding = false;
        pthread_cond_broadcast(&l->cv_work);
    }
    if (l->fail_err.msg[0]) {
        pthread_mutex_unlock(&l->mu);
        return sg_err_set(err, "%s", l->fail_err.msg);
    }
    slot *s = &l->slots[l->next_consume % l->n_slots];
    while (!(s->seq == l->next_consume && (s->state == SLOT_READY || s->state == SLOT_FAILED)))
        pthread_cond_wait(&l->cv_ready, &l->mu);
    if (s->state == SLOT_FAILED) {
        l->fail_err = s->err;
        pthread_mutex_unlock(&l->mu);
        return sg_err_set(err, "%s", l->fail_err.msg);
    }
    l->holding = true;
    l->next_consume++;
    *batch = &s->b;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

/* ---- open / close ---------------------------------------------------------------- */

static sg_tensor *alloc_(sg_dtype dt, int ndim, int n, int c, int s)
{
    int shape4[4] = {n, c, s, s}, shape3[3] = {n, s, s};
    return sg_tensor_alloc(dt, ndim, ndim == 4 ? shape4 : shape3, false);
}

/* The batch's tensors for cfg: a part that is not built stays NULL, which
 * is how make_sample_ knows to skip it. */
static void batch_alloc_(sg_batch *b, const sg_loader_config *cfg, int n, int S)
{
    memset(b, 0, sizeof *b);
    b->ids = sg_xcalloc((size_t)n, sizeof *b->ids);
    b->img = alloc_(SG_F32, 4, n, 3, S);
    if (cfg->kind == SG_LOADER_LABELED) {
        b->mask = alloc_(SG_I32, 3, n, 1, S);
        if (cfg->labeled_strong) b->img_s1 = alloc_(SG_F32, 4, n, 3, S);
        return;
    }
    b->ignore = alloc_(SG_I32, 3, n, 1, S);
    if (cfg->views & SG_VIEW_S1) b->img_s1 = alloc_(SG_F32, 4, n, 3, S);
    if (cfg->views & SG_VIEW_S2) b->img_s2 = alloc_(SG_F32, 4, n, 3, S);
    if (cfg->views & SG_VIEW_BOX1) {
        b->box1 = alloc_(SG_I32, 3, n, 1, S);
        b->boxes1 = sg_xcalloc((size_t)n, sizeof *b->boxes1);
    }
    if (cfg->views & SG_VIEW_BOX2) {
        b->box2 = alloc_(SG_I32, 3, n, 1, S);
        b->boxes2 = sg_xcalloc((size_t)n, sizeof *b->boxes2);
    }
}

static void batch_free_(sg_batch *b)
{
    sg_tensor *ts[] = {b->img, b->mask, b->img_s1, b->img_s2, b->ignore, b->box1, b->box2};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
        if (ts[k]) sg_tensor_free(ts[k]);
    free(b->ids);
    free(b->boxes1);
    free(b->boxes2);
}

static void loader_free_(sg_loader *l)
{
    for (int i = 0; i < l->n_slots; i++) batch_free_(&l->slots[i].b);
    for (int i = 0; i < l->cfg.n_workers; i++) {
        worker *w = &l->workers[i];
        free(w->order);
        sg_image_free(&w->img);
        sg_image_free(&w->mask);
        sg_image_free(&w->wi);
        sg_image_free(&w->wm);
        sg_image_free(&w->s);
    }
    free(l->slots);
    free(l->workers);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_ready);
    free(l);
}

sg_loader *sg_loader_open(const sg_source *src, const sg_loader_config *cfg, sg_err *err)
{
    SG_CHECK(src && src->load && cfg, "sg_loader_open: NULL source, load callback or config");
    if (src->n < 1) {
        sg_err_set(err, "loader: the source is empty (no samples in the split)");
        return NULL;
    }
    if (cfg->kind != SG_LOADER_LABELED && cfg->kind != SG_LOADER_UNLABELED) {
        sg_err_set(err, "loader: unknown kind %d", (int)cfg->kind);
        return NULL;
    }
    int epoch_len = cfg->epoch_len ? cfg->epoch_len : src->n;
    if (cfg->batch_size < 1 || cfg->n_workers < 1 || cfg->prefetch < 1 || epoch_len < 1) {
        sg_err_set(err, "loader: batch_size %d, n_workers %d, prefetch %d and epoch_len %d must be >= 1",
                   cfg->batch_size, cfg->n_workers, cfg->prefetch, epoch_len);
        return NULL;
    }
    if (cfg->id > LOADER_MAX_ID || cfg->order_id < -1 || cfg->order_id > LOADER_MAX_ID || cfg->start_epoch < 0 ||
        cfg->start_epoch >= (1 << LOADER_EPOCH_BITS)) {
        sg_err_set(err, "loader: id %u and order_id %d must be <= %d (order_id -1: id) and start_epoch %d in [0, %d)",
                   cfg->id, cfg->order_id, LOADER_MAX_ID, cfg->start_epoch, 1 << LOADER_EPOCH_BITS);
        return NULL;
    }
    int bpe = cfg->drop_last ? epoch_len / cfg->batch_size : (epoch_len + cfg->batch_size - 1) / cfg->batch_size;
    if (bpe < 1) {
        sg_err_set(err, "loader: %d samples per epoch make no full batch of %d (drop_last)", epoch_len,
                   cfg->batch_size);
        return NULL;
    }
    if (cfg->start_batch < 0 || cfg->start_batch >= bpe) {
        sg_err_set(err, "loader: start_batch %d outside [0, %d)", cfg->start_batch, bpe);
        return NULL;
    }
    if (cfg->views & ~(unsigned)SG_VIEWS_ALL) {
        sg_err_set(err, "loader: views 0x%x has bits outside SG_VIEWS_ALL (0x%x)", cfg->views,
                   (unsigned)SG_VIEWS_ALL);
        return NULL;
    }
    if (sg_augment_config_check(&cfg->aug, err) != 0) return NULL;

    sg_loader *l = sg_xcalloc(1, sizeof *l);
    l->src = *src;
    l->cfg = *cfg;
    l->epoch_len = epoch_len;
    l->bpe = bpe;
    l->crop = cfg->aug.weak.crop;
    /* seq counts batches from batch 0 of start_epoch; every draw is keyed by
     * (epoch, position), so skipping seqs skips nothing else. */
    l->next_claim = l->next_consume = cfg->start_batch;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_ready, NULL);
    l->n_slots = cfg->prefetch + 1;
    l->slots = sg_xcalloc((size_t)l->n_slots, sizeof *l->slots);
    for (int i = 0; i < l->n_slots; i++) {
        l->slots[i].seq = -1;
        batch_alloc_(&l->slots[i].b, cfg, cfg->batch_size, l->crop);
    }
    l->workers = sg_xcalloc((size_t)cfg->n_workers, sizeof *l->workers);
    for (int i = 0; i < cfg->n_workers; i++) {
        worker *w = &l->workers[i];
        w->l = l;
        w->order_epoch = -1;
        w->order = sg_xmalloc((size_t)epoch_len * sizeof *w->order);
    }
    for (int i = 0; i < cfg->n_workers; i++) {
        if (pthread_create(&l->workers[i].thread, NULL, worker_main_, &l->workers[i]) != 0) {
            sg_err_set(err, "loader: cannot start worker thread %d of %d", i + 1, cfg->n_workers);
            sg_loader_close(l);
            return NULL;
        }
        l->n_started++;
    }
    return l;
}

void sg_loader_close(sg_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_started; i++) pthread_join(l->workers[i].thread, NULL);
    loader_free_(l);
}
