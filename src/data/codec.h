/*
 * codec.h: the PNG and JPEG decoders behind sg_image_read/sg_mask_read
 * (image.c picks one by the file's magic bytes). Internal to src/data.
 */
#ifndef SEMISEG_DATA_CODEC_H
#define SEMISEG_DATA_CODEC_H

#include "semiseg/image.h"

/* The most pixels a decoded image may have (16384^2; 768 MiB as RGB), above
 * the 32768 cap on either side: fuzzing found 220-byte arithmetic-coded
 * JPEGs declaring 32256 x 23312 that are legal (an arithmetic decoder that
 * meets a marker supplies zeros, ITU T.81 D.2.6, so no warning) and decoded
 * to 2.2 GB in 9 s. Datasets' images are far smaller (VOC 0.2, Cityscapes
 * 2 megapixels); a larger header is refused as corrupt or hostile. */
#define SG_IMAGE_MAX_PIXELS ((uint64_t)1 << 28)

/* Any PNG colour type -> RGB (c = 3). */
int sg_png_read_rgb_(const char *path, sg_image *img, sg_err *err);
/* Palette (indices) or 8-bit gray PNG -> c = 1; anything else is an error. */
int sg_png_read_mask_(const char *path, sg_image *mask, sg_err *err);
/* JPEG (RGB or gray) -> RGB (c = 3). */
int sg_jpeg_read_rgb_(const char *path, sg_image *img, sg_err *err);

#endif
