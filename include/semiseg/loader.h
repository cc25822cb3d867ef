/*
 * loader.h: batches of augmented samples, prefetched by worker threads.
 *
 * A loader reads samples through a callback (sg_source; a dataset plugs in
 * with a three-line adapter around sg_dataset_load), augments them as UniMatch
 * does (augment.h; UniMatch dataset/semi.py) and assembles batches:
 *   labeled    img (N, 3, S, S) float, normalised; mask (N, S, S) int32, 255 = ignore
 *   unlabeled  img = the weak view, img_s1, img_s2 (N, 3, S, S); ignore (N, S, S)
 *              int32 = 255 where the crop is padding, else 0; box1, box2
 *              (N, S, S) int32 CutMix masks (1 inside) and the boxes as rectangles
 * (UniMatch's train_l returns (img, mask); train_u returns (img_w, img_s1,
 * img_s2, ignore_mask, cutmix_box1, cutmix_box2)). An unlabeled loader builds
 * img and ignore always and, of the rest, only the parts its config's `views`
 * names (SG_VIEW_*): the others are NULL in every batch and cost nothing but
 * their draws. A method declares the parts it reads (run.h, unlabeled_views).
 *
 * Determinism: batches are bitwise identical for any number of workers and
 * any prefetch depth, because every draw is keyed, never taken from a shared
 * generator:
 *   epoch order  key seed, stream sg_rng_stream(SG_RNG_DATA_ORDER, order id, epoch):
 *                the list 0..n-1 repeated to epoch_len entries (UniMatch repeats
 *                the labeled list to the unlabeled size), then Fisher-Yates
 *                (for i = len-1..1: j = sg_rng_below(i + 1), swap) when shuffling
 *   sample       key seed, stream sg_rng_stream(SG_RNG_AUGMENT, id << 16 | epoch,
 *                position in the epoch): weak draws, then for unlabeled samples
 *                strong view 1, box 1, strong view 2, box 2 (augment.h lists the
 *                draws of each step). The four are drawn whether or not they
 *                are built, so a part that is built has the same bytes
 *                whatever else `views` asks for
 * `id` separates loaders sharing a run seed (labeled, unlabeled, mix source);
 * the order stream uses `order_id` instead when it is set. Epochs must stay
 * below 65536.
 *
 * Errors: a sample that fails to load (a corrupt file) fails its batch; the
 * consumer gets -1 from sg_loader_next with the source's message (which names
 * the file) prefixed by the epoch, batch and sample, at the same batch for any
 * number of workers, and every later call fails too. sg_loader_close stops the
 * workers (after their current batch) and frees everything.
 *
 * Covered by tests/test_loader.c; throughput in bench/bench_loader.c.
 */
#ifndef SEMISEG_LOADER_H
#define SEMISEG_LOADER_H

#include "semiseg/augment.h"
#include "semiseg/base.h"
#include "semiseg/image.h"
#include "semiseg/tensor.h"

/* The sample source. load() fills img (c = 3) and, when mask is not NULL, the
 * mask (c = 1, same size); both arrive zeroed and the loader frees them. It is
 * called from several threads at once, so it must be thread-safe (reading
 * files is). Returns 0, or -1 with err naming the file. */
typedef struct sg_source {
    void *ctx;
    int n;                 /* number of samples */
    int (*load)(void *ctx, int index, sg_image *img, sg_image *mask, sg_err *err);
} sg_source;

typedef enum sg_loader_kind { SG_LOADER_LABELED = 0, SG_LOADER_UNLABELED = 1 } sg_loader_kind;

/* The parts of an unlabeled batch besides img and ignore, as bits of
 * sg_loader_config.views: a part not asked for is neither augmented nor
 * allocated (its sg_batch pointers are NULL). */
