/*
 * image.c: allocation of sg_image and the format dispatch of the readers
 * (image.h); the codecs are png.c and jpeg.c.
 *
 * The format is chosen by the file's magic bytes, never by its extension:
 * a dataset may keep PNG images under JPEGImages/ with a .jpg name (the
 * synthetic demo set may), and Pillow's Image.open, which the reference
 * loaders use, behaves the same way. Covered by tests/test_image.c.
 */
#include "semiseg/image.h"
#include "semiseg/io.h"
#include "codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Codecs (png.c, jpeg.c). Each returns 0 and a malloc'd image, or -1 with
 * err naming the path. */

void sg_image_alloc(sg_image *img, int h, int w, int c)
{
    SG_CHECK(h >= 1 && w >= 1 && (c == 1 || c == 3 || c == 4), "sg_image_alloc: bad size %dx%dx%d",
             h, w, c);
    img->h = h;
    img->w = w;
    img->c = c;
    img->data = sg_xcalloc((size_t)h * w * c, 1);
}

void sg_image_free(sg_image *img)
{
    free(img->data);
    memset(img, 0, sizeof *img);
}

typedef enum sg_image_format_ { SG_FMT_UNKNOWN_, SG_FMT_PNG_, SG_FMT_JPEG_ } sg_image_format_;

static int sg_image_sniff_(const char *path, sg_image_format_ *fmt, sg_err *err)
{
    FILE *fp = sg_fopen_read(path, err);
    if (!fp) return -1;
    uint8_t m[8] = {0};
    size_t n = fread(m, 1, sizeof m, fp);
    fclose(fp);
    if (n == 0) return sg_err_set(err, "%s: empty file", path);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n == 8 && memcmp(m, png_sig, 8) == 0)
        *fmt = SG_FMT_PNG_;
    else if (n >= 3 && m[0] == 0xff && m[1] == 0xd8 && m[2] == 0xff)
        *fmt = SG_FMT_JPEG_;
    else
        *fmt = SG_FMT_UNKNOWN_;
    return 0;
}

int sg_image_read(const char *path, sg_image *img, sg_err *err)
{
    memset(img, 0, sizeof *img);
    sg_image_format_ fmt;
    if (sg_image_sniff_(path, &fmt, err)) return -1;
    if (fmt == SG_FMT_PNG_) return sg_png_read_rgb_(path, img, err);
    if (fmt == SG_FMT_JPEG_) return sg_jpeg_read_rgb_(path, img, err);
    return sg_err_set(err, "%s: neither a PNG nor a JPEG file", path);
}

int sg_mask_read(const char *path, sg_image *mask, sg_err *err)
{
    memset(mask, 0, sizeof *mask);
    sg_image_format_ fmt;
    if (sg_image_sniff_(path, &fmt, err)) return -1;
    if (fmt == SG_FMT_PNG_) return sg_png_read_mask_(path, mask, err);
    /* Lossy compression changes class ids at region borders. */
    if (fmt == SG_FMT_JPEG_) return sg_err_set(err, "%s: a mask must be a PNG, this is a JPEG", path);
    return sg_err_set(err, "%s: not a PNG file", path);
}
