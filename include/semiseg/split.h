/*
 * split.h: split list files, their validation, a deterministic split
 * generator, and the suite's seed list.
 *
 * A list file holds one sample per line, in one of the community formats:
 *   UniMatch   `JPEGImages/2007_000733.jpg SegmentationClass/2007_000733.png`
 *              (image and mask paths relative to the dataset root; CPS's
 *              Cityscapes lists use a tab and a leading '/', also accepted);
 *   U2PL/CPS   a bare VOC id `2007_000733`, mapped to JPEGImages/<id>.jpg and
 *              <mask dir>/<id>.png (U2PL: SegmentationClassAug);
 *   U2PL city  a leftImg8bit path, whose mask is the gtFine labelTrainIds file
 *              of the same frame (U2PL u2pl/dataset/base.py: "gtFine/" +
 *              line[12:-15] + "gtFine_labelTrainIds.png").
 * CRLF endings, blank lines, surrounding blanks and a missing final newline
 * are accepted (the reference copies have all of them). A split is a folder
 * with labeled.txt and unlabeled.txt (as LiheYoung/UniMatch@0324f3d:splits/).
 *
 * Covered by tests/test_splits.c and tests/splits_reference.sh.
 */
#ifndef SEMISEG_SPLIT_H
#define SEMISEG_SPLIT_H

#include <stdio.h>

#include "semiseg/base.h"

/* How a line with one field is resolved; a line with two fields is always
 * an (image, mask) pair. */
typedef enum sg_list_style {
    SG_LIST_PAIRS = 0,      /* one field = an image without a mask */
    SG_LIST_VOC_IDS = 1,    /* one field = a VOC id */
    SG_LIST_CITYSCAPES = 2  /* one field = a leftImg8bit/... path */
} sg_list_style;

typedef struct sg_list_entry {
    char *image;   /* relative to the dataset root (a leading '/' removed) */
    char *mask;    /* likewise, or NULL (an image-only line) */
    char *raw;     /* the line as written, blanks and CR trimmed */
    int line;      /* 1-based line number in the file */
} sg_list_entry;

typedef struct sg_list {
    char path[4096];         /* the file read */
    int n;
    sg_list_entry *e;        /* (n), in file order */
} sg_list;

/* Reads a list file. id_mask_dir is the mask folder for bare VOC ids (NULL:
 * "SegmentationClassAug", as U2PL). A line with more than two fields, or a
 * file that mixes one- and two-field lines, is an error naming path:line.
 * An empty list is not an error here (sg_split_check reports it). */
int sg_list_read(sg_list *l, const char *path, sg_list_style style, const char *id_mask_dir,
                 sg_err *err);
void sg_list_free(sg_list *l);
/* Writes the raw lines, LF-terminated, atomically. */
int sg_list_write(const char *path, const sg_list *l, sg_err *err);

/* All problems found by a check, each a line "file:line: what" (or
 * "file: what"), so a damaged dataset is reported in one run. */
typedef struct sg_problems {
    int n, cap;
    char **msg;    /* (n) */
} sg_problems;
void sg_problems_add(sg_problems *p, const char *fmt, ...) SG_PRINTF(2, 3);
void sg_problems_print(const sg_problems *p, FILE *fp);
void sg_problems_free(sg_problems *p);

typedef struct sg_split {
    char dir[4096];
    sg_list labeled, unlabeled;
} sg_split;

/* Reads dir/labeled.txt and dir/unlabeled.txt. */
int sg_split_read(sg_split *s, const char *dir, sg_list_style style, const char *id_mask_dir,
                  sg_err *err);
void sg_split_free(sg_split *s);
/* Writes dir/labeled.txt and dir/unlabeled.txt (dir must exist). */
int sg_split_write(const char *dir, const sg_split *s, sg_err *err);

/* Adds to p every problem of the split: an empty list, an image listed twice
 * in one list, an image both labeled and unlabeled (both lines named), and,
 * when root is not NULL, every listed image or mask missing under root.
 * Returns the number of problems added. */
int sg_split_check(const sg_split *s, const char *root, sg_problems *p);
/* The checks of one list alone (empty, duplicates, files under root). */
int sg_list_check(const sg_list *l, const char *root, sg_problems *p);

/* Draws n_labeled entries of train uniformly without replacement with a
 * Philox stream keyed by seed (a Fisher-Yates shuffle); the rest are
 * unlabeled. Both lists keep train's order, so the result depends only on
 * (train, n_labeled, seed). 0 < n_labeled < train->n. */
void sg_split_generate(sg_split *out, const sg_list *train, int n_labeled, uint64_t seed);

/* Reads the seed list (one unsigned integer a line; '#' starts a comment;
 * blank lines skipped). Returns the count (<= max), or -1 with err set for a
 * malformed line, an empty file or more than max seeds. */
int sg_seeds_read(const char *path, uint64_t *seeds, int max, sg_err *err);

#endif
