/*
 * fuzz_png.c: libFuzzer target for the PNG decoder (src/data/png.c via
 * src/data/image.c, include/semiseg/image.h).
 *
 * Input: the bytes of an image file, written as is to a temporary file and
 * read with sg_image_read (any PNG colour type to RGB) and with sg_mask_read
 * (palette indices or 8-bit gray, anything else an error). A decoded image
 * must have sane dimensions and is freed. The format is chosen by magic
 * bytes, so the target reaches the JPEG decoder too; its seeds are PNG files
 * (tests/fuzz/corpus/png/), fuzz_jpeg.c is the JPEG twin.
 */
#include <stdint.h>
#include <stdlib.h>

#include "semiseg/image.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return sg_fuzz_image("in.png", data, size);
}
