/*
 * synth.c: the synthetic VOC-format dataset (synth.h), generator design
 * "v7" (textured shapes on a textured background: README.md "Demo schedule"
 * and splits/demo/README.md), and its split files.
 *
 * Coordinates are pixel centres (x + 0.5, y + 0.5); values stay in [0, 1]
 * (doubles) until the final clip and round(255 x). Order of the random draws
 * of one image (one Philox stream), which the golden checksum of
 * tests/test_synth.c freezes:
 *   background  n, then n*n RGB colours (row-major), gain, offset
 *   blobs       count; per blob: centre x, y, ellipse count, per ellipse
 *               (dx, dy normals, a, b, rotation), texture family, period,
 *               phase, texture origin x, y, colour pair
 *   objects     count; per object: class, r, centre x, y, theta, period,
 *               phase, colour pair
 *   imaging     light amplitude, light angle, gain, blur sigma, noise sigma,
 *               then one normal per value, row-major, channel fastest
 * A colour pair draws (R, G, B) twice per try until the luminance difference
 * is in range. Textures test the sign of sin(2 pi t) as frac(t) in (0, 1/2),
 * which is exact and needs no libm.
 *
 * Covered by tests/test_synth.c.
 */
#include "semiseg/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg/io.h"
#include "semiseg/rng.h"

/* What v7 and v7p share: everything but the classes and the pools. */
#define SG_SYNTH_V7_SCENE_ \
    .size = 64, \
    .grid_min = 2, \
    .grid_max = 4, \
    .bg_gain = {0.4, 1.0}, \
    .bg_offset = {0.0, 0.3}, \
    .blobs_min = 1, \
    .blobs_max = 3, \
    .blob_ellipses_min = 2, \
    .blob_ellipses_max = 3, \
    .blob_spread = 6.0, \
    .blob_axis_a = {6.0, 20.0}, \
    .blob_axis_b = {4.0, 12.0}, \
    .blob_contrast = {0.15, 0.40}, \
    .objects_min = 2, \
    .objects_max = 4, \
    .radius = {11.0, 20.0}, \
    .centre_margin = 0.4, \
    .object_contrast = {0.40, 0.80}, \
    .colour_tries = 50, \
    .period = {5.0, 8.0}, \
    .light = {0.0, 0.5}, \
    .gain = {0.8, 1.2}, \
    .blur_sigma = {0.2, 0.6}, \
    .blur_radius_factor = 2.5, \
    .noise_sigma = {0.01, 0.04},

static const sg_synth_params sg_synth_v7_ = {
    SG_SYNTH_V7_SCENE_
    .version = "v7",
    .n_classes = 7,
    .train_seed = 1,
    .val_seed = 2,
    .test_seed = 3,
    .default_train = 3000,
    .default_val = 500,
    .default_test = 500,
    .class_shape = {SG_SYNTH_DISK, SG_SYNTH_DISK, SG_SYNTH_SQUARE, SG_SYNTH_CROSS,
                    SG_SYNTH_TRIANGLE, SG_SYNTH_DISK, SG_SYNTH_CROSS},
    .class_texture = {SG_SYNTH_HSTRIPES, SG_SYNTH_HSTRIPES, SG_SYNTH_VSTRIPES, SG_SYNTH_DOTS,
                      SG_SYNTH_RINGS, SG_SYNTH_CHECKER, SG_SYNTH_HSTRIPES},
};

/* "v7p": the demo's pretraining task (the ImageNet analogue, README.md "Demo
 * pretraining"): v7's scenes with the 14 shape-texture pairs that v7's
 * classes do not use, drawn from pools of other seeds, so that its labels
 * never name a demo class and its images are not the demo's. Class ids
 * 1..14 by shape (disk, square, triangle, cross), then texture; entry 0
 * (background) is unused, as in v7. */
