/*
 * png.c: PNG decoding and encoding with libpng 1.6 (image.h).
 *
 * Readers return interleaved HWC uint8. sg_png_read_rgb_ expands every colour
 * type to RGB the way Pillow's Image.open(...).convert('RGB') does: palette
 * entries are looked up, gray is replicated, alpha is dropped (not composited),
 * 16-bit samples keep their high byte (libpng's png_set_strip_16, as Pillow).
 * sg_png_read_mask_ returns a palette PNG's indices (what PIL gives for a 'P'
 * image and what VOC's SegmentationClass masks are read as), or an 8-bit gray
 * PNG's values; any other format is an error, because silently reducing an RGB
 * or 16-bit file to class ids would hide a wrong dataset.
 *
 * libpng reports errors by longjmp; every decoder state that must be freed
 * after a longjmp lives in a struct that is not a local of the setjmp frame,
 * and libpng's own warnings and errors are routed into sg_err instead of
 * stderr, so a corrupt or truncated file is a message naming the path.
 *
 * Covered by tests/test_image.c (round trips of RGB, RGBA, gray and palette,
 * corrupt and truncated files, 16-bit and RGB files read as masks).
 */
#include <png.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semiseg/image.h"
#include "codec.h"
#include "semiseg/io.h"

/* The readers image.c dispatches to (declared there as well: image.h is the
 * public interface and these are not part of it). */

enum { SG_PNG_MSG_ = 256, SG_PNG_CHUNK_MAX_ = 8000000 };

/* Decoder state, on the heap so that it survives a longjmp out of libpng. */
typedef struct sg_png_ctx_ {
    char msg[SG_PNG_MSG_]; /* libpng's error text */
    FILE *fp;
    png_structp png;
    png_infop info;
    png_bytep *rows;       /* (h) pointers into buf */
    uint8_t *buf;          /* (h, w, c) decoded pixels */
} sg_png_ctx_;

