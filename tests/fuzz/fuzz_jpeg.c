/*
 * fuzz_jpeg.c: libFuzzer target for the JPEG decoder (src/data/jpeg.c via
 * src/data/image.c, include/semiseg/image.h).
 *
 * Input: the bytes of an image file, written as is to a temporary file and
 * read with sg_image_read (baseline, progressive, gray, to RGB) and with
 * sg_mask_read (a JPEG mask is an error; a PNG one is read). A decoded image
 * must have sane dimensions and is freed. The format is chosen by magic
 * bytes, so the target reaches the PNG decoder too; its seeds are JPEG files
 * (tests/fuzz/corpus/jpeg/), fuzz_png.c is the PNG twin.
 */
#include <stdint.h>
#include <stdlib.h>

#include "semiseg/image.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sg_fuzz_image("in.jpg", data, size);
}