static const sg_synth_params sg_synth_v7p_ = {
    SG_SYNTH_V7_SCENE_
    .version = "v7p",
    .n_classes = 15,
    .train_seed = 11,
    .val_seed = 12,
    .test_seed = 13,
    .default_train = 3000,
    .default_val = 200,
    .default_test = 0,
    .class_shape = {SG_SYNTH_DISK, SG_SYNTH_DISK, SG_SYNTH_DISK, SG_SYNTH_DISK, SG_SYNTH_SQUARE,
                    SG_SYNTH_SQUARE, SG_SYNTH_SQUARE, SG_SYNTH_SQUARE, SG_SYNTH_TRIANGLE,
                    SG_SYNTH_TRIANGLE, SG_SYNTH_TRIANGLE, SG_SYNTH_TRIANGLE, SG_SYNTH_CROSS,
                    SG_SYNTH_CROSS, SG_SYNTH_CROSS},
    .class_texture = {SG_SYNTH_HSTRIPES, SG_SYNTH_VSTRIPES, SG_SYNTH_DOTS, SG_SYNTH_RINGS,
                      SG_SYNTH_HSTRIPES, SG_SYNTH_DOTS, SG_SYNTH_RINGS, SG_SYNTH_CHECKER,
                      SG_SYNTH_HSTRIPES, SG_SYNTH_VSTRIPES, SG_SYNTH_DOTS, SG_SYNTH_CHECKER,
                      SG_SYNTH_VSTRIPES, SG_SYNTH_RINGS, SG_SYNTH_CHECKER},
};

const sg_synth_params *sg_synth_params_find(const char *version)
{
    if (!version) return NULL;
    if (strcmp(version, sg_synth_v7_.version) == 0) return &sg_synth_v7_;
    if (strcmp(version, sg_synth_v7p_.version) == 0) return &sg_synth_v7p_;
    return NULL;
}

/* ---- random draws ---------------------------------------------------------- */

static double unif_(sg_rng *r, const double range[2])
{
    return range[0] + (range[1] - range[0]) * (double)sg_rng_uniform(r);
}

static double unif2_(sg_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)sg_rng_uniform(r);
}

static int randint_(sg_rng *r, int lo, int hi) /* {lo..hi} */
{
    return lo + (int)sg_rng_below(r, (uint32_t)(hi - lo + 1));
}

