/*
 * synth.h: the synthetic VOC-format dataset of the `demo` benchmark.
 *
 * The project's design "v7" (measured with a PyTorch prototype; see
 * README.md "Demo schedule"): 64x64 RGB scenes, background (class 0) = smooth colour
 * field + low-contrast textured clutter blobs, 2-4 objects of 6 classes whose
 * identity is carried by texture (aligned with the image axes) and shape, never
 * by colour; then a lighting gradient, gain, Gaussian blur, noise and 8-bit
 * quantisation. Classes: 1 disk + horizontal stripes, 2 square + vertical
 * stripes, 3 cross + dots, 4 triangle + rings, 5 disk + checker, 6 cross +
 * horizontal stripes (only shape separates 1 from 6).
 *
 * Determinism: image `index` of a subset drawn with `seed` is a pure function
 * of (params, seed, index): one Philox stream per image, key = seed, stream =
 * sg_rng_stream(SG_RNG_SYNTH, 0, index). Images are generated in
 * parallel and image i never depends on images < i or on the thread count.
 * The parameters of a version are frozen: tests/test_synth.c pins a checksum
 * of the raw pixels and labels of the first images, so any change to a
 * parameter, to the order of the random draws or to the arithmetic fails it;
 * a changed design gets a new version name.
 *
 * Files (VOC layout under root):
 *   JPEGImages/<id>.jpg             the image, stored as a lossless RGB PNG
 *                                   (the readers dispatch on magic bytes):
 *                                   the decoded pixels are then exactly the
 *                                   generated ones on every machine, whereas a
 *                                   JPEG's pixels depend on the codec build and
 *                                   its artefacts would change the measured
 *                                   design (fine textures of period 5-8 px).
 *   SegmentationClass/<id>.png      palette PNG (VOC palette), values 0..6
 *   ImageSets/Segmentation/{train,val,test}.txt   bare ids, one per line
 * ids: "train_%05d" (seed train_seed), "val_%05d" (seed val_seed) and
 * "test_%05d" (seed test_seed): the held-out test set, never seen by
 * training or model selection (README.md "Demo results").
 *
 * Covered by tests/test_synth.c.
 */
#ifndef SEMISEG_SYNTH_H
#define SEMISEG_SYNTH_H

#include "semiseg/base.h"
#include "semiseg/image.h"
#include "semiseg/rng.h"

/* The generator's streams use kind SG_RNG_SYNTH of rng.h (a = 0: images,
 * a = 1: split permutations). */
/* Largest image count of a subset (ids have 5 digits). */
#define SG_SYNTH_MAX_IMAGES 100000

typedef enum sg_synth_shape {
    SG_SYNTH_DISK = 0,     /* u^2 + v^2 <= 0.85^2 */
    SG_SYNTH_SQUARE = 1,   /* max(|u|, |v|) <= 0.72 */
    SG_SYNTH_TRIANGLE = 2, /* equilateral, inradius 0.5 */
    SG_SYNTH_CROSS = 3     /* two bars of half-width 0.3, half-length 0.95 */
} sg_synth_shape;

typedef enum sg_synth_texture {
    SG_SYNTH_HSTRIPES = 0,
    SG_SYNTH_VSTRIPES = 1,
    SG_SYNTH_DOTS = 2,
    SG_SYNTH_RINGS = 3,
    SG_SYNTH_CHECKER = 4,
    SG_SYNTH_N_TEXTURES = 5
} sg_synth_texture;

#define SG_SYNTH_MAX_CLASSES 16

/* Ranges are [lo, hi): uniform reals; integer counts are inclusive {lo..hi}.
 * Lengths are in pixels of the size x size image. */
typedef struct sg_synth_params {
    const char *version;          /* "v7" */
    int size;                     /* image height = width */
    int n_classes;                /* including background 0 */
    uint64_t train_seed, val_seed, test_seed;
    int default_train, default_val, default_test;
    /* background: n x n grid of uniform RGB colours, bilinear upsampling
     * (half-pixel centres, edge clamped, as torch align_corners=False),
     * times U(bg_gain), plus U(bg_offset) */
    int grid_min, grid_max;
    double bg_gain[2], bg_offset[2];
    /* clutter blobs (labelled background): union of ellipses */
    int blobs_min, blobs_max;
    int blob_ellipses_min, blob_ellipses_max;
    double blob_spread;           /* std of the ellipse centre around the blob centre */
    double blob_axis_a[2], blob_axis_b[2];
    double blob_contrast[2];      /* luminance difference of the two colours */
    /* objects */
    int objects_min, objects_max;
    double radius[2];             /* circumradius r */
    double centre_margin;         /* centre in U(m r, size - m r) per axis */
    double object_contrast[2];
    int colour_tries;             /* then push c2's luminance to the lower bound */
    double period[2];             /* texture period (objects and blobs) */
    sg_synth_shape class_shape[SG_SYNTH_MAX_CLASSES];     /* index = class id >= 1 */
    sg_synth_texture class_texture[SG_SYNTH_MAX_CLASSES];
    /* imaging */
    double light[2];              /* gradient amplitude a */
    double gain[2];
    double blur_sigma[2];
    double blur_radius_factor;    /* kernel radius ceil(factor * sigma) */
    double noise_sigma[2];
} sg_synth_params;

/* The frozen parameters of a version ("v7"), or NULL when unknown. */
const sg_synth_params *sg_synth_params_find(const char *version);

/* Image `index` of the subset drawn with `seed`: img (size, size, 3) and
 * mask (size, size, 1) with class ids; both allocated here (free with
 * sg_image_free). */
void sg_synth_generate(const sg_synth_params *p, uint64_t seed, uint64_t index, sg_image *img,
                       sg_image *mask);

/* The id of image `index` of a subset ("train", "val" or "test"): "train_00042". */
void sg_synth_id(char *buf, size_t len, const char *subset, int index);

/* Write n_train + n_val + n_test images in the VOC layout under root
 * (directories created as needed, every file atomic; test.txt only when
 * n_test > 0), OpenMP over images. Returns 0, or -1 with err naming the
 * first path that failed (lowest image index). */
int sg_synth_write(const char *root, const sg_synth_params *p, int n_train, int n_val, int n_test,
                   sg_err *err);

/* Split files in the UniMatch format ("JPEGImages/<id>.jpg
 * SegmentationClass/<id>.png") for the pool of n_train training images:
 * dir/<L>/labeled.txt = the first L images of a Fisher-Yates permutation of
 * the pool (Philox key split_seed, stream sg_rng_stream(SG_RNG_SYNTH, 1,
 * 0)), listed in pool order, so smaller protocols are subsets of larger ones;
 * dir/<L>/unlabeled.txt = the rest of the pool in pool order (empty when L
 * is the whole pool: full supervision); dir/val.txt =
 * all n_val validation images; dir/test.txt = all n_test test images (when
 * n_test > 0). Returns 0 or -1 with err set. */
int sg_synth_write_splits(const char *dir, int n_train, int n_val, int n_test, const int *labeled,
                          int n_protocols, uint64_t split_seed, sg_err *err);

#endif
