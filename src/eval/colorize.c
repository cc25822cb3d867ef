/*
 * colorize.c: predictions as pictures (metrics.h).
 *
 * Class ids (H, W, c = 1) map through a 256-entry RGB palette (the dataset's:
 * VOC's bit-interleaved colour map, Cityscapes' trainId colours). The file
 * form is a palette PNG, the format of VOC's SegmentationClass: viewers show
 * colours while the stored values stay the class ids, so a prediction can be
 * read back with sg_mask_read and scored like a label (what Pillow's
 * Image.fromarray(ids, mode='P') + putpalette(palette) writes).
 *
 * Covered by tests/test_metrics.c (palette PNG round trip, RGB mapping).
 */
#include "semiseg/metrics.h"

void sg_colorize(const sg_image *ids, const uint8_t *palette, sg_image *rgb)
{
    SG_CHECK(ids->c == 1, "sg_colorize: class ids need c = 1, got c = %d", ids->c);
    sg_image_alloc(rgb, ids->h, ids->w, 3);
    for (size_t p = 0; p < (size_t)ids->h * ids->w; p++)
        for (int c = 0; c < 3; c++) rgb->data[3 * p + c] = palette[3 * (size_t)ids->data[p] + c];
}

int sg_colorize_write(const char *path, const sg_image *ids, const uint8_t *palette, sg_err *err)
{
    SG_CHECK(ids->c == 1, "sg_colorize_write: class ids need c = 1, got c = %d", ids->c);
    return sg_png_write(path, ids, palette, err);
}