static double luma_(const double c[3])
{
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

/* Two uniform RGB colours whose luminance differs by a value in range. After
 * `tries` failures (probability < 1e-6 for v7) c2 is shifted so that its
 * luminance is range[0] away from c1's, upwards unless that leaves [0, 1]. */
static void colour_pair_(sg_rng *r, const double range[2], int tries, double c1[3], double c2[3])
{
    for (int t = 0; t < tries; t++) {
        for (int k = 0; k < 3; k++) c1[k] = sg_rng_uniform(r);
        for (int k = 0; k < 3; k++) c2[k] = sg_rng_uniform(r);
        double d = fabs(luma_(c1) - luma_(c2));
        if (d >= range[0] && d <= range[1]) return;
    }
    double y1 = luma_(c1), y2 = luma_(c2);
    bool up = y1 + range[0] <= 1.0 && (y2 >= y1 || y1 - range[0] < 0.0);
    double shift = (up ? y1 + range[0] : y1 - range[0]) - y2;
    for (int k = 0; k < 3; k++) c2[k] = fmin(1.0, fmax(0.0, c2[k] + shift));
}

/* ---- textures and shapes --------------------------------------------------- */

typedef struct texture_ {
    sg_synth_texture kind;
    double period, phase, ox, oy; /* origin: du = x - ox, dv = y - oy */
    double c1[3], c2[3];
} texture_;

static double frac_(double t)
{
    return t - floor(t);
}

/* sin(2 pi t) > 0 */
static bool sin_pos_(double t)
{
    double f = frac_(t);
    return f > 0.0 && f < 0.5;
}

static bool texture_on_(const texture_ *tx, double x, double y)
{
    double du = x - tx->ox, dv = y - tx->oy, p = tx->period, f = tx->phase;
    switch (tx->kind) {
    case SG_SYNTH_HSTRIPES: return sin_pos_(dv / p + f);
    case SG_SYNTH_VSTRIPES: return sin_pos_(du / p + f);
    case SG_SYNTH_DOTS: {
        double a = frac_(du / p + f) - 0.5, b = frac_(dv / p + f) - 0.5;
        return a * a + b * b <= 0.3 * 0.3;
    }
    case SG_SYNTH_RINGS: return sin_pos_(sqrt(du * du + dv * dv) / p + f);
    case SG_SYNTH_CHECKER: return (((long)floor(du / p + f) + (long)floor(dv / p + f)) & 1) == 0;
    default: break;
    }
    SG_CHECK(0, "texture_on_: bad texture %d", (int)tx->kind);
    return false;
}

static const double *texture_colour_(const texture_ *tx, double x, double y)
{
    return texture_on_(tx, x, y) ? tx->c1 : tx->c2;
}

/* (u, v): object coordinates, already divided by r. */
static bool shape_inside_(sg_synth_shape s, double u, double v)
{
    switch (s) {
    case SG_SYNTH_DISK: return u * u + v * v <= 0.85 * 0.85;
    case SG_SYNTH_SQUARE: return fmax(fabs(u), fabs(v)) <= 0.72;
    case SG_SYNTH_TRIANGLE: {
        /* Edge normals at -90, 30 and 150 degrees, each edge 0.5 from the centre. */
        const double c30 = 0.86602540378443864676, s30 = 0.5;
        return -v <= 0.5 && c30 * u + s30 * v <= 0.5 && -c30 * u + s30 * v <= 0.5;
    }
    case SG_SYNTH_CROSS:
        return (fabs(u) <= 0.3 && fabs(v) <= 0.95) || (fabs(v) <= 0.3 && fabs(u) <= 0.95);
    }
    SG_CHECK(0, "shape_inside_: bad shape %d", (int)s);
    return false;
}

/* ---- one image ------------------------------------------------------------- */

static void background_(const sg_synth_params *p, sg_rng *r, double *px)
{
    const int S = p->size;
    int n = randint_(r, p->grid_min, p->grid_max);
    double grid[8 * 8 * 3];
    SG_CHECK(n >= 1 && n <= 8, "sg_synth: grid size %d out of 1..8", n);
    for (int i = 0; i < n * n * 3; i++) grid[i] = sg_rng_uniform(r);
    double gain = unif_(r, p->bg_gain), offset = unif_(r, p->bg_offset);
    for (int y = 0; y < S; y++) {
        double gy = fmin(fmax((y + 0.5) * n / S - 0.5, 0.0), n - 1.0);
        int y0 = (int)gy, y1 = y0 + 1 < n ? y0 + 1 : y0;
        double wy = gy - y0;
        for (int x = 0; x < S; x++) {
            double gx = fmin(fmax((x + 0.5) * n / S - 0.5, 0.0), n - 1.0);
            int x0 = (int)gx, x1 = x0 + 1 < n ? x0 + 1 : x0;
            double wx = gx - x0;
            for (int k = 0; k < 3; k++) {
                double top = grid[(y0 * n + x0) * 3 + k] * (1 - wx) + grid[(y0 * n + x1) * 3 + k] * wx;
                double bot = grid[(y1 * n + x0) * 3 + k] * (1 - wx) + grid[(y1 * n + x1) * 3 + k] * wx;
                px[(y * S + x) * 3 + k] = (top * (1 - wy) + bot * wy) * gain + offset;
            }
        }
    }
}

static void blob_(const sg_synth_params *p, sg_rng *r, double *px)
{
    const int S = p->size;
    double bx = unif2_(r, 0, S), by = unif2_(r, 0, S);
    int ne = randint_(r, p->blob_ellipses_min, p->blob_ellipses_max);
    double el[8][4];  /* centre x, y, cos and sin of the rotation */
    double inv[8][2]; /* 1 / semi-axes */
    SG_CHECK(ne >= 1 && ne <= 8, "sg_synth: %d ellipses per blob out of 1..8", ne);
    for (int e = 0; e < ne; e++) {
        el[e][0] = bx + p->blob_spread * sg_rng_normal(r);
        el[e][1] = by + p->blob_spread * sg_rng_normal(r);
        inv[e][0] = 1.0 / unif_(r, p->blob_axis_a);
        inv[e][1] = 1.0 / unif_(r, p->blob_axis_b);
        double rot = unif2_(r, 0, M_PI);
        el[e][2] = cos(rot);
        el[e][3] = sin(rot);
    }
    texture_ tx;
    tx.kind = (sg_synth_texture)sg_rng_below(r, SG_SYNTH_N_TEXTURES);
    tx.period = unif_(r, p->period);
    tx.phase = sg_rng_uniform(r);
    tx.ox = unif2_(r, 0, S);
    tx.oy = unif2_(r, 0, S);
    colour_pair_(r, p->blob_contrast, p->colour_tries, tx.c1, tx.c2);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double cx = x + 0.5, cy = y + 0.5;
            bool in = false;
            for (int e = 0; e < ne && !in; e++) {
                double dx = cx - el[e][0], dy = cy - el[e][1];
                double u = (el[e][2] * dx + el[e][3] * dy) * inv[e][0];
                double v = (-el[e][3] * dx + el[e][2] * dy) * inv[e][1];
                in = u * u + v * v <= 1.0;
            }
            if (in) memcpy(px + (y * S + x) * 3, texture_colour_(&tx, cx, cy), 3 * sizeof(double));
        }
}