enum {
    SG_VIEWS_WEAK = 0,           /* none: the weak view and its padding mask only */
    SG_VIEW_S1 = 1 << 0,         /* img_s1 */
    SG_VIEW_BOX1 = 1 << 1,       /* box1 and boxes1 */
    SG_VIEW_S2 = 1 << 2,         /* img_s2 */
    SG_VIEW_BOX2 = 1 << 3,       /* box2 and boxes2 */
    SG_VIEWS_STRONG = SG_VIEW_S1 | SG_VIEW_S2,
    SG_VIEWS_ALL = SG_VIEW_S1 | SG_VIEW_BOX1 | SG_VIEW_S2 | SG_VIEW_BOX2
};

typedef struct sg_loader_config {
    sg_loader_kind kind;
    int batch_size;
    int epoch_len;         /* samples per epoch; 0 = the source's n */
    bool shuffle;
    bool drop_last;        /* drop a last partial batch (UniMatch: true for training) */
    bool unlabeled_mask;   /* unlabeled: read the mask (UniMatch does; only its
                              254 padding marks are used). false: none is read */
    bool labeled_strong;   /* labeled: img_s1 = a strong view of the weak crop
                              (drawn after the weak draws, no box), as AllSpark
                              trains on (dataset/semi.py, train_l) */
    unsigned views;        /* unlabeled: the SG_VIEW_* parts to build (default
                              SG_VIEWS_ALL); ignored by a labeled loader */
    uint64_t seed;
    unsigned id;           /* 0..255 */
    /* The id keying the epoch order: -1 (the default) = id. Another loader's
     * id, with the same source, epoch_len and shuffle, gives that loader's
     * order: the same samples batch by batch, augmented under this loader's
     * own id (UniMatch's loader_u_mix: the same images as loader_u, see
     * experiments/unimatch/README.md "Quirk switches"). */
    int order_id;
    int start_epoch;       /* first epoch produced (resume) */
    int start_batch;       /* first batch of that epoch, in [0, batches per
                              epoch): a resume starts mid-epoch without
                              loading the batches already consumed */
    int n_workers;         /* >= 1 */
    int prefetch;          /* batches made ahead of the consumer, >= 1 */
    sg_augment_config aug;
} sg_loader_config;

/* UniMatch training defaults: shuffle, drop_last, the UniMatch augmentation
 * for `crop`, every view, 2 workers, prefetch 2, id 0 (labeled) or 1
 * (unlabeled). */
void sg_loader_config_default(sg_loader_config *cfg, sg_loader_kind kind, int batch_size, int crop,
                              uint64_t seed);

typedef struct sg_batch {
    int n;                 /* samples in this batch (batch_size except a last partial one) */
    int epoch, index;      /* the epoch and the batch's index in it */
    int32_t *ids;          /* (N) source indices */
    sg_tensor *img;        /* (N, 3, S, S) labeled image or weak view */
    sg_tensor *mask;       /* (N, S, S) labels (labeled; NULL otherwise) */
    sg_tensor *img_s1;     /* (N, 3, S, S) strong views (unlabeled with SG_VIEW_S1 /
                              SG_VIEW_S2, or labeled with labeled_strong; NULL
                              otherwise) */
    sg_tensor *img_s2;
    sg_tensor *ignore;     /* (N, S, S) 255 = padding, 0 = image (unlabeled) */
    sg_tensor *box1;       /* (N, S, S) CutMix masks for s1 and s2 (unlabeled with
                              SG_VIEW_BOX1 / SG_VIEW_BOX2; NULL otherwise) */
    sg_tensor *box2;
    sg_box *boxes1;        /* (N) the same boxes as rectangles (with box1 / box2) */
    sg_box *boxes2;
} sg_batch;

typedef struct sg_loader sg_loader;

/* Starts the workers. Returns NULL with err set for a bad config or an empty
 * source. `src` is copied; its ctx must outlive the loader. */
sg_loader *sg_loader_open(const sg_source *src, const sg_loader_config *cfg, sg_err *err);
/* The next batch, in order across epochs from start_epoch. The batch stays
 * valid until the next call or close. Returns 0, or -1 with err set. */
int sg_loader_next(sg_loader *l, const sg_batch **batch, sg_err *err);
int sg_loader_batches_per_epoch(const sg_loader *l);
void sg_loader_close(sg_loader *l);

#endif
