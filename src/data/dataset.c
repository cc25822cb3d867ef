/*
 * dataset.c: VOC, Cityscapes and list datasets (dataset.h).
 *
 * A dataset is metadata plus (image, mask) paths; files are opened only by
 * sg_dataset_load and sg_dataset_check, so building the 10582-sample VOC
 * train_aug set costs no I/O beyond reading its list.
 *
 * References: VOC class order and colour map from the VOCdevkit (VOCcode
 * VOClabelcolormap.m: bit j of the index sets bit 7-j of R, G, B in turn);
 * Cityscapes labelIds -> trainIds, names and colours from
 * cityscapesscripts/helpers/labels.py (19 train ids; 255 for ids that are
 * not trained on; license plate, id -1, never occurs in a uint8 PNG).
 *
 * Covered by tests/test_dataset.c and tests/check_data.sh.
 */
#include "semiseg/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const sg_voc_class_names[21] = {
    "background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
    "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
    "motorbike",  "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};

const char *const sg_cityscapes_class_names[19] = {
    "road",       "sidewalk", "building", "wall",  "fence", "pole",  "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck",      "bus",      "train",    "motorcycle", "bicycle"};

/* Train-id colours, in train-id order (labels.py). */
static const uint8_t sg_cityscapes_colors_[19][3] = {
    {128, 64, 128}, {244, 35, 232}, {70, 70, 70},   {102, 102, 156}, {190, 153, 153},
    {153, 153, 153}, {250, 170, 30}, {220, 220, 0},  {107, 142, 35},  {152, 251, 152},
    {70, 130, 180}, {220, 20, 60},  {255, 0, 0},    {0, 0, 142},     {0, 0, 70},
    {0, 60, 100},   {0, 80, 100},   {0, 0, 230},    {119, 11, 32}};

/* labelIds 0..33 -> trainIds (labels.py, column trainId; 255 = ignored). */
static const uint8_t sg_cityscapes_ids_[34] = {
    255, 255, 255, 255, 255, 255, 255, 0,   1,   255, 255, 2,   3,   4,   255, 255, 255,
    5,   255, 6,   7,   8,   9,   10,  11,  12,  13,  14,  15,  255, 255, 16,  17,  18};

int sg_cityscapes_train_id(int label_id)
{
    return label_id >= 0 && label_id < 34 ? sg_cityscapes_ids_[label_id] : -1;
}

void sg_voc_palette(uint8_t palette[768])
{
    for (int i = 0; i < 256; i++) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; j++) {
            r |= ((c >> 0) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
            c >>= 3;
        }
        palette[3 * i] = (uint8_t)r;
        palette[3 * i + 1] = (uint8_t)g;
        palette[3 * i + 2] = (uint8_t)b;
    }
}

void sg_cityscapes_palette(uint8_t palette[768])
{
    memset(palette, 0, 768);
    for (int i = 0; i < 19; i++) memcpy(palette + 3 * i, sg_cityscapes_colors_[i], 3);
}

static char *sg_join_(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *d = sg_xmalloc(na + nb + 2);
    memcpy(d, a, na);
    d[na] = '/';
    memcpy(d + na + 1, b, nb + 1);
    return d;
}

static char *sg_dup_(const char *s)
{
    return strcpy(sg_xmalloc(strlen(s) + 1), s);
}

