/*
 * test_synth.c: the synthetic demo dataset (synth.h, src/data/synth.c).
 *
 * - Golden checksums (FNV-1a 64 of the raw pixels and labels, not of the
 *   encoded files) of the first train, val and test images of v7: any change to a
 *   frozen parameter, to the order of the random draws or to the arithmetic
 *   fails them; a changed parameter is shown to change the checksum.
 * - Image i is a pure function of (seed, i): same bytes when generated alone,
 *   in another order, or after other images; different for another seed.
 * - Class statistics of 200 training images roughly as the design's
 *   prototype measured (28.8 % foreground, every class present).
 * - Generating 200 images takes well under 10 s.
 * - sg_synth_write: two runs (1 and 2 threads) into two temp dirs give
 *   byte-identical files; the files read back as the generated pixels and
 *   labels; a root that cannot be created is an error naming the path.
 * - Splits: structure (disjoint, nested, complete) and the committed
 *   splits/demo/ lists are byte-identical to the documented command's output.
 */
#include "semiseg.h"
#include "semiseg/image.h"
#include "semiseg/synth.h"
#include "tap.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Frozen with generator v7; see the header comment. */
#define GOLDEN_TRAIN_8 0x42b28f774428cf45ull /* train images 0..7, seed 1 */
#define GOLDEN_VAL_2 0x7f04e0e362b8e6ccull   /* val images 0..1, seed 2 */
#define GOLDEN_TEST_2 0x06f428fe11e725ccull  /* test images 0..1, seed 3 */
/* Frozen with v7p, the pretraining task. */
#define GOLDEN_V7P_TRAIN_8 0x1427b9752e62d3c4ull /* train images 0..7, seed 11 */