static void object_(const sg_synth_params *p, sg_rng *r, double *px, uint8_t *label)
{
    const int S = p->size;
    int cls = randint_(r, 1, p->n_classes - 1);
    double rad = unif_(r, p->radius);
    double ox = unif2_(r, p->centre_margin * rad, S - p->centre_margin * rad);
    double oy = unif2_(r, p->centre_margin * rad, S - p->centre_margin * rad);
    double theta = unif2_(r, 0, 2 * M_PI);
    texture_ tx = {.kind = p->class_texture[cls], .ox = ox, .oy = oy};
    tx.period = unif_(r, p->period);
    tx.phase = sg_rng_uniform(r);
    colour_pair_(r, p->object_contrast, p->colour_tries, tx.c1, tx.c2);
    double ct = cos(theta) / rad, st = sin(theta) / rad;
    sg_synth_shape shape = p->class_shape[cls];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double cx = x + 0.5, cy = y + 0.5, dx = cx - ox, dy = cy - oy;
            if (!shape_inside_(shape, ct * dx - st * dy, st * dx + ct * dy)) continue;
            memcpy(px + (y * S + x) * 3, texture_colour_(&tx, cx, cy), 3 * sizeof(double));
            label[y * S + x] = (uint8_t)cls;
        }
}

/* Separable Gaussian blur along one axis (step 1: rows, step S: columns),
 * edge-replicated, from src into dst. */
static void blur_axis_(int S, const double *src, double *dst, const double *w, int rad, bool rows)
{
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int k = 0; k < 3; k++) {
                double acc = 0;
                for (int t = -rad; t <= rad; t++) {
                    int xx = rows ? x + t : x, yy = rows ? y : y + t;
                    xx = xx < 0 ? 0 : xx >= S ? S - 1 : xx;
                    yy = yy < 0 ? 0 : yy >= S ? S - 1 : yy;
                    acc += w[t + rad] * src[(yy * S + xx) * 3 + k];
                }
                dst[(y * S + x) * 3 + k] = acc;
            }
}

static void imaging_(const sg_synth_params *p, sg_rng *r, double *px, double *tmp, uint8_t *out)
{
    const int S = p->size;
    double a = unif_(r, p->light), al = unif2_(r, 0, 2 * M_PI);
    double gain = unif_(r, p->gain);
    double sigma = unif_(r, p->blur_sigma);
    double noise = unif_(r, p->noise_sigma);
    double ca = cos(al), sa = sin(al), half = S / 2.0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double m = gain * (1 + a * (ca * (x + 0.5 - half) + sa * (y + 0.5 - half)) / half);
            for (int k = 0; k < 3; k++) px[(y * S + x) * 3 + k] *= m;
        }
    int rad = (int)ceil(p->blur_radius_factor * sigma);
    double w[33], sum = 0;
    SG_CHECK(rad <= 16, "sg_synth: blur radius %d over 16", rad);
    for (int t = -rad; t <= rad; t++) {
        w[t + rad] = exp(-(double)(t * t) / (2 * sigma * sigma));
        sum += w[t + rad];
    }
    for (int t = 0; t <= 2 * rad; t++) w[t] /= sum;
    blur_axis_(S, px, tmp, w, rad, true);
    blur_axis_(S, tmp, px, w, rad, false);
    for (int i = 0; i < S * S * 3; i++) {
        double v = px[i] + noise * sg_rng_normal(r);
        v = fmin(1.0, fmax(0.0, v));
        out[i] = (uint8_t)lround(255.0 * v);
    }
}

