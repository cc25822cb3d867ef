/*
 * jpeg.c: JPEG decoding and encoding with libjpeg(-turbo) (image.h).
 *
 * Decoding uses libjpeg's defaults (islow IDCT, fancy upsampling), the same
 * settings Pillow's JpegDecode uses, so with the same libjpeg-turbo the RGB
 * bytes equal PIL's Image.open(path).convert('RGB'). Gray JPEGs are expanded
 * to RGB by libjpeg (R = G = B = Y). Encoding is baseline with libjpeg's
 * default 4:2:0 chroma subsampling (Pillow's default as well).
 *
 * libjpeg's default error handler prints to stderr and calls exit(); here
 * error_exit longjmps back with the message and output_message stores it, so
 * a corrupt or truncated file is a -1 naming the path. libjpeg treats a
 * truncated file as a warning and pads the image with gray, and corrupt
 * entropy data as a warning that yields garbage pixels; both are errors here,
 * because training silently on half-gray images is worse than stopping. The
 * one warning tolerated is "extraneous bytes before marker", which camera
 * files often carry and which does not affect the pixels.
 *
 * Covered by tests/test_image.c (RGB and gray round trips, corrupt and
 * truncated files).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "semiseg/image.h"
#include "codec.h"
#include "semiseg/io.h"

/* The reader image.c dispatches to (declared there as well). */

/* libjpeg error manager extended with the jump target and the message. The
 * struct jpeg_error_mgr must come first: libjpeg passes a pointer to it. */
typedef struct sg_jpeg_errmgr_ {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} sg_jpeg_errmgr_;

static void sg_jpeg_error_exit_(j_common_ptr cinfo)
{
    sg_jpeg_errmgr_ *em = (sg_jpeg_errmgr_ *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, em->msg);
    longjmp(em->jump, 1);
}

/* msg_level -1 is a warning (corrupt data, premature end); >= 0 are trace
 * messages, never printed. */
static void sg_jpeg_emit_message_(j_common_ptr cinfo, int msg_level)
{
    if (msg_level >= 0 || cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
    sg_jpeg_error_exit_(cinfo);
}

static void sg_jpeg_output_message_(j_common_ptr cinfo)
{
    sg_jpeg_errmgr_ *em = (sg_jpeg_errmgr_ *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, em->msg);
}

static void sg_jpeg_errmgr_init_(sg_jpeg_errmgr_ *em)
{
    memset(em, 0, sizeof *em);
    jpeg_std_error(&em->pub);
    em->pub.error_exit = sg_jpeg_error_exit_;
    em->pub.emit_message = sg_jpeg_emit_message_;
    em->pub.output_message = sg_jpeg_output_message_;
}

/* State freed after a longjmp; kept out of the setjmp frame's locals, whose
 * values are indeterminate after longjmp unless volatile. */
typedef struct sg_jpeg_rctx_ {
    struct jpeg_decompress_struct cinfo;
    sg_jpeg_errmgr_ em;
    FILE *fp;
    uint8_t *buf;
} sg_jpeg_rctx_;

/* A dimension larger than this is a corrupt header: 32768^2 RGB is 3 GiB. */
enum { SG_JPEG_MAX_DIM_ = 32768 };

int sg_jpeg_read_rgb_(const char *path, sg_image *img, sg_err *err)
{
    sg_jpeg_rctx_ *ctx = sg_xcalloc(1, sizeof *ctx);
    ctx->fp = sg_fopen_read(path, err);
    if (!ctx->fp) {
        free(ctx);
        return -1;
    }
    sg_jpeg_errmgr_init_(&ctx->em);
    ctx->cinfo.err = &ctx->em.pub;
    if (setjmp(ctx->em.jump)) {
        sg_err_set(err, "%s: corrupt or truncated JPEG: %s", path, ctx->em.msg);
        jpeg_destroy_decompress(&ctx->cinfo);
        fclose(ctx->fp);
        free(ctx->buf);
        free(ctx);
        return -1;
    }
    jpeg_create_decompress(&ctx->cinfo);
    jpeg_stdio_src(&ctx->cinfo, ctx->fp);
    jpeg_read_header(&ctx->cinfo, TRUE);
    if (ctx->cinfo.image_width > SG_JPEG_MAX_DIM_ || ctx->cinfo.image_height > SG_JPEG_MAX_DIM_)
        ERREXIT(&ctx->cinfo, JERR_IMAGE_TOO_BIG);
    if ((uint64_t)ctx->cinfo.image_width * ctx->cinfo.image_height > SG_IMAGE_MAX_PIXELS) {
        snprintf(ctx->em.msg, sizeof ctx->em.msg, "%u x %u pixels: more than %llu (corrupt or hostile header)",
                 (unsigned)ctx->cinfo.image_width, (unsigned)ctx->cinfo.image_height,
                 (unsigned long long)SG_IMAGE_MAX_PIXELS);
        longjmp(ctx->em.jump, 1);
    }
    /* CMYK/YCCK cannot be converted to RGB by libjpeg: start_decompress
     * then fails with "Unsupported color conversion request". */
    ctx->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ctx->cinfo);
    int h = (int)ctx->cinfo.output_height, w = (int)ctx->cinfo.output_width;
    if (ctx->cinfo.output_components != 3) ERREXIT(&ctx->cinfo, JERR_CONVERSION_NOTIMPL);
    /* The buffer grows with the rows decoded (doubling), so that a header
     * declaring up to 32768 x 32768 over missing data fails at the first
     * missing row, not after a 3 GiB allocation (found by fuzzing); its final
     * size is exactly h * w * 3. */
    size_t stride = (size_t)w * 3, cap_rows = 0;
    while (ctx->cinfo.output_scanline < ctx->cinfo.output_height) {
        size_t y = ctx->cinfo.output_scanline;
        if (y == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 64;
            if (cap_rows > (size_t)h) cap_rows = (size_t)h;
            uint8_t *grown = realloc(ctx->buf, cap_rows * stride);
            SG_CHECK(grown, "sg_image_read: out of memory for %d x %d pixels", w, h);
            ctx->buf = grown;
        }
        JSAMPROW row = ctx->buf + y * stride;
        jpeg_read_scanlines(&ctx->cinfo, &row, 1);
    }
    jpeg_finish_decompress(&ctx->cinfo);
    jpeg_destroy_decompress(&ctx->cinfo);
    fclose(ctx->fp);
    img->h = h;
    img->w = w;
    img->c = 3;
    img->data = ctx->buf;
    free(ctx);
    return 0;
}