static bool sg_is_file_(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool sg_is_dir_(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool sg_ends_with_(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

void sg_dataset_free(sg_dataset *ds)
{
    for (int i = 0; i < ds->n; i++) {
        free(ds->samples[i].image);
        free(ds->samples[i].mask);
        free(ds->samples[i].where);
    }
    free(ds->samples);
    for (int k = 0; ds->class_names && k < ds->n_classes; k++) free(ds->class_names[k]);
    free(ds->class_names);
    memset(ds, 0, sizeof *ds);
}

static void sg_set_names_(sg_dataset *ds, const char *const *names)
{
    ds->class_names = sg_xcalloc((size_t)ds->n_classes, sizeof *ds->class_names);
    for (int k = 0; k < ds->n_classes; k++) {
        char buf[32];
        if (!names) snprintf(buf, sizeof buf, "class%d", k);
        ds->class_names[k] = sg_dup_(names ? names[k] : buf);
    }
}

static bool sg_name_char_(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '.' || ch == '+' || ch == '-';
}

char **sg_class_names_parse(const char *text, int n, sg_err *err)
{
    SG_CHECK(text && n >= 1, "sg_class_names_parse: n = %d", n);
    size_t len = strlen(text);
    char **names = sg_xcalloc(1, (size_t)(n + 1) * sizeof *names + len + 1);
    char *buf = (char *)(names + n + 1);
    memcpy(buf, text, len + 1);
    int k = 0;
    for (char *s = buf;; k++) {
        char *comma = strchr(s, ',');
        if (comma) *comma = 0;
        while (*s == ' ' || *s == '\t') s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        size_t w = (size_t)(end - s);
        bool ok = w >= 1 && w <= 63;
        for (const char *c = s; ok && *c; c++) ok = sg_name_char_(*c);
        if (!ok) {
            sg_err_set(err, "class name %d '%s': expected 1-63 characters of A-Z a-z 0-9 _ . + -", k, s);
            free(names);
            return NULL;
        }
        if (k < n) names[k] = s;
        if (!comma) break;
        s = comma + 1;
    }
    if (k + 1 != n) {
        sg_err_set(err, "%d class names for %d classes", k + 1, n);
        free(names);
        return NULL;
    }
    return names;
}

/* A labelTrainIds mask that is absent while the labelIds file of the same
 * frame exists: use the latter and map it on load. */
static void sg_cityscapes_mask_(sg_sample *s)
{
    const char *tr = "_labelTrainIds.png", *id = "_labelIds.png";
    if (sg_ends_with_(s->mask, id)) {
        s->label_ids = true;
        return;
    }
    if (!sg_ends_with_(s->mask, tr) || sg_is_file_(s->mask)) return;
    size_t stem = strlen(s->mask) - strlen(tr);
    char *alt = sg_xmalloc(stem + strlen(id) + 1);
    memcpy(alt, s->mask, stem);
    strcpy(alt + stem, id);
    if (sg_is_file_(alt)) {
        free(s->mask);
        s->mask = alt;
        s->label_ids = true;
    } else {
        free(alt);
    }
}

int sg_dataset_from_list(sg_dataset *ds, sg_dataset_kind kind, const char *root, const sg_list *l,
                         const sg_list_dataset_config *cfg, sg_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (strlen(root) >= sizeof ds->root) return sg_err_set(err, "%s: path too long", root);
    ds->kind = kind;
    strcpy(ds->root, root);
    snprintf(ds->list, sizeof ds->list, "%s", l->path);
    if (kind == SG_DATASET_VOC) {
        ds->n_classes = 21;
        ds->ignore_index = 255;
        ds->has_palette = true;
        sg_voc_palette(ds->palette);
        sg_set_names_(ds, sg_voc_class_names);
    } else if (kind == SG_DATASET_CITYSCAPES) {
        ds->n_classes = 19;
        ds->ignore_index = 255;
        ds->has_palette = true;
        sg_cityscapes_palette(ds->palette);
        sg_set_names_(ds, sg_cityscapes_class_names);
    } else {
        SG_CHECK(kind == SG_DATASET_LIST && cfg, "sg_dataset_from_list: kind %d needs a config", kind);
        if (cfg->n_classes < 1 || cfg->n_classes > 255)
            return sg_err_set(err, "%s: %d classes, expected 1..255", l->path, cfg->n_classes);
        if (cfg->ignore_index < cfg->n_classes || cfg->ignore_index > 255)
            return sg_err_set(err, "%s: ignore index %d must be in %d..255", l->path, cfg->ignore_index,
                              cfg->n_classes);
        ds->n_classes = cfg->n_classes;
        ds->ignore_index = cfg->ignore_index;
        ds->has_palette = cfg->palette != NULL;
        if (cfg->palette) memcpy(ds->palette, cfg->palette, 768);
        sg_set_names_(ds, cfg->class_names);
    }
    ds->n = l->n;
    ds->samples = sg_xcalloc((size_t)(l->n ? l->n : 1), sizeof *ds->samples);
    for (int i = 0; i < l->n; i++) {
        sg_sample *s = &ds->samples[i];
        s->image = sg_join_(root, l->e[i].image);
        s->mask = l->e[i].mask ? sg_join_(root, l->e[i].mask) : NULL;
        if (l->e[i].line > 0 && asprintf(&s->where, "%s:%d", l->path, l->e[i].line) < 0)
            SG_CHECK(0, "sg_dataset_from_list: out of memory");
        if (kind == SG_DATASET_CITYSCAPES && s->mask) sg_cityscapes_mask_(s);
    }
    return 0;
}

/* A set name ("train") rather than a list file ("splits/x/labeled.txt"). */
static bool sg_is_set_name_(const char *list)
{
    return !strchr(list, '/') && !sg_ends_with_(list, ".txt");
}

int sg_dataset_open_voc(sg_dataset *ds, const char *root, const char *list, sg_err *err)
{
    memset(ds, 0, sizeof *ds);
    char *aug = sg_join_(root, "SegmentationClassAug");
    const char *mask_dir = sg_is_dir_(aug) ? "SegmentationClassAug" : "SegmentationClass";
    free(aug);
    char *path = NULL;
    if (sg_is_set_name_(list)) {
        char *sets = sg_join_(root, "ImageSets/Segmentation");
        path = sg_join_(sets, list);
        free(sets);
        char *txt = sg_xmalloc(strlen(path) + 5);
        sprintf(txt, "%s.txt", path);
        free(path);
        path = txt;
    } else {
        path = sg_dup_(list);
    }
    sg_list l;
    int rc = sg_list_read(&l, path, SG_LIST_VOC_IDS, mask_dir, err);
    free(path);
    if (rc) return -1;
    rc = sg_dataset_from_list(ds, SG_DATASET_VOC, root, &l, NULL, err);
    sg_list_free(&l);
    return rc;
}

static int sg_cmp_str_(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists dir's entries (no dot files) whose names end in suffix, sorted, so
 * the sample order does not depend on the file system. */
static int sg_scan_dir_(const char *dir, const char *suffix, char ***names, int *n, sg_err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return sg_err_set(err, "%s: cannot open folder: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !sg_ends_with_(e->d_name, suffix)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            *names = realloc(*names, (size_t)cap * sizeof **names);
            SG_CHECK(*names != NULL, "sg_scan_dir_: out of memory");
        }
        (*names)[(*n)++] = sg_dup_(e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof **names, sg_cmp_str_);
    return 0;
}

static void sg_free_names_(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Frames of root/leftImg8bit/<set>/<city>/ as a list in U2PL's format. */
static int sg_cityscapes_scan_(sg_list *l, const char *root, const char *set, sg_err *err)
{
    memset(l, 0, sizeof *l);
    char *base = sg_join_(root, "leftImg8bit");
    char *setdir = sg_join_(base, set);
    free(base);
    snprintf(l->path, sizeof l->path, "%s", setdir);
    char **cities;
    int ncity, cap = 0;
    if (sg_scan_dir_(setdir, "", &cities, &ncity, err)) {
        free(setdir);
        return -1;
    }
    int rc = 0;
    for (int c = 0; c < ncity && !rc; c++) {
        char *citydir = sg_join_(setdir, cities[c]);
        char **files;
        int nf;
        if (sg_is_dir_(citydir) && !(rc = sg_scan_dir_(citydir, "_leftImg8bit.png", &files, &nf, err))) {
            for (int f = 0; f < nf; f++) {
                if (l->n == cap) {
                    cap = cap ? 2 * cap : 256;
                    l->e = realloc(l->e, (size_t)cap * sizeof *l->e);
                    SG_CHECK(l->e != NULL, "sg_cityscapes_scan_: out of memory");
                }
                sg_list_entry *e = &l->e[l->n++];
                memset(e, 0, sizeof *e);
                size_t stem = strlen(files[f]) - strlen("leftImg8bit.png");
                if (asprintf(&e->image, "leftImg8bit/%s/%s/%s", set, cities[c], files[f]) < 0 ||
                    asprintf(&e->mask, "gtFine/%s/%s/%.*sgtFine_labelTrainIds.png", set, cities[c],
                             (int)stem, files[f]) < 0)
                    SG_CHECK(0, "sg_cityscapes_scan_: out of memory");
                e->raw = sg_dup_(e->image);
            }
            sg_free_names_(files, nf);
        }
        free(citydir);
    }
    sg_free_names_(cities, ncity);
    if (!rc && l->n == 0) rc = sg_err_set(err, "%s: no *_leftImg8bit.png frames", setdir);
    free(setdir);
    if (rc) sg_list_free(l);
    return rc;
}

int sg_dataset_open_cityscapes(sg_dataset *ds, const char *root, const char *list, sg_err *err)
{
    memset(ds, 0, sizeof *ds);
    sg_list l;
    int rc = sg_is_set_name_(list) ? sg_cityscapes_scan_(&l, root, list, err)
                                   : sg_list_read(&l, list, SG_LIST_CITYSCAPES, NULL, err);
    if (rc) return -1;
    rc = sg_dataset_from_list(ds, SG_DATASET_CITYSCAPES, root, &l, NULL, err);
    sg_list_free(&l);
    return rc;
}

int sg_dataset_open_list(sg_dataset *ds, const sg_list_dataset_config *cfg, sg_err *err)
{
    memset(ds, 0, sizeof *ds);
    SG_CHECK(cfg && cfg->root && cfg->lists && cfg->n_lists >= 1, "sg_dataset_open_list: no lists");
    int rc = 0, total = 0;
    /* Each list becomes a dataset of its own (so each sample keeps its
     * list:line), then the samples are concatenated. */
    sg_dataset *each = sg_xcalloc((size_t)cfg->n_lists, sizeof *each);
    for (int k = 0; k < cfg->n_lists && !rc; k++) {
        sg_list l;
        if ((rc = sg_list_read(&l, cfg->lists[k], SG_LIST_PAIRS, NULL, err))) break;
        rc = sg_dataset_from_list(&each[k], SG_DATASET_LIST, cfg->root, &l, cfg, err);
        sg_list_free(&l);
        if (!rc) total += each[k].n;
    }
    if (!rc) {
        *ds = each[0];
        ds->samples = sg_xcalloc((size_t)(total ? total : 1), sizeof *ds->samples);
        ds->n = 0;
        for (int k = 0; k < cfg->n_lists; k++) {
            memcpy(ds->samples + ds->n, each[k].samples, (size_t)each[k].n * sizeof *ds->samples);
            ds->n += each[k].n;
            free(each[k].samples);
            each[k].samples = NULL;
            each[k].n = 0;
            if (k > 0) sg_dataset_free(&each[k]);
        }
    } else {
        for (int k = 0; k < cfg->n_lists; k++) sg_dataset_free(&each[k]);
    }
    free(each);
    return rc;
}

/* Prefix for messages: "list:line: " when known. */
static const char *sg_where_(const sg_sample *s, char *buf, size_t len)
{
    if (s->where)
        snprintf(buf, len, "%s: ", s->where);
    else
        buf[0] = 0;
    return buf;
}

int sg_dataset_load(const sg_dataset *ds, int i, sg_image *img, sg_image *mask, sg_err *err)
{
    SG_CHECK(i >= 0 && i < ds->n, "sg_dataset_load: sample %d of %d", i, ds->n);
    const sg_sample *s = &ds->samples[i];
    char where[4200];
    sg_where_(s, where, sizeof where);
    sg_err e;
    memset(img, 0, sizeof *img);
    if (mask) memset(mask, 0, sizeof *mask);
    if (sg_image_read(s->image, img, &e)) return sg_err_set(err, "%s%s", where, e.msg);
    if (!mask) return 0;
    if (!s->mask) {
        sg_image_free(img);
        return sg_err_set(err, "%s%s: no mask is listed for this image", where, s->image);
    }
    if (sg_mask_read(s->mask, mask, &e)) {
        sg_image_free(img);
        return sg_err_set(err, "%s%s", where, e.msg);
    }
    if (mask->h != img->h || mask->w != img->w) {
        sg_err_set(err, "%s%s: mask is %dx%d (w x h) but the image %s is %dx%d", where, s->mask, mask->w,
                   mask->h, s->image, img->w, img->h);
        sg_image_free(img);
        sg_image_free(mask);
        return -1;
    }
    size_t n = (size_t)mask->h * mask->w;
    for (size_t p = 0; p < n; p++) {
        int v = mask->data[p];
        if (s->label_ids) {
            int t = sg_cityscapes_train_id(v);
            if (t < 0) {
                sg_err_set(err, "%s%s: value %d at (x %zu, y %zu) is not a Cityscapes labelId (0..33)", where,
                           s->mask, v, p % (size_t)mask->w, p / (size_t)mask->w);
                sg_image_free(img);
                sg_image_free(mask);
                return -1;
            }
            mask->data[p] = (uint8_t)t;
            v = t;
        }
        if (v >= ds->n_classes && v != ds->ignore_index) {
            sg_err_set(err, "%s%s: label %d at (x %zu, y %zu) is not a class of this %d-class dataset (0..%d, ignore %d)",
                       where, s->mask, v, p % (size_t)mask->w, p / (size_t)mask->w, ds->n_classes,
                       ds->n_classes - 1, ds->ignore_index);
            sg_image_free(img);
            sg_image_free(mask);
            return -1;
        }
    }
    return 0;
}

int sg_dataset_check(const sg_dataset *ds, bool decode, sg_problems *p)
{
    int before = p->n;
    if (ds->n == 0) sg_problems_add(p, "%s: no samples", ds->list);
    char where[4200];
    for (int i = 0; i < ds->n; i++) {
        const sg_sample *s = &ds->samples[i];
        sg_where_(s, where, sizeof where);
        bool img_ok = sg_is_file_(s->image), mask_ok = !s->mask || sg_is_file_(s->mask);
        if (!img_ok) sg_problems_add(p, "%s%s: image not found", where, s->image);
        if (!mask_ok) sg_problems_add(p, "%s%s: mask not found", where, s->mask);
        if (!decode || !img_ok || !mask_ok) continue;
        sg_image img, mask;
        sg_err err;
        if (sg_dataset_load(ds, i, &img, s->mask ? &mask : NULL, &err)) {
            sg_problems_add(p, "%s", err.msg);
            continue;
        }
        sg_image_free(&img);
        if (s->mask) sg_image_free(&mask);
    }
    return p->n - before;
}