void sg_synth_generate(const sg_synth_params *p, uint64_t seed, uint64_t index, sg_image *img,
                       sg_image *mask)
{
    SG_CHECK(p && img && mask, "sg_synth_generate: NULL argument");
    SG_CHECK(p->size > 0 && p->n_classes >= 2 && p->n_classes <= SG_SYNTH_MAX_CLASSES,
             "sg_synth_generate: bad params (size %d, %d classes)", p->size, p->n_classes);
    SG_CHECK(index <= 0xFFFFFFFFu, "sg_synth_generate: index %llu over 2^32 - 1",
             (unsigned long long)index);
    const int S = p->size;
    sg_image_alloc(img, S, S, 3);
    sg_image_alloc(mask, S, S, 1); /* zeroed: background */
    double *px = sg_xmalloc((size_t)S * S * 3 * sizeof(double));
    double *tmp = sg_xmalloc((size_t)S * S * 3 * sizeof(double));
    sg_rng r;
    sg_rng_init(&r, seed, sg_rng_stream(SG_RNG_SYNTH, 0, index));
    background_(p, &r, px);
    int nb = randint_(&r, p->blobs_min, p->blobs_max);
    for (int b = 0; b < nb; b++) blob_(p, &r, px);
    int no = randint_(&r, p->objects_min, p->objects_max);
    for (int o = 0; o < no; o++) object_(p, &r, px, mask->data);
    imaging_(p, &r, px, tmp, img->data);
    free(px);
    free(tmp);
}

void sg_synth_id(char *buf, size_t len, const char *subset, int index)
{
    SG_CHECK(index >= 0 && index < SG_SYNTH_MAX_IMAGES, "sg_synth_id: index %d out of 0..%d",
             index, SG_SYNTH_MAX_IMAGES - 1);
    snprintf(buf, len, "%s_%05d", subset, index);
}

/* ---- files ------------------------------------------------------------------- */

/* The PASCAL VOC colour map: bits of the index spread over R, G, B from the
 * most significant bit down (VOCdevkit's labelcolormap). */
static void voc_palette_(uint8_t pal[256 * 3])
{
    for (int i = 0; i < 256; i++) {
        int c = i, rgb[3] = {0, 0, 0};
        for (int j = 0; j < 8; j++, c >>= 3)
            for (int k = 0; k < 3; k++) rgb[k] |= ((c >> k) & 1) << (7 - j);
        for (int k = 0; k < 3; k++) pal[i * 3 + k] = (uint8_t)rgb[k];
    }
}

static int write_image_pair_(const char *root, const sg_synth_params *p, const uint8_t *pal,
                             const char *subset, uint64_t seed, int index, sg_err *err)
{
    char id[64], path[4200];
    sg_image img, mask;
    sg_synth_id(id, sizeof id, subset, index);
    sg_synth_generate(p, seed, (uint64_t)index, &img, &mask);
    snprintf(path, sizeof path, "%s/JPEGImages/%s.jpg", root, id);
    int rc = sg_png_write(path, &img, NULL, err);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/SegmentationClass/%s.png", root, id);
        rc = sg_png_write(path, &mask, pal, err);
    }
    sg_image_free(&img);
    sg_image_free(&mask);
    return rc;
}

static int write_id_list_(const char *path, const char *subset, int n, sg_err *err)
{
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    char id[64];
    for (int i = 0; i < n; i++) {
        sg_synth_id(id, sizeof id, subset, i);
        fprintf(af.fp, "%s\n", id);
    }
    return sg_atomic_commit(&af, err);
}

int sg_synth_write(const char *root, const sg_synth_params *p, int n_train, int n_val, int n_test,
                   sg_err *err)
{
    SG_CHECK(root && p, "sg_synth_write: NULL argument");
    SG_CHECK(n_train >= 0 && n_val >= 0 && n_test >= 0 && n_train <= SG_SYNTH_MAX_IMAGES &&
                 n_val <= SG_SYNTH_MAX_IMAGES && n_test <= SG_SYNTH_MAX_IMAGES,
             "sg_synth_write: counts %d, %d, %d out of 0..%d", n_train, n_val, n_test, SG_SYNTH_MAX_IMAGES);
    static const char *const dirs[] = {"JPEGImages", "SegmentationClass", "ImageSets/Segmentation"};
    char path[4200];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        if (sg_mkdirs(path, err)) return -1;
    }
    uint8_t pal[256 * 3];
    voc_palette_(pal);
    /* Image i of the concatenation train, val, test. */
    const char *const subsets[3] = {"train", "val", "test"};
    const uint64_t seeds[3] = {p->train_seed, p->val_seed, p->test_seed};
    const int counts[3] = {n_train, n_val, n_test};
    int total = n_train + n_val + n_test, first_bad = total;
    sg_err bad;
    bad.msg[0] = 0;
