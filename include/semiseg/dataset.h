/*
 * dataset.h: segmentation datasets on disk - PASCAL VOC 2012, Cityscapes and
 * a generic list dataset - as a list of (image path, mask path) samples plus
 * the class metadata.
 *
 * VOC: root holds JPEGImages/, SegmentationClass/ or SegmentationClassAug/
 * (palette PNGs, 21 classes, 255 = ignore) and ImageSets/Segmentation/.
 * Cityscapes: root holds leftImg8bit/<set>/<city>/<frame>_leftImg8bit.png and
 * gtFine/<set>/<city>/<frame>_gtFine_labelTrainIds.png (19 classes), or only
 * *_gtFine_labelIds.png, which is mapped to train ids with the official
 * table (cityscapesscripts/helpers/labels.py; ids without a train id -> 255).
 * Images may be JPEG or PNG whatever their name says (sg_image_read looks at
 * the content). Loading checks what a training run would otherwise trip over
 * later: mask size == image size, every label < n_classes or == ignore.
 *
 * Covered by tests/test_dataset.c and tests/check_data.sh.
 */
#ifndef SEMISEG_DATASET_H
#define SEMISEG_DATASET_H

#include "semiseg/base.h"
#include "semiseg/image.h"
#include "semiseg/split.h"

typedef enum sg_dataset_kind {
    SG_DATASET_VOC = 0,
    SG_DATASET_CITYSCAPES = 1,
    SG_DATASET_LIST = 2
} sg_dataset_kind;

typedef struct sg_sample {
    char *image;        /* root-joined path */
    char *mask;         /* root-joined path, or NULL (an image-only line) */
    char *where;        /* "list:line" it came from, for messages, or NULL */
    bool label_ids;     /* Cityscapes labelIds file: mapped to train ids */
} sg_sample;

typedef struct sg_dataset {
    sg_dataset_kind kind;
    char root[4096];
    char list[4096];       /* where the samples came from (a list file or a folder) */
    int n;
    sg_sample *samples;    /* (n) */
    int n_classes;
    int ignore_index;      /* 255 for the built-in datasets */
    char **class_names;    /* (n_classes) */
    bool has_palette;
    uint8_t palette[768];  /* 256 x RGB, for colorized predictions */
} sg_dataset;

/* VOC. list is a list file (any format of split.h; bare ids take their mask
 * from SegmentationClassAug/ when root has it, else SegmentationClass/), or
 * a set name without '/' ("train", "val", ...) read from
 * root/ImageSets/Segmentation/<name>.txt. Files are not opened here. */
int sg_dataset_open_voc(sg_dataset *ds, const char *root, const char *list, sg_err *err);
/* Cityscapes. list is a list file (UniMatch pairs or U2PL leftImg8bit
 * paths), or a set name ("train", "val") whose frames are found under
 * root/leftImg8bit/<name>/<city>/, sorted by path. A mask named
 * *_labelTrainIds.png that does not exist while the *_labelIds.png of the
 * same frame does is replaced by it (and mapped when loaded). */
int sg_dataset_open_cityscapes(sg_dataset *ds, const char *root, const char *list, sg_err *err);

typedef struct sg_list_dataset_config {
    const char *root;
    const char *const *lists;        /* (n_lists) files of `image label` lines */
    int n_lists;                     /* samples are concatenated in order */
    int n_classes;                   /* 1..255 */
    int ignore_index;                /* >= n_classes, <= 255 */
    const char *const *class_names;  /* (n_classes), or NULL: "class0", ... */
    const uint8_t *palette;          /* 768 bytes, or NULL: none */
} sg_list_dataset_config;
int sg_dataset_open_list(sg_dataset *ds, const sg_list_dataset_config *cfg, sg_err *err);

/* Class names given as text ("background, disk, square"): exactly n
 * comma-separated names of 1-63 characters from [A-Za-z0-9_.+-] (they
 * become eval.tsv column names and figure labels), blanks around commas
 * ignored. Returns one malloc'd block, n pointers then NULL then the
 * strings, freed by free(); NULL with err set on a bad count or name. */
char **sg_class_names_parse(const char *text, int n, sg_err *err);

/* A dataset of the given kind from a list already read (VOC and Cityscapes
 * metadata built in; kind LIST takes n_classes/ignore/names/palette from
 * cfg, whose root and lists are then unused). */
int sg_dataset_from_list(sg_dataset *ds, sg_dataset_kind kind, const char *root, const sg_list *l,
                         const sg_list_dataset_config *cfg, sg_err *err);

void sg_dataset_free(sg_dataset *ds);

/* Sample i: the RGB image and (when mask is not NULL) its class-id mask
 * (c = 1). Errors name the file: unreadable, wrong format, a mask whose size
 * differs from the image, a label >= n_classes that is not the ignore index,
 * a sample without a mask when one was asked for. On error both outputs are
 * freed. */
int sg_dataset_load(const sg_dataset *ds, int i, sg_image *img, sg_image *mask, sg_err *err);

/* Adds every problem of the dataset to p: missing files, and with decode,
 * everything sg_dataset_load would refuse, for every sample. Returns the
 * number of problems added. */
int sg_dataset_check(const sg_dataset *ds, bool decode, sg_problems *p);

/* Built-in metadata: 21 VOC names and the VOC palette (VOCdevkit's bit
 * pattern; 255 -> (224, 224, 192)), 19 Cityscapes train-id names and
 * colours, and the labelIds -> trainIds table (-1: not a Cityscapes id). */
extern const char *const sg_voc_class_names[21];
extern const char *const sg_cityscapes_class_names[19];
void sg_voc_palette(uint8_t palette[768]);
void sg_cityscapes_palette(uint8_t palette[768]);
int sg_cityscapes_train_id(int label_id);

#endif