/* The error pointer is the context's msg buffer (SG_PNG_MSG_ bytes). */
static void sg_png_error_(png_structp png, png_const_charp msg)
{
    char *buf = png_get_error_ptr(png);
    snprintf(buf, SG_PNG_MSG_, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (e.g. an unknown ancillary chunk, a bad CRC on one) do not make the
 * pixels wrong; they are dropped rather than printed from a library. One is
 * an error: libpng 1.6 reports a chunk longer than the chunk cap as a
 * "benign" error, a warning on read, and then allocates the length anyway
 * (fuzzing: a tEXt chunk whose length field said 2 GB). */
static void sg_png_warning_(png_structp png, png_const_charp msg)
{
    if (strstr(msg, "chunk data is too large")) sg_png_error_(png, msg);
}

/* Frees everything ctx holds, and ctx. */
static void sg_png_close_(sg_png_ctx_ *ctx)
{
    if (ctx->png) png_destroy_read_struct(&ctx->png, &ctx->info, NULL);
    if (ctx->fp) fclose(ctx->fp);
    free(ctx->rows);
    free(ctx->buf);
    free(ctx);
}

/* Opens path and checks the signature. Returns a heap context (so its fields
 * keep their values across libpng's longjmp), or NULL with err set. */
static sg_png_ctx_ *sg_png_open_(const char *path, sg_err *err)
{
    sg_png_ctx_ *ctx = sg_xcalloc(1, sizeof *ctx);
    ctx->fp = sg_fopen_read(path, err);
    if (!ctx->fp) {
        sg_png_close_(ctx);
        return NULL;
    }
    uint8_t sig[8];
    if (fread(sig, 1, 8, ctx->fp) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        sg_err_set(err, "%s: not a PNG file", path);
        sg_png_close_(ctx);
        return NULL;
    }
    ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx->msg, sg_png_error_, sg_png_warning_);
    if (ctx->png) ctx->info = png_create_info_struct(ctx->png);
    if (!ctx->png || !ctx->info) {
        sg_err_set(err, "%s: cannot create a PNG decoder", path);
        sg_png_close_(ctx);
        return NULL;
    }
    /* Chunks other than IDAT are buffered whole; this is libpng's default
     * cap (8 MB: ample for palettes, text and ICC profiles), set here so a
     * libpng built without one still refuses a chunk longer than that. */
    png_set_chunk_malloc_max(ctx->png, SG_PNG_CHUNK_MAX_);
    return ctx;
}

/* After libpng's longjmp: names the path, and says "ends early" rather than
 * libpng's "Read Error" when the file is short. */
static int sg_png_fail_(sg_png_ctx_ *ctx, const char *path, sg_err *err)
{
    if (feof(ctx->fp))
        sg_err_set(err, "%s: truncated PNG (the file ends early)", path);
    else
        sg_err_set(err, "%s: corrupt PNG: %s", path, ctx->msg);
    sg_png_close_(ctx);
    return -1;
}

/* Reads all rows of an image whose transforms are set and whose row size is
 * rowbytes into ctx->buf. Called inside the setjmp frame. */
static void sg_png_read_rows_(sg_png_ctx_ *ctx, int h, size_t rowbytes)
{
    ctx->buf = sg_xmalloc((size_t)h * rowbytes);
    ctx->rows = sg_xmalloc((size_t)h * sizeof *ctx->rows);
    for (int y = 0; y < h; y++) ctx->rows[y] = ctx->buf + (size_t)y * rowbytes;
    png_read_image(ctx->png, ctx->rows);
    png_read_end(ctx->png, NULL);
}

/* A dimension larger than this is a corrupt header, not an image we can use:
 * 32768^2 RGB is 3 GiB. */
enum { SG_PNG_MAX_DIM_ = 32768 };

/* Deflate cannot shrink data more than 1032:1 (a 258-byte match in two
 * bits), so a file of n bytes holds at most 1032 n bytes of pixel data.
 * A header declaring more is a truncated or forged file: refuse it after
 * png_read_info, before the decoded image is allocated (fuzzing: a 60-byte
 * file declaring 32768 x 32768 cost a 3 GiB allocation before libpng found
 * the data missing). Also refuses more than SG_IMAGE_MAX_PIXELS pixels
 * (codec.h). Called inside the setjmp frame. */
static void sg_png_check_size_(sg_png_ctx_ *ctx)
{
    struct stat st;
    if (fstat(fileno(ctx->fp), &st) != 0 || st.st_size < 0) st.st_size = (off_t)1 << 40;
    uint64_t w = png_get_image_width(ctx->png, ctx->info), h = png_get_image_height(ctx->png, ctx->info);
    uint64_t bits = (uint64_t)png_get_bit_depth(ctx->png, ctx->info) * png_get_channels(ctx->png, ctx->info);
    uint64_t need = w * h * bits / 8; /* w, h <= 32768 (user limits), bits <= 64: no overflow */
    if (w * h > SG_IMAGE_MAX_PIXELS) {
        char msg[SG_PNG_MSG_];
        snprintf(msg, sizeof msg, "%llu x %llu pixels: more than %llu (corrupt or hostile header)",
                 (unsigned long long)w, (unsigned long long)h, (unsigned long long)SG_IMAGE_MAX_PIXELS);
        png_error(ctx->png, msg);
    }
    if (need / 1032 > (uint64_t)st.st_size) {
        char msg[SG_PNG_MSG_];
        snprintf(msg, sizeof msg,
                 "%llu x %llu pixels need at least %llu bytes of compressed data, the file has %lld "
                 "(truncated)",
                 (unsigned long long)w, (unsigned long long)h, (unsigned long long)(need / 1032),
                 (long long)st.st_size);
        png_error(ctx->png, msg);
    }
}

int sg_png_read_rgb_(const char *path, sg_image *img, sg_err *err)
{
    sg_png_ctx_ *ctx = sg_png_open_(path, err);
    if (!ctx) return -1;
    if (setjmp(png_jmpbuf(ctx->png))) return sg_png_fail_(ctx, path, err);
    png_init_io(ctx->png, ctx->fp);
    png_set_sig_bytes(ctx->png, 8);
    png_set_user_limits(ctx->png, SG_PNG_MAX_DIM_, SG_PNG_MAX_DIM_);
    png_read_info(ctx->png, ctx->info);
    sg_png_check_size_(ctx);
    int color = png_get_color_type(ctx->png, ctx->info);
    int depth = png_get_bit_depth(ctx->png, ctx->info);
    int h = (int)png_get_image_height(ctx->png, ctx->info);
    int w = (int)png_get_image_width(ctx->png, ctx->info);
    if (depth == 16) png_set_strip_16(ctx->png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(ctx->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(ctx->png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(ctx->png);
    /* A tRNS chunk is transparency only; Pillow's convert('RGB') ignores it. */
    png_set_strip_alpha(ctx->png);
    png_set_interlace_handling(ctx->png);
    png_read_update_info(ctx->png, ctx->info);
    size_t rowbytes = png_get_rowbytes(ctx->png, ctx->info);
    if (png_get_channels(ctx->png, ctx->info) != 3 || rowbytes != (size_t)w * 3)
        png_error(ctx->png, "unsupported colour format");
    sg_png_read_rows_(ctx, h, rowbytes);
    img->h = h;
    img->w = w;
    img->c = 3;
    img->data = ctx->buf;
    ctx->buf = NULL;
    sg_png_close_(ctx);
    return 0;
}

int sg_png_read_mask_(const char *path, sg_image *mask, sg_err *err)
{
    sg_png_ctx_ *ctx = sg_png_open_(path, err);
    if (!ctx) return -1;
    if (setjmp(png_jmpbuf(ctx->png))) return sg_png_fail_(ctx, path, err);
    png_init_io(ctx->png, ctx->fp);
    png_set_sig_bytes(ctx->png, 8);
    png_set_user_limits(ctx->png, SG_PNG_MAX_DIM_, SG_PNG_MAX_DIM_);
    png_read_info(ctx->png, ctx->info);
    sg_png_check_size_(ctx);
    int color = png_get_color_type(ctx->png, ctx->info);
    int depth = png_get_bit_depth(ctx->png, ctx->info);
    int h = (int)png_get_image_height(ctx->png, ctx->info);
    int w = (int)png_get_image_width(ctx->png, ctx->info);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        /* Indices of 1, 2 or 4 bits become one byte each, values unchanged. */
        if (depth < 8) png_set_packing(ctx->png);
    } else if (color == PNG_COLOR_TYPE_GRAY && depth == 8) {
        /* Values are class ids as they stand. */
    } else {
        const char *kind = color == PNG_COLOR_TYPE_GRAY         ? "gray"
                           : color == PNG_COLOR_TYPE_GRAY_ALPHA ? "gray+alpha"
                           : color == PNG_COLOR_TYPE_RGB        ? "RGB"
                                                                : "RGBA";
        sg_err_set(err,
                   "%s: a mask must be a palette or 8-bit gray PNG, this one is %d-bit %s",
                   path, depth, kind);
        sg_png_close_(ctx);
        return -1;
    }
    png_set_interlace_handling(ctx->png);
    png_read_update_info(ctx->png, ctx->info);
    size_t rowbytes = png_get_rowbytes(ctx->png, ctx->info);
    if (rowbytes != (size_t)w) png_error(ctx->png, "unsupported mask format");
    sg_png_read_rows_(ctx, h, rowbytes);
    mask->h = h;
    mask->w = w;
    mask->c = 1;
    mask->data = ctx->buf;
    ctx->buf = NULL;
    sg_png_close_(ctx);
    return 0;
}

/* Encoder state, on the heap so that it survives a longjmp out of libpng. */
typedef struct sg_png_wctx_ {
    char msg[SG_PNG_MSG_];
    png_structp png;
    png_infop info;
    png_bytep *rows;
} sg_png_wctx_;

int sg_png_write(const char *path, const sg_image *img, const uint8_t *palette, sg_err *err)
{
    SG_CHECK(img && img->data && img->h >= 1 && img->w >= 1, "sg_png_write: empty image");
    SG_CHECK(img->c == 1 || img->c == 3, "sg_png_write: c = %d, expected 1 or 3", img->c);
    SG_CHECK(!palette || img->c == 1, "sg_png_write: a palette needs c = 1, got c = %d", img->c);
    sg_atomic_file af;
    if (sg_atomic_open(&af, path, err)) return -1;
    sg_png_wctx_ *ctx = sg_xcalloc(1, sizeof *ctx);
    ctx->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx->msg, sg_png_error_, sg_png_warning_);
    if (ctx->png) ctx->info = png_create_info_struct(ctx->png);
    if (!ctx->png || !ctx->info) {
        png_destroy_write_struct(&ctx->png, &ctx->info);
        free(ctx);
        sg_atomic_abort(&af);
        return sg_err_set(err, "%s: cannot create a PNG encoder", path);
    }
    if (setjmp(png_jmpbuf(ctx->png))) {
        sg_err_set(err, "%s: PNG encoding failed: %s", path, ctx->msg);
        png_destroy_write_struct(&ctx->png, &ctx->info);
        free(ctx->rows);
        free(ctx);
        sg_atomic_abort(&af);
        return -1;
    }
    png_init_io(ctx->png, af.fp);
    int color = palette ? PNG_COLOR_TYPE_PALETTE : img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(ctx->png, ctx->info, (png_uint_32)img->w, (png_uint_32)img->h, 8, color,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color pal[256];
        for (int i = 0; i < 256; i++) {
            pal[i].red = palette[3 * i];
            pal[i].green = palette[3 * i + 1];
            pal[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(ctx->png, ctx->info, pal, 256);
    }
    png_write_info(ctx->png, ctx->info);
    ctx->rows = sg_xmalloc((size_t)img->h * sizeof *ctx->rows);
    size_t stride = (size_t)img->w * img->c;
    for (int y = 0; y < img->h; y++) ctx->rows[y] = img->data + (size_t)y * stride;
    png_write_image(ctx->png, ctx->rows);
    png_write_end(ctx->png, NULL);
    png_destroy_write_struct(&ctx->png, &ctx->info);
    free(ctx->rows);
    free(ctx);
    return sg_atomic_commit(&af, err);
}