#pragma omp parallel for schedule(dynamic, 8) num_threads(sg_get_num_threads())
    for (int i = 0; i < total; i++) {
        int s = 0, idx = i;
        while (idx >= counts[s]) idx -= counts[s++];
        sg_err e;
        int rc = write_image_pair_(root, p, pal, subsets[s], seeds[s], idx, &e);
        if (rc) {
#pragma omp critical(sg_synth_write_err)
            if (i < first_bad) {
                first_bad = i;
                bad = e;
            }
        }
    }
    if (first_bad < total) return sg_err_set(err, "%s", bad.msg);
    for (int s = 0; s < 3; s++) {
        if (s == 2 && n_test == 0) break;
        snprintf(path, sizeof path, "%s/ImageSets/Segmentation/%s.txt", root, subsets[s]);
        if (write_id_list_(path, subsets[s], counts[s], err)) return -1;
    }
    return 0;
}

static void pair_line_(FILE *fp, const char *subset, int index)
{
    char id[64];
    sg_synth_id(id, sizeof id, subset, index);
    fprintf(fp, "JPEGImages/%s.jpg SegmentationClass/%s.png\n", id, id);
}

/* Lines of `subset` whose flag in `take` equals `want`, in index order. */
static int write_pair_list_(const char *path, const char *subset, int n, const uint8_t *take,
                            uint8_t want, sg_err *err)
{
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    for (int i = 0; i < n; i++)
        if (!take || take[i] == want) pair_line_(af.fp, subset, i);
    return sg_atomic_commit(&af, err);
}

int sg_synth_write_splits(const char *dir, int n_train, int n_val, int n_test, const int *labeled,
                          int n_protocols, uint64_t split_seed, sg_err *err)
{
    SG_CHECK(dir && (labeled || n_protocols == 0) && n_protocols >= 0,
             "sg_synth_write_splits: bad arguments");
    SG_CHECK(n_train > 0 && n_train <= SG_SYNTH_MAX_IMAGES && n_val >= 0 && n_val <= SG_SYNTH_MAX_IMAGES &&
                 n_test >= 0 && n_test <= SG_SYNTH_MAX_IMAGES,
             "sg_synth_write_splits: counts %d, %d, %d out of range", n_train, n_val, n_test);
    for (int k = 0; k < n_protocols; k++)
        if (labeled[k] <= 0 || labeled[k] > n_train)
            return sg_err_set(err, "%s: %d labelled images: need 1..%d (a pool of %d)", dir,
                              labeled[k], n_train, n_train);
    int *perm = sg_xmalloc((size_t)n_train * sizeof(int));
    uint8_t *take = sg_xmalloc((size_t)n_train);
    for (int i = 0; i < n_train; i++) perm[i] = i;
    sg_rng r;
    sg_rng_init(&r, split_seed, sg_rng_stream(SG_RNG_SYNTH, 1, 0));
    for (int i = n_train - 1; i > 0; i--) {
        int j = (int)sg_rng_below(&r, (uint32_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    char path[4200];
    int rc = sg_mkdirs(dir, err);
    for (int k = 0; k < n_protocols && rc == 0; k++) {
        memset(take, 0, (size_t)n_train);
        for (int i = 0; i < labeled[k]; i++) take[perm[i]] = 1;
        snprintf(path, sizeof path, "%s/%d", dir, labeled[k]);
        rc = sg_mkdirs(path, err);
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/%d/labeled.txt", dir, labeled[k]);
            rc = write_pair_list_(path, "train", n_train, take, 1, err);
        }
        if (rc == 0) {
            snprintf(path, sizeof path, "%s/%d/unlabeled.txt", dir, labeled[k]);
            rc = write_pair_list_(path, "train", n_train, take, 0, err);
        }
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/val.txt", dir);
        rc = write_pair_list_(path, "val", n_val, NULL, 0, err);
    }
    if (rc == 0 && n_test > 0) {
        snprintf(path, sizeof path, "%s/test.txt", dir);
        rc = write_pair_list_(path, "test", n_test, NULL, 0, err);
    }
    free(perm);
    free(take);
    return rc;
}