static uint64_t fnv1a_(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t checksum_(const sg_synth_params *p, uint64_t seed, int first, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = first; i < first + n; i++) {
        sg_image img, mask;
        sg_synth_generate(p, seed, (uint64_t)i, &img, &mask);
        h = fnv1a_(h, img.data, (size_t)img.h * img.w * img.c);
        h = fnv1a_(h, mask.data, (size_t)mask.h * mask.w);
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    return h;
}

static int same_image_(const sg_image *a, const sg_image *b)
{
    return a->h == b->h && a->w == b->w && a->c == b->c &&
           memcmp(a->data, b->data, (size_t)a->h * a->w * a->c) == 0;
}

static char *slurp_(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* 1 when both files exist and hold the same bytes. */
static int same_file_(const char *a, const char *b)
{
    size_t na, nb;
    char *x = slurp_(a, &na), *y = slurp_(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static int rm_entry_(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static double now_(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_params(void)
{
    const sg_synth_params *p = sg_synth_params_find("v7");
    tap_ok(p && !strcmp(p->version, "v7") && p->size == 64 && p->n_classes == 7 &&
               p->train_seed == 1 && p->val_seed == 2 && p->test_seed == 3 && p->default_train == 3000 &&
               p->default_val == 500 && p->default_test == 500,
           "v7: 64x64, 7 classes, train 3000 (seed 1), val 500 (seed 2), test 500 (seed 3)");
    tap_ok(sg_synth_params_find("v8") == NULL && sg_synth_params_find(NULL) == NULL,
           "unknown versions are not found");
}

static void test_golden(const sg_synth_params *p)
{
    uint64_t tr = checksum_(p, p->train_seed, 0, 8), va = checksum_(p, p->val_seed, 0, 2);
    tap_ok(tr == GOLDEN_TRAIN_8, "golden checksum of train images 0..7 (got 0x%016llx)",
           (unsigned long long)tr);
    tap_ok(va == GOLDEN_VAL_2, "golden checksum of val images 0..1 (got 0x%016llx)",
           (unsigned long long)va);
    uint64_t te = checksum_(p, p->test_seed, 0, 2);
    tap_ok(te == GOLDEN_TEST_2 && te != va, "golden checksum of test images 0..1 (got 0x%016llx)",
           (unsigned long long)te);
    sg_synth_params q = *p;
    q.period[1] = 8.5;
    tap_ok(checksum_(&q, p->train_seed, 0, 8) != tr, "a changed parameter changes the checksum");
}

/* v7p: v7's scenes, none of v7's classes (shape-texture pairs), 14 distinct
 * pairs, other seeds; its masks hold only its 15 ids. */
static void test_pretraining_task(void)
{
    const sg_synth_params *p = sg_synth_params_find("v7"), *q = sg_synth_params_find("v7p");
    if (!tap_ok(p && q && q->n_classes == 15 && q->size == p->size && q->default_test == 0,
                "v7p: 64x64, 15 classes, no test set"))
        return;
    int shared = 0, repeated = 0;
    for (int i = 1; i < q->n_classes; i++) {
        for (int j = 1; j < p->n_classes; j++)
            shared += q->class_shape[i] == p->class_shape[j] && q->class_texture[i] == p->class_texture[j];
        for (int j = 1; j < i; j++)
            repeated += q->class_shape[i] == q->class_shape[j] && q->class_texture[i] == q->class_texture[j];
    }
    tap_ok(shared == 0 && repeated == 0, "v7p's 14 classes are distinct and none is a v7 class "
           "(%d shared, %d repeated)", shared, repeated);
    const uint64_t seeds[3] = {p->train_seed, p->val_seed, p->test_seed};
    int seed_clash = 0;
    for (int k = 0; k < 3; k++)
        seed_clash += seeds[k] == q->train_seed || seeds[k] == q->val_seed || seeds[k] == q->test_seed;
    tap_ok(seed_clash == 0, "v7p's pools are drawn with seeds v7 does not use");
    sg_synth_params scene; /* the scene parameters are v7's: only classes and pools differ */
    memcpy(&scene, q, sizeof scene);
    scene.version = p->version;
    scene.n_classes = p->n_classes;
    scene.train_seed = p->train_seed;
    scene.val_seed = p->val_seed;
    scene.test_seed = p->test_seed;
    scene.default_val = p->default_val;
    scene.default_test = p->default_test;
    memcpy(scene.class_shape, p->class_shape, sizeof scene.class_shape);
    memcpy(scene.class_texture, p->class_texture, sizeof scene.class_texture);
    tap_ok(memcmp(&scene, p, sizeof scene) == 0, "v7p's scene parameters are v7's");
    uint64_t tr = checksum_(q, q->train_seed, 0, 8);
    tap_ok(tr == GOLDEN_V7P_TRAIN_8, "golden checksum of v7p train images 0..7 (got 0x%016llx)",
           (unsigned long long)tr);
    int max_id = 0;
    for (int i = 0; i < 16; i++) {
        sg_image img, mask;
        sg_synth_generate(q, q->train_seed, (uint64_t)i, &img, &mask);
        for (int k = 0; k < mask.h * mask.w; k++)
            if (mask.data[k] > max_id) max_id = mask.data[k];
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    tap_ok(max_id == 14, "v7p masks use ids up to 14 (max in 16 images: %d)", max_id);
}

static long count_lines_(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    long n = 0;
    for (int ch; (ch = fgetc(fp)) != EOF;) n += ch == '\n';
    fclose(fp);
    return n;
}

static void test_independence(const sg_synth_params *p)
{
    sg_image a, am, b, bm, c, cm;
    sg_synth_generate(p, 1, 5, &a, &am);
    sg_synth_generate(p, 1, 2999, &c, &cm); /* other images in between */
    sg_image_free(&c);
    sg_image_free(&cm);
    sg_synth_generate(p, 1, 5, &b, &bm);
    tap_ok(same_image_(&a, &b) && same_image_(&am, &bm), "image 5 is the same whatever came before");
    sg_image_free(&b);
    sg_image_free(&bm);
    sg_synth_generate(p, 2, 5, &b, &bm);
    tap_ok(!same_image_(&a, &b), "another seed gives another image");
    sg_image_free(&b);
    sg_image_free(&bm);
    sg_synth_generate(p, 1, 6, &b, &bm);
    tap_ok(!same_image_(&a, &b), "another index gives another image");
    sg_image_free(&a);
    sg_image_free(&am);
    sg_image_free(&b);
    sg_image_free(&bm);
}

static void test_statistics(const sg_synth_params *p)
{
    enum { N = 200 };
    double count[SG_SYNTH_MAX_CLASSES] = {0}, total = 0, lo = 255, hi = 0;
    int bad_label = 0;
    double t0 = now_();
    for (int i = 0; i < N; i++) {
        sg_image img, mask;
        sg_synth_generate(p, p->train_seed, (uint64_t)i, &img, &mask);
        for (int k = 0; k < mask.h * mask.w; k++) {
            if (mask.data[k] >= p->n_classes) bad_label = 1;
            else count[mask.data[k]]++;
            total++;
        }
        for (int k = 0; k < img.h * img.w * 3; k++) {
            lo = img.data[k] < lo ? img.data[k] : lo;
            hi = img.data[k] > hi ? img.data[k] : hi;
        }
        sg_image_free(&img);
        sg_image_free(&mask);
    }
    double secs = now_() - t0;
    /* About 2 ms per image expected (numpy prototype: 2 ms); 10 s leaves a
     * 25x margin for a loaded machine or a sanitizer build. */
    tap_ok(secs < 10.0, "200 images generated in %.2f s (< 10 s)", secs);
    tap_ok(!bad_label, "labels are in 0..6 (no ignore pixels)");
    tap_ok(lo == 0 && hi == 255, "pixel values span 0..255 (clipped, quantised)");
    /* 3000 images give 28.8 % foreground; 200 images of 2-4 objects each
     * vary by about 1 % around it, so [20, 40] % only fails on a broken
     * design (e.g. objects or labels missing, or the background labelled). */
    double fg = 1.0 - count[0] / total;
    tap_ok(fg >= 0.20 && fg <= 0.40, "foreground fraction %.3f in [0.20, 0.40]", fg);
    /* Each class takes 3.0 - 5.8 % of the pixels over 3000 images (class 4,
     * the triangle, the least); over these 200 (about 100 objects per class)
     * 3.1 - 7.3 % is observed. 1.5 - 9 % allows that sampling spread and
     * catches a missing class, a doubled class or a shape of the wrong size. */
    for (int c = 1; c < p->n_classes; c++)
        tap_ok(count[c] / total >= 0.015 && count[c] / total <= 0.09,
               "class %d takes %.2f %% of the pixels (1.5 - 9 %%)", c, 100 * count[c] / total);
}

static void list_paths_(char out[][64], int *n, const char *subset, int count)
{
    for (int i = 0; i < count; i++) {
        char id[32];
        sg_synth_id(id, sizeof id, subset, i);
        snprintf(out[(*n)++], 64, "JPEGImages/%s.jpg", id);
        snprintf(out[(*n)++], 64, "SegmentationClass/%s.png", id);
    }
}

static void test_write(const sg_synth_params *p, const char *dir)
{
    enum { NT = 20, NV = 4, NTE = 3 };
    char a[512], b[512], fa[8192], fb[8192];
    snprintf(a, sizeof a, "%s/a/demo", dir); /* nested: parents are created */
    snprintf(b, sizeof b, "%s/b", dir);
    sg_err err;
    int saved = sg_get_num_threads();
    sg_set_num_threads(1);
    int rc = sg_synth_write(a, p, NT, NV, NTE, &err);
    tap_ok(rc == 0, "write %d + %d + %d images with 1 thread%s%s", NT, NV, NTE, rc ? ": " : "", rc ? err.msg : "");
    sg_set_num_threads(2);
    rc = sg_synth_write(b, p, NT, NV, NTE, &err);
    tap_ok(rc == 0, "write %d + %d + %d images with 2 threads%s%s", NT, NV, NTE, rc ? ": " : "", rc ? err.msg : "");
    sg_set_num_threads(saved);

    static char files[2 * (NT + NV + NTE) + 3][64];
    int n = 0;
    list_paths_(files, &n, "train", NT);
    list_paths_(files, &n, "val", NV);
    list_paths_(files, &n, "test", NTE);
    snprintf(files[n++], 64, "ImageSets/Segmentation/train.txt");
    snprintf(files[n++], 64, "ImageSets/Segmentation/val.txt");
    snprintf(files[n++], 64, "ImageSets/Segmentation/test.txt");
    int same = 0;
    for (int i = 0; i < n; i++) {
        snprintf(fa, sizeof fa, "%s/%s", a, files[i]);
        snprintf(fb, sizeof fb, "%s/%s", b, files[i]);
        same += same_file_(fa, fb);
    }
    tap_ok(same == n, "both runs wrote %d byte-identical files (%d of %d)", n, same, n);

    size_t len;
    snprintf(fa, sizeof fa, "%s/ImageSets/Segmentation/val.txt", a);
    char *txt = slurp_(fa, &len);
    tap_ok(txt && len == 4 * 10 && !memcmp(txt, "val_00000\nval_00001\nval_00002\nval_00003\n", len),
           "ImageSets/Segmentation/val.txt lists the val ids");
    free(txt);
    snprintf(fa, sizeof fa, "%s/ImageSets/Segmentation/test.txt", a);
    txt = slurp_(fa, &len);
    tap_ok(txt && len == 3 * 11 && !memcmp(txt, "test_00000\ntest_00001\ntest_00002\n", len),
           "ImageSets/Segmentation/test.txt lists the test ids");
    free(txt);
    snprintf(fa, sizeof fa, "%s/JPEGImages/train_00007.jpg", a);
    txt = slurp_(fa, &len);
    tap_ok(txt && len > 8 && !memcmp(txt, "\x89PNG\r\n\x1a\n", 8),
           "JPEGImages/*.jpg hold PNG data (lossless; see synth.h)");
    free(txt);

    int round_trip = 1;
    for (int i = 0; i < NT + NV + NTE; i++) {
        const int sub = i < NT ? 0 : i < NT + NV ? 1 : 2, idx = sub == 0 ? i : sub == 1 ? i - NT : i - NT - NV;
        const char *const names[3] = {"train", "val", "test"};
        const uint64_t seeds[3] = {p->train_seed, p->val_seed, p->test_seed};
        char id[32];
        sg_synth_id(id, sizeof id, names[sub], idx);
        sg_image g, gm, r = {0}, rm = {0};
        sg_synth_generate(p, seeds[sub], (uint64_t)idx, &g, &gm);
        snprintf(fa, sizeof fa, "%s/JPEGImages/%s.jpg", a, id);
        snprintf(fb, sizeof fb, "%s/SegmentationClass/%s.png", a, id);
        if (sg_image_read(fa, &r, &err) || sg_mask_read(fb, &rm, &err) || !same_image_(&g, &r) ||
            !same_image_(&gm, &rm)) {
            round_trip = 0;
            tap_diag("%s: %s", id, err.msg);
        }
        sg_image_free(&g);
        sg_image_free(&gm);
        if (r.data) sg_image_free(&r);
        if (rm.data) sg_image_free(&rm);
    }
    tap_ok(round_trip, "the files read back as the generated pixels and labels");

    /* A root below a regular file cannot be created. */
    snprintf(fa, sizeof fa, "%s/ImageSets/Segmentation/train.txt/x", a);
    err.msg[0] = 0;
    rc = sg_synth_write(fa, p, 2, 1, 0, &err);
    tap_ok(rc == -1 && strstr(err.msg, "train.txt"), "unwritable root is an error naming the path (%s)",
           err.msg);
}

/* Reads "JPEGImages/train_%05d.jpg SegmentationClass/train_%05d.png" lines
 * into flags; returns the line count or -1 on a malformed line. */
static int read_split_(const char *path, uint8_t *flag, int pool, uint8_t value)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        int i, j;
        char tail[8];
        if (sscanf(line, "JPEGImages/train_%5d.jpg SegmentationClass/train_%5d.png%1s", &i, &j,
                   tail) != 2 ||
            i != j || i < 0 || i >= pool || flag[i]) {
            fclose(fp);
            return -1;
        }
        flag[i] = value;
        n++;
    }
    fclose(fp);
    return n;
}

static void test_splits(const char *dir)
{
    enum { POOL = 3000, VAL = 500, TEST = 500, NP = 3 };
    static const int labeled[NP] = {12, 24, 48};
    char sdir[512], path[700], ref[4200];
    snprintf(sdir, sizeof sdir, "%s/splits", dir);
    sg_err err;
    int rc = sg_synth_write_splits(sdir, POOL, VAL, TEST, labeled, NP, 0, &err);
    tap_ok(rc == 0, "write splits 12, 24 and 48 of 3000, seed 0%s%s", rc ? ": " : "", rc ? err.msg : "");

    static uint8_t flag[NP][POOL];
    int ok = 1;
    for (int k = 0; k < NP; k++) {
        snprintf(path, sizeof path, "%s/%d/labeled.txt", sdir, labeled[k]);
        int l = read_split_(path, flag[k], POOL, 1);
        snprintf(path, sizeof path, "%s/%d/unlabeled.txt", sdir, labeled[k]);
        int u = read_split_(path, flag[k], POOL, 2);
        /* read_split_ rejects a repeated image, so the counts prove
         * disjointness and that labelled + unlabelled cover the pool. */
        if (l != labeled[k] || u != POOL - labeled[k]) {
            ok = 0;
            tap_diag("protocol %d: %d labelled + %d unlabelled", labeled[k], l, u);
        }
    }
    tap_ok(ok, "labelled and unlabelled are disjoint and cover the pool (12, 24, 48)");
    int nested = 1;
    for (int k = 1; k < NP; k++)
        for (int i = 0; i < POOL; i++)
            if (flag[k - 1][i] == 1 && flag[k][i] != 1) nested = 0;
    tap_ok(nested, "the 12 labelled images are among the 24, and those among the 48");
    snprintf(path, sizeof path, "%s/val.txt", sdir);
    size_t len;
    char *txt = slurp_(path, &len);
    tap_ok(txt && len == (size_t)VAL * 57 &&
               !strncmp(txt, "JPEGImages/val_00000.jpg SegmentationClass/val_00000.png\n", 57),
           "val.txt lists the %d val images", VAL);
    free(txt);
    snprintf(path, sizeof path, "%s/test.txt", sdir);
    txt = slurp_(path, &len);
    tap_ok(txt && len == (size_t)TEST * 59 &&
               !strncmp(txt, "JPEGImages/test_00000.jpg SegmentationClass/test_00000.png\n", 59),
           "test.txt lists the %d test images", TEST);
    free(txt);

    const char *top = getenv("top_srcdir");
    static const char *const names[] = {"12/labeled.txt", "12/unlabeled.txt", "24/labeled.txt", "24/unlabeled.txt",
                                        "48/labeled.txt", "48/unlabeled.txt", "val.txt", "test.txt"};
    int same = 0;
    for (int k = 0; k < 8; k++) {
        snprintf(path, sizeof path, "%s/%s", sdir, names[k]);
        snprintf(ref, sizeof ref, "%s/splits/demo/%s", top ? top : ".", names[k]);
        same += same_file_(path, ref);
    }
    tap_ok(same == 8, "committed splits/demo/ lists equal the documented command's output (%d of 8)",
           same);

    /* Full supervision (the pretraining task's split): every image labelled. */
    const int full[] = {12};
    rc = sg_synth_write_splits(sdir, 12, 0, 0, full, 1, 0, &err);
    snprintf(path, sizeof path, "%s/12/labeled.txt", sdir);
    long n_lab = rc ? -1 : count_lines_(path);
    snprintf(path, sizeof path, "%s/12/unlabeled.txt", sdir);
    long n_unl = rc ? -1 : count_lines_(path);
    tap_ok(rc == 0 && n_lab == 12 && n_unl == 0,
           "a protocol labelling the whole pool lists it all, unlabeled.txt empty (%ld, %ld)", n_lab, n_unl);
    const int bad[] = {3001};
    rc = sg_synth_write_splits(sdir, POOL, VAL, TEST, bad, 1, 0, &err);
    tap_ok(rc == -1 && strstr(err.msg, "3001"), "a protocol labelling more than the pool is rejected (%s)",
           err.msg);
}

int main(void)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/semiseg-synth.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    const sg_synth_params *p = sg_synth_params_find("v7");
    test_params();
    test_pretraining_task();
    if (p) {
        test_golden(p);
        test_independence(p);
        test_statistics(p);
        test_write(p, dir);
    }
    test_splits(dir);
    nftw(dir, rm_entry_, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
