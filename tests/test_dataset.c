/*
 * test_dataset.c: VOC, Cityscapes and list datasets (dataset.h,
 * src/data/dataset.c).
 *
 * Tiny trees are written into a temp dir with the library's own writers: a
 * VOC layout (JPEG and PNG-content images under JPEGImages/, palette masks,
 * ImageSets/Segmentation), a Cityscapes layout with one city holding only
 * *_labelIds.png (mapped to train ids) and one holding *_labelTrainIds.png,
 * and a generic two-list dataset. Bad input, each a clear error naming the
 * file: mask size mismatch, label 37 in the 21-class VOC set, a labelId that
 * Cityscapes does not define, a file named in a split that is missing, an
 * empty split; sg_dataset_check lists all problems of a damaged tree at once.
 * sg_class_names_parse: names given to a list dataset, with its count and
 * character checks.
 */
#include "semiseg.h"
#include "semiseg/dataset.h"
#include "semiseg/image.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char voc[512], city[512];

static void mkdirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void put_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
}

/* Image i: a gradient that differs per i. */
static void picture(sg_image *img, int h, int w, int i)
{
    sg_image_alloc(img, h, w, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                img->data[(y * w + x) * 3 + c] = (uint8_t)(x * 4 + y * 2 + c * 30 + i * 10);
}

/* Mask: class = (x / 4 + i) % n_classes, with an ignore border row. */
static void labels(sg_image *m, int h, int w, int i, int n_classes, int ignore)
{
    sg_image_alloc(m, h, w, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) m->data[y * w + x] = (uint8_t)(y == 0 ? ignore : (x / 4 + i) % n_classes);
}

static void write_voc(void)
{
    snprintf(voc, sizeof voc, "%s/voc", dir);
    char p[1024];
    const char *sub[] = {"JPEGImages", "SegmentationClass", "ImageSets/Segmentation"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", voc, sub[k]);
        mkdirs(p);
    }
    uint8_t pal[768];
    sg_voc_palette(pal);
    sg_err err;
    const char *ids[] = {"2007_000001", "2007_000002", "2007_000003"};
    for (int i = 0; i < 3; i++) {
        sg_image img, m;
        picture(&img, 12, 16, i);
        labels(&m, 12, 16, i, 21, 255);
        snprintf(p, sizeof p, "%s/JPEGImages/%s.jpg", voc, ids[i]);
        /* Sample 2 is a PNG under a .jpg name, as the synthetic set may be. */
        if (i == 2 ? sg_png_write(p, &img, NULL, &err) : sg_jpeg_write(p, &img, 95, &err))
            tap_diag("%s", err.msg);
        snprintf(p, sizeof p, "%s/SegmentationClass/%s.png", voc, ids[i]);
        if (sg_png_write(p, &m, pal, &err)) tap_diag("%s", err.msg);
        sg_image_free(&img);
        sg_image_free(&m);
    }
    snprintf(p, sizeof p, "%s/ImageSets/Segmentation/train.txt", voc);
    put_text(p, "2007_000001\n2007_000002\n");
    snprintf(p, sizeof p, "%s/ImageSets/Segmentation/val.txt", voc);
    put_text(p, "2007_000003");
}

static void test_voc(void)
{
    sg_dataset ds;
    sg_err err;
    int rc = sg_dataset_open_voc(&ds, voc, "train", &err);
    tap_ok(rc == 0 && ds.n == 2 && ds.n_classes == 21 && ds.ignore_index == 255, "VOC train set: 2 samples");
    if (rc) {
        tap_diag("%s", err.msg);
        return;
    }
    tap_ok(strcmp(ds.class_names[0], "background") == 0 && strcmp(ds.class_names[15], "person") == 0 &&
               strcmp(ds.class_names[20], "tvmonitor") == 0,
           "VOC class names");
    tap_ok(ds.has_palette && ds.palette[3] == 128 && ds.palette[4] == 0 && ds.palette[5] == 0 &&
               ds.palette[3 * 15] == 192 && ds.palette[3 * 15 + 1] == 128 && ds.palette[3 * 15 + 2] == 128 &&
               ds.palette[765] == 224 && ds.palette[766] == 224 && ds.palette[767] == 192,
           "VOC palette (aeroplane 128,0,0; person 192,128,128; ignore 224,224,192)");
    tap_ok(strstr(ds.samples[1].mask, "/SegmentationClass/2007_000002.png") != NULL,
           "bare ids take SegmentationClass when there is no SegmentationClassAug");
    sg_image img, m, want, wantm;
    rc = sg_dataset_load(&ds, 1, &img, &m, &err);
    picture(&want, 12, 16, 1);
    labels(&wantm, 12, 16, 1, 21, 255);
    int maxd = 0;
    for (int i = 0; rc == 0 && i < 12 * 16 * 3; i++) {
        int d = abs((int)img.data[i] - (int)want.data[i]);
        if (d > maxd) maxd = d;
    }
    /* A smooth 12x16 gradient at quality 95 round-trips within a few levels
     * (measured max 2); a wrong decode is off by tens. */
    tap_ok(rc == 0 && img.c == 3 && img.h == 12 && img.w == 16 && maxd <= 6, "VOC JPEG sample loads (max diff %d)",
           maxd);
    tap_ok(rc == 0 && memcmp(m.data, wantm.data, 12 * 16) == 0, "VOC palette mask loads as class ids");
    if (rc == 0) {
        sg_image_free(&img);
        sg_image_free(&m);
    }
    sg_image_free(&want);
    sg_image_free(&wantm);
    sg_dataset_free(&ds);

    /* val: the PNG-content .jpg image. */
    rc = sg_dataset_open_voc(&ds, voc, "val", &err) || sg_dataset_load(&ds, 0, &img, NULL, &err);
    picture(&want, 12, 16, 2);
    tap_ok(rc == 0 && memcmp(img.data, want.data, 12 * 16 * 3) == 0, "PNG content under a .jpg name loads exactly");
    if (rc == 0) sg_image_free(&img);
    sg_image_free(&want);
    sg_dataset_free(&ds);

    /* A UniMatch pair list; then SegmentationClassAug is preferred for ids. */
    char p[1024];
    snprintf(p, sizeof p, "%s/pairs.txt", dir);
    put_text(p, "JPEGImages/2007_000003.jpg SegmentationClass/2007_000003.png\r\n");
    rc = sg_dataset_open_voc(&ds, voc, p, &err);
    tap_ok(rc == 0 && ds.n == 1 && strstr(ds.samples[0].image, "JPEGImages/2007_000003.jpg") &&
               ds.samples[0].where && strstr(ds.samples[0].where, "pairs.txt:1"),
           "VOC from a UniMatch pair list");
    sg_dataset_free(&ds);
    snprintf(p, sizeof p, "%s/SegmentationClassAug", voc);
    mkdirs(p);
    rc = sg_dataset_open_voc(&ds, voc, "train", &err);
    tap_ok(rc == 0 && strstr(ds.samples[0].mask, "/SegmentationClassAug/2007_000001.png"),
           "bare ids prefer SegmentationClassAug (U2PL)");
    sg_dataset_free(&ds);
    rmdir(p);
}

static void test_voc_bad(void)
{
    sg_dataset ds;
    sg_err err;
    sg_image img, m;
    uint8_t pal[768];
    sg_voc_palette(pal);
    char p[1024], q[1024];

    /* Mask size mismatch. */
    sg_image small;
    labels(&small, 10, 16, 0, 21, 255);
    snprintf(p, sizeof p, "%s/SegmentationClass/2007_000001.png", voc);
    sg_png_write(p, &small, pal, &err);
    sg_image_free(&small);
    sg_dataset_open_voc(&ds, voc, "train", &err);
    int rc = sg_dataset_load(&ds, 0, &img, &m, &err);
    tap_ok(rc == -1 && strstr(err.msg, p) && strstr(err.msg, "16x10") && strstr(err.msg, "16x12") &&
               strstr(err.msg, "train.txt:1"),
           "mask size mismatch: names the mask, both sizes and list:line");
    tap_diag("%s", err.msg);
    tap_ok(img.data == NULL && m.data == NULL, "outputs freed on error");

    /* Label 37 in the 21-class set. */
    sg_image bad;
    labels(&bad, 12, 16, 1, 21, 255);
    bad.data[5 * 16 + 7] = 37;
    snprintf(q, sizeof q, "%s/SegmentationClass/2007_000002.png", voc);
    sg_png_write(q, &bad, pal, &err);
    sg_image_free(&bad);
    rc = sg_dataset_load(&ds, 1, &img, &m, &err);
    tap_ok(rc == -1 && strstr(err.msg, q) && strstr(err.msg, "label 37") && strstr(err.msg, "x 7, y 5") &&
               strstr(err.msg, "21-class"),
           "label 37 in a 21-class dataset: names the file and the pixel");
    tap_diag("%s", err.msg);
    /* The image alone still loads (unlabeled use needs no mask check). */
    rc = sg_dataset_load(&ds, 1, &img, NULL, &err);
    tap_ok(rc == 0, "image without the mask loads");
    if (rc == 0) sg_image_free(&img);

    /* A file named in a split that is missing. */
    snprintf(p, sizeof p, "%s/missing.txt", dir);
    put_text(p, "2007_000001\n2007_000099\n");
    sg_dataset miss;
    rc = sg_dataset_open_voc(&miss, voc, p, &err);
    rc = rc || sg_dataset_load(&miss, 1, &img, &m, &err) != -1;
    tap_ok(rc == 0 && strstr(err.msg, "2007_000099.jpg") && strstr(err.msg, "missing.txt:2") &&
               strstr(err.msg, "cannot open"),
           "missing file named in a split: load names list:line and the file");
    tap_diag("%s", err.msg);

    /* All problems at once: size mismatch, label 37, missing image and mask. */
    sg_problems pr = {0};
    sg_dataset_check(&ds, true, &pr);
    int n1 = pr.n;
    sg_dataset_check(&miss, true, &pr);
    int found = 0;
    for (int i = 0; i < pr.n; i++) {
        tap_diag("problem: %s", pr.msg[i]);
        found += strstr(pr.msg[i], "16x10") != NULL;
        found += strstr(pr.msg[i], "label 37") != NULL;
        found += strstr(pr.msg[i], "missing.txt:2") && strstr(pr.msg[i], "image not found");
        found += strstr(pr.msg[i], "missing.txt:2") && strstr(pr.msg[i], "mask not found");
    }
    /* ds: 2 problems; miss: its line 1 shares the size-mismatched mask (1)
     * and line 2 lacks image and mask (2). */
    tap_ok(n1 == 2 && pr.n == 5 && found == 5, "sg_dataset_check lists every problem (%d)", pr.n);
    sg_problems_free(&pr);
    sg_dataset_check(&ds, false, &pr);
    tap_ok(pr.n == 0, "without decoding only missing files count");
    sg_problems_free(&pr);
    sg_dataset_free(&miss);
    sg_dataset_free(&ds);

    /* Empty split. */
    snprintf(p, sizeof p, "%s/empty.txt", dir);
    put_text(p, "\r\n\r\n");
    rc = sg_dataset_open_voc(&ds, voc, p, &err);
    sg_dataset_check(&ds, true, &pr);
    tap_ok(rc == 0 && ds.n == 0 && pr.n == 1 && strstr(pr.msg[0], p) && strstr(pr.msg[0], "no samples"),
           "empty split reported by the check");
    sg_problems_free(&pr);
    sg_dataset_free(&ds);
    /* A set name without its ImageSets file. */
    rc = sg_dataset_open_voc(&ds, voc, "trainval", &err);
    tap_ok(rc == -1 && strstr(err.msg, "ImageSets/Segmentation/trainval.txt"), "missing ImageSets file named");
}

static void write_city(void)
{
    snprintf(city, sizeof city, "%s/city", dir);
    char p[1024];
    const char *cities[] = {"bremen", "aachen"};
    sg_err err;
    for (int c = 0; c < 2; c++) {
        snprintf(p, sizeof p, "%s/leftImg8bit/train/%s", city, cities[c]);
        mkdirs(p);
        snprintf(p, sizeof p, "%s/gtFine/train/%s", city, cities[c]);
        mkdirs(p);
        for (int f = 1; f >= 0; f--) {
            sg_image img, m;
            picture(&img, 8, 12, c * 2 + f);
            snprintf(p, sizeof p, "%s/leftImg8bit/train/%s/%s_000000_00001%d_leftImg8bit.png", city, cities[c],
                     cities[c], f);
            sg_png_write(p, &img, NULL, &err);
            sg_image_alloc(&m, 8, 12, 1);
            if (c == 1) {
                /* aachen: labelIds only, every id 0..33 once, then 7 (road). */
                for (int i = 0; i < 96; i++) m.data[i] = (uint8_t)(i < 34 ? i : 7);
                snprintf(p, sizeof p, "%s/gtFine/train/%s/%s_000000_00001%d_gtFine_labelIds.png", city,
                         cities[c], cities[c], f);
            } else {
                for (int i = 0; i < 96; i++) m.data[i] = (uint8_t)(i % 19);
                snprintf(p, sizeof p, "%s/gtFine/train/%s/%s_000000_00001%d_gtFine_labelTrainIds.png", city,
                         cities[c], cities[c], f);
            }
            sg_png_write(p, &m, NULL, &err);
            sg_image_free(&img);
            sg_image_free(&m);
        }
    }
}

static void test_city(void)
{
    sg_dataset ds;
    sg_err err;
    int rc = sg_dataset_open_cityscapes(&ds, city, "train", &err);
    tap_ok(rc == 0 && ds.n == 4 && ds.n_classes == 19, "Cityscapes train scanned: 4 frames");
    if (rc) {
        tap_diag("%s", err.msg);
        return;
    }
    tap_ok(strstr(ds.samples[0].image, "aachen/aachen_000000_000010_leftImg8bit.png") &&
               strstr(ds.samples[3].image, "bremen/bremen_000000_000011_leftImg8bit.png"),
           "frames sorted by city and name");
    tap_ok(ds.samples[0].label_ids && strstr(ds.samples[0].mask, "_gtFine_labelIds.png") &&
               !ds.samples[2].label_ids && strstr(ds.samples[2].mask, "_gtFine_labelTrainIds.png"),
           "labelIds used where labelTrainIds is absent");
    tap_ok(strcmp(ds.class_names[18], "bicycle") == 0 && ds.palette[0] == 128 && ds.palette[1] == 64 &&
               ds.palette[3 * 13 + 2] == 142,
           "Cityscapes names and palette");
    sg_image img, m;
    rc = sg_dataset_load(&ds, 0, &img, &m, &err);
    int ok = rc == 0;
    for (int i = 0; ok && i < 34; i++) ok = m.data[i] == sg_cityscapes_train_id(i);
    /* Spot values of the official table: road 7->0, car 26->13, bicycle
     * 33->18, unlabeled 0, guard rail 14 and caravan 29 -> 255. */
    ok = ok && m.data[7] == 0 && m.data[26] == 13 && m.data[33] == 18 && m.data[0] == 255 && m.data[14] == 255 &&
         m.data[29] == 255 && m.data[50] == 0;
    tap_ok(ok, "labelIds mapped to the 19 train ids");
    if (rc == 0) {
        sg_image_free(&img);
        sg_image_free(&m);
    }
    rc = sg_dataset_load(&ds, 2, &img, &m, &err);
    ok = rc == 0;
    for (int i = 0; ok && i < 96; i++) ok = m.data[i] == i % 19;
    tap_ok(ok, "labelTrainIds read as they are");
    if (rc == 0) {
        sg_image_free(&img);
        sg_image_free(&m);
    }

    /* A labelIds file with an undefined id. */
    sg_image bad;
    sg_image_alloc(&bad, 8, 12, 1);
    bad.data[13] = 40;
    char p[1024];
    snprintf(p, sizeof p, "%s/gtFine/train/aachen/aachen_000000_000011_gtFine_labelIds.png", city);
    sg_png_write(p, &bad, NULL, &err);
    sg_image_free(&bad);
    rc = sg_dataset_load(&ds, 1, &img, &m, &err);
    tap_ok(rc == -1 && strstr(err.msg, p) && strstr(err.msg, "value 40") && strstr(err.msg, "labelId"),
           "undefined labelId named");
    sg_dataset_free(&ds);

    /* U2PL list of leftImg8bit paths. */
    snprintf(p, sizeof p, "%s/u2pl_city.txt", dir);
    put_text(p, "leftImg8bit/train/bremen/bremen_000000_000011_leftImg8bit.png\n");
    rc = sg_dataset_open_cityscapes(&ds, city, p, &err);
    tap_ok(rc == 0 && ds.n == 1 && strstr(ds.samples[0].mask, "gtFine/train/bremen/bremen_000000_000011_gtFine_labelTrainIds.png"),
           "Cityscapes from a U2PL list");
    sg_dataset_free(&ds);
}

static void test_list(void)
{
    char a[1024], b[1024], p[1024];
    snprintf(a, sizeof a, "%s/list_a.txt", dir);
    snprintf(b, sizeof b, "%s/list_b.txt", dir);
    put_text(a, "JPEGImages/2007_000003.jpg SegmentationClass/2007_000003.png\n");
    put_text(b, "leftImg8bit/train/bremen/bremen_000000_000010_leftImg8bit.png x.png\n"
                "JPEGImages/2007_000003.jpg SegmentationClass/2007_000003.png\n");
    const char *lists[] = {a, b};
    uint8_t pal[768] = {0};
    pal[3] = 9;
    sg_list_dataset_config cfg = {.root = voc, .lists = lists, .n_lists = 2, .n_classes = 21,
                                  .ignore_index = 255, .class_names = NULL, .palette = pal};
    sg_dataset ds;
    sg_err err;
    int rc = sg_dataset_open_list(&ds, &cfg, &err);
    tap_ok(rc == 0 && ds.n == 3 && ds.kind == SG_DATASET_LIST && strcmp(ds.class_names[4], "class4") == 0 &&
               ds.has_palette && ds.palette[3] == 9,
           "list dataset: two lists concatenated, default names, palette");
    tap_ok(rc == 0 && strstr(ds.samples[2].where, "list_b.txt:2") && strstr(ds.samples[0].where, "list_a.txt:1"),
           "each sample remembers its list and line");
    sg_image img, m;
    rc = rc || sg_dataset_load(&ds, 0, &img, &m, &err);
    tap_ok(rc == 0 && m.h == 12, "list dataset sample loads");
    if (rc == 0) {
        sg_image_free(&img);
        sg_image_free(&m);
    }
    sg_dataset_free(&ds);
    /* With 5 classes the VOC mask (labels up to 20) is out of range. */
    cfg.n_lists = 1;
    cfg.n_classes = 5;
    rc = sg_dataset_open_list(&ds, &cfg, &err) || sg_dataset_load(&ds, 0, &img, &m, &err) != -1;
    tap_ok(rc == 0 && strstr(err.msg, "5-class"), "labels checked against the configured class count");
    sg_dataset_free(&ds);
    cfg.ignore_index = 3;
    rc = sg_dataset_open_list(&ds, &cfg, &err);
    tap_ok(rc == -1 && strstr(err.msg, "ignore index 3"), "ignore index inside the classes rejected");
    snprintf(p, sizeof p, "%s/absent.txt", dir);
    const char *absent[] = {p};
    cfg.lists = absent;
    cfg.ignore_index = 255;
    rc = sg_dataset_open_list(&ds, &cfg, &err);
    tap_ok(rc == -1 && strstr(err.msg, p), "missing list file named");
}

static void test_class_names(void)
{
    sg_err err;
    char **n = sg_class_names_parse(" background, hstripe-disk ,a_b.c+d", 3, &err);
    tap_ok(n && !strcmp(n[0], "background") && !strcmp(n[1], "hstripe-disk") && !strcmp(n[2], "a_b.c+d") && !n[3],
           "class names: blanks around commas trimmed, NULL-terminated");
    if (n) {
        char a[1024];
        snprintf(a, sizeof a, "%s/list_a.txt", dir); /* test_list's */
        sg_list_dataset_config cfg = {.root = voc, .lists = (const char *const[]){a}, .n_lists = 1,
                                      .n_classes = 3, .ignore_index = 255, .class_names = (const char *const *)n};
        sg_dataset ds;
        int rc = sg_dataset_open_list(&ds, &cfg, &err);
        tap_ok(rc == 0 && !strcmp(ds.class_names[1], "hstripe-disk"), "list dataset takes the given names");
        if (rc == 0) sg_dataset_free(&ds);
    }
    free(n);
    n = sg_class_names_parse("a,b", 3, &err);
    tap_ok(!n && strstr(err.msg, "2 class names for 3 classes"), "too few names rejected: %s", err.msg);
    n = sg_class_names_parse("a,b,c,d", 3, &err);
    tap_ok(!n && strstr(err.msg, "4 class names for 3 classes"), "too many names rejected: %s", err.msg);
    n = sg_class_names_parse("a,,c", 3, &err);
    tap_ok(!n && strstr(err.msg, "class name 1 ''"), "empty name rejected: %s", err.msg);
    n = sg_class_names_parse("a,b c,d", 3, &err);
    tap_ok(!n && strstr(err.msg, "class name 1 'b c'"), "blank inside a name rejected (it names a TSV column)");
    n = sg_class_names_parse("a,b\tc,d", 3, &err);
    tap_ok(!n, "tab inside a name rejected");
    n = sg_class_names_parse("a,\"b\",c", 3, &err);
    tap_ok(!n, "quote rejected (names go into gnuplot and LaTeX)");
    char long_name[80];
    memset(long_name, 'x', 64);
    long_name[64] = 0;
    n = sg_class_names_parse(long_name, 1, &err);
    tap_ok(!n && strstr(err.msg, "1-63"), "64-character name rejected");
    long_name[63] = 0;
    n = sg_class_names_parse(long_name, 1, &err);
    tap_ok(n && strlen(n[0]) == 63, "63-character name accepted");
    free(n);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/semiseg-dataset.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) tap_skip_all("cannot create a temp dir");
    write_voc();
    write_city();
    test_voc();
    test_city();
    test_list();
    test_class_names();
    test_voc_bad();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_done();
}
