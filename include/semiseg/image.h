/*
 * image.h: 8-bit images and label masks in memory, and PNG/JPEG files.
 *
 * An sg_image is interleaved HWC uint8 (c = 1 for masks and gray, 3 for RGB).
 * Masks hold class ids (255 = ignore); a palette PNG is read as its indices,
 * never as colours. Readers never crash on bad files: a corrupt, truncated or
 * unexpected file returns -1 with a message naming the path.
 *
 * Covered by tests/test_image.c.
 */
#ifndef SEMISEG_IMAGE_H
#define SEMISEG_IMAGE_H

#include "semiseg/base.h"

typedef struct sg_image {
    int h, w, c;        /* rows, columns, channels */
    uint8_t *data;      /* (h, w, c), row-major, malloc'd */
} sg_image;

void sg_image_alloc(sg_image *img, int h, int w, int c); /* zeroed */
void sg_image_free(sg_image *img);

/* An RGB image (c = 3) from a PNG (RGB, RGBA: alpha dropped; gray and
 * palette expanded) or a JPEG file, chosen by the file's magic bytes. */
int sg_image_read(const char *path, sg_image *img, sg_err *err);
/* A mask (c = 1): a palette PNG gives its indices, an 8-bit gray PNG its
 * values; anything else (RGB, 16-bit, JPEG) is an error naming the path. */
int sg_mask_read(const char *path, sg_image *mask, sg_err *err);

/* PNG of an image with c = 1 or 3. With palette (256 x RGB), c must be 1 and
 * the file is a palette PNG (as VOC's SegmentationClass). Written atomically. */
int sg_png_write(const char *path, const sg_image *img, const uint8_t *palette, sg_err *err);
/* Baseline JPEG, c = 3 (or 1: gray), quality 1..100. Written atomically. */
int sg_jpeg_write(const char *path, const sg_image *img, int quality, sg_err *err);

#endif