typedef struct sg_jpeg_wctx_ {
    struct jpeg_compress_struct cinfo;
    sg_jpeg_errmgr_ em;
    sg_atomic_file af;
} sg_jpeg_wctx_;

int sg_jpeg_write(const char *path, const sg_image *img, int quality, sg_err *err)
{
    SG_CHECK(img && img->data && img->h >= 1 && img->w >= 1, "sg_jpeg_write: empty image");
    SG_CHECK(img->c == 1 || img->c == 3, "sg_jpeg_write: c = %d, expected 1 or 3", img->c);
    SG_CHECK(quality >= 1 && quality <= 100, "sg_jpeg_write: quality %d outside 1..100", quality);
    sg_jpeg_wctx_ *ctx = sg_xcalloc(1, sizeof *ctx);
    if (sg_atomic_open(&ctx->af, path, err)) {
        free(ctx);
        return -1;
    }
    sg_jpeg_errmgr_init_(&ctx->em);
    ctx->cinfo.err = &ctx->em.pub;
    if (setjmp(ctx->em.jump)) {
        sg_err_set(err, "%s: JPEG encoding failed: %s", path, ctx->em.msg);
        jpeg_destroy_compress(&ctx->cinfo);
        sg_atomic_abort(&ctx->af);
        free(ctx);
        return -1;
    }
    jpeg_create_compress(&ctx->cinfo);
    jpeg_stdio_dest(&ctx->cinfo, ctx->af.fp);
    ctx->cinfo.image_width = (JDIMENSION)img->w;
    ctx->cinfo.image_height = (JDIMENSION)img->h;
    ctx->cinfo.input_components = img->c;
    ctx->cinfo.in_color_space = img->c == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&ctx->cinfo);
    jpeg_set_quality(&ctx->cinfo, quality, TRUE);
    jpeg_start_compress(&ctx->cinfo, TRUE);
    size_t stride = (size_t)img->w * img->c;
    while (ctx->cinfo.next_scanline < ctx->cinfo.image_height) {
        JSAMPROW row = img->data + (size_t)ctx->cinfo.next_scanline * stride;
        jpeg_write_scanlines(&ctx->cinfo, &row, 1);
    }
    jpeg_finish_compress(&ctx->cinfo);
    jpeg_destroy_compress(&ctx->cinfo);
    int rc = sg_atomic_commit(&ctx->af, err);
    free(ctx);
    return rc;
}
