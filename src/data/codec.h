/*
 * codec.h: the PNG and JPEG decoders behind sg_image_read/sg_mask_read
 * (image.c picks one by the file's magic bytes). Internal to src/data.
 */
#ifndef SEMISEG_DATA_CODEC_H
#define SEMISEG_DATA_CODEC_H

#include "semiseg/image.h"

/* Any PNG colour type -> RGB (c = 3). */
int sg_png_read_rgb_(const char *path, sg_image *img, sg_err *err);
/* Palette (indices) or 8-bit gray PNG -> c = 1; anything else is an error. */
int sg_png_read_mask_(const char *path, sg_image *mask, sg_err *err);
/* JPEG (RGB or gray) -> RGB (c = 3). */
int sg_jpeg_read_rgb_(const char *path, sg_image *img, sg_err *err);

#endif
